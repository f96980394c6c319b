"""Typed configuration of the SynthBind benchmark (one YAML: training/configs/benchmark.yaml)."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List

from ..config import TARGET_MODALITIES
from ..training.config import BridgePretrainConfig, ModelSpec
from ..training.precision import PRECISIONS
from .factors import UNIQUE_FACTORS
from .variants import VARIANTS


def _check(cond: bool, msg: str) -> None:
    if not cond:
        raise ValueError(msg)


@dataclass
class BenchmarkConfig:
    """Data, model, per-run training budget, seeds, which variants on which targets, and the
    evaluation options. Every variant of a comparison gets the same data, steps and batch."""

    name: str = "synthbind-benchmark"
    synth: Dict[str, Any] = field(default_factory=lambda: {"seed": 0, "num_samples": 3000})
    cache_dir: str = "cache/synthbind"
    workers: int = 2
    model: ModelSpec = field(default_factory=ModelSpec)
    bridge_pretrain: BridgePretrainConfig = field(default_factory=lambda: BridgePretrainConfig(enabled=True))
    steps: int = 150                      # optimiser steps per target and run
    batch_size: int = 32
    lr: float = 1.0e-3
    weight_decay: float = 0.05
    warmup_steps: int = 15
    precision: str = "fp32"
    seeds: List[int] = field(default_factory=lambda: [0, 1, 2])
    targets: List[str] = field(default_factory=lambda: list(TARGET_MODALITIES))
    main_variants: List[str] = field(default_factory=lambda: ["codebind", "hard_align"])
    ablation_targets: List[str] = field(default_factory=lambda: ["depth", "thermal"])
    ablation_variants: List[str] = field(default_factory=lambda: [
        "no_codebook", "no_recon", "conventional_vq", "separate_codebooks", "adaptive", "unified"])
    probe_samples: int = 800
    toc_fractions: List[float] = field(default_factory=lambda: [0.25, 0.5, 0.75])
    toc_random: int = 10
    toc_lambda: float = 0.3
    tsne_samples: int = 300
    tsne_targets: List[str] = field(default_factory=lambda: ["audio", "thermal"])
    parallel_runs: int = 2                # worker processes training runs side by side
    threads_per_run: int = 1              # torch threads of each worker
    out_dir: str = "runs/benchmark"
    report: str = "docs/results.md"

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        _check(self.steps > 0 and self.batch_size > 1, "steps > 0 and batch_size > 1 required")
        _check(self.lr > 0 and self.weight_decay >= 0 and self.warmup_steps >= 0, "bad optimiser settings")
        _check(self.precision in PRECISIONS, f"precision must be one of {sorted(PRECISIONS)}")
        _check(len(self.seeds) >= 1 and len(set(self.seeds)) == len(self.seeds), "seeds must be distinct, at least one")
        for t in self.targets + self.ablation_targets + self.tsne_targets:
            _check(t in TARGET_MODALITIES, f"unknown target {t!r}; choose from {TARGET_MODALITIES}")
            _check(t in UNIQUE_FACTORS, f"no modality-unique factor defined for {t!r}")
        _check(set(self.ablation_targets) <= set(self.targets), "ablation_targets must be among targets")
        _check(set(self.tsne_targets) <= set(self.targets), "tsne_targets must be among targets")
        for v in self.main_variants + self.ablation_variants:
            _check(v in VARIANTS, f"unknown variant {v!r}; choose from {sorted(VARIANTS)}")
        _check("codebind" in self.main_variants, "main_variants must include 'codebind' (the reference)")
        _check(self.probe_samples >= 50, "probe_samples must be >= 50")
        _check(all(0 < f <= 1 for f in self.toc_fractions), "toc_fractions must lie in (0, 1]")
        _check(self.toc_random >= 1 and 0 <= self.toc_lambda <= 1, "toc_random >= 1 and toc_lambda in [0, 1]")
        _check(self.tsne_samples >= 20, "tsne_samples must be >= 20")
        _check(self.parallel_runs >= 1 and self.threads_per_run >= 1, "parallel_runs and threads_per_run must be >= 1")
        self.bridge_pretrain.validate()

    @classmethod
    def from_dict(cls, d: Dict[str, Any]) -> "BenchmarkConfig":
        _check(isinstance(d, dict), "a benchmark config must be a mapping")
        unknown = set(d) - {f.name for f in dataclasses.fields(cls)}
        _check(not unknown, f"unknown keys in benchmark config: {sorted(unknown)}")
        d = dict(d)
        if "model" in d:
            d["model"] = ModelSpec(**d["model"])
        if "bridge_pretrain" in d:
            d["bridge_pretrain"] = BridgePretrainConfig(**{"enabled": True, **d["bridge_pretrain"]})
        return cls(**d)

    @classmethod
    def from_file(cls, path: str | Path) -> "BenchmarkConfig":
        import yaml

        p = Path(path)
        _check(p.is_file(), f"benchmark config not found: {p}")
        return cls.from_dict(yaml.safe_load(p.read_text()) or {})

    def to_dict(self) -> Dict[str, Any]:
        return dataclasses.asdict(self)

    def run_names(self) -> List[Dict[str, Any]]:
        """Every training run: {"variant", "targets", "seed", "name"} (single-target runs, except
        joint variants which train all ablation targets in one model)."""
        runs = []
        for seed in self.seeds:
            for v in self.main_variants:
                runs += [{"variant": v, "targets": [t], "seed": seed} for t in self.targets]
            for v in self.ablation_variants:
                if VARIANTS[v].joint:
                    if self.ablation_targets:
                        runs.append({"variant": v, "targets": list(self.ablation_targets), "seed": seed})
                elif v not in self.main_variants:
                    runs += [{"variant": v, "targets": [t], "seed": seed} for t in self.ablation_targets]
        for r in runs:
            r["name"] = f"{r['variant']}-{'+'.join(r['targets'])}-s{r['seed']}"
        return runs
