"""Typed, self-validating model configuration (loads from and saves to YAML/JSON dicts).

Architectures are data: :data:`PRESETS` maps a size name to a function building a config, and
``CodeBindConfig.preset(name, targets=[...])`` is the one way to get a standard model.
"""
from __future__ import annotations

import copy
import dataclasses
import json
import math
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, Optional, Tuple

TARGET_MODALITIES = ("video", "audio", "depth", "thermal", "tactile", "pointcloud", "eeg")
BRIDGE_MODALITIES = ("text", "image")
ALL_MODALITIES = BRIDGE_MODALITIES + TARGET_MODALITIES


def _check(cond: bool, msg: str) -> None:
    if not cond:
        raise ValueError(msg)


def _type_ok(value: Any, hint: Any) -> bool:
    """Whether ``value`` (as read from JSON/YAML or passed in code) fits the field type ``hint``."""
    if hint is Any:
        return True
    if hint is type(None):
        return value is None
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is typing.Union:
        return any(_type_ok(value, a) for a in args)
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if hint is str:
        return isinstance(value, str)
    if origin is tuple:
        return isinstance(value, (list, tuple)) and all(_type_ok(v, args[0]) for v in value)
    if origin is dict:
        return isinstance(value, Mapping) and all(isinstance(k, str) and _type_ok(v, args[1]) for k, v in value.items())
    if dataclasses.is_dataclass(hint):
        return isinstance(value, hint)
    return True


def _type_name(hint: Any) -> str:
    names = {bool: "a bool (true/false)", int: "an int", float: "a finite number", str: "a string"}
    if hint in names:
        return names[hint]
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is typing.Union:
        return " or ".join("null" if a is type(None) else _type_name(a) for a in args)
    if origin is tuple:
        return f"a list of {_type_name(args[0]).removeprefix('a ').removeprefix('an ')}s"
    if origin is dict or dataclasses.is_dataclass(hint):
        return "a mapping"
    return str(hint)


def _check_types(obj: Any, where: str) -> None:
    """Every field of the dataclass ``obj`` holds a value of its declared type (ValueError naming it)."""
    hints = typing.get_type_hints(type(obj))
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        _check(_type_ok(value, hints[f.name]),
               f"{where}{f.name} must be {_type_name(hints[f.name])}, got {value!r}")


def _check_positive(obj: Any, where: str, names: Tuple[str, ...]) -> None:
    for name in names:
        value = getattr(obj, name)
        _check(value > 0, f"{where}{name} must be > 0, got {value!r}")


def deep_merge(base: Dict[str, Any], over: Dict[str, Any]) -> Dict[str, Any]:
    """`base` updated recursively by `over` (dicts merge, everything else replaces); new dict."""
    out = copy.deepcopy(base)
    for k, v in over.items():
        out[k] = deep_merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else copy.deepcopy(v)
    return out


@dataclass
class BridgeConfig:
    """Frozen text + image bridge. ``kind='openclip'`` builds any OpenCLIP architecture:
    ``model_cfg`` gives one inline (it wins over ``arch``), else ``arch`` names one of this project's small bridges
    (:data:`BRIDGE_ARCHS`) or an OpenCLIP built-in (e.g. ``ViT-B-16``); ``weights`` is a local
    file (safetensors or a plain state dict), ``None`` = random init."""

    kind: str = "openclip"
    arch: str = "ViT-B-16"
    model_cfg: Optional[Dict[str, Any]] = None
    weights: Optional[str] = None

    def validate(self, where: str = "bridge") -> None:
        _check_types(self, f"{where}.")
        _check(self.kind in ("openclip", "imagebind"), f"bridge.kind must be openclip or imagebind, got {self.kind!r}")

    def write_out_named_arch(self) -> None:
        """Replace a name from :data:`BRIDGE_ARCHS` by its architecture dict (self-describing)."""
        if self.kind == "openclip" and self.model_cfg is None and self.arch in BRIDGE_ARCHS:
            self.model_cfg = self.openclip_cfg()

    def openclip_cfg(self) -> Dict[str, Any]:
        """The OpenCLIP architecture dict: inline, this project's, or OpenCLIP's own."""
        if self.model_cfg is not None:
            return self.model_cfg
        if self.arch in BRIDGE_ARCHS:
            return copy.deepcopy(BRIDGE_ARCHS[self.arch])
        import open_clip

        found = open_clip.get_model_config(self.arch)
        _check(found is not None, f"unknown bridge architecture {self.arch!r}: not one of "
               f"{sorted(BRIDGE_ARCHS)} nor an OpenCLIP config, and no model_cfg given")
        return found


