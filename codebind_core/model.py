"""CodeBind: bridges + target trunks -> decoupled heads -> compositional codebooks (-> decoder).

Paper §3 and App. A: every modality's tokens are projected to a shared and a specific part
(text: shared only); the [CLS] shared part is quantized by the path's shared codebook and aligned
with InfoNCE to the bridges (Eq. 1); [shared, specific] of CLS + patch tokens reconstruct the input
(Eq. 2); the remaining losses of App. A.1 regularise the decoupling and the codebooks.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Dict, Iterable, List, Optional, Sequence, Union

import torch
import torch.nn.functional as F
from torch import nn

from . import losses as L
from .balancer import AdaptiveBalancer
from .config import CodeBindConfig
from .decoder import ReconDecoder
from .encoders import build_bridge, build_target_encoder
from .encoders.lora import apply_lora
from .heads import DecoupledHead
from .quantize import CompositionalVQ
from .types import Embedding

TextInput = Union[Sequence[str], torch.Tensor]


@dataclass
class _Encoded:
    """Internal per-modality result of a training/encoding pass."""

    shared: torch.Tensor                 # (B, D) CLS shared, quantized (ST) and L2-normalised
    specific: Optional[torch.Tensor]     # (B, Ds) CLS specific, quantized and normalised
    codes: Optional[torch.Tensor]        # (B, m)
    specific_codes: Optional[torch.Tensor]
    sub_shared: Optional[torch.Tensor]   # (B, m, d*) unit sub-vectors of the CLS shared part
    sub_specific: Optional[torch.Tensor]
    recon: Optional[torch.Tensor] = None  # Eq. 2 for this modality


def _unit(x: torch.Tensor) -> torch.Tensor:
    return F.normalize(x, dim=-1)


class CodeBind(nn.Module):
    def __init__(self, config: CodeBindConfig):
        super().__init__()
        self.config = cfg = config
        self.bridge = build_bridge(cfg)
        d, ds = cfg.embed_dim, (cfg.specific_dim if cfg.decouple else None)
        self.encoders = nn.ModuleDict({t: build_target_encoder(t, cfg, self.bridge) for t in cfg.targets})
        bd = self.bridge.embed_dim
        self.heads = nn.ModuleDict({
            "text": DecoupledHead(bd, d, None, identity_init=True),
            "image": DecoupledHead(bd, d, ds, identity_init=True),
            **{t: DecoupledHead(enc.width, d, ds) for t, enc in self.encoders.items()},
        })
        self._init_shared_heads()
        self.codebooks = nn.ModuleDict()
        if self.quantized:
            q = cfg.quantizer
            for path in cfg.paths():
                mods = ("image", *(cfg.targets if path == "unified" else (path,)))
                shared_names = ["shared"] if q.shared_codebook else [f"shared_{m}" for m in ("text", *mods)]
                books = {n: CompositionalVQ(d, q.shared_size, q.sub_dim, decay=q.decay, reinit=q.reinit)
                         for n in shared_names}
                for m in mods:
                    books[m] = CompositionalVQ(ds, q.specific_size, q.sub_dim, decay=q.decay, reinit=q.reinit)
                self.codebooks[path] = nn.ModuleDict(books)
        self.decoders = nn.ModuleDict()
        if cfg.decouple and cfg.loss.recon:
            lc = cfg.loss
            spec = {"image": (self.bridge.image_num_patches, self.bridge.image_patch_dim),
                    **{t: (e.num_patches, e.patch_dim) for t, e in self.encoders.items()}}
            for m, (n, pd) in spec.items():
                self.decoders[m] = ReconDecoder(d + ds, 1 + n, pd, lc.decoder_width, lc.decoder_depth, lc.decoder_heads)
        log_scale = torch.tensor(math.log(1.0 / cfg.loss.temperature))
        if cfg.loss.learnable_temperature:
            self.logit_scale = nn.Parameter(log_scale)
        else:
            self.register_buffer("logit_scale", log_scale)
        self._apply_lora()
        self.balancer = AdaptiveBalancer(L.LOSS_NAMES) if cfg.loss.weights == "adaptive" else None

    # ---- construction helpers -------------------------------------------------------------
    @property
    def quantized(self) -> bool:
        return self.config.decouple and self.config.quantizer.enabled

    def _init_shared_heads(self) -> None:
        """Where a trunk brings its own projection (e.g. ImageBind heads), start the shared head
        from it so step 0 reproduces that trunk's embedding."""
        for t, enc in self.encoders.items():
            init = getattr(enc, "pooled_init", lambda: None)()
            if init is not None and tuple(init.shape) == tuple(self.heads[t].shared.weight.shape):
                with torch.no_grad():
                    self.heads[t].shared.weight.copy_(init)
                    self.heads[t].shared.bias.zero_()

    def _apply_lora(self) -> None:
        lc = self.config.lora
        if lc.merged:
            return
        for t, enc in self.encoders.items():
            pretrained = self.config.trunk_for(t).init is not None or getattr(enc, "pretrained", False)
            if lc.mode == "on" or (lc.mode == "auto" and pretrained):
                apply_lora(enc, enc.lora_target_modules(lc.last_k), lc.rank, lc.alpha)

    def trainable_parameters(self) -> List[nn.Parameter]:
        return [p for p in self.parameters() if p.requires_grad]

    @property
    def temperature(self) -> float:
        return float(1.0 / self.logit_scale.detach().exp())

    # ---- inputs ---------------------------------------------------------------------------
    def tokenize(self, texts: Sequence[str]) -> torch.Tensor:
        from .modalities import text as text_mod

        return self.bridge.tokenize(text_mod.preprocess(list(texts)))

    def preprocess(self, modality: str, raws: Sequence, **options) -> torch.Tensor:
        """Raw numpy inputs -> a batch tensor shaped for this model (see codebind_core.modalities)."""
        from .modalities import model_options
        from .modalities import get as get_modality

        if modality == "text":
            return self.tokenize(raws)
        opts = {**model_options(modality, self.config.inputs), **options}
        return get_modality(modality).preprocess_batch(list(raws), **opts)

    # ---- encoding -------------------------------------------------------------------------
    def _tokens(self, modality: str, x: torch.Tensor):
        """-> (shared tokens, specific tokens | None, recon target | None, clips)."""
        if modality == "text":
            if not torch.is_tensor(x):
                x = self.tokenize(x)
            z = self.bridge.encode_text(x.to(self.logit_scale.device)).unsqueeze(1)
            return (*self.heads["text"](z), None, 1)
        if modality == "image":
            tok, target = self.bridge.image_tokens(x), None
            if self.decoders and "image" in self.decoders:
                target = self.bridge.patchify_image(x)
            return (*self.heads["image"](tok), target, 1)
        if modality not in self.encoders:
            raise ValueError(f"this model has no {modality!r} encoder; it has {sorted(self.encoders)}")
        enc = self.encoders[modality]
        clips = 1
        expected = getattr(enc, "expected_shape", None)
        if expected is not None and x.ndim == len(expected) + 2:  # (B, clips, ...) e.g. audio
            clips = x.shape[1]
            x = x.flatten(0, 1)
        tok = enc(x)
        target = enc.patchify(x) if modality in self.decoders else None
        return (*self.heads[modality](tok), target, clips)

    def _quantize(self, vq: CompositionalVQ, z: torch.Tensor, update: bool, record: bool = False):
        """Quantize (..., D) -> (straight-through quantized, codes, unit sub-vectors, commitment).

        ``update`` runs the EMA/reinit of a training step (App. A.2); otherwise the codebook is
        only read (``record`` adds the codes to its usage statistics)."""
        if update:
            out = vq(z)
            return out.quantized, out.codes, out.sub_vectors, out.commit_loss
        codes = vq.encode(z)
        if record:
            vq.record_usage(codes)
        zs = _unit(z.unflatten(-1, (-1, vq.sub_dim)))
        q = vq.decode(codes).unflatten(-1, (-1, vq.sub_dim))
        commit = ((zs - q.detach()) ** 2).sum(-1).mean()
        return (zs + (q - zs).detach()).flatten(-2), codes, zs, commit

    def _encode_many(self, inputs: Dict[str, object], path: str, *, update: bool = False,
                     recon: bool = False, specific: bool = True):
        """Encode several modalities of one batch -> ({modality: _Encoded}, commitment loss).

        The shared codebook sees the CLS shared parts of all modalities in ONE call, so a
        training step makes one EMA update of it (App. A.2: "updated via batched shared
        embeddings from bridging and target modalities")."""
        toks = {m: self._tokens(m, x) for m, x in inputs.items()}
        pooled = {}
        for m, (shared, spec, _, clips) in toks.items():
            cls_p = spec[:, 0].unflatten(0, (-1, clips)).mean(1) if (spec is not None and specific) else None
            pooled[m] = (shared[:, 0].unflatten(0, (-1, clips)).mean(1), cls_p)
        first = next(iter(pooled.values()))[0]
        if not self.quantized:
            return {m: _Encoded(_unit(s), None if p is None else _unit(p), None, None, None, None)
                    for m, (s, p) in pooled.items()}, first.new_zeros(())
        books = self.codebooks[path]
        names = list(pooled)
        sizes = [pooled[m][0].shape[0] for m in names]
        if "shared" in books:
            qs, codes, subs, commit = self._quantize(books["shared"], torch.cat([pooled[m][0] for m in names]),
                                                     update, record=not update)
            qs, codes, subs = qs.split(sizes), codes.split(sizes), subs.split(sizes)
        else:  # separate shared codebooks (Tab. 7 ablation): one per modality
            parts = [self._quantize(books[f"shared_{m}"], pooled[m][0], update, record=not update) for m in names]
            qs, codes, subs = ([p[i] for p in parts] for i in range(3))
            commit = torch.stack([p[3] for p in parts]).mean()
        out, spec_commits = {}, []
        for m, q, c, sub in zip(names, qs, codes, subs):
            cls_p = pooled[m][1]
            qp = pcodes = sub_p = None
            if cls_p is not None:
                qp, pcodes, sub_p, c2 = self._quantize(books[m], cls_p, update, record=not update)
                spec_commits.append(c2)
            out[m] = _Encoded(_unit(q), None if qp is None else _unit(qp), c, pcodes, sub, sub_p)
            shared, spec, target, clips = toks[m]
            if recon and target is not None and qp is not None:
                tok_s = self._quantize(_shared_book(books, m), shared[:, 1:], False)[0]
                tok_p = self._quantize(books[m], spec[:, 1:], False)[0]
                cls = torch.cat([q, qp], -1).repeat_interleave(clips, 0).unsqueeze(1)
                dec_in = torch.cat([cls, torch.cat([tok_s, tok_p], -1)], dim=1)
                out[m].recon = L.reconstruction_loss(target, self.decoders[m](dec_in))
        if spec_commits:
            commit = commit + torch.stack(spec_commits).mean()
        return out, commit

    def encode(self, modality: str, batch, path: Optional[str] = None, specific: bool = True) -> Embedding:
        """Encode a preprocessed batch of one modality (text may be a list of strings).

        ``path`` picks the codebook set for bridges (default: the first target's path); a target
        modality always uses its own path. ``specific=False`` skips the specific part (§3.4)."""
        if modality == "camera":
            modality = "image"
        path = self.config.path_for(modality, path)
        e = self._encode_many({modality: batch}, path, specific=specific and modality != "text")[0][modality]
        return Embedding(e.shared, e.specific, e.codes if e.codes is not None else _no_codes(e.shared),
                         e.specific_codes, modality, path)

    def encode_text(self, texts: TextInput, path: Optional[str] = None) -> Embedding:
        return self.encode("text", texts, path=path)

    @staticmethod
    def similarity(a: Embedding, b: Embedding) -> torch.Tensor:
        """(len(a), len(b)) cosine similarity of the shared parts."""
        return _unit(a.shared) @ _unit(b.shared).T

    # ---- training -------------------------------------------------------------------------
    def _target_of(self, batch: Dict) -> str:
        found = [k for k in batch if k in self.encoders]
        if len(found) != 1:
            raise ValueError(f"a training batch needs exactly one target modality of {sorted(self.encoders)}; got {found}")
        return found[0]

    @torch.no_grad()
    def init_codebooks(self, batches: Iterable[Dict]) -> None:
        """k-means initialisation (App. A.2): the shared codebook from text sub-vectors, each
        specific codebook from its modality's specific sub-vectors, over a few batches."""
        if not self.quantized:
            return
        subs: Dict[tuple, List[torch.Tensor]] = {}
        for batch in batches:
            path = self.config.path_for(self._target_of(batch))
            for m, x in batch.items():
                if m not in ("text", "image") and m not in self.encoders:
                    continue
                shared, spec, _, clips = self._tokens(m, x)
                key = "text" if m == "text" else "other"
                subs.setdefault((path, "shared", key), []).append(shared[:, 0].unflatten(0, (-1, clips)).mean(1))
                subs.setdefault((path, f"shared_{m}", "spec"), []).append(subs[(path, "shared", key)][-1])
                if spec is not None:
                    subs.setdefault((path, m, "spec"), []).append(spec[:, 0].unflatten(0, (-1, clips)).mean(1))
        for path, books in self.codebooks.items():
            for name, vq in books.items():
                if name == "shared":  # text sub-vectors when the batches had text
                    zs = subs.get((path, "shared", "text")) or subs.get((path, "shared", "other"))
                else:
                    zs = subs.get((path, name, "spec"))
                if zs:
                    vq.kmeans_init(torch.cat(zs))

    def loss_weights(self, target: str) -> L.LossWeights:
        w = self.config.loss.weights
        if isinstance(w, dict):
            return L.LossWeights(**w)
        return L.weights_for(target)

    def forward(self, batch: Dict, step: Optional[int] = None) -> Dict[str, torch.Tensor]:
        """Training step losses for a batch {"text": ..., "image": ..., <target>: ...}.

        Multi-path alignment (§3.4): target-text, target-image and image-text InfoNCE (each
        symmetric, Eq. 1) on quantized CLS shared parts, plus the auxiliary losses of App. A.1.
        Returns every raw loss and ``total`` (weighted by Table 1, explicit or adaptive weights)."""
        target = self._target_of(batch)
        path = self.config.path_for(target)
        recon = bool(self.decoders)
        enc, commit = self._encode_many({m: batch[m] for m in ("text", "image", target) if m in batch},
                                        path, update=self.training, recon=recon)
        scale = self.logit_scale.clamp(max=math.log(100.0)).exp()
        pairs = [(target, "text"), (target, "image"), ("image", "text")]
        aligns = [L.info_nce(enc[a].shared, enc[b].shared, 1.0 / scale) for a, b in pairs if a in enc and b in enc]
        if not aligns:
            raise ValueError("a training batch needs the target and at least one bridge (text or image)")
        out = {"align": torch.stack(aligns).sum()}
        zero = out["align"].new_zeros(())
        with_spec = [e for e in enc.values() if e.specific is not None]
        out["orth"] = _mean([L.orthogonal_loss(e.shared, e.specific) for e in with_spec], zero)
        out["uni"] = _mean([L.uniform_loss(e.specific) for e in with_spec], zero)
        out["recon"] = _mean([e.recon for e in enc.values() if e.recon is not None], zero)
        if self.quantized:
            books = self.codebooks[path]
            shared_book = _shared_book(books, target).codebook
            out["vq"] = commit
            out["cm"] = _mean([L.cmcm_loss(enc[b].sub_shared, enc[target].sub_shared, shared_book)
                               for b in ("text", "image") if b in enc], zero)
            ctr = [L.codevector_contrastive_loss(e.sub_shared, _shared_book(books, m).codebook) for m, e in enc.items()]
            ctr += [L.codevector_contrastive_loss(enc[m].sub_specific, books[m].codebook)
                    for m in enc if enc[m].sub_specific is not None]
            out["ctr"] = _mean(ctr, zero)
            # Eq. 8 on EMA codebooks (buffers) carries no gradient: it is reported, as in App. C.4
            out["cuni"] = _mean([L.codevector_uniform_loss(books[m].codebook)
                                 for m in ("shared", *enc, *(f"shared_{e}" for e in enc)) if m in books], zero)
        else:
            out.update(vq=zero, cm=zero, ctr=zero, cuni=zero)
        if self.balancer is not None:
            out["total"], _ = self.balancer(out, step)
        else:
            w = self.loss_weights(target)
            out["total"] = sum(getattr(w, k) * out[k] for k in L.LOSS_NAMES)
        return out

    # ---- persistence ----------------------------------------------------------------------
    def save(self, directory, merge_lora: bool = False) -> None:
        from .checkpoint import save

        save(self, directory, merge_lora=merge_lora)


def _shared_book(books: nn.ModuleDict, modality: str) -> CompositionalVQ:
    """The codebook quantizing `modality`'s shared part: the path's shared one, or its own when
    ``quantizer.shared_codebook`` is off (separate-codebook ablation)."""
    return books["shared"] if "shared" in books else books[f"shared_{modality}"]


def _mean(xs: List[torch.Tensor], zero: torch.Tensor) -> torch.Tensor:
    return torch.stack(xs).mean() if xs else zero


def _no_codes(shared: torch.Tensor) -> torch.Tensor:
    return torch.zeros(shared.shape[0], 0, dtype=torch.long, device=shared.device)


def create_model(config: CodeBindConfig) -> CodeBind:
    """The one factory: build a CodeBind model from a config (random heads/codebooks; bridge and
    trunk weights from the local files the config names)."""
    return CodeBind(config)
