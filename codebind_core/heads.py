"""Trainable projection heads that decouple z into z_shared and z_spec (§3.2, App. A.3)."""
from __future__ import annotations

from typing import Optional, Tuple

import torch
from torch import nn


class DecoupledHead(nn.Module):
    """``z -> (z_shared, z_spec)`` applied to every token. ``specific_dim=None`` gives a
    shared-only head (text, and the hard-alignment baseline). ``identity_init`` starts the shared
    projection as the identity (bridges: step 0 reproduces the bridge's own space)."""

    def __init__(self, in_dim: int, shared_dim: int, specific_dim: Optional[int], identity_init: bool = False):
        super().__init__()
        self.shared = nn.Linear(in_dim, shared_dim)
        self.specific = nn.Linear(in_dim, specific_dim) if specific_dim else None
        if identity_init and in_dim == shared_dim:
            with torch.no_grad():
                self.shared.weight.copy_(torch.eye(in_dim))
                self.shared.bias.zero_()

    def forward(self, z: torch.Tensor) -> Tuple[torch.Tensor, Optional[torch.Tensor]]:
        return self.shared(z), (self.specific(z) if self.specific is not None else None)