@dataclass
class TrunkConfig:
    """A target-modality transformer trunk (ViT-style)."""

    width: int = 768
    depth: int = 12
    heads: int = 12
    mlp_ratio: float = 4.0
    drop_path: float = 0.0
    init: Optional[str] = None  # local safetensors checkpoint of this trunk (e.g. a ViT-Lens encoder)

    def validate(self, where: str = "trunk") -> None:
        _check_types(self, f"{where}.")
        _check_positive(self, f"{where}.", ("width", "depth", "heads", "mlp_ratio"))
        _check(0.0 <= self.drop_path < 1.0, f"{where}.drop_path must be in [0, 1), got {self.drop_path}")
        _check(self.width % self.heads == 0, f"trunk width {self.width} not divisible by heads {self.heads}")


@dataclass
class InputConfig:
    """Tensor geometry of every modality's preprocessed input (see codebind_core.modalities)."""

    image_size: int = 224
    patch_size: int = 16
    num_frames: int = 8
    tubelet: int = 2
    mel_bins: int = 128
    audio_frames: int = 204
    audio_patch: int = 16
    audio_stride: int = 10
    num_groups: int = 64
    group_size: int = 32
    eeg_channels: int = 128
    eeg_samples: int = 512
    eeg_patch: int = 16

    def validate(self, where: str = "inputs") -> None:
        _check_types(self, f"{where}.")
        _check_positive(self, f"{where}.", tuple(f.name for f in dataclasses.fields(self)))
        _check(self.image_size % self.patch_size == 0, "image_size must be a multiple of patch_size")
        _check(self.num_frames % self.tubelet == 0, "num_frames must be a multiple of tubelet")
        _check(self.eeg_samples % self.eeg_patch == 0, "eeg_samples must be a multiple of eeg_patch")
        _check(self.mel_bins >= self.audio_patch and self.audio_frames >= self.audio_patch,
               "audio spectrogram smaller than one patch")


@dataclass
class QuantizerConfig:
    """Compositional VQ (§3.3): sub-vectors of ``sub_dim`` snapped to shared/specific codebooks."""

    enabled: bool = True
    sub_dim: int = 8
    shared_size: int = 1024
    specific_size: int = 256
    decay: float = 0.99
    reinit: bool = True
    # False: every modality quantizes its shared part with its own codebook (Tab. 7 ablation)
    shared_codebook: bool = True

    def validate(self, where: str = "quantizer") -> None:
        _check_types(self, f"{where}.")
        _check_positive(self, f"{where}.", ("sub_dim",))
        _check(self.sub_dim > 0 and self.shared_size > 1 and self.specific_size > 1, "bad codebook sizes")
        _check(0.0 < self.decay < 1.0, "quantizer.decay must be in (0, 1)")


@dataclass
class LoRAConfig:
    """LoRA on the last ``last_k`` blocks of each target trunk (App. A.3: rank 4, last 6).

    ``mode='auto'`` applies LoRA when a trunk starts from a checkpoint (the paper's setting) and
    trains a randomly initialised trunk in full; ``on``/``off`` force it."""

    mode: str = "auto"
    rank: int = 4
    alpha: float = 8.0
    last_k: int = 6
    merged: bool = False  # set when a checkpoint stores merged weights

    def validate(self, where: str = "lora") -> None:
        _check_types(self, f"{where}.")
        _check(self.mode in ("auto", "on", "off"), f"lora.mode must be auto/on/off, got {self.mode!r}")
        _check(self.rank > 0 and self.last_k > 0, "lora rank and last_k must be positive")


