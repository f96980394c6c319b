"""Cutting proposals out of an image for the model: square boxes, crops, background masking."""
from __future__ import annotations

from typing import Tuple

import numpy as np

Box = Tuple[float, float, float, float]


def square_box(box: Box, width: int, height: int, margin: float = 0.1) -> Box:
    """The smallest square around ``box`` (plus ``margin`` of its side), shifted into the image;
    the model's centre crop then sees the whole object."""
    x0, y0, x1, y1 = box
    side = max(x1 - x0, y1 - y0) * (1 + 2 * margin)
    side = min(side, width - 1, height - 1)
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    nx0 = float(np.clip(cx - side / 2, 0, width - 1 - side))
    ny0 = float(np.clip(cy - side / 2, 0, height - 1 - side))
    return nx0, ny0, nx0 + side, ny0 + side


def _crop_bounds(shape, box: Box) -> Tuple[int, int, int, int]:
    h, w = shape[:2]
    x0, y0, x1, y1 = box
    c0, r0 = int(np.clip(np.floor(x0), 0, w - 1)), int(np.clip(np.floor(y0), 0, h - 1))
    c1, r1 = int(np.clip(np.ceil(x1), c0, w - 1)), int(np.clip(np.ceil(y1), r0, h - 1))
    return c0, r0, c1, r1


def crop(image: np.ndarray, box: Box) -> np.ndarray:
    """The pixels of ``image`` inside ``box`` (inclusive, clipped; at least 1 x 1)."""
    c0, r0, c1, r1 = _crop_bounds(image.shape, box)
    return image[r0: r1 + 1, c0: c1 + 1]


def masked_crop(image: np.ndarray, box: Box, pixels: np.ndarray, dilation: int = 3) -> np.ndarray:
    """Like :func:`crop`, but pixels farther than ``dilation`` px from the object's own pixels
    (a cluster's projected points) take the median colour of the rest: neighbouring objects in
    the crop do not distract the model, which saw single objects on plain backgrounds."""
    from scipy.ndimage import binary_dilation

    c0, r0, c1, r1 = _crop_bounds(image.shape, box)
    out = np.array(image[r0: r1 + 1, c0: c1 + 1], copy=True)
    mask = np.zeros(out.shape[:2], bool)
    px = np.asarray(pixels, dtype=np.int64).reshape(-1, 2)
    inside = (px[:, 0] >= c0) & (px[:, 0] <= c1) & (px[:, 1] >= r0) & (px[:, 1] <= r1)
    mask[px[inside, 1] - r0, px[inside, 0] - c0] = True
    if not mask.any():
        return out
    if dilation > 0:
        mask = binary_dilation(mask, iterations=dilation)
    if mask.all():
        return out
    out[~mask] = np.median(out[~mask], axis=0).astype(out.dtype)
    return out
