"""One training run from a :class:`TrainConfig`: Stage 0 (bridge) then Stage 1 (CodeBind).

    from codebind_core.training import TrainConfig, run_training
    result = run_training(TrainConfig.from_file("training/configs/synth_tiny.yaml"))

Writes under ``out_dir``: ``train_config.yaml``, ``bridge/`` (Stage 0), ``checkpoints/last.pt``
(resumable state), ``log.csv`` (+ ``tensorboard/``), ``model/`` (the final ``cb.load``-able
checkpoint) and ``result.json``. Re-running the same command resumes from the last checkpoint.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Dict, Optional

import torch

from ..config import CodeBindConfig
from .bridge_extract import check_bridge_architecture
from .bridge_pretrain import WEIGHTS_NAME, bridge_is_trained, pretrain_bridge
from ..config_base import deep_merge
from .config import NO_BRIDGE, TrainConfig
from .datasets import build_training_data, preprocess_options
from .interrupt import StopAtStepBoundary, TrainingInterrupted, stop_on_signals
from .distributed import DistInfo, barrier, cleanup, init_distributed, resolve_device
from .rng import seed_everything
from .stream import RoundRobinStream
from .trainer import LoopSettings, Trainer
from ..data.synth.captions import class_name, prompt_sets
from ..data.synth_source import SynthSource
from ..data.synth_source import synth_config
from .pairs_bridge import ensure_pairs_bridge


def ensure_synth_bridge(source, inputs, model_cfg: Dict[str, Any], bp, out: Path, seed: int,
                        device: Optional[torch.device] = None, progress: bool = False) -> str:
    """Stage 0 for a SynthBind source: train the bridge on a separate image-caption draw of the
    same generator (``bp.corpus_samples``, seed offset ``bp.corpus_seed_offset``), scored on the
    source's val split, unless `out` already holds one of this architecture; returns the weights."""
    if not bridge_is_trained(out, model_cfg):
        corpus_cfg = source.cfg.replace(seed=source.cfg.seed + bp.corpus_seed_offset, num_samples=bp.corpus_samples,
                                        modalities=("image", "text"), val_fraction=0.0, test_fraction=0.0,
                                        unseen_fraction=0.0)
        corpus = SynthSource(corpus_cfg, source.cache_dir, workers=2, progress=progress)
        train = corpus.prepare(inputs, "train", ["image"])
        val = source.prepare(inputs, "val", ["image"])
        result = pretrain_bridge(model_cfg, train.inputs("image"), train.captions, bp, out, seed=seed,
                                 device=device or "cpu", progress=progress,
                                 holdout=(val.inputs("image"), val.captions),
                                 holdout_classes=bridge_probes(source, val))
        (out / "stage0.json").write_text(json.dumps(result, indent=2))
    return str(out / WEIGHTS_NAME)


def bridge_probes(source, val) -> Dict[str, tuple]:
    """Zero-shot probes of a Stage-0 bridge on SynthBind val images: the shared factor (category)
    and colour (the factor images show most plainly), as {name: (class prompts, labels)}."""
    return {"category": (prompt_sets([class_name(c) for c in source.categories]), val.labels),
            "colour": (prompt_sets([f"{c} object" for c in source.set.config.colours]), val.factors["colour"])}


def bridge_model_cfg(model_cfg: CodeBindConfig) -> Dict[str, Any]:
    """The OpenCLIP architecture dict of a model's bridge (inline ``model_cfg`` or a named arch)."""
    return model_cfg.bridge.openclip_cfg()


def stage0_bridge(cfg: TrainConfig, dist: DistInfo = DistInfo(),
                  device: Optional[torch.device] = None) -> Optional[str]:
    """Train (or reuse) the Stage-0 bridge of a run; returns its weights path, or None when disabled."""
    bp = cfg.bridge_pretrain
    if not bp.enabled:
        return None

    built = cfg.model.build()
    out = Path(bp.output).parent if bp.output else Path(cfg.out_dir) / "bridge"
    if dist.is_main and cfg.data.kind != "synthbind":

        ensure_pairs_bridge(cfg.data.kind, cfg.data.options, cfg.model.targets, bridge_model_cfg(built), bp, out,
                            cfg.seed, device, cfg.progress)
    elif dist.is_main:
        opts = cfg.data.options
        source = SynthSource(synth_config(opts.get("synth", {})), opts.get("cache_dir", "cache/synthbind"),
                             workers=opts.get("workers", 2))
        ensure_synth_bridge(source, built.inputs, bridge_model_cfg(built), bp, out, cfg.seed, device, cfg.progress)
    barrier(dist)
    return str(out / WEIGHTS_NAME)


