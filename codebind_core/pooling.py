"""How the tokens of one sample become one vector per token before the VQ (the training step,
:meth:`codebind_core.CodeBind.encode` and the export graphs all call this)."""
from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F


def pool_clips(shared: torch.Tensor, specific: Optional[torch.Tensor], clips: int = 1,
               batch: Optional[int] = None):
    """(N·clips, ..., D), (N·clips, ..., Ds) -> per sample: ``[shared; specific]`` L2-normalised
    as a whole per token, then averaged over the clips of a sample (official CBM:719-730; the
    averages are no longer unit length). Without a specific part the shared part alone.
    ``batch`` = N instead of ``clips`` leaves the clip count free (a dynamic axis in export)."""
    if specific is None:
        v = F.normalize(shared, dim=-1)
    else:
        v = F.normalize(torch.cat([shared, specific], -1), dim=-1)
    if batch is not None:
        v = v.unflatten(0, (batch, -1)).mean(1)
    elif clips > 1:
        v = v.unflatten(0, (-1, clips)).mean(1)
    if specific is None:
        return v, None
    return v[..., :shared.shape[-1]], v[..., shared.shape[-1]:]
