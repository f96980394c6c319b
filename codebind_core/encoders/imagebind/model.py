"""``ImageBindModel``: six towers whose parameter names and shapes match ImageBind's state dict.

``forward(inputs)`` follows ImageBind's rule for multi-clip inputs: a tensor with 5 or more dims is
B x S x (one input) and its S normalised, scaled embeddings are averaged (not re-normalised). So
B x S x 3 x H x W is S images per item and B x S x 3 x T x H x W is S clips per item. One extension:
a 5-D vision tensor B x 3 x T x H x W with T != 3 (which ImageBind rejects) is one clip per item;
:meth:`ImageBindModel.embed` always takes one input per item. A 4-D image equals the 2-frame clip
of it (PadIm2Video repeats the frame).
"""
from __future__ import annotations

from typing import Callable, Dict, Mapping, Optional, Tuple, Union

import torch
from torch import nn

from .config import (CONTEXT_LENGTH, IMU_CHANNELS, IMU_LENGTH, MODALITIES, VIDEO_PAD_FRAMES, VOCAB_SIZE,
                     ImageBindConfig, get_config)
from .heads import build_head, build_postprocessor, head_norm
from .preprocessors import build_preprocessor
from .transformer import Trunk

ConfigLike = Union[str, ImageBindConfig]


def resolve_config(config: ConfigLike) -> ImageBindConfig:
    if isinstance(config, ImageBindConfig):
        return config
    if isinstance(config, str):
        return get_config(config)
    raise ValueError(f"expected an ImageBindConfig or a registered config name, got {type(config).__name__}")


def build_trunk(modality: str, cfg: ImageBindConfig) -> Trunk:
    """Vision has a pre-LayerNorm; audio, depth, thermal and imu attend to learned bias_k/bias_v."""
    t = cfg.tower(modality)
    return Trunk(t.width, t.blocks, t.heads, pre_norm=modality == "vision",
                 bias_kv=modality not in ("vision", "text"), drop_path=t.drop_path)


# ---- input checks: a clear ValueError instead of a shape error deep inside ------------------------
def _shape(x: torch.Tensor) -> tuple:
    return tuple(x.shape)


def _float_input(name: str, x: torch.Tensor) -> None:
    if not x.is_floating_point():
        raise ValueError(f"{name} input must be a floating-point tensor, got {x.dtype}")
    if x.device.type != "meta" and not bool(torch.isfinite(x).all()):
        raise ValueError(f"{name} input contains NaN or inf")


def _check_vision(x: torch.Tensor, cfg: ImageBindConfig) -> None:
    _float_input("vision", x)
    if x.ndim not in (4, 5) or x.shape[1] != 3:
        raise ValueError(f"vision input must be B x 3 x H x W or B x 3 x T x H x W, got {_shape(x)}")
    kt, kh, kw = cfg.kernel_size
    frames = x.shape[2] if x.ndim == 5 else 1
    frames = VIDEO_PAD_FRAMES if frames == 1 else frames
    if frames < kt or x.shape[-2] < kh or x.shape[-1] < kw:
        raise ValueError(f"vision input {_shape(x)} is smaller than one {cfg.kernel_size} patch")


def _check_text(x: torch.Tensor, cfg: ImageBindConfig) -> None:
    if x.ndim != 2 or x.shape[1] != CONTEXT_LENGTH:
        raise ValueError(f"text input must be B x {CONTEXT_LENGTH} token ids, got {_shape(x)}")
    if x.is_floating_point() or x.is_complex() or x.dtype == torch.bool:
        raise ValueError(f"text token ids must be an integer tensor, got {x.dtype}")
    if x.numel() and x.device.type != "meta" and (int(x.min()) < 0 or int(x.max()) >= VOCAB_SIZE):
        raise ValueError(f"text token ids must be in [0, {VOCAB_SIZE}), got [{int(x.min())}, {int(x.max())}]")


def _check_audio(x: torch.Tensor, cfg: ImageBindConfig) -> None:
    _float_input("audio", x)
    want = (1, cfg.audio_num_mel_bins, cfg.audio_target_len)
    if x.ndim != 4 or _shape(x)[1:] != want:
        raise ValueError(f"audio input must be B x {' x '.join(map(str, want))} (a normalised Kaldi fbank), "
                         f"got {_shape(x)}")


def _image_check(name: str, kernel: Callable[[ImageBindConfig], int]):
    def check(x: torch.Tensor, cfg: ImageBindConfig) -> None:
        _float_input(name, x)
        if x.ndim != 4 or x.shape[1] != 1:
            raise ValueError(f"{name} input must be B x 1 x H x W, got {_shape(x)}")
        if min(x.shape[-2:]) < kernel(cfg):
            raise ValueError(f"{name} input {_shape(x)} is smaller than one {kernel(cfg)}-pixel patch")
    return check


def _check_imu(x: torch.Tensor, cfg: ImageBindConfig) -> None:
    _float_input("imu", x)
    if x.ndim != 3 or _shape(x)[1:] != (IMU_CHANNELS, IMU_LENGTH):
        raise ValueError(f"imu input must be B x {IMU_CHANNELS} x {IMU_LENGTH}, got {_shape(x)}")


