"""Typed, self-validating training-run configuration: one YAML file per run.

```yaml
name: synth-depth
seed: 0
model: {preset: tiny, targets: [depth, thermal], overrides: {loss: {weights: adaptive}}}
data: {kind: synthbind, options: {cache_dir: cache/synthbind}}
bridge_pretrain: {enabled: true, steps: 400}     # Stage 0 (SynthBind or pairs_* images + captions)
optim: {name: adamw, lr: 5.0e-4}
schedule: {name: cosine, warmup_steps: 20}
steps: 300
batch_size: 32
grad_accum: 1
precision: bf16          # fp32 | bf16 | fp16
```
Every section is a :class:`~codebind_core.config_base.Config` dataclass: unknown keys and bad
values raise ``ValueError`` naming the field.
"""
from __future__ import annotations

import hashlib
import json
import dataclasses
from dataclasses import dataclass, field
from typing import Any, ClassVar, Dict, List, Optional, Tuple

from ..config import CodeBindConfig
from ..config_base import Config, check_types, deep_merge
from ..config_base import check as _check
from .optim import OPTIMIZERS, SCHEDULES
from .precision import PRECISIONS
from .run_log import LOG_BACKENDS
from .datasets import DATASETS
from .optim import official_optim


NO_BRIDGE = (
    "no bridge weights: CodeBind aligns to a frozen, trained text/image bridge, and a random one would "
    "make the model worthless. Give one of: model.overrides.bridge.weights = a local OpenCLIP file "
    "(e.g. one written by `codebind-bridge extract <model> <dir>`), bridge_pretrain.enabled = true "
    "(Stage 0 on the data's image-caption pairs), or model.overrides.bridge.random_init = true "
    "(a random bridge, for tests only)")


@dataclass
class ModelSpec(Config):
    """Which CodeBind model to train: a preset, its targets and nested overrides of any field."""

    preset: str = "tiny"
    targets: List[str] = field(default_factory=lambda: ["depth"])
    overrides: Dict[str, Any] = field(default_factory=dict)

    def validate(self) -> None:
        check_types(self, "model.")
        self.build()  # CodeBindConfig validates itself

    def build(self, bridge_weights: Optional[str] = None) -> CodeBindConfig:
        base = CodeBindConfig.preset(self.preset, targets=list(self.targets)).to_dict()
        d = deep_merge(base, self.overrides)
        if bridge_weights is not None:
            d["bridge"]["weights"] = bridge_weights
        return CodeBindConfig.from_dict(d)


@dataclass
class DataConfig(Config):
    """``kind`` picks a dataset builder from the registry in :mod:`.datasets`; ``options`` are its
    keyword arguments (validated by the builder)."""

    kind: str = "synthbind"
    options: Dict[str, Any] = field(default_factory=dict)

    def validate(self) -> None:
        check_types(self, "data.")

        _check(self.kind in DATASETS, f"data.kind {self.kind!r} unknown; choose from {sorted(DATASETS)}")


@dataclass
class BridgePretrainConfig(Config):
    """Stage 0: train a small OpenCLIP bridge on image-caption pairs (open_clip's ClipLoss), save it
    as a local safetensors file, then freeze it like a downloaded bridge. Reused when present.

    SynthBind: the pairs are a separate draw of images and captions only (``corpus_samples`` of
    them, seed = data seed + ``corpus_seed_offset``): like a web corpus, it shares the benchmark's
    distribution but none of its samples. ``pairs_*`` data: the image column and the captions of
    the training split (at most ``corpus_samples``), scored on the held-out split when it has one."""

    enabled: bool = False
    steps: int = 2000
    batch_size: int = 128
    lr: float = 2.0e-3
    weight_decay: float = 0.1
    warmup_steps: int = 50
    corpus_samples: int = 20000
    corpus_seed_offset: int = 1000
    output: Optional[str] = None  # default: <out_dir>/bridge/open_clip_model.safetensors

    def validate(self) -> None:
        check_types(self, "bridge_pretrain.")
        _check(self.steps > 0 and self.batch_size > 1, "bridge_pretrain.steps > 0 and batch_size > 1 required")
        _check(self.lr > 0, "bridge_pretrain.lr must be positive")
        _check(self.corpus_samples >= self.batch_size, "bridge_pretrain.corpus_samples must hold one batch")
        _check(self.corpus_seed_offset != 0, "bridge_pretrain.corpus_seed_offset must not be 0 (the corpus "
               "would repeat the benchmark's own samples)")


