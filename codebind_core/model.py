"""CodeBind: bridges + target trunks -> decoupled heads -> compositional codebooks (-> decoder).

Paper §3 and App. A: every modality's tokens are projected to a shared and a specific part
(text: shared only); all tokens are quantized by the path's shared codebook and the modality's
specific codebook; the quantized [CLS] shared parts are aligned with InfoNCE to the bridges
(Eq. 1); quantized [shared, specific] tokens reconstruct the input (Eq. 2); the remaining losses of
App. A.1 regularise the decoupling and the codebooks. :meth:`CodeBind.features` is the network
(tokens, VQ outputs, reconstructions); the losses live in codebind_core/objectives (one class per
``loss.numerics``, official by default) and :meth:`CodeBind.forward` composes the two.
"""
from __future__ import annotations

import math
from typing import Dict, Iterable, List, Optional, Sequence, Tuple, Union

import torch
import torch.nn.functional as F
from torch import nn

from . import losses as L
from .balancer import AdaptiveBalancer
from .checkpoint_format import save as save_checkpoint
from .config import CodeBindConfig
from .decoder import ReconDecoder
from .encoders import build_bridge, build_target_encoder
from .encoders.lora import apply_lora
from .features import ModalityFeatures, Quantized, Reconstruction, Tokens, TrainFeatures
from .heads import DecoupledHead
from .inference import check_modality, embed_cls, ros_name_hint
from .objectives import create_loss
from .pooling import pool_clips
from .quantize import CompositionalVQ, shared_book
from .types import Embedding
from .modalities import get as get_modality
from .modalities import model_options
from .modalities import text as text_mod