@dataclass
class LossConfig:
    """Losses and their weighting (App. A.1, B.2, §3.4)."""

    # "preset": Table 1 per target; "official": the official per-modality configs (differ for
    # tactile and LLVIP thermal); "adaptive": the official balancer; or a dict {loss name: λ}
    weights: Any = "preset"
    # "official": the official code's loss forms (default; Table 1's λ assume them);
    # "paper": the printed equations (sum over paths, squared CLS orth, per-sub-vector commit,
    # gradient-carrying CMCM / codevector losses); see codebind_core/losses.py
    numerics: str = "official"
    # fixed InfoNCE τ; None: the official config's τ of the target (0.05 audio, 0.1 thermal, 0.07)
    temperature: Optional[float] = None
    # learn 1/τ (CLIP-style logit scale, initialised from `temperature` or 0.07) instead
    learnable_temperature: bool = False
    beta: float = 0.25            # commitment β (the official VectorQuantizer's)
    recon: bool = True            # reconstruction loss and decoders
    input_projection: bool = True  # decoder also sees the continuous trunk tokens (official)
    decoder_depth: int = 8
    decoder_width: int = 512
    decoder_heads: int = 8

    def validate(self, where: str = "loss") -> None:
        from .losses import LOSS_NAMES

        _check_types(self, f"{where}.")
        _check_positive(self, f"{where}.", ("decoder_depth", "decoder_width", "decoder_heads"))

        if isinstance(self.weights, dict):
            unknown = sorted(set(self.weights) - set(LOSS_NAMES))
            _check(not unknown, f"unknown loss.weights keys {unknown}; known: {list(LOSS_NAMES)}")
            missing = sorted(set(LOSS_NAMES) - {"align"} - set(self.weights))
            _check(not missing, f"loss.weights misses {missing}")
        else:
            _check(self.weights in ("preset", "official", "adaptive"),
                   "loss.weights must be 'preset', 'official', 'adaptive' or a dict of weights")
        _check(self.numerics in ("official", "paper"), f"loss.numerics must be official or paper, got {self.numerics!r}")
        _check(self.temperature is None or 0.0 < self.temperature < 10.0, "loss.temperature must be in (0, 10)")
        _check(self.beta >= 0.0, "loss.beta must be >= 0")
        _check(self.decoder_width % self.decoder_heads == 0, "decoder width not divisible by heads")


@dataclass
class CodeBindConfig:
    """The whole model. ``targets`` are aligned to the bridges, one codebook set per
    bridge-target path (§3.4) unless ``unified``. ``decouple=False`` is the hard-alignment
    baseline (no specific part, no codebook)."""

    name: str = "codebind"
    targets: Tuple[str, ...] = ("depth",)
    embed_dim: int = 512
    specific_dim: Optional[int] = None
    unified: bool = False
    decouple: bool = True
    bridge: BridgeConfig = field(default_factory=BridgeConfig)
    trunk: TrunkConfig = field(default_factory=TrunkConfig)
    trunks: Dict[str, TrunkConfig] = field(default_factory=dict)  # per-modality overrides
    inputs: InputConfig = field(default_factory=InputConfig)
    quantizer: QuantizerConfig = field(default_factory=QuantizerConfig)
    lora: LoRAConfig = field(default_factory=LoRAConfig)
    loss: LossConfig = field(default_factory=LossConfig)

    def __post_init__(self) -> None:
        _check_types(self, "")
        self.targets = tuple(self.targets)
        if self.specific_dim is None:
            self.specific_dim = self.embed_dim
        self.validate()

    # ---- validation -------------------------------------------------------------------------
    def validate(self) -> None:
        _check_types(self, "")
        for key, part in (("bridge", self.bridge), ("trunk", self.trunk), ("inputs", self.inputs),
                          ("quantizer", self.quantizer), ("lora", self.lora), ("loss", self.loss),
                          *((f"trunks.{m}", t) for m, t in self.trunks.items())):
            part.validate(key)
        _check(len(self.targets) > 0, "at least one target modality is required")
        for t in self.targets:
            _check(t in TARGET_MODALITIES, f"unknown target modality {t!r}; choose from {TARGET_MODALITIES}")
        _check(len(set(self.targets)) == len(self.targets), "targets must not repeat")
        _check(self.embed_dim > 0 and self.specific_dim > 0, "embedding dims must be positive")
        q = self.quantizer
        if self.decouple and q.enabled:
            _check(self.embed_dim % q.sub_dim == 0, f"embed_dim {self.embed_dim} not divisible by sub_dim {q.sub_dim}")
            _check(self.specific_dim % q.sub_dim == 0, f"specific_dim {self.specific_dim} not divisible by sub_dim {q.sub_dim}")

    # ---- derived ----------------------------------------------------------------------------
    def trunk_for(self, modality: str) -> TrunkConfig:
        return self.trunks.get(modality, self.trunk)

    def paths(self) -> Tuple[str, ...]:
        """Codebook sets: one per bridge-target path, or the single ``unified`` set."""
        return ("unified",) if self.unified else self.targets

    def path_for(self, modality: str, path: Optional[str] = None) -> str:
        if self.unified:
            return "unified"
        if path is not None:
            _check(path in self.targets, f"unknown path {path!r}; this model has {self.targets}")
            return path
        if modality in self.targets:
            return modality
        return self.targets[0]  # bridges default to the first path

    # ---- (de)serialisation -------------------------------------------------------------------
    def to_dict(self) -> Dict[str, Any]:
        d = dataclasses.asdict(self)
        d["targets"] = list(self.targets)
        return d

    @classmethod
    def from_dict(cls, d: Dict[str, Any]) -> "CodeBindConfig":
        _check(isinstance(d, Mapping), f"a model config must be a mapping, got {type(d).__name__}")
        d = dict(d)
        unknown = set(d) - {f.name for f in dataclasses.fields(cls)}
        _check(not unknown, f"unknown config keys: {sorted(unknown)}")
        for key, typ in SECTIONS.items():
            if key in d and not isinstance(d[key], typ):
                d[key] = _build(typ, d[key], key)
        if "trunks" in d:
            d["trunks"] = {} if d["trunks"] is None else d["trunks"]
            _check(isinstance(d["trunks"], Mapping), f"config section 'trunks' must be a mapping, got {d['trunks']!r}")
            d["trunks"] = {k: v if isinstance(v, TrunkConfig) else _build(TrunkConfig, v, f"trunks.{k}")
                           for k, v in d["trunks"].items()}
        return cls(**d)

    @classmethod
    def from_file(cls, path: str | Path) -> "CodeBindConfig":
        text = Path(path).read_text()
        if str(path).endswith((".yaml", ".yml")):
            import yaml

            return cls.from_dict(yaml.safe_load(text) or {})
        return cls.from_dict(json.loads(text))

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), indent=2, sort_keys=True))

    @classmethod
    def preset(cls, name: str, **overrides: Any) -> "CodeBindConfig":
        """A named architecture with ``overrides`` merged in depth: ``quantizer={"sub_dim": 4}``
        changes that field only and keeps the preset's other quantizer settings."""
        _check(name in PRESETS, f"unknown preset {name!r}; choose from {sorted(PRESETS)}")
        return cls.from_dict(deep_merge(PRESETS[name]().to_dict(), overrides))


