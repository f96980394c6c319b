"""ImageBind architecture configurations as data (ImageBind-huge, a small and a tiny variant).

A config mirrors the constructor of ImageBind's ``ImageBindModel`` one to one:
:meth:`ImageBindConfig.from_kwargs` accepts exactly its keyword arguments (e.g. the ``small_kwargs``
of a published small configuration) and :meth:`ImageBindConfig.to_kwargs` gives them back.
Sizes that ImageBind hard-codes (image 224, context 77, vocabulary 49408, IMU 6 x 2000 in windows of
8) are module constants, not options.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar, Dict, Mapping, Tuple

from ...config_base import Config, check_types
from ...config_base import check as _check

MODALITIES: Tuple[str, ...] = ("vision", "text", "audio", "depth", "thermal", "imu")
TARGET_MODALITIES: Tuple[str, ...] = ("audio", "depth", "thermal", "imu")

IMAGE_SIZE = 224
CONTEXT_LENGTH = 77
VOCAB_SIZE = 49408
SOT_TOKEN = 49406
EOT_TOKEN = 49407
IMU_CHANNELS = 6
IMU_LENGTH = 2000
IMU_WINDOW = 8  # ImageBind ignores ``imu_kernel_size`` and always uses 8-sample windows
VIDEO_PAD_FRAMES = 2  # a single frame is repeated to this many frames (PadIm2Video "repeat")


@dataclass(frozen=True)
class TowerConfig(Config):
    """One modality's transformer: token width, number of blocks, heads, max drop-path rate."""

    width: int
    blocks: int
    heads: int
    drop_path: float = 0.0

    def validate(self, name: str = "tower") -> None:
        check_types(self, f"{name}.")
        _check(self.width > 0 and self.blocks > 0 and self.heads > 0,
               f"{name}: width, blocks and heads must be positive, got {self}")
        _check(self.width % self.heads == 0,
               f"{name}: width {self.width} is not divisible by {self.heads} heads")
        _check(0.0 <= self.drop_path < 1.0, f"{name}: drop_path must be in [0, 1), got {self.drop_path}")


def _tower(width: int, blocks: int, heads: int, drop_path: float = 0.0) -> TowerConfig:
    return TowerConfig(width, blocks, heads, drop_path)


