"""Adaptive loss balancing (paper §3.4 "Training objective", App. B.2), as the official code does it.

The paper says the auxiliary weights are rescaled "to match the scale of L_align" at intervals
that grow "linearly". The official balancer (``shared/codebind-official-numerics.md`` §12), which
produced the paper's adaptive results, is this:

* every balanced loss n has a target ratio s_n to L_align: vq 0.01, cm 0.1, reg (ctr + cuni, one
  weight for both) 0.1, orth 0.1, uni 1.0; align and recon are fixed at weight 1;
* call t = 1 sets ``r_align = L_align``, ``r_n = |L_n|`` and ``w_n = L_align · s_n / (|L_n| + 1e-8)``
  (no warm-up);
* later, when ``t - t_last >= I``: ``r_align <- 0.9 r_align + 0.1 L_align``,
  ``r_n <- 0.9 r_n + 0.1 |L_n|``, ``w_n = r_align · s_n / (r_n + 1e-8)``; the EMA moves only on these
  steps; the interval ``I = int(10 + 90 sin(π/2 · min(1, t / 40000)))`` ramps from 10 to 100;
* ``w_vq`` is capped at 1e4; weights are plain floats (no gradient through them).

So each balanced term contributes about s_n · L_align (uni, negative, about -L_align).
"""
from __future__ import annotations

import math
from typing import Dict, Mapping, Optional, Sequence, Tuple

import torch
import torch.distributed as dist
from torch import Tensor

# Target ratio of each balanced loss (group) to L_align (official LB:23-30).
OFFICIAL_RATIOS: Dict[str, float] = {"vq": 0.01, "cm": 0.1, "reg": 0.1, "orth": 0.1, "uni": 1.0}
# Loss names weighted together: ctr and cuni share the "reg" weight (official loss_vq_reg).
GROUPS: Dict[str, Tuple[str, ...]] = {"reg": ("ctr", "cuni")}
FIXED = ("align", "recon")
CAPS: Dict[str, float] = {"vq": 1e4}
_EPS = 1e-8


def interval_at(t: int, start: int = 10, end: int = 100, ramp: int = 40000) -> int:
    """Steps between weight updates after call t: ``int(start + (end - start)·sin(π/2·min(1, t/ramp)))``."""
    return int(start + (end - start) * math.sin(math.pi / 2 * min(1.0, t / ramp)))