TextInput = Union[Sequence[str], torch.Tensor]


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
        self.posthoc_codebook = None  # posthoc_codebook.PosthocCodebook: codes for a model without codebooks
        if self.quantized:
            q = cfg.quantizer
            for book_set in cfg.codebook_sets():
                mods = ("image", *(cfg.targets if book_set == "unified" else (book_set,)))
                shared_names = ["shared"] if q.shared_codebook else [f"shared_{m}" for m in ("text", *mods)]
                books = {n: CompositionalVQ(d, q.shared_size, q.sub_dim, decay=q.decay, reinit=q.reinit)
                         for n in shared_names}
                for m in mods:
                    books[m] = CompositionalVQ(ds, q.specific_size, q.sub_dim, decay=q.decay, reinit=q.reinit)
                self.codebooks[book_set] = nn.ModuleDict(books)
        self.decoders = nn.ModuleDict()
        if cfg.decouple and cfg.loss.recon:
            lc = cfg.loss
            spec = {"image": (self.bridge.image_num_patches, self.bridge.image_patch_dim, bd),
                    **{t: (e.num_patches, e.patch_dim, e.width) for t, e in self.encoders.items()}}
            for m, (n, pd, width) in spec.items():
                self.decoders[m] = ReconDecoder(d + ds, 1 + n, pd, lc.decoder_width, lc.decoder_depth, lc.decoder_heads,
                                                trunk_dim=width if lc.input_projection else None)
        log_scale = torch.tensor(math.log(1.0 / (cfg.loss.temperature or L.DEFAULT_TEMPERATURE)))
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

    def new_parameter_names(self) -> set:
        """Names of the parameters the official optimiser trains at ``lr_new`` (official §13): the
        new, randomly initialised parts — specific heads and reconstruction decoders. Trunks
        (LoRA), shared heads and preprocessors train at the base lr."""
        return {n for n, _ in self.named_parameters() if n.startswith("decoders.") or ".specific." in n}

    @property
    def temperature(self) -> float:
        """τ of the first target's training batches (see :meth:`temperature_for`)."""
        return float(self.temperature_for(self.config.targets[0]).detach())

    # ---- inputs ---------------------------------------------------------------------------
    def tokenize(self, texts: Sequence[str]) -> torch.Tensor:
        return self.bridge.tokenize(text_mod.preprocess(list(texts)))

    def preprocess(self, modality: str, raws: Sequence, **options) -> torch.Tensor:
        """Raw numpy inputs -> a batch tensor shaped for this model (see codebind_core.modalities).

        Options: the model's input geometry, then the preprocessing it was trained with
        (``config.preprocess``), then ``options`` (a depth ``intrinsics`` replaces the trained
        ``focal_length``)."""
        if modality == "text":
            return self.tokenize(raws)
        opts = {**model_options(modality, self.config.inputs), **self.trained_options(modality, options)}
        return get_modality(modality).preprocess_batch(list(raws), **opts)

    def trained_options(self, modality: str, options: Optional[Dict] = None) -> Dict:
        """``config.preprocess[modality]`` under ``options``; an ``intrinsics`` matrix sets the
        focal length itself, so it drops a trained ``focal_length``."""
        trained = dict(self.config.preprocess.get(modality, {}))
        options = dict(options or {})
        if options.get("intrinsics") is not None and "focal_length" not in options:
            trained.pop("focal_length", None)
        return {**trained, **options}

    # ---- encoding -------------------------------------------------------------------------
    def _tokens(self, modality: str, x: torch.Tensor) -> Tokens:
        """Trunk + heads of one modality: per-token shared / specific parts (clips folded into
        the batch), the reconstruction target and the trunk tokens when a decoder needs them."""
        if modality == "text":
            if not torch.is_tensor(x):
                x = self.tokenize(x)
            z = self.bridge.encode_text(x.to(self.logit_scale.device)).unsqueeze(1)
            return Tokens(*self.heads["text"](z), None, 1, None)
        if modality == "image":
            tok = self.bridge.image_tokens(x)
            dec = "image" in self.decoders
            return Tokens(*self.heads["image"](tok), self.bridge.patchify_image(x) if dec else None, 1,
                           tok if dec else None)
        if modality not in self.encoders:
            raise ValueError(f"this model has no {modality!r} encoder; it has {sorted(self.encoders)}"
                             f"{ros_name_hint(modality)}")
        enc = self.encoders[modality]
        x, clips = _flatten_clips(enc, x)
        tok = enc(x)
        dec = modality in self.decoders
        return Tokens(*self.heads[modality](tok), enc.patchify(x) if dec else None, clips, tok if dec else None)

    def _cls(self, modality: str, x) -> Tuple[torch.Tensor, int]:
        """(N·clips, width) [CLS] trunk tokens of one modality and the clips per sample."""
        if modality == "text":
            if not torch.is_tensor(x):
                x = self.tokenize(x)
            return self.bridge.encode_text(x.to(self.logit_scale.device)), 1
        if modality == "image":
            return self.bridge.image_tokens(x)[:, 0], 1
        enc = self.encoders[modality]
        x, clips = _flatten_clips(enc, x)
        return enc(x)[:, 0], clips

    def encode(self, modality: str, batch, codebook_set: Optional[str] = None, specific: bool = True) -> Embedding:
        """Encode a preprocessed batch of one modality (text may be a list of strings).

        ``codebook_set`` picks the codebook set for bridges (default: the first target's); a
        target modality always uses its own. ``specific=False`` leaves the specific part out of
        the result (§3.4). Only the [CLS] token is quantized; codebooks are read, never updated."""
        check_modality(self, modality)
        codebook_set = self.config.codebook_set_for(modality, codebook_set)
        cls, clips = self._cls(modality, batch)
        return self._embed(modality, cls, clips, codebook_set, specific)

    def encode_sets(self, modality: str, batch, codebook_sets: Sequence[str],
                    specific: bool = True) -> Dict[str, Embedding]:
        """:meth:`encode` with each of ``codebook_sets`` (a bridge's input against several sets,
        e.g. a text query against a memory of several sensors): the tower runs once, only the
        head and the quantization run per set. Same results as one :meth:`encode` per set."""
        check_modality(self, modality)
        resolved = {s: self.config.codebook_set_for(modality, s) for s in codebook_sets}
        cls, clips = self._cls(modality, batch)
        return {s: self._embed(modality, cls, clips, r, specific) for s, r in resolved.items()}

    def _embed(self, modality: str, cls: torch.Tensor, clips: int, codebook_set: str, specific: bool) -> Embedding:
        vq_shared = vq_specific = None
        if self.quantized:
            books = self.codebooks[codebook_set]
            vq_shared = _read_only(shared_book(books, modality))
            vq_specific = _read_only(books[modality]) if modality != "text" else None
        elif self.posthoc_codebook is not None:  # codes only; the shared part stays the float vector
            vq_shared, vq_specific = self.posthoc_codebook.quantizer(codebook_set), _unquantized
        shared, spec, codes, spec_codes = embed_cls(self.heads[modality], cls, vq_shared, vq_specific,
                                                    specific=specific and modality != "text", clips=clips)
        return Embedding(shared, spec, _no_codes(shared) if codes is None else codes, spec_codes,
                         modality, codebook_set)

    def encode_text(self, texts: TextInput, codebook_set: Optional[str] = None) -> Embedding:
        """:meth:`encode` of text."""
        return self.encode("text", texts, codebook_set=codebook_set)

    @staticmethod
    def similarity(a: Embedding, b: Embedding) -> torch.Tensor:
        """(len(a), len(b)) cosine similarity of the shared parts.

        Quantized shared parts are codevectors of one codebook set: embeddings quantized with
        different sets are not comparable, and raise a ValueError naming both."""
        if a.codebook_set != b.codebook_set and (a.codes.shape[-1] or b.codes.shape[-1]):
            raise ValueError(f"cannot compare embeddings quantized with different codebook sets: "
                             f"{a.modality!r} with {a.codebook_set!r}, {b.modality!r} with {b.codebook_set!r} "
                             f"(encode both with the same codebook_set=)")
        return _unit(a.shared) @ _unit(b.shared).T

    # ---- training -------------------------------------------------------------------------
    def _target_of(self, batch: Dict) -> str:
        found = [k for k in batch if k in self.encoders]
        if len(found) != 1:
            raise ValueError(f"a training batch needs exactly one target modality of {sorted(self.encoders)}; "
                             f"got {found}")
        return found[0]

    @torch.no_grad()
    def init_codebooks(self, batches: Iterable[Dict]) -> None:
        """k-means initialisation (App. A.2) over a few batches, ahead of training: the shared
        codebook from text [CLS] sub-vectors, each specific codebook from its modality's.
        Without it, each codebook is initialised from its first training call (official §8)."""
        if not self.quantized:
            return
        subs: Dict[tuple, List[torch.Tensor]] = {}
        for batch in batches:
            path = self.config.codebook_set_for(self._target_of(batch))
            for m, x in batch.items():
                if m not in ("text", "image") and m not in self.encoders:
                    continue
                t = self._tokens(m, x)
                shared, spec = pool_clips(t.shared[:, 0], None if t.specific is None else t.specific[:, 0], t.clips)
                key = "text" if m == "text" else "other"
                subs.setdefault((path, "shared", key), []).append(shared)
                subs.setdefault((path, f"shared_{m}", "spec"), []).append(shared)
                if spec is not None:
                    subs.setdefault((path, m, "spec"), []).append(spec)
        for path, books in self.codebooks.items():
            for name, vq in books.items():
                if name == "shared":  # text sub-vectors when the batches had text
                    zs = subs.get((path, "shared", "text")) or subs.get((path, "shared", "other"))
                else:
                    zs = subs.get((path, name, "spec"))
                if zs:
                    vq.kmeans_init(torch.cat(zs))

    def temperature_for(self, target: str) -> torch.Tensor:
        """InfoNCE τ of a training batch: learnable (1 / logit scale, capped at 1/100) or the
        fixed ``loss.temperature`` (default: the official config's τ for the target)."""
        if self.config.loss.learnable_temperature:
            return 1.0 / self.logit_scale.clamp(max=math.log(100.0)).exp()
        tau = self.config.loss.temperature or L.official_temperature(target)
        return self.logit_scale.new_tensor(tau)

    def _quantize_train(self, m: str, t: Tokens, books: nn.ModuleDict, update: bool) -> Quantized:
        """The VQ calls of one modality (shared, then specific) over all its tokens (official §6)."""
        shared, spec = pool_clips(t.shared, t.specific, t.clips)  # text: one token, (B, 1, D)
        qs = shared_book(books, m)(shared, update=update)
        qp = books[m](spec, update=update) if spec is not None else None
        return Quantized(qs, qp)

    def _reconstruct(self, m: str, t: Tokens, q: Quantized) -> Optional[Reconstruction]:
        """Eq. 2's target and the decoder's prediction from the unit quantized [shared, specific]
        tokens (plus the trunk tokens with ``loss.input_projection``), both averaged over clips."""
        if m not in self.decoders or t.target is None or q.specific is None:
            return None
        tokens = _unit(torch.cat([q.shared.quantized, q.specific.quantized], -1))
        trunk = t.trunk.unflatten(0, (-1, t.clips)).mean(1) if self.decoders[m].trunk_dim else None
        return Reconstruction(t.target.unflatten(0, (-1, t.clips)).mean(1), self.decoders[m](tokens, trunk))

    def features(self, batch: Dict) -> TrainFeatures:
        """The network on a training batch {"text": ..., "image": ..., <target>: ...}: tokens,
        VQ outputs and reconstructions per modality; no loss (see :mod:`codebind_core.objectives`).

        Official order (official §0): text, target, image; each modality's tokens pass its shared
        then its specific codebook, every call updating that codebook in training mode (so the
        shared codebook is updated once per modality)."""
        target = self._target_of(batch)
        order = [m for m in ("text", target, "image") if m in batch]
        toks = {m: self._tokens(m, batch[m]) for m in order}
        feats = {m: ModalityFeatures(toks[m]) for m in order}
        if self.quantized:
            books = self.codebooks[self.config.codebook_set_for(target)]
            for m in order:
                feats[m].vq = self._quantize_train(m, toks[m], books, self.training)
            for m in order:
                feats[m].recon = self._reconstruct(m, toks[m], feats[m].vq)
        return TrainFeatures(target, feats, self.temperature_for(target), self.quantized)

    # the trainer may pass ``report=False`` on steps whose losses are not logged
    report_on_demand = True

    def forward(self, batch: Dict, step: Optional[int] = None, report: bool = True) -> Dict[str, torch.Tensor]:
        """Training step: :meth:`features` scored by the objective of ``loss.numerics``
        (:func:`codebind_core.objectives.create_loss`, weighted by :attr:`balancer` when set).
        Returns every raw loss and ``total``; ``report=False`` lets the official objective skip
        the losses that carry no gradient."""
        objective = create_loss(self.config.loss, self.balancer)
        return objective(self.features(batch), step=step, report=report)

    # ---- persistence ----------------------------------------------------------------------
    def save(self, directory, merge_lora: bool = False) -> None:
        save_checkpoint(self, directory, merge_lora=merge_lora)


def _flatten_clips(enc, x: torch.Tensor) -> Tuple[torch.Tensor, int]:
    """(B, clips, ...) inputs (e.g. audio) as (B·clips, ...) and the clips per sample."""
    expected = getattr(enc, "expected_shape", None)
    if expected is not None and x.ndim == len(expected) + 2:
        return x.flatten(0, 1), x.shape[1]
    return x, 1


def _read_only(vq: CompositionalVQ):
    """A codebook as an inference quantizer: (B, D) -> (unit quantized, codes), never updated."""
    def quantize(z: torch.Tensor):
        out = vq(z, update=False)
        return _unit(out.quantized), out.codes
    return quantize


def _unquantized(z: torch.Tensor):
    """The specific part of a model served by a post-hoc (shared-only) codebook: unit, no codes."""
    return _unit(z), None


def _no_codes(shared: torch.Tensor) -> torch.Tensor:
    return torch.zeros(shared.shape[0], 0, dtype=torch.long, device=shared.device)


def create_model(config: CodeBindConfig) -> CodeBind:
    """The one factory: build a CodeBind model from a config (random heads/codebooks; bridge and
    trunk weights from the local files the config names)."""
    return CodeBind(config)