SECTIONS: Dict[str, type] = {"bridge": BridgeConfig, "trunk": TrunkConfig, "inputs": InputConfig,
                              "quantizer": QuantizerConfig, "lora": LoRAConfig, "loss": LossConfig}


def _build(typ, values: Dict[str, Any], where: str):
    _check(isinstance(values, Mapping), f"config section {where!r} must be a mapping of its keys, got {values!r}")
    unknown = set(values) - {f.name for f in dataclasses.fields(typ)}
    _check(not unknown, f"unknown keys in {where}: {sorted(unknown)}")
    return typ(**values)


# ---- presets (architectures as data) ---------------------------------------------------------
TINY_TEXT = {"context_length": 77, "vocab_size": 49408, "width": 64, "heads": 2, "layers": 2}
TINY_CLIP = {
    "embed_dim": 64,
    "vision_cfg": {"image_size": 64, "layers": 2, "width": 64, "patch_size": 8, "head_width": 32},
    "text_cfg": TINY_TEXT,
}
# A convolutional image tower (timm's 0.4 M-parameter test_resnet, random init) learns object
# shape from scratch in far fewer steps than a ViT of this size (docs/training.md).
TINY_CNN_CLIP = {
    "embed_dim": 64,
    "vision_cfg": {"image_size": 64, "timm_model_name": "test_resnet", "timm_model_pretrained": False,
                   "timm_pool": "avg", "timm_proj": "linear"},
    "text_cfg": TINY_TEXT,
}
BRIDGE_ARCHS: Dict[str, Dict[str, Any]] = {"tiny": TINY_CLIP, "tiny-cnn": TINY_CNN_CLIP}


def _tiny() -> CodeBindConfig:
    return CodeBindConfig(
        name="codebind-tiny", embed_dim=64,
        bridge=BridgeConfig(arch="tiny"),
        trunk=TrunkConfig(width=64, depth=2, heads=2),
        inputs=InputConfig(image_size=64, patch_size=8, num_frames=4, num_groups=16, group_size=16,
                           eeg_channels=16, eeg_samples=256, eeg_patch=16),
        quantizer=QuantizerConfig(shared_size=256, specific_size=64),
        lora=LoRAConfig(last_k=2),
        loss=LossConfig(decoder_depth=2, decoder_width=64, decoder_heads=2),
    )


def _base() -> CodeBindConfig:
    """ViT-B/16 bridge (CodeBind-VL scale); bridge weights from a local OpenCLIP file."""
    return CodeBindConfig(name="codebind-base", embed_dim=512,
                          bridge=BridgeConfig(arch="ViT-B-16"), trunk=TrunkConfig())


PRESETS: Dict[str, Callable[[], CodeBindConfig]] = {"tiny": _tiny, "base": _base}
