"""The Stage-1 training loop: DDP, gradient accumulation, AMP, atomic checkpoints, exact resume.

The model is any ``nn.Module`` whose ``forward(batch, step=...)`` returns a dict of named scalar
losses with ``"total"`` (CodeBind does). Resuming restores model, optimiser, schedule, scaler, every
RNG and the batch position, so a run killed at any point (SIGKILL included) and restarted logs the
same losses, step for step, as a run that never stopped.
"""
from __future__ import annotations

import time
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional

import torch
from torch.nn.parallel import DistributedDataParallel as DDP
from torch import nn

from . import train_state
from .config import OptimConfig, ScheduleConfig, TrainConfig
from .distributed import DistInfo, all_reduce_mean, barrier, gather_objects
from .optim import build_optimizer, build_schedule
from .precision import get_precision
from .rng import capture_rng_state, restore_rng_state
from .run_log import RunLog
from .stream import Batch, RoundRobinStream


@dataclass
class LoopSettings:
    """The knobs of :class:`Trainer`: the loop's part of :class:`TrainConfig` (``run.settings_from``),
    with the same defaults, so the loop is usable on its own."""

    steps: int
    grad_accum: int = TrainConfig.grad_accum
    precision: str = TrainConfig.precision
    optimizer: str = OptimConfig.name
    lr: float = OptimConfig.lr
    lr_new: Optional[float] = OptimConfig.lr_new  # lr of the new parts (``new_parameter_names``); None: lr
    weight_decay: float = OptimConfig.weight_decay
    betas: tuple = OptimConfig.betas
    grad_clip: Optional[float] = OptimConfig.grad_clip
    schedule: str = ScheduleConfig.name
    warmup_steps: int = ScheduleConfig.warmup_steps
    checkpoint_every: int = TrainConfig.checkpoint_every
    log_every: int = TrainConfig.log_every
    log_backend: str = TrainConfig.log_backend
    progress: bool = TrainConfig.progress
    init_batches: int = TrainConfig.init_batches  # > 0: k-means over this many batches per target; 0: lazy
    find_unused_parameters: bool = False
    fingerprint: str = ""


def move_to(batch: Any, device: torch.device) -> Any:
    """Tensors (nested in dicts/lists) moved to `device`; other values (e.g. strings) kept."""
    if torch.is_tensor(batch):
        return batch.to(device, non_blocking=True)
    if isinstance(batch, dict):
        return {k: move_to(v, device) for k, v in batch.items()}
    if isinstance(batch, (list, tuple)) and batch and torch.is_tensor(batch[0]):
        return type(batch)(move_to(v, device) for v in batch)
    return batch


