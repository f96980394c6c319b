"""What :func:`codebind_core.model_checkpoint.load` checks before it trusts a checkpoint.

* :func:`check_complete`: ``config.json`` holds every key :func:`~codebind_core.model_checkpoint.save` writes
  (a missing key would silently take a default and then fail as a wall of size mismatches).
* :func:`estimate_parameters` / :func:`check_size`: the model a config describes is bounded before
  anything is allocated (a damaged size must not try to allocate terabytes or build 10^6 layers).
* :func:`check_weights`: the tensors' digest (when the file records one), names, dtypes, shapes and
  finiteness against the model, naming the first bad tensor.
Every failure is a ``ValueError`` naming the problem.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, Dict, List, Optional

import torch

from .checkpoint_format import tensors_digest
from .config import SECTIONS, CodeBindConfig, TrunkConfig

MAX_PARAMETERS = 2_000_000_000  # refuse a checkpoint config describing more parameters than this
MAX_BLOCKS = 10_000             # ... or more transformer blocks in all (each is a module to build)


# ---- config ---------------------------------------------------------------------------------
def _names(typ) -> List[str]:
    return [f.name for f in dataclasses.fields(typ)]


# keys added after the first checkpoints; they change no tensor, so their default is safe
OPTIONAL_KEYS = frozenset({"preprocess", "bridge.random_init"})


def check_complete(raw: Any) -> None:
    """``raw`` (the parsed ``config.json``) has every key a saved checkpoint writes (except
    :data:`OPTIONAL_KEYS`)."""
    if not isinstance(raw, Mapping):
        raise ValueError(f"the config must be a mapping of keys, got {type(raw).__name__}")
    missing = [k for k in _names(CodeBindConfig) if k not in raw]
    for key, typ in SECTIONS.items():
        if isinstance(raw.get(key), Mapping):
            missing += [f"{key}.{k}" for k in _names(typ) if k not in raw[key]]
    missing = [k for k in missing if k not in OPTIONAL_KEYS]
    if isinstance(raw.get("trunks"), Mapping):
        for m, t in raw["trunks"].items():
            if isinstance(t, Mapping):
                missing += [f"trunks.{m}.{k}" for k in _names(TrunkConfig) if k not in t]
    if missing:
        raise ValueError(f"config misses keys that a saved checkpoint always has: {missing} "
                         "(incomplete or damaged; defaults would not match the weights)")


# ---- size bound -----------------------------------------------------------------------------
def _int(d: Any, key: str, default: int) -> int:
    """A size from a free-form architecture dict; lists (e.g. per-stage layers) are summed."""
    v = d.get(key, default) if isinstance(d, Mapping) else default
    if isinstance(v, (list, tuple)):
        return sum(_int({"v": x}, "v", 0) for x in v)
    if isinstance(v, bool) or not isinstance(v, (int, float)) or v != v:
        return default
    return max(0, int(min(v, 1e15)))


def _block(width: int, mlp_ratio: float = 4.0) -> int:
    """Parameters of one pre-norm transformer block of ``width``."""
    return int((4 + 2 * mlp_ratio) * width * width + (9 + 2 * mlp_ratio) * width)


def _codebook(size: int, sub_dim: int) -> int:
    """Buffers of one CompositionalVQ: embed, ema_sum (size x sub_dim), ema_count, usage_ema, flag."""
    return 2 * size * sub_dim + 2 * size + 1


def _num_patches(modality: str, i) -> int:
    """Patch tokens of a ViT trunk (as :mod:`codebind_core.encoders.patch_embed` computes them)."""
    if modality in ("image", "depth", "thermal", "tactile"):
        return (i.image_size // i.patch_size) ** 2
    if modality == "video":
        return (i.num_frames // i.tubelet) * (i.image_size // i.patch_size) ** 2
    if modality == "audio":
        k, s = i.audio_patch, i.audio_stride
        return max(0, (i.mel_bins - k) // s + 1) * max(0, (i.audio_frames - k) // s + 1)
    if modality == "pointcloud":
        return i.num_groups
    return i.eeg_samples // i.eeg_patch


def _patch_dim(modality: str, i) -> int:
    channels = {"image": 3, "tactile": 3, "depth": 1, "thermal": 1}
    if modality in channels:
        return channels[modality] * i.patch_size ** 2
    if modality == "video":
        return 3 * i.tubelet * i.patch_size ** 2
    if modality == "audio":
        return i.audio_patch ** 2
    if modality == "pointcloud":
        return i.group_size * 3
    return i.eeg_channels * i.eeg_patch


def _openclip_bridge(cfg: CodeBindConfig) -> Dict[str, int]:
    mc = cfg.bridge.openclip_cfg()
    embed = _int(mc, "embed_dim", 512)
    out = {"params": 0, "blocks": 0, "embed_dim": embed, "image_tokens": 0, "image_patch_dim": 0}
    vis, txt = (mc.get("vision_cfg", {}), mc.get("text_cfg", {})) if isinstance(mc, Mapping) else ({}, {})
    if isinstance(vis, Mapping) and not vis.get("timm_model_name"):  # a timm tower's size is fixed by its name
        w, layers = _int(vis, "width", 768), _int(vis, "layers", 12)
        p, s = max(1, _int(vis, "patch_size", 16)), _int(vis, "image_size", 224)
        n = (s // p) ** 2
        out["params"] += layers * _block(w) + (n + 1) * w + 3 * p * p * w + w * embed
        out["blocks"] += layers
        out["image_tokens"], out["image_patch_dim"] = n, 3 * p * p
    elif isinstance(vis, Mapping):
        s, p = _int(vis, "image_size", 224), max(1, _int(vis, "patch_size", 16))
        out["image_tokens"], out["image_patch_dim"] = (s // p) ** 2, 3 * p * p
    if isinstance(txt, Mapping) and not txt.get("hf_model_name"):
        w, layers = _int(txt, "width", 512), _int(txt, "layers", 12)
        out["params"] += layers * _block(w) + (_int(txt, "vocab_size", 49408) + _int(txt, "context_length", 77)) * w
        out["params"] += w * embed
        out["blocks"] += layers
    return out


def _imagebind_bridge(cfg: CodeBindConfig) -> Dict[str, int]:
    from .encoders.imagebind.config import IMAGEBIND_CONFIGS, TARGET_MODALITIES, ImageBindConfig, get_config

    b = cfg.bridge
    try:
        if b.model_cfg:
            ib = ImageBindConfig.from_kwargs(b.model_cfg)
        elif b.arch in IMAGEBIND_CONFIGS:
            ib = get_config(b.arch)
        else:
            raise ValueError(f"bridge.kind='imagebind' needs bridge.arch in {sorted(IMAGEBIND_CONFIGS)} "
                             f"or bridge.model_cfg; got arch={b.arch!r}")
    except (TypeError, KeyError) as e:
        raise ValueError(f"bridge.model_cfg is not a valid ImageBind architecture ({e})") from e
    out = {"params": 0, "blocks": 0, "embed_dim": ib.out_embed_dim, "widths": {}}
    for m in ("vision", "text", *(t for t in cfg.targets if t in TARGET_MODALITIES)):
        t = ib.tower(m)
        out["params"] += t.blocks * _block(t.width) + (ib.num_patches(m) + 1) * t.width
        out["params"] += t.width * ib.out_embed_dim + (49408 * t.width if m == "text" else 0)
        out["blocks"] += t.blocks
        out["widths"][m] = t.width
    out["image_tokens"], out["image_patch_dim"] = ib.num_patches("vision"), 0
    return out


def estimate_parameters(cfg: CodeBindConfig) -> Dict[str, int]:
    """Approximate parameter (and buffer) count and transformer-block count of ``CodeBind(cfg)``,
    from the config alone: bridge towers, target trunks, heads, codebooks, decoders."""
    bridge = _imagebind_bridge(cfg) if cfg.bridge.kind == "imagebind" else _openclip_bridge(cfg)
    params, blocks = bridge["params"], bridge["blocks"]
    d, ds = cfg.embed_dim, (cfg.specific_dim if cfg.decouple else 0)
    bd = bridge["embed_dim"]
    widths = {"image": bd}
    for t in cfg.targets:
        if cfg.bridge.kind == "imagebind":
            widths[t] = bridge["widths"].get(t, 0)
            continue
        tc, n = cfg.trunk_for(t), _num_patches(t, cfg.inputs)
        params += tc.depth * _block(tc.width, tc.mlp_ratio) + (n + 1) * tc.width + _patch_dim(t, cfg.inputs) * tc.width
        blocks += tc.depth
        widths[t] = tc.width
    params += (bd + 1) * d + sum((w + 1) * (d + ds) for w in widths.values())  # text + image + target heads
    if cfg.decouple and cfg.quantizer.enabled:
        q = cfg.quantizer
        for book_set in cfg.codebook_sets():
            mods = 1 + (len(cfg.targets) if book_set == "unified" else 1)
            shared = 1 if q.shared_codebook else 1 + mods
            params += shared * _codebook(q.shared_size, q.sub_dim) + mods * _codebook(q.specific_size, q.sub_dim)
    if cfg.decouple and cfg.loss.recon:
        lc = cfg.loss
        w = lc.decoder_width
        for m, tw in widths.items():
            n = bridge["image_tokens"] if m == "image" else _num_patches(m, cfg.inputs)
            pd = bridge["image_patch_dim"] if m == "image" else _patch_dim(m, cfg.inputs)
            params += lc.decoder_depth * _block(w) + (d + ds + (n + 1) + pd + 2) * w
            params += tw * w if lc.input_projection else 0
            blocks += lc.decoder_depth
    return {"parameters": int(params), "blocks": int(blocks)}


def check_size(cfg: CodeBindConfig, max_parameters: int = MAX_PARAMETERS, max_blocks: int = MAX_BLOCKS) -> int:
    """Refuse a config describing a model above the limits; returns the parameter estimate."""
    est = estimate_parameters(cfg)
    if est["parameters"] > max_parameters:
        raise ValueError(f"the config describes a model of about {est['parameters']:.3g} parameters, above the "
                         f"limit of {max_parameters:.3g}: refusing to allocate it (damaged sizes?)")
    if est["blocks"] > max_blocks:
        raise ValueError(f"the config describes {est['blocks']} transformer blocks, above the limit of "
                         f"{max_blocks}: refusing to build them (damaged depth?)")
    return est["parameters"]


# ---- weights --------------------------------------------------------------------------------
def _kind(dtype: torch.dtype) -> str:
    if dtype.is_floating_point:
        return "floating"
    if dtype == torch.bool:
        return "bool"
    if dtype.is_complex:
        return "complex"
    return "integer"


def check_digest(state: Mapping, recorded: Optional[str]) -> None:
    """``state`` hashes to the digest recorded at save time (no check when none was recorded)."""
    if recorded is None:
        return
    actual = tensors_digest(state)
    if actual != recorded:
        raise ValueError(f"the tensors do not match the sha256 recorded when they were saved ({recorded[:16]}..., "
                         f"now {actual[:16]}...): the weights file is damaged")


def check_weights(state: Mapping, expected: Mapping) -> None:
    """``state`` (read from the file) against ``expected`` (the built model's state dict): same
    names, a dtype of the same kind (floating for floating, never int for float), same shapes, and
    only finite values in floating tensors (bar the +-inf the built model has at the same place,
    e.g. an attention mask). Names the first bad tensor."""
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    if missing or unexpected:
        raise ValueError(f"weights do not match their config: missing {missing[:5]}, unexpected {unexpected[:5]}")
    for name, want in expected.items():
        got = state[name]
        if _kind(got.dtype) != _kind(want.dtype):
            raise ValueError(f"tensor {name!r} is stored as {got.dtype} but the model expects a "
                             f"{_kind(want.dtype)} tensor ({want.dtype})")
        if tuple(got.shape) != tuple(want.shape):
            raise ValueError(f"tensor {name!r} has shape {tuple(got.shape)} but the config gives {tuple(want.shape)}")
    for name, want in expected.items():
        got = state[name]
        if not got.dtype.is_floating_point:
            continue
        bad = ~torch.isfinite(got)
        if bool(bad.any()):
            # the same +-inf the model itself builds (e.g. a causal attention mask) is no damage
            bad &= ~(~torch.isfinite(want) & (got == want))
            if bool(bad.any()):
                raise ValueError(f"tensor {name!r} holds {int(bad.sum())} NaN or infinite value(s): "
                                 "the weights are damaged")
