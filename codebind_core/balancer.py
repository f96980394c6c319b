"""Adaptive loss balancing (paper §3.4 "Training objective", App. B.2).

A running estimate (EMA) of each loss magnitude is kept; at update steps every auxiliary loss
weight is reset to ``w_name = b_name · EMA(align) / EMA(name)``, so the weighted loss has the
magnitude of L_align times its base ratio b_name (1 unless given). Fixed losses (align and recon,
"fixed at 1" in App. B.2) keep their base weight. The interval between updates grows linearly:
the k-th update (k = 0, 1, ...) comes ``first_interval + k · interval_growth`` steps after the
previous one (the first at step ``first_interval``).
"""
from __future__ import annotations

import math
from typing import Dict, Mapping, Optional, Sequence, Tuple, Union

import torch
import torch.distributed as dist
from torch import Tensor

from .losses import LossWeights

_TINY = 1e-12


def _int_at_least(value: object, low: int, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ValueError(f"{name} must be an int >= {low}, got {value!r}")
    return value


class AdaptiveBalancer:
    """Weights a dict of named losses; see the module docstring for the rule.

    Args:
        names: the loss names this balancer weights (each call may pass a subset).
        base_weights: per-loss base weight b (a :class:`LossWeights` or a mapping; missing
            names get 1). It is the weight used before the first update, the weight of fixed
            losses, and the ratio multiplying EMA(align) / EMA(name) at updates.
        ema: decay of the loss-magnitude EMA, in [0, 1). The first value seen initialises it.
        first_interval: steps before the first update (>= 1).
        interval_growth: increment of the interval after each update (>= 0).
        fixed: names whose weight never adapts.
        reference: the loss whose magnitude the others are rescaled to.
    """

    def __init__(self, names: Sequence[str], base_weights: Union[LossWeights, Mapping[str, float], None] = None,
                 ema: float = 0.99, first_interval: int = 10, interval_growth: int = 10,
                 fixed: Sequence[str] = ("align", "recon"), reference: str = "align"):
        names = tuple(names)
        if not names or any(not isinstance(n, str) for n in names) or len(set(names)) != len(names):
            raise ValueError(f"names must be a non-empty sequence of distinct strings, got {names!r}")
        if reference not in names:
            raise ValueError(f"reference loss {reference!r} is not among names {list(names)}")
        if isinstance(ema, bool) or not isinstance(ema, (int, float)) or not 0.0 <= ema < 1.0:
            raise ValueError(f"ema must be in [0, 1), got {ema!r}")
        self.names = names
        self.reference = reference
        self.ema = float(ema)
        self.first_interval = _int_at_least(first_interval, 1, "first_interval")
        self.interval_growth = _int_at_least(interval_growth, 0, "interval_growth")
        self.fixed = tuple(fixed)
        self.base = self._base_weights(base_weights)
        self._ema: Dict[str, Optional[float]] = {n: None for n in names}
        self._weights: Dict[str, float] = dict(self.base)
        self._num_updates = 0
        self._next_update = self.first_interval
        self._calls = 0

    def _base_weights(self, base: Union[LossWeights, Mapping[str, float], None]) -> Dict[str, float]:
        given: Mapping[str, float] = {}
        if isinstance(base, LossWeights):
            given = {n: w for n, w in base.as_dict().items() if n in self.names}
        elif base is not None:
            given = dict(base)
            unknown = sorted(set(given) - set(self.names))
            if unknown:
                raise ValueError(f"base_weights names {unknown} are not among names {list(self.names)}")
        out = {n: 1.0 for n in self.names}
        for name, w in given.items():
            if isinstance(w, bool) or not isinstance(w, (int, float)) or not math.isfinite(w) or w < 0:
                raise ValueError(f"base weight of {name!r} must be a finite number >= 0, got {w!r}")
            out[name] = float(w)
        return out

    # ---- schedule -------------------------------------------------------------------------
    def update_steps(self, count: int) -> Tuple[int, ...]:
        """The first ``count`` steps at which weights are updated (for a fresh balancer)."""
        steps, step = [], 0
        for k in range(_int_at_least(count, 0, "count")):
            step += self.first_interval + k * self.interval_growth
            steps.append(step)
        return tuple(steps)

    @property
    def weights(self) -> Dict[str, float]:
        """The current weight of every name."""
        return dict(self._weights)

    @property
    def magnitudes(self) -> Dict[str, Optional[float]]:
        """The EMA of every loss magnitude (None before its first value)."""
        return dict(self._ema)

    # ---- the step -------------------------------------------------------------------------
    def __call__(self, losses: Mapping[str, Tensor], step: Optional[int] = None) -> Tuple[Tensor, Dict[str, float]]:
        """Return ``(Σ w_name · losses[name], {name: w_name})`` for the names in ``losses``.

        ``step`` is the global training step (for exact resumption); None counts calls. An
        update happens at the first call whose step reaches the next scheduled update step."""
        if step is None:
            step = self._calls
        _int_at_least(step, 0, "step")
        self._calls = step + 1
        self._observe(losses)
        if step >= self._next_update:
            self._update_weights()
            self._num_updates += 1
            while self._next_update <= step:
                self._next_update += self.first_interval + self._num_updates * self.interval_growth
        used = {n: self._weights[n] for n in losses}
        total = sum(used[n] * losses[n] for n in losses)
        return total, used

    def _observe(self, losses: Mapping[str, Tensor]) -> None:
        """Validate the losses and fold their magnitudes into the EMAs (averaged over DDP ranks)."""
        if not isinstance(losses, Mapping) or not losses:
            raise ValueError("losses must be a non-empty dict of scalar tensors")
        unknown = sorted(set(losses) - set(self.names))
        if unknown:
            raise ValueError(f"unknown loss names {unknown}; this balancer weights {list(self.names)}")
        if self.reference not in losses:
            raise ValueError(f"the reference loss {self.reference!r} is missing")
        for name, value in losses.items():
            if not isinstance(value, Tensor) or value.numel() != 1:
                raise ValueError(f"loss {name!r} must be a scalar tensor")
        mags = torch.stack([v.detach().reshape(()).abs().float() for v in losses.values()])
        if dist.is_available() and dist.is_initialized():
            dist.all_reduce(mags)
            mags /= dist.get_world_size()
        for name, mag in zip(losses, mags.tolist()):
            if not math.isfinite(mag):
                raise ValueError(f"loss {name!r} is not finite ({mag})")
            prev = self._ema[name]
            self._ema[name] = mag if prev is None else self.ema * prev + (1.0 - self.ema) * mag

    def _update_weights(self) -> None:
        """w_name = b_name · EMA(reference) / EMA(name) for every adaptive loss seen so far; a loss
        whose EMA is 0 (or a reference at 0) keeps its weight."""
        ref = self._ema[self.reference]
        if ref is None or ref <= _TINY:
            return
        for name in self.names:
            mag = self._ema[name]
            if name in self.fixed or name == self.reference or mag is None or mag <= _TINY:
                continue
            self._weights[name] = self.base[name] * ref / mag

    # ---- persistence ----------------------------------------------------------------------
    def state_dict(self) -> Dict[str, object]:
        """Plain-python state (JSON- and ``torch.load(weights_only=True)``-safe)."""
        return {"names": list(self.names), "ema_values": dict(self._ema), "weights": dict(self._weights),
                "num_updates": self._num_updates, "next_update": self._next_update, "calls": self._calls}

    def load_state_dict(self, state: Mapping[str, object]) -> None:
        """Restore :meth:`state_dict` output; the names must match this balancer's."""
        try:
            names = tuple(state["names"])
            ema_values, weights = dict(state["ema_values"]), dict(state["weights"])
            num_updates, next_update, calls = state["num_updates"], state["next_update"], state["calls"]
        except (KeyError, TypeError) as err:
            raise ValueError(f"not an AdaptiveBalancer state: {err}") from None
        if names != self.names or set(ema_values) != set(names) or set(weights) != set(names):
            raise ValueError(f"state is for losses {list(names)}, this balancer weights {list(self.names)}")
        self._ema = {n: None if ema_values[n] is None else float(ema_values[n]) for n in names}
        self._weights = {n: float(weights[n]) for n in names}
        self._num_updates = _int_at_least(num_updates, 0, "num_updates")
        self._next_update = _int_at_least(next_update, 1, "next_update")
        self._calls = _int_at_least(calls, 0, "calls")