@dataclass(frozen=True)
class ImageBindConfig(Config):
    """Every constructor value of ImageBind's model (defaults = the class defaults = ImageBind-base).

    Its dict form is ImageBind's flat constructor kwargs (:meth:`to_dict` = :meth:`to_kwargs`),
    not the nested fields, so checkpoints store what ImageBind itself takes."""

    config_label: ClassVar[str] = "ImageBind config"

    out_embed_dim: int = 768
    vision: TowerConfig = field(default_factory=lambda: _tower(1024, 24, 16))
    text: TowerConfig = field(default_factory=lambda: _tower(768, 12, 12))
    audio: TowerConfig = field(default_factory=lambda: _tower(768, 12, 12, 0.1))
    depth: TowerConfig = field(default_factory=lambda: _tower(384, 12, 8))
    thermal: TowerConfig = field(default_factory=lambda: _tower(768, 12, 12))
    imu: TowerConfig = field(default_factory=lambda: _tower(512, 6, 8, 0.7))
    video_frames: int = 2
    kernel_size: Tuple[int, int, int] = (2, 14, 14)
    audio_kernel_size: int = 16
    audio_stride: int = 10
    audio_num_mel_bins: int = 128
    audio_target_len: int = 204
    depth_kernel_size: int = 16
    thermal_kernel_size: int = 16
    imu_kernel_size: int = 8  # accepted and ignored, as in ImageBind

    def normalise(self) -> None:
        object.__setattr__(self, "kernel_size", tuple(int(k) for k in self.kernel_size))

    def validate(self) -> None:
        check_types(self, "")
        _check(self.out_embed_dim > 0, f"out_embed_dim must be positive, got {self.out_embed_dim}")
        for name in MODALITIES:
            self.tower(name).validate(name)
        _check(len(self.kernel_size) == 3 and all(k > 0 for k in self.kernel_size),
               f"kernel_size must be 3 positive ints (time, height, width), got {self.kernel_size}")
        _check(self.video_frames >= self.kernel_size[0],
               f"video_frames {self.video_frames} is shorter than the temporal kernel {self.kernel_size[0]}")
        _check(all(k <= IMAGE_SIZE for k in self.kernel_size[1:]), "vision kernel larger than the image")
        _check(0 < self.audio_stride and 0 < self.audio_kernel_size <= min(self.audio_num_mel_bins,
                                                                              self.audio_target_len),
               "audio kernel must be positive and fit the spectrogram; stride must be positive")
        for name in ("depth", "thermal"):
            k = getattr(self, f"{name}_kernel_size")
            _check(0 < k <= IMAGE_SIZE, f"{name}_kernel_size must be in (0, {IMAGE_SIZE}], got {k}")

    # ---- derived geometry -------------------------------------------------------------------
    def tower(self, modality: str) -> TowerConfig:
        _check(modality in MODALITIES, f"unknown ImageBind modality {modality!r}; choose from {MODALITIES}")
        return getattr(self, modality)

    def patch_layout(self, modality: str) -> Tuple[int, ...]:
        """Patch grid of the stem at the construction input size (excludes the cls token)."""
        if modality == "vision":
            kt, kh, kw = self.kernel_size
            return (self.video_frames // kt, IMAGE_SIZE // kh, IMAGE_SIZE // kw)
        if modality == "audio":
            k, s = self.audio_kernel_size, self.audio_stride
            return ((self.audio_num_mel_bins - k) // s + 1, (self.audio_target_len - k) // s + 1)
        if modality in ("depth", "thermal"):
            k = getattr(self, f"{modality}_kernel_size")
            return (IMAGE_SIZE // k, IMAGE_SIZE // k)
        if modality == "imu":
            return (IMU_LENGTH // IMU_WINDOW,)
        if modality == "text":
            return (CONTEXT_LENGTH,)
        raise ValueError(f"unknown ImageBind modality {modality!r}; choose from {MODALITIES}")

    def num_patches(self, modality: str) -> int:
        n = 1
        for d in self.patch_layout(modality):
            n *= d
        return n

    # ---- ImageBind constructor kwargs <-> config ------------------------------------------------
    def to_kwargs(self) -> Dict[str, Any]:
        """The keyword arguments of ImageBind's ``ImageBindModel`` that build this architecture."""
        out: Dict[str, Any] = {"video_frames": self.video_frames, "kernel_size": list(self.kernel_size),
                               "audio_kernel_size": self.audio_kernel_size, "audio_stride": self.audio_stride,
                               "out_embed_dim": self.out_embed_dim}
        for m in MODALITIES:
            t = self.tower(m)
            out[f"{m}_embed_dim"], out[f"{m}_num_blocks"], out[f"{m}_num_heads"] = t.width, t.blocks, t.heads
            if m in TARGET_MODALITIES:
                out[f"{m}_drop_path"] = t.drop_path
        out.update(audio_num_mel_bins=self.audio_num_mel_bins, audio_target_len=self.audio_target_len,
                   depth_kernel_size=self.depth_kernel_size, thermal_kernel_size=self.thermal_kernel_size,
                   imu_kernel_size=self.imu_kernel_size)
        return out

    @classmethod
    def from_kwargs(cls, kwargs: Mapping[str, Any]) -> "ImageBindConfig":
        """Build from ImageBind constructor kwargs; missing ones take the class defaults."""
        base = cls().to_kwargs()
        unknown = sorted(set(kwargs) - set(base))
        _check(not unknown, f"unknown ImageBind constructor arguments: {unknown}")
        kw = {**base, **kwargs}
        towers = {}
        for m in MODALITIES:
            drop = float(kw[f"{m}_drop_path"]) if m in TARGET_MODALITIES else 0.0
            towers[m] = TowerConfig(int(kw[f"{m}_embed_dim"]), int(kw[f"{m}_num_blocks"]),
                                    int(kw[f"{m}_num_heads"]), drop)
        scalars = {k: kw[k] for k in ("video_frames", "audio_kernel_size", "audio_stride", "out_embed_dim",
                                      "audio_num_mel_bins", "audio_target_len", "depth_kernel_size",
                                      "thermal_kernel_size", "imu_kernel_size")}
        return cls(kernel_size=tuple(kw["kernel_size"]), **towers, **{k: int(v) for k, v in scalars.items()})

    def to_dict(self) -> Dict[str, Any]:
        return self.to_kwargs()

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "ImageBindConfig":
        _check(isinstance(d, Mapping), f"an ImageBind config must be a mapping, got {type(d).__name__}")
        return cls.from_kwargs(d)


# ---- registry: architectures as data ---------------------------------------------------------
HUGE_KWARGS: Dict[str, Any] = {
    "vision_embed_dim": 1280, "vision_num_blocks": 32, "vision_num_heads": 16,
    "text_embed_dim": 1024, "text_num_blocks": 24, "text_num_heads": 16,
    "out_embed_dim": 1024, "audio_drop_path": 0.1, "imu_drop_path": 0.7,
}

SMALL_KWARGS: Dict[str, Any] = {
    "video_frames": 2, "kernel_size": [2, 14, 14], "audio_kernel_size": 16, "audio_stride": 10,
    "out_embed_dim": 32,
    "vision_embed_dim": 64, "vision_num_blocks": 2, "vision_num_heads": 2,
    "audio_embed_dim": 64, "audio_num_blocks": 2, "audio_num_heads": 2,
    "audio_num_mel_bins": 128, "audio_target_len": 204, "audio_drop_path": 0.1,
    "text_embed_dim": 64, "text_num_blocks": 2, "text_num_heads": 2,
    "depth_embed_dim": 64, "depth_kernel_size": 16, "depth_num_blocks": 2, "depth_num_heads": 2,
    "depth_drop_path": 0.0,
    "thermal_embed_dim": 64, "thermal_kernel_size": 16, "thermal_num_blocks": 2, "thermal_num_heads": 2,
    "thermal_drop_path": 0.0,
    "imu_embed_dim": 64, "imu_kernel_size": 8, "imu_num_blocks": 2, "imu_num_heads": 2, "imu_drop_path": 0.7,
}

# Tests: narrow everywhere, but target trunks keep 6 blocks so "LoRA on the last 6" is meaningful.
TINY_KWARGS: Dict[str, Any] = {
    "out_embed_dim": 32,
    "vision_embed_dim": 32, "vision_num_blocks": 2, "vision_num_heads": 2,
    "text_embed_dim": 32, "text_num_blocks": 2, "text_num_heads": 2,
    "audio_embed_dim": 32, "audio_num_blocks": 6, "audio_num_heads": 2,
    "depth_embed_dim": 32, "depth_num_blocks": 6, "depth_num_heads": 2,
    "thermal_embed_dim": 32, "thermal_num_blocks": 6, "thermal_num_heads": 2,
    "imu_embed_dim": 32, "imu_num_blocks": 6, "imu_num_heads": 2,
}

IMAGEBIND_CONFIGS: Dict[str, Dict[str, Any]] = {
    "imagebind_huge": HUGE_KWARGS,
    "imagebind_small": SMALL_KWARGS,
    "imagebind_tiny": TINY_KWARGS,
}


def get_config(name: str) -> ImageBindConfig:
    """A registered architecture by name (``imagebind_huge``, ``imagebind_small``, ``imagebind_tiny``)."""
    _check(name in IMAGEBIND_CONFIGS,
           f"unknown ImageBind config {name!r}; choose from {sorted(IMAGEBIND_CONFIGS)}")
    return ImageBindConfig.from_kwargs(IMAGEBIND_CONFIGS[name])
