"""Typed, self-validating model configuration (loads from and saves to YAML/JSON dicts).

Architectures are data: :data:`PRESETS` maps a size name to its YAML file in ``model_configs/``
(:func:`add_model_config` registers more, as open_clip's), and
``CodeBindConfig.preset(name, targets=[...])`` is the one way to get a standard model.
"""
from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Dict, Optional, Tuple, Union

from .config_base import Config, check_positive, check_types, read_mapping
from .config_base import check as _check
from .config_base import deep_merge  # noqa: F401  (re-exported: training merges preset overrides)
from . import modalities
from .losses import LOSS_NAMES

TARGET_MODALITIES = ("video", "audio", "depth", "thermal", "tactile", "pointcloud", "eeg")
BRIDGE_MODALITIES = ("text", "image")
ALL_MODALITIES = BRIDGE_MODALITIES + TARGET_MODALITIES


@dataclass
class BridgeConfig(Config):
    """Frozen text + image bridge. ``kind='openclip'`` builds any OpenCLIP architecture:
    ``model_cfg`` gives one inline (it wins over ``arch``), else ``arch`` names one of this project's small bridges
    (:data:`BRIDGE_ARCHS`) or an OpenCLIP built-in (e.g. ``ViT-B-16``); ``weights`` is a local
    file (safetensors or a plain state dict). Training refuses a bridge without ``weights``
    unless ``random_init`` says a random frozen bridge is meant (tests); a loaded checkpoint
    carries the bridge in its own weights."""

    kind: str = "openclip"
    arch: str = "ViT-B-16"
    model_cfg: Optional[Dict[str, Any]] = None
    weights: Optional[str] = None
    random_init: bool = False

    def validate(self, where: str = "bridge") -> None:
        check_types(self, f"{where}.")
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
class TrunkConfig(Config):
    """A target-modality transformer trunk (ViT-style)."""

    width: int = 768
    depth: int = 12
    heads: int = 12
    mlp_ratio: float = 4.0
    drop_path: float = 0.0
    init: Optional[str] = None  # local safetensors checkpoint of this trunk (e.g. a ViT-Lens encoder)

    def validate(self, where: str = "trunk") -> None:
        check_types(self, f"{where}.")
        check_positive(self, f"{where}.", ("width", "depth", "heads", "mlp_ratio"))
        _check(0.0 <= self.drop_path < 1.0, f"{where}.drop_path must be in [0, 1), got {self.drop_path}")
        _check(self.width % self.heads == 0, f"trunk width {self.width} not divisible by heads {self.heads}")


@dataclass
class InputConfig(Config):
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
        check_types(self, f"{where}.")
        check_positive(self, f"{where}.", tuple(f.name for f in dataclasses.fields(self)))
        _check(self.image_size % self.patch_size == 0, "image_size must be a multiple of patch_size")
        _check(self.num_frames % self.tubelet == 0, "num_frames must be a multiple of tubelet")
        _check(self.eeg_samples % self.eeg_patch == 0, "eeg_samples must be a multiple of eeg_patch")
        _check(self.mel_bins >= self.audio_patch and self.audio_frames >= self.audio_patch,
               "audio spectrogram smaller than one patch")


@dataclass
class QuantizerConfig(Config):
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
        check_types(self, f"{where}.")
        check_positive(self, f"{where}.", ("sub_dim",))
        _check(self.sub_dim > 0 and self.shared_size > 1 and self.specific_size > 1, "bad codebook sizes")
        _check(0.0 < self.decay < 1.0, "quantizer.decay must be in (0, 1)")


@dataclass
class LoRAConfig(Config):
    """LoRA on the last ``last_k`` blocks of each target trunk (App. A.3: rank 4, last 6).

    ``mode='auto'`` applies LoRA when a trunk starts from a checkpoint (the paper's setting) and
    trains a randomly initialised trunk in full; ``on``/``off`` force it."""

    mode: str = "auto"
    rank: int = 4
    alpha: float = 8.0
    last_k: int = 6
    merged: bool = False  # set when a checkpoint stores merged weights

    def validate(self, where: str = "lora") -> None:
        check_types(self, f"{where}.")
        _check(self.mode in ("auto", "on", "off"), f"lora.mode must be auto/on/off, got {self.mode!r}")
        _check(self.rank > 0 and self.last_k > 0, "lora rank and last_k must be positive")