class AdaptiveBalancer:
    """Weights a dict of named losses by the official rule (module docstring).

    Args:
        names: the loss names of the model (align, recon, vq, cm, ctr, cuni, orth, uni).
        ratios: target ratio per balanced group (default :data:`OFFICIAL_RATIOS`).
        enabled: names that take part; others get weight 0 (the official configs' weights act
            only as on/off switches in adaptive mode). Default: all.
        momentum: weight of the old value in the sparse EMA (0.9).
        reference: the loss the others are scaled to.
    """

    def __init__(self, names: Sequence[str], ratios: Optional[Mapping[str, float]] = None,
                 enabled: Optional[Sequence[str]] = None, momentum: float = 0.9,
                 reference: str = "align"):
        names = tuple(names)
        if not names or any(not isinstance(n, str) for n in names) or len(set(names)) != len(names):
            raise ValueError(f"names must be a non-empty sequence of distinct strings, got {names!r}")
        if reference not in names:
            raise ValueError(f"reference loss {reference!r} is not among names {list(names)}")
        if isinstance(momentum, bool) or not isinstance(momentum, (int, float)) or not 0.0 <= momentum < 1.0:
            raise ValueError(f"momentum must be in [0, 1), got {momentum!r}")
        ratios = dict(OFFICIAL_RATIOS if ratios is None else ratios)
        for group, r in ratios.items():
            if isinstance(r, bool) or not isinstance(r, (int, float)) or not math.isfinite(r) or r < 0:
                raise ValueError(f"ratio of {group!r} must be a finite number >= 0, got {r!r}")
        self.names, self.reference, self.momentum = names, reference, float(momentum)
        self.enabled = set(names if enabled is None else enabled)
        self.members = {g: tuple(n for n in GROUPS.get(g, (g,)) if n in names) for g in ratios}
        self.members = {g: m for g, m in self.members.items() if m}
        self.ratios = {g: float(ratios[g]) for g in self.members}
        grouped = {n for m in self.members.values() for n in m}
        self.fixed = tuple(n for n in names if n not in grouped)
        self._running: Dict[str, Optional[float]] = {g: None for g in (reference, *self.members)}
        self._weights: Dict[str, float] = {g: 1.0 for g in self.members}
        self._t = 0
        self._last = None

    # ---- views ------------------------------------------------------------------------------
    @property
    def weights(self) -> Dict[str, float]:
        """The current weight of every loss name."""
        out = {n: (1.0 if n in self.enabled else 0.0) for n in self.fixed}
        for g, members in self.members.items():
            for n in members:
                out[n] = self._weights[g] if n in self.enabled else 0.0
        return out

    @property
    def magnitudes(self) -> Dict[str, Optional[float]]:
        """The running magnitude r of the reference and of every group (None before the first call)."""
        return dict(self._running)

    @property
    def calls(self) -> int:
        return self._t

    def updates_at(self, step: Optional[int]) -> bool:
        """Whether the call at 0-based ``step`` (None: the next call) sets or updates the weights,
        i.e. needs every loss's value."""
        t = self._t + 1 if step is None else int(step) + 1
        return self._last is None or t == 1 or t - self._last >= interval_at(self._last)

    # ---- the step ---------------------------------------------------------------------------
    def __call__(self, losses: Mapping[str, Tensor], step: Optional[int] = None) -> Tuple[Tensor, Dict[str, float]]:
        """Return ``(Σ w_name · losses[name], {name: w_name})`` for the names in ``losses``.

        ``step`` is the 0-based global training step (call t = step + 1, for exact resumption);
        None counts calls."""
        t = self._t + 1 if step is None else int(step) + 1
        if t < 1:
            raise ValueError(f"step must be >= 0, got {step!r}")
        values = self._values(losses)
        if self._last is None or t == 1:
            self._running = {k: v for k, v in values.items()}
            self._set_weights()
            self._last = t
        elif t - self._last >= interval_at(self._last):
            m = self.momentum
            for k, v in values.items():
                prev = self._running.get(k)
                self._running[k] = v if prev is None else m * prev + (1.0 - m) * v
            self._set_weights()
            self._last = t
        self._t = t
        w = self.weights
        used = {n: w[n] for n in losses}
        total = sum(used[n] * losses[n] for n in losses)
        return total, used

    def _values(self, losses: Mapping[str, Tensor]) -> Dict[str, float]:
        """L_align and |Σ members| per group, validated (averaged over DDP ranks)."""
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
        keys = [self.reference] + [g for g, mem in self.members.items() if any(n in losses for n in mem)]
        vals = [losses[self.reference].detach().reshape(()).float()]
        for g in keys[1:]:
            vals.append(sum(losses[n].detach().reshape(()).float() for n in self.members[g] if n in losses).abs())
        mags = torch.stack(vals)
        if dist.is_available() and dist.is_initialized():
            dist.all_reduce(mags)
            mags /= dist.get_world_size()
        out = dict(zip(keys, mags.tolist()))
        for k, v in out.items():
            if not math.isfinite(v):
                raise ValueError(f"loss {k!r} is not finite ({v})")
        return out

    def _set_weights(self) -> None:
        ref = self._running[self.reference]
        for g in self.members:
            r = self._running.get(g)
            if r is None:
                continue
            w = ref * self.ratios[g] / (r + _EPS)
            self._weights[g] = min(w, CAPS[g]) if g in CAPS else w

    # ---- persistence ------------------------------------------------------------------------
    def state_dict(self) -> Dict[str, object]:
        """Plain-python state (JSON- and ``torch.load(weights_only=True)``-safe)."""
        return {"names": list(self.names), "running": dict(self._running), "weights": dict(self._weights),
                "t": self._t, "last": self._last}

    def load_state_dict(self, state: Mapping[str, object]) -> None:
        """Restore :meth:`state_dict` output; the names must match this balancer's."""
        try:
            names = tuple(state["names"])
            running, weights = dict(state["running"]), dict(state["weights"])
            t, last = state["t"], state["last"]
        except (KeyError, TypeError) as err:
            raise ValueError(f"not an AdaptiveBalancer state: {err}") from None
        if names != self.names or set(running) != set(self._running) or set(weights) != set(self._weights):
            raise ValueError(f"state is for losses {list(names)}, this balancer weights {list(self.names)}")
        self._running = {k: None if v is None else float(v) for k, v in running.items()}
        self._weights = {k: float(v) for k, v in weights.items()}
        self._t, self._last = int(t), (None if last is None else int(last))