class Trainer:
    """Runs ``settings.steps`` optimiser steps of `model` on `stream`, writing logs and checkpoints
    under `out_dir`; under DDP (`dist.enabled`) the model is wrapped in DistributedDataParallel."""

    def __init__(self, model: nn.Module, stream: RoundRobinStream, settings: LoopSettings, out_dir: str | Path,
                 device: torch.device, dist: DistInfo = DistInfo()):
        self.s, self.stream, self.dist, self.device = settings, stream, dist, device
        self.out_dir = Path(out_dir)
        self.ckpt_dir = self.out_dir / "checkpoints"
        self.model = model.to(device)
        self.precision = get_precision(settings.precision)
        params = model.trainable_parameters() if hasattr(model, "trainable_parameters") else model.parameters()
        if settings.lr_new is not None and hasattr(model, "new_parameter_names"):
            new = model.new_parameter_names()
            named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
            params = [{"params": [p for n, p in named if n not in new], "lr": settings.lr},
                      {"params": [p for n, p in named if n in new], "lr": settings.lr_new}]
        self.optimizer = build_optimizer(settings.optimizer, params, settings.lr, settings.weight_decay, settings.betas)
        self.schedule = build_schedule(settings.schedule, self.optimizer, settings.warmup_steps, settings.steps)
        self.scaler = self.precision.make_scaler(device)
        self.step = 0

    # ---- state ----------------------------------------------------------------------------
    def state_dict(self) -> Dict[str, Any]:
        return {"model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
                "schedule": self.schedule.state_dict(), "scaler": self.scaler.state_dict(),
                "step": self.step, "world_size": self.dist.world_size, "fingerprint": self.s.fingerprint,
                "rng": gather_objects(capture_rng_state(), self.dist), "extra": self._extra_state()}

    def _extra_state(self) -> Dict[str, Any]:
        """Plain-python state a model keeps outside its state_dict (CodeBind's adaptive balancer)."""
        balancer = getattr(self.model, "balancer", None)
        return {"balancer": balancer.state_dict()} if balancer is not None else {}

    def save_checkpoint(self) -> None:
        state = self.state_dict()  # every rank takes part in gathering the RNG states
        if self.dist.is_main:
            train_state.save_atomic(state, self.ckpt_dir / train_state.LAST)
        barrier(self.dist)

    def load_checkpoint(self, path: Path) -> None:
        state = train_state.load_checkpoint(path)
        if state.get("fingerprint") != self.s.fingerprint:
            raise ValueError(f"{path} was written by a run with a different configuration "
                             f"({state.get('fingerprint')} != {self.s.fingerprint}); use a new out_dir")
        if state["world_size"] != self.dist.world_size:
            raise ValueError(f"{path} was written with {state['world_size']} processes, this run has "
                             f"{self.dist.world_size}: an exact resume needs the same number")
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.schedule.load_state_dict(state["schedule"])
        self.scaler.load_state_dict(state["scaler"])
        self.step = int(state["step"])
        if "balancer" in state.get("extra", {}):
            self.model.balancer.load_state_dict(state["extra"]["balancer"])
        restore_rng_state(state["rng"][self.dist.rank])

    # ---- loop -----------------------------------------------------------------------------
    def fit(self, resume: bool = True, on_step: Optional[Callable[[int], None]] = None) -> List[Dict[str, float]]:
        """Train to ``settings.steps`` optimiser steps; returns the logged rows of this call.
        ``on_step(step)`` runs after every optimiser step (e.g. validation for checkpoint selection)."""
        last = train_state.find_last(self.ckpt_dir) if resume else None
        if last is not None:
            self.load_checkpoint(last)
        elif self.s.init_batches > 0 and hasattr(self.model, "init_codebooks"):
            with torch.no_grad():  # k-means in fp32 whatever the training precision
                batches = self.stream.init_batches(self.s.init_batches)
                self.model.init_codebooks(move_to(b, self.device) for b in batches)
        net = self._wrap()
        log = RunLog(self.out_dir, self.s.log_backend, resume_step=self.step) if self.dist.is_main else None
        rows: List[Dict[str, float]] = []
        batches = self.stream.batches(start=self.step * self.s.grad_accum)
        bar = self._progress_bar()
        t0, seen = time.perf_counter(), 0
        net.train()
        while self.step < self.s.steps:
            losses, n = self._optimizer_step(net, batches)
            self.step += 1
            seen += n
            rate = seen / max(time.perf_counter() - t0, 1e-9)
            row = {**losses, "lr": self.schedule.get_last_lr()[0], "samples_per_s": rate}
            rows.append({"step": self.step, **row})
            if log is not None and (self.step % self.s.log_every == 0 or self.step == self.s.steps):
                log.write(self.step, row)
            if bar is not None:
                bar.set_postfix(loss=f"{losses['total']:.4f}", rate=f"{rate:.1f}/s")
                bar.update(1)
            if self.step % self.s.checkpoint_every == 0 or self.step == self.s.steps:
                self.save_checkpoint()
            if on_step is not None:
                on_step(self.step)
                net.train()
        if bar is not None:
            bar.close()
        if log is not None:
            log.close()
        return rows

    def _report_kwargs(self) -> Dict[str, bool]:
        """``report``: whether this step's losses are logged (models that skip losses carrying no
        gradient on other steps declare ``report_on_demand``)."""
        if not getattr(self.model, "report_on_demand", False):
            return {}
        t = self.step + 1
        return {"report": t == 1 or t % self.s.log_every == 0 or t == self.s.steps}

    def _wrap(self) -> nn.Module:
        if not self.dist.enabled:
            return self.model

        ids = [self.device.index] if self.device.type == "cuda" else None
        return DDP(self.model, device_ids=ids, find_unused_parameters=self.s.find_unused_parameters)

    def _optimizer_step(self, net: nn.Module, batches) -> tuple:
        self.optimizer.zero_grad(set_to_none=True)
        sums: Dict[str, torch.Tensor] = {}
        n = 0
        for micro in range(self.s.grad_accum):
            batch: Batch = move_to(next(batches), self.device)
            n += _batch_len(batch)
            sync = micro == self.s.grad_accum - 1 or not self.dist.enabled
            with (nullcontext() if sync else net.no_sync()):
                with self.precision.autocast(self.device):
                    out = net(batch, step=self.step, **self._report_kwargs())
                total = out["total"]
                if not torch.isfinite(total):
                    raise FloatingPointError(f"non-finite loss at step {self.step + 1}: "
                                             + ", ".join(f"{k}={float(v):.4g}" for k, v in out.items()))
                self.scaler.scale(total.float() / self.s.grad_accum).backward()
            for k, v in out.items():
                sums[k] = sums.get(k, 0.0) + v.detach().float() / self.s.grad_accum
        if self.s.grad_clip is not None:
            self.scaler.unscale_(self.optimizer)
            torch.nn.utils.clip_grad_norm_([p for g in self.optimizer.param_groups for p in g["params"]],
                                           self.s.grad_clip)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.schedule.step()
        names = sorted(sums)
        vals = all_reduce_mean(torch.stack([sums[k] for k in names]), self.dist).tolist()
        return dict(zip(names, vals)), n * self.dist.world_size

    def _progress_bar(self):
        if not (self.s.progress and self.dist.is_main):
            return None
        from tqdm.auto import tqdm

        return tqdm(total=self.s.steps, initial=self.step, desc="train", unit="step", dynamic_ncols=True)


def _batch_len(batch: Batch) -> int:
    for v in batch.values():
        if torch.is_tensor(v):
            return int(v.shape[0])
        if isinstance(v, (list, tuple)):
            return len(v)
    return 0