INPUT_CHECKS: Dict[str, Callable[[torch.Tensor, ImageBindConfig], None]] = {
    "vision": _check_vision, "text": _check_text, "audio": _check_audio,
    "depth": _image_check("depth", lambda c: c.depth_kernel_size),
    "thermal": _image_check("thermal", lambda c: c.thermal_kernel_size),
    "imu": _check_imu,
}


def check_input(modality: str, x: torch.Tensor, cfg: ImageBindConfig) -> None:
    """Raise ValueError naming the problem if ``x`` is not one batch of ``modality`` input."""
    if modality not in INPUT_CHECKS:
        raise ValueError(f"unknown ImageBind modality {modality!r}; choose from {MODALITIES}")
    if not isinstance(x, torch.Tensor):
        raise ValueError(f"{modality} input must be a torch.Tensor, got {type(x).__name__}")
    if x.ndim == 0 or x.shape[0] == 0:
        raise ValueError(f"{modality} input is empty: {_shape(x)}")
    INPUT_CHECKS[modality](x, cfg)


def _is_single_clip(modality: str, x: torch.Tensor) -> bool:
    """A 5-D B x 3 x T x H x W vision tensor with T != 3 (ImageBind itself rejects it: it reads
    every 5-D tensor as B x S x 3 x H x W) is taken as one clip per item."""
    return modality == "vision" and x.ndim == 5 and x.shape[1] == 3 and x.shape[2] != 3


class ImageBindModel(nn.Module):
    """ImageBind's six-modality model. State-dict layout (in order)::

        modality_preprocessors.<m>.*   stems, cls tokens, positional embeddings, text mask
        modality_trunks.<m>.*          pre-LN (vision), blocks.<i>.{attn,norm_1,mlp,norm_2}
        modality_heads.<m>.*           LayerNorm + bias-free projection to ``out_embed_dim``
        modality_postprocessors.<m>.*  ``1.log_logit_scale`` (text: parameter; others: buffers)

    with ``<m>`` in vision, text, audio, depth, thermal, imu.
    """

    def __init__(self, config: ConfigLike = "imagebind_huge"):
        super().__init__()
        self.config = cfg = resolve_config(config)
        self.modality_preprocessors = nn.ModuleDict({m: build_preprocessor(m, cfg) for m in MODALITIES})
        self.modality_trunks = nn.ModuleDict({m: build_trunk(m, cfg) for m in MODALITIES})
        self.modality_heads = nn.ModuleDict({m: build_head(m, cfg) for m in MODALITIES})
        self.modality_postprocessors = nn.ModuleDict({m: build_postprocessor(m) for m in MODALITIES})

    @property
    def embed_dim(self) -> int:
        return self.config.out_embed_dim

    # ---- stages ----------------------------------------------------------------------------------
    def trunk_tokens(self, modality: str, x: torch.Tensor) -> Tuple[torch.Tensor, Dict[str, torch.Tensor]]:
        """Preprocessor + trunk -> (B x L x D tokens, head inputs). No input checks."""
        tokens, extra = self.modality_preprocessors[modality](x)
        mask = extra.pop("attn_mask", None)
        return self.modality_trunks[modality](tokens, attn_mask=mask), extra

    def head_tokens(self, modality: str, x: torch.Tensor) -> torch.Tensor:
        """B x L x D trunk tokens after the head's LayerNorm (the cls/EOS token is not selected)."""
        check_input(modality, x, self.config)
        tokens, _ = self.trunk_tokens(modality, x)
        return head_norm(self.modality_heads[modality])(tokens)

    def project(self, modality: str, x: torch.Tensor) -> torch.Tensor:
        """One input per item -> B x O head output, before normalisation and logit scale."""
        check_input(modality, x, self.config)
        tokens, extra = self.trunk_tokens(modality, x)
        head = self.modality_heads[modality]
        return head(tokens, extra["eos"]) if modality == "text" else head(tokens)

    def embed(self, modality: str, x: torch.Tensor) -> torch.Tensor:
        """One input per item -> B x O normalised embedding times the modality's logit scale."""
        return self.modality_postprocessors[modality](self.project(modality, x))

    # ---- ImageBind's forward ----------------------------------------------------------------------
    def forward(self, inputs: Mapping[str, Optional[torch.Tensor]]) -> Dict[str, torch.Tensor]:
        """dict modality -> input batch  =>  dict modality -> B x O embedding (see module doc)."""
        if not isinstance(inputs, Mapping):
            raise ValueError(f"inputs must be a dict of modality -> tensor, got {type(inputs).__name__}")
        outputs: Dict[str, torch.Tensor] = {}
        for modality, value in inputs.items():
            if modality not in MODALITIES:
                raise ValueError(f"unknown ImageBind modality {modality!r}; choose from {MODALITIES}")
            if value is None:
                continue
            if not isinstance(value, torch.Tensor):
                raise ValueError(f"{modality} input must be a torch.Tensor, got {type(value).__name__}")
            if value.ndim >= 5 and not _is_single_clip(modality, value):
                b, s = value.shape[:2]
                emb = self.embed(modality, value.reshape(b * s, *value.shape[2:]))
                outputs[modality] = emb.reshape(b, s, -1).mean(dim=1)
            else:
                outputs[modality] = self.embed(modality, value)
        return outputs
