"""Typed configuration of the SynthBind benchmark (one YAML: training/configs/benchmark.yaml).

Two settings, each trained on the same data and bridge:

- ``finetune`` — the paper's setting (CodeBind-IB, App. A.3): per target, a hard-aligned trunk
  (the ImageBind stand-in) is trained once (``align_steps``) and cached; every finetune variant
  then starts from it for ``finetune_steps`` (CodeBind with LoRA, CodeBind fully fine-tuned, hard
  alignment continued, and the ablations of Tab. 6/7 on ``ablation_targets``).
- ``scratch`` — every model trained from random trunks (``scratch_steps``), a second table.
"""
from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Dict, List, Optional

from ..config import TARGET_MODALITIES
from ..config_base import Config
from ..config_base import check as _check
from ..training.config import BridgePretrainConfig, ModelSpec
from ..training.precision import PRECISIONS
from ..evaluation.factors import UNIQUE_FACTORS
from .variants import VARIANTS

SETTINGS = ("align", "finetune", "scratch")


@dataclass
class BenchmarkConfig(Config):
    """Data, bridge, the two settings' budgets and variants, seeds and evaluation options. Every
    variant of a comparison gets the same data, steps and batch. Strict loading, types and
    validation come from :class:`~codebind_core.config_base.Config`."""

    config_label: ClassVar[str] = "benchmark config"
    config_where: ClassVar[str] = "benchmark config"

    name: str = "synthbind-benchmark"
    synth: Dict[str, Any] = field(default_factory=lambda: {"seed": 0, "num_samples": 3000, "pose": "upright"})
    cache_dir: str = "cache/synthbind"
    workers: int = 2
    model: ModelSpec = field(default_factory=lambda: ModelSpec(overrides={"bridge": {"arch": "tiny-cnn"}}))
    bridge_pretrain: BridgePretrainConfig = field(default_factory=lambda: BridgePretrainConfig(
        enabled=True, steps=3000, batch_size=128, lr=2.0e-3))
    min_bridge_zero_shot: float = 0.70    # below it, zero-shot verdicts are marked inconclusive
    batch_size: int = 32
    weight_decay: float = 0.05
    warmup_steps: int = 15
    precision: str = "fp32"
    # k-means codebook init over this many batches per target before training; 0 = lazily at each
    # codebook's first call on one batch (the official code, §8 of the numerics notes)
    init_batches: int = 0
    # > 0: zero-shot Acc@1 on the val split every this many steps; the best (selected) model is
    # reported next to the final one
    select_every: int = 0
    keep_models: bool = False             # save each finetune/scratch model under <out_dir>/models/<run name>/
    # share of the train split per target (1.0 when absent): the data-scarcity setting
    target_fraction: Dict[str, float] = field(default_factory=dict)
    seeds: List[int] = field(default_factory=lambda: [0, 1, 2])
    # the paper's setting: a cached hard-aligned trunk per target, then fine-tuning from it
    finetune_targets: List[str] = field(default_factory=lambda: ["depth", "thermal", "tactile", "pointcloud",
                                                                  "audio"])
    align_steps: int = 600                # steps of the hard-aligned start trunk (seed 0, once per target)
    align_lr: float = 1.0e-3
    finetune_steps: int = 200             # steps of every finetune run
    finetune_lr: float = 5.0e-4           # the paper's lr (App. A.3)
    lora_last_k: int = 1                  # LoRA on the last half of the tiny trunk's blocks (paper: 6 of 12)
    finetune_variants: List[str] = field(default_factory=lambda: ["hard_align", "codebind", "codebind_full"])
    ablation_targets: List[str] = field(default_factory=lambda: ["depth", "thermal", "audio"])
    ablation_variants: List[str] = field(default_factory=lambda: [
        "no_codebook", "no_recon", "conventional_vq", "fine_subvectors", "separate_codebooks", "adaptive"])
    # from scratch (second table)
    scratch_targets: List[str] = field(default_factory=lambda: ["depth", "thermal", "tactile", "pointcloud",
                                                                 "audio"])
    scratch_steps: int = 300
    scratch_lr: float = 1.0e-3
    scratch_variants: List[str] = field(default_factory=lambda: ["codebind", "hard_align"])
    probe_samples: int = 800
    toc_fractions: List[float] = field(default_factory=lambda: [0.25, 0.5, 0.75])
    toc_random: int = 10
    toc_lambda: float = 0.3
    tsne_samples: int = 300
    tsne_targets: List[str] = field(default_factory=lambda: ["audio", "thermal"])
    parallel_runs: int = 2                # worker processes training runs side by side
    threads_per_run: int = 1              # torch threads of each worker
    out_dir: Optional[str] = None         # default runs/benchmark (data seed 0) or runs/benchmark-data<seed>
    report: Optional[str] = None          # default docs/results.md (data seed 0) or docs/results-data<seed>.md

    def __post_init__(self) -> None:
        seed = self.synth.get("seed", 0) if isinstance(self.synth, Mapping) else 0
        if self.out_dir is None:  # another data draw never reuses or overwrites the default's runs/report
            self.out_dir = "runs/benchmark" if seed == 0 else f"runs/benchmark-data{seed}"
        if self.report is None:
            self.report = "docs/results.md" if seed == 0 else f"docs/results-data{seed}.md"
        super().__post_init__()

    def validate(self) -> None:
        super().validate()
        _check(min(self.align_steps, self.finetune_steps, self.scratch_steps) > 0 and self.batch_size > 1,
               "align_steps, finetune_steps, scratch_steps > 0 and batch_size > 1 required")
        _check(min(self.align_lr, self.finetune_lr, self.scratch_lr) > 0 and self.weight_decay >= 0
               and self.warmup_steps >= 0, "bad optimiser settings")
        _check(0.0 <= self.min_bridge_zero_shot <= 1.0, "min_bridge_zero_shot must lie in [0, 1]")
        _check(self.lora_last_k >= 1, "lora_last_k must be >= 1")
        _check(self.precision in PRECISIONS, f"precision must be one of {sorted(PRECISIONS)}")
        _check(len(self.seeds) >= 1 and len(set(self.seeds)) == len(self.seeds), "seeds must be distinct, at least one")
        for t in self.finetune_targets + self.scratch_targets + self.ablation_targets + self.tsne_targets:
            _check(t in TARGET_MODALITIES, f"unknown target {t!r}; choose from {TARGET_MODALITIES}")
            _check(t in UNIQUE_FACTORS, f"no modality-unique factor defined for {t!r}")
        _check(set(self.ablation_targets) <= set(self.finetune_targets),
               "ablation_targets must be among finetune_targets")
        _check(set(self.tsne_targets) <= set(self.finetune_targets), "tsne_targets must be among finetune_targets")
        for v in self.finetune_variants + self.ablation_variants + self.scratch_variants:
            _check(v in VARIANTS, f"unknown variant {v!r}; choose from {sorted(VARIANTS)}")
        for group in ("finetune_variants", "scratch_variants"):
            vs = getattr(self, group)
            _check(not vs or "codebind" in vs, f"{group} must include 'codebind' (the reference)")
        _check(not any(VARIANTS[v].joint for v in self.finetune_variants + self.scratch_variants),
               "joint variants train several targets in one model: list them in ablation_variants")
        _check(self.probe_samples >= 50, "probe_samples must be >= 50")
        _check(all(0 < f <= 1 for f in self.toc_fractions), "toc_fractions must lie in (0, 1]")
        _check(self.toc_random >= 1 and 0 <= self.toc_lambda <= 1, "toc_random >= 1 and toc_lambda in [0, 1]")
        _check(self.tsne_samples >= 20, "tsne_samples must be >= 20")
        _check(self.init_batches >= 0 and self.select_every >= 0, "init_batches and select_every must be >= 0")
        for t, f in self.target_fraction.items():
            _check(t in TARGET_MODALITIES and 0 < f <= 1, f"target_fraction[{t!r}] must be in (0, 1] for a target")
        _check(self.parallel_runs >= 1 and self.threads_per_run >= 1, "parallel_runs and threads_per_run must be >= 1")
        self.bridge_pretrain.validate()

    @classmethod
    def from_dict(cls, values: Any) -> "BenchmarkConfig":
        """Strict (:meth:`Config.from_dict`); the benchmark always trains its Stage-0 bridge."""
        if isinstance(values, Mapping) and isinstance(values.get("bridge_pretrain"), Mapping):
            values = {**values, "bridge_pretrain": {"enabled": True, **values["bridge_pretrain"]}}
        return super().from_dict(values)

    def steps_for(self, setting: str) -> int:
        return {"align": self.align_steps, "finetune": self.finetune_steps, "scratch": self.scratch_steps}[setting]

    def lr_for(self, setting: str) -> float:
        return {"align": self.align_lr, "finetune": self.finetune_lr, "scratch": self.scratch_lr}[setting]

    def run_names(self) -> List[Dict[str, Any]]:
        """Every training run as {"setting", "variant", "targets", "seed", "name"}: first the
        hard-aligned start trunks (setting "align", seed 0, one per finetune target), then the
        finetune runs (main variants on every finetune target, ablations on ``ablation_targets``;
        a joint variant trains all ablation targets in one model), then the scratch runs."""
        runs = [{"setting": "align", "variant": "hard_align", "targets": [t], "seed": 0}
                for t in self.finetune_targets]
        for seed in self.seeds:
            for v in self.finetune_variants:
                runs += [{"setting": "finetune", "variant": v, "targets": [t], "seed": seed}
                         for t in self.finetune_targets]
            for v in self.ablation_variants:
                if VARIANTS[v].joint:
                    if self.ablation_targets:
                        runs.append({"setting": "finetune", "variant": v, "targets": list(self.ablation_targets),
                                     "seed": seed})
                elif v not in self.finetune_variants:
                    runs += [{"setting": "finetune", "variant": v, "targets": [t], "seed": seed}
                             for t in self.ablation_targets]
            for v in self.scratch_variants:
                runs += [{"setting": "scratch", "variant": v, "targets": [t], "seed": seed}
                         for t in self.scratch_targets]
        shared = (self.model.build(), self.to_dict())  # built once for every run's fingerprint
        for r in runs:
            r["fingerprint"] = self.fingerprint(r, shared)
            stem = (f"align-{r['targets'][0]}" if r["setting"] == "align" else
                    f"{r['setting']}-{r['variant']}-{'+'.join(r['targets'])}-s{r['seed']}")
            r["name"] = f"{stem}-{r['fingerprint'][:10]}"
        return runs

    def fingerprint(self, run: Dict[str, Any], shared: Optional[tuple] = None) -> str:
        """Hash of everything that decides a run's record: data, bridge recipe, model and the
        variant's resolved overrides, the setting's steps and lr, batch, optimiser, evaluation
        options, the run's targets and seed, and (finetune) the fingerprints of its aligned
        starts. A finished run is reused only when this matches (not by name)."""
        base, d = shared or (self.model.build(), self.to_dict())
        spec: Dict[str, Any] = {k: d[k] for k in (
            "synth", "model", "bridge_pretrain", "batch_size", "weight_decay", "warmup_steps", "precision",
            "init_batches", "probe_samples", "toc_fractions", "toc_random", "toc_lambda")}
        setting = run["setting"]
        spec.update(setting=setting, variant=run["variant"], targets=list(run["targets"]), seed=run["seed"],
                    steps=self.steps_for(setting), lr=self.lr_for(setting),
                    overrides=VARIANTS[run["variant"]].overrides(base))
        if setting == "finetune":
            spec["lora_last_k"] = self.lora_last_k
            spec["start"] = {t: self.fingerprint({"setting": "align", "variant": "hard_align", "targets": [t],
                                                  "seed": 0}, (base, d)) for t in run["targets"]}
        fractions = {t: self.target_fraction[t] for t in run["targets"] if self.target_fraction.get(t, 1.0) != 1.0}
        if fractions:  # only when set, so records of the full-data runs keep their fingerprints
            spec["target_fraction"] = fractions
        if self.select_every and setting != "align":
            spec["select_every"] = self.select_every
        return hashlib.sha256(json.dumps(spec, sort_keys=True, default=str).encode()).hexdigest()[:16]