@dataclass
class LossConfig(Config):
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
        check_types(self, f"{where}.")
        check_positive(self, f"{where}.", ("decoder_depth", "decoder_width", "decoder_heads"))

        if isinstance(self.weights, dict):
            unknown = sorted(set(self.weights) - set(LOSS_NAMES))
            _check(not unknown, f"unknown loss.weights keys {unknown}; known: {list(LOSS_NAMES)}")
            missing = sorted(set(LOSS_NAMES) - {"align"} - set(self.weights))
            _check(not missing, f"loss.weights misses {missing}")
        else:
            _check(self.weights in ("preset", "official", "adaptive"),
                   "loss.weights must be 'preset', 'official', 'adaptive' or a dict of weights")
        _check(self.numerics in ("official", "paper"),
               f"loss.numerics must be official or paper, got {self.numerics!r}")
        _check(self.temperature is None or 0.0 < self.temperature < 10.0, "loss.temperature must be in (0, 10)")
        _check(self.beta >= 0.0, "loss.beta must be >= 0")
        _check(self.decoder_width % self.decoder_heads == 0, "decoder width not divisible by heads")


@dataclass
class CodeBindConfig(Config):
    """The whole model. ``targets`` are aligned to the bridges, one codebook set per
    bridge-target path (§3.4) unless ``unified``. ``decouple=False`` is the hard-alignment
    baseline (no specific part, no codebook)."""

    config_label: ClassVar[str] = "model config"
    config_where: ClassVar[str] = "model config"

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
    # per-modality preprocessing options the model was trained with (e.g. {depth: {focal_length:
    # 570.0}}); CodeBind.preprocess applies them under the caller's explicit options
    preprocess: Dict[str, Dict[str, Any]] = field(default_factory=dict)

    def normalise(self) -> None:
        check_types(self, "")  # before the list of targets becomes a tuple
        super().normalise()
        if self.specific_dim is None:
            self.specific_dim = self.embed_dim

    # ---- validation -------------------------------------------------------------------------
    def validate(self) -> None:
        check_types(self, "")
        for key, part in (("bridge", self.bridge), ("trunk", self.trunk), ("inputs", self.inputs),
                          ("quantizer", self.quantizer), ("lora", self.lora), ("loss", self.loss),
                          *((f"trunks.{m}", t) for m, t in self.trunks.items())):
            part.validate(key)
        _check(len(self.targets) > 0, "at least one target modality is required")
        for t in self.targets:
            _check(t in TARGET_MODALITIES, f"unknown target modality {t!r}; choose from {TARGET_MODALITIES}")
        _check(len(set(self.targets)) == len(self.targets), "targets must not repeat")
        check_preprocess(self.preprocess)
        _check(self.embed_dim > 0 and self.specific_dim > 0, "embedding dims must be positive")
        q = self.quantizer
        if self.decouple and q.enabled:
            _check(self.embed_dim % q.sub_dim == 0, f"embed_dim {self.embed_dim} not divisible by sub_dim {q.sub_dim}")
            _check(self.specific_dim % q.sub_dim == 0,
                   f"specific_dim {self.specific_dim} not divisible by sub_dim {q.sub_dim}")

    # ---- derived ----------------------------------------------------------------------------
    def trunk_for(self, modality: str) -> TrunkConfig:
        return self.trunks.get(modality, self.trunk)

    def codebook_sets(self) -> Tuple[str, ...]:
        """Codebook sets: one per bridge-target path (named after the target), or the single
        ``unified`` set."""
        return ("unified",) if self.unified else self.targets

    def codebook_set_for(self, modality: str, codebook_set: Optional[str] = None) -> str:
        """The codebook set ``modality`` is quantized with: ``unified``, its own (a target), the
        one asked for (bridges), or the first target's (bridges by default)."""
        if self.unified:
            return "unified"
        if codebook_set is not None:
            _check(codebook_set in self.targets,
                   f"unknown codebook set {codebook_set!r}; this model has {self.targets}")
            return codebook_set
        if modality in self.targets:
            return modality
        return self.targets[0]  # bridges default to the first target's set

    # ---- (de)serialisation: Config's strict from_dict / to_dict / from_file / save ----------
    @classmethod
    def preset(cls, name: str, **overrides: Any) -> "CodeBindConfig":
        """A named architecture with ``overrides`` merged in depth: ``quantizer={"sub_dim": 4}``
        changes that field only and keeps the preset's other quantizer settings."""
        _check(name in PRESETS, f"unknown preset {name!r}; choose from {sorted(PRESETS)}")
        return cls.from_dict(deep_merge(read_mapping(PRESETS[name], f"preset {name!r}"), overrides))