@dataclass
class OptimConfig(Config):
    name: str = "adamw"
    lr: float = 5.0e-4
    lr_new: Optional[float] = None    # lr of the new parts (specific heads, decoders); None: lr
    weight_decay: float = 0.05
    betas: Tuple[float, float] = (0.9, 0.98)
    grad_clip: Optional[float] = 1.0
    # "official": lr, lr_new, betas and weight decay of the official config of the first target
    # (training/optim.py OFFICIAL_LR); they replace the values above
    preset: Optional[str] = None

    def resolved(self, target: str) -> "OptimConfig":
        """These settings with the preset applied for `target`."""
        if self.preset is None:
            return self

        o = official_optim(target)
        return dataclasses.replace(self, lr=o["lr"], lr_new=o["lr_new"], betas=tuple(o["betas"]),
                                   weight_decay=o["weight_decay"], preset=None)

    def validate(self) -> None:
        check_types(self, "optim.")
        _check(self.name in OPTIMIZERS, f"optim.name {self.name!r} unknown; choose from {sorted(OPTIMIZERS)}")
        _check(self.lr > 0, f"optim.lr must be positive, got {self.lr}")
        _check(self.lr_new is None or self.lr_new > 0, f"optim.lr_new must be positive or null, got {self.lr_new}")
        _check(self.preset in (None, "official"), f"optim.preset must be null or 'official', got {self.preset!r}")
        _check(self.weight_decay >= 0, "optim.weight_decay must be >= 0")
        _check(len(self.betas) == 2 and all(0 <= b < 1 for b in self.betas), "optim.betas must be two values in [0, 1)")
        _check(self.grad_clip is None or self.grad_clip > 0, "optim.grad_clip must be positive or null")


@dataclass
class ScheduleConfig(Config):
    name: str = "cosine"
    warmup_steps: int = 0

    def validate(self) -> None:
        check_types(self, "schedule.")
        _check(self.name in SCHEDULES, f"schedule.name {self.name!r} unknown; choose from {sorted(SCHEDULES)}")
        _check(self.warmup_steps >= 0, "schedule.warmup_steps must be >= 0")


@dataclass
class TrainConfig(Config):
    """One training run (Stage 0 bridge + Stage 1 CodeBind alignment)."""

    config_label: ClassVar[str] = "training config"

    name: str = "run"
    seed: int = 0
    model: ModelSpec = field(default_factory=ModelSpec)
    data: DataConfig = field(default_factory=DataConfig)
    bridge_pretrain: BridgePretrainConfig = field(default_factory=BridgePretrainConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    steps: int = 300
    batch_size: int = 32
    grad_accum: int = 1
    precision: str = "fp32"
    device: str = "auto"
    # > 0: k-means codebook init over this many batches per target before training;
    # 0: each codebook at its first call on one batch (the official code)
    init_batches: int = 0
    checkpoint_every: int = 100
    log_every: int = 10
    log_backend: str = "csv"
    progress: bool = True
    num_workers: int = 0
    # torch intra-op threads (None: torch's default, one per core). On a CPU other jobs share, 1
    # avoids threads spinning for each other: 6x the samples/s of 2 on a loaded 2-core machine
    threads: Optional[int] = None
    find_unused_parameters: Optional[bool] = None  # DDP; default True (paths leave heads unused)
    out_dir: str = "runs/run"
    # a codebind checkpoint to start from: its target trunks, heads and codebooks of the same name
    # and shape (not its bridge: that is model.overrides.bridge.weights); k-means init is skipped
    init_from: Optional[str] = None

    def validate(self) -> None:
        check_types(self, "")
        _check(self.steps > 0, f"steps must be positive, got {self.steps}")
        _check(self.batch_size > 1, f"batch_size must be >= 2 (InfoNCE needs negatives), got {self.batch_size}")
        _check(self.grad_accum >= 1, f"grad_accum must be >= 1, got {self.grad_accum}")
        _check(self.precision in PRECISIONS, f"precision {self.precision!r} unknown; choose from {sorted(PRECISIONS)}")
        _check(self.device == "auto" or self.device == "cpu" or self.device.startswith("cuda"),
               f"device must be auto, cpu or cuda[:N], got {self.device!r}")
        _check(self.init_batches >= 0, "init_batches must be >= 0")
        _check(self.checkpoint_every > 0, "checkpoint_every must be positive")
        _check(self.log_every > 0, "log_every must be positive")
        _check(self.log_backend in LOG_BACKENDS, f"log_backend must be one of {LOG_BACKENDS}")
        _check(self.num_workers >= 0, "num_workers must be >= 0")
        _check(self.threads is None or self.threads >= 1, f"threads must be >= 1 or null, got {self.threads}")
        for part in (self.model, self.data, self.bridge_pretrain, self.optim, self.schedule):
            part.validate()
        bridge = self.model.build().bridge
        _check(self.bridge_pretrain.enabled or bool(bridge.weights) or bridge.random_init, NO_BRIDGE)

    # ---- (de)serialisation: Config's strict from_dict / to_dict / from_file / save (YAML) -----
    def fingerprint(self) -> str:
        """Hash of everything that changes the training trajectory (not logging/paths/progress),
        including the model the preset and overrides resolve to (a changed preset is a new run)."""
        d = self.to_dict()
        for k in ("out_dir", "progress", "log_every", "log_backend", "checkpoint_every", "num_workers", "device",
                  "threads"):
            d.pop(k)
        d["data"]["options"].pop("cache_dir", None)  # where generated data is cached, not what it is
        for k in ("lr_new", "preset"):  # unset, they change nothing (older recipes keep their fingerprint)
            if d["optim"].get(k) is None:
                d["optim"].pop(k, None)
        model = self.model.build()
        model.bridge.write_out_named_arch()
        d["resolved_model"] = model.to_dict()
        if d["init_from"] is None:
            d.pop("init_from")
        if not d["resolved_model"]["preprocess"]:  # fields at their defaults keep older fingerprints
            d["resolved_model"].pop("preprocess")
        if not d["resolved_model"]["bridge"]["random_init"]:
            d["resolved_model"]["bridge"].pop("random_init")
        return hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()[:16]