def start_from(model, checkpoint: str) -> int:
    """Copy a codebind checkpoint's tensors of the same name and shape into `model`, the bridge
    excepted; returns how many. ValueError when none matches the model's target."""
    import codebind_core as cb

    source = cb.load(checkpoint).state_dict()
    own = model.state_dict()
    take = {k: v for k, v in source.items() if not k.startswith("bridge.") and k in own and own[k].shape == v.shape}
    target = model.config.targets[0]
    if not any(k.startswith(f"encoders.{target}.") for k in take):
        raise ValueError(f"init_from {checkpoint}: no {target} encoder tensor matches this model "
                         "(another architecture or target)")
    model.load_state_dict(take, strict=False)
    return len(take)


def settings_from(cfg: TrainConfig) -> LoopSettings:
    o, s = cfg.optim.resolved(cfg.model.targets[0]), cfg.schedule
    unused = cfg.find_unused_parameters
    return LoopSettings(
        steps=cfg.steps, grad_accum=cfg.grad_accum, precision=cfg.precision, optimizer=o.name, lr=o.lr,
        lr_new=o.lr_new, weight_decay=o.weight_decay, betas=o.betas, grad_clip=o.grad_clip, schedule=s.name,
        warmup_steps=s.warmup_steps, checkpoint_every=cfg.checkpoint_every, log_every=cfg.log_every,
        log_backend=cfg.log_backend, progress=cfg.progress, init_batches=0 if cfg.init_from else cfg.init_batches,
        find_unused_parameters=True if unused is None else unused,
        fingerprint=cfg.fingerprint())


def run_training(cfg: TrainConfig, resume: bool = True) -> Dict[str, Any]:
    """Run (or resume) a training run; returns {"model_dir", "steps", "last": last logged row}."""
    import codebind_core as cb

    if cfg.threads is not None:
        torch.set_num_threads(cfg.threads)
    dist = init_distributed(cfg.device)
    try:
        device = resolve_device(cfg.device, dist)
        out = Path(cfg.out_dir)
        if dist.is_main:
            out.mkdir(parents=True, exist_ok=True)
            cfg.save(out / "train_config.yaml")
        bridge_weights = stage0_bridge(cfg, dist, device)
        seed_everything(cfg.seed)
        model_cfg = cfg.model.build(bridge_weights=bridge_weights)
        if not (model_cfg.bridge.weights or model_cfg.bridge.random_init):
            raise ValueError(NO_BRIDGE)
        model_cfg.preprocess = deep_merge(model_cfg.preprocess, preprocess_options(cfg.data.kind, cfg.data.options))
        model_cfg.validate()
        if model_cfg.bridge.kind == "openclip":
            check_bridge_architecture(model_cfg.bridge.weights, model_cfg.bridge.openclip_cfg())
        model = cb.create_model(model_cfg)
        if cfg.init_from:
            start_from(model, cfg.init_from)
        parts = build_training_data(cfg.data.kind, cfg.data.options, model)
        stream = StopAtStepBoundary(RoundRobinStream(parts, cfg.batch_size, cfg.seed, dist.rank, dist.world_size,
                                                     cfg.num_workers), cfg.grad_accum)
        trainer = Trainer(model, stream, settings_from(cfg), out, device, dist)
        try:
            with stop_on_signals(stream, enabled=not dist.enabled):
                rows = trainer.fit(resume=resume)
        except TrainingInterrupted as stop:
            trainer.save_checkpoint()
            return {"interrupted": str(stop), "steps": trainer.step,
                    "checkpoint": str(trainer.ckpt_dir / "last.pt")}
        result = {"model_dir": str(out / "model"), "steps": trainer.step, "last": rows[-1] if rows else None}
        if dist.is_main:
            model.save(out / "model")
            (out / "result.json").write_text(json.dumps(result, indent=2))
        barrier(dist)
        return result
    finally:
        cleanup(dist)
