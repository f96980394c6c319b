"""Draw localisation boxes on an RGB image with numpy (no OpenCV needed)."""
from __future__ import annotations

from typing import Sequence, Tuple

import numpy as np

Box = Tuple[float, float, float, float]
BEST = (0, 230, 0)       # the top result
OTHER = (255, 200, 0)    # the other results


def draw_box(image: np.ndarray, box: Box, colour: Sequence[int], thickness: int = 2) -> None:
    """Draw the outline of ``box`` = (x0, y0, x1, y1) (inclusive pixels) into ``image`` in place."""
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"image must be (H, W, 3), got shape {image.shape}")
    if thickness < 1:
        raise ValueError(f"thickness must be >= 1, got {thickness}")
    h, w = image.shape[:2]
    x0, y0, x1, y1 = (int(round(v)) for v in box)
    x0, x1 = max(0, min(x0, x1)), min(w - 1, max(x0, x1))
    y0, y1 = max(0, min(y0, y1)), min(h - 1, max(y0, y1))
    if x0 > w - 1 or y0 > h - 1 or x1 < 0 or y1 < 0:
        return
    c = np.asarray(colour, dtype=image.dtype)
    t = thickness
    image[y0: min(y0 + t, y1 + 1), x0: x1 + 1] = c
    image[max(y1 - t + 1, y0): y1 + 1, x0: x1 + 1] = c
    image[y0: y1 + 1, x0: min(x0 + t, x1 + 1)] = c
    image[y0: y1 + 1, max(x1 - t + 1, x0): x1 + 1] = c


def annotate(rgb: np.ndarray, boxes: Sequence[Box], thickness: int = 2) -> np.ndarray:
    """A copy of ``rgb`` with ``boxes`` drawn, best first: the first in green, the rest in amber
    (drawn last-to-first so the best box stays on top)."""
    out = np.array(rgb, dtype=np.uint8, copy=True)
    for rank in range(len(boxes) - 1, -1, -1):
        draw_box(out, boxes[rank], BEST if rank == 0 else OTHER, thickness + (1 if rank == 0 else 0))
    return out
