"""Numeric precision of a training run: fp32, or mixed precision with torch.autocast.

A registry maps the config name to the autocast dtype; fp16 also needs a gradient scaler
(bf16 has fp32's exponent range and does not). bf16 autocast works on CPU as well as on GPUs.
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Dict, Optional

import torch


@dataclass(frozen=True)
class Precision:
    """How to run forward passes and whether to scale the loss for fp16 gradients."""

    name: str
    autocast_dtype: Optional[torch.dtype]
    needs_scaler: bool

    def autocast(self, device: torch.device):
        """Context manager for the forward pass (a no-op for fp32)."""
        if self.autocast_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type=device.type, dtype=self.autocast_dtype)

    def make_scaler(self, device: torch.device) -> "torch.amp.GradScaler":
        """A GradScaler, enabled only when this precision needs one."""
        return torch.amp.GradScaler(device.type, enabled=self.needs_scaler)


PRECISIONS: Dict[str, Precision] = {
    "fp32": Precision("fp32", None, False),
    "bf16": Precision("bf16", torch.bfloat16, False),
    "fp16": Precision("fp16", torch.float16, True),
}


def get_precision(name: str) -> Precision:
    if name not in PRECISIONS:
        raise ValueError(f"unknown precision {name!r}; choose from {sorted(PRECISIONS)}")
    return PRECISIONS[name]