def check_preprocess(options: Dict[str, Dict[str, Any]], where: str = "preprocess") -> None:
    """Every key a modality with a preprocessing module, every option one of its fields, valid."""
    for m, opts in options.items():
        _check(m in modalities.names() and m != "text", f"{where}: unknown modality {m!r}; "
               f"choose from {[n for n in modalities.names() if n != 'text']}")
        _check(isinstance(opts, dict), f"{where}.{m} must be a mapping of options, got {opts!r}")
        fields = {f.name for f in dataclasses.fields(modalities.get(m).DEFAULTS)}
        unknown = sorted(set(opts) - fields)
        _check(not unknown, f"{where}.{m}: unknown options {unknown}; allowed: {sorted(fields)}")
        try:
            dataclasses.replace(modalities.get(m).DEFAULTS, **opts)
        except (TypeError, ValueError) as e:
            raise ValueError(f"{where}.{m}: {e}") from None


SECTIONS: Dict[str, type] = {"bridge": BridgeConfig, "trunk": TrunkConfig, "inputs": InputConfig,
                              "quantizer": QuantizerConfig, "lora": LoRAConfig, "loss": LossConfig}


# ---- presets (architectures as data) ---------------------------------------------------------
MODEL_CONFIG_DIR = Path(__file__).with_name("model_configs")
PRESETS: Dict[str, Path] = {}                  # preset name -> its YAML file (what differs from defaults)
BRIDGE_ARCHS: Dict[str, Dict[str, Any]] = {}   # bridge arch name -> OpenCLIP architecture dict


def add_model_config(path: Union[str, Path]) -> None:
    """Register model presets (``<name>.yaml``) and bridge architectures (``bridges/<name>.json``,
    OpenCLIP architecture dicts) from a folder, or one such file; a name registered again is
    replaced. The package's own folder (:data:`MODEL_CONFIG_DIR`) is registered at import:
    ``tiny``/``base`` presets; ``tiny`` (a ViT), ``tiny-cnn`` (timm's test_resnet tower, which
    learns object shape from scratch in far fewer steps, docs/training.md) and ``tiny-cnn-256``
    (the same tower with a 256-d joint space) bridges."""
    path = Path(path)
    _check(path.is_dir() or path.is_file(), f"model config path not found: {path}")
    files = sorted(path.glob("*.yaml")) + sorted(path.glob("bridges/*.json")) if path.is_dir() else [path]
    for f in files:
        if f.suffix == ".json" and f.parent.name == "bridges":
            arch = read_mapping(f, "bridge architecture")
            _check(isinstance(arch, dict) and "embed_dim" in arch,
                   f"{f}: a bridge architecture is an OpenCLIP config mapping with embed_dim")
            BRIDGE_ARCHS[f.stem] = arch
        elif f.suffix in (".yaml", ".yml"):
            PRESETS[f.stem] = f
        else:
            raise ValueError(f"{f}: not a preset (<name>.yaml) or a bridge architecture (bridges/<name>.json)")


add_model_config(MODEL_CONFIG_DIR)
