"""thermal: (H, W) single-channel thermal image -> (1, S, S) float32.

Scaling to [0, 1] (then clipped):
- uint8 (8-bit rendered thermal, e.g. LLVIP, FLIR ADAS): x / 255.
- uint16 (raw counts, or radiometric centi-kelvin as FLIR Lepton/Boson TLinear output): x / 65535.
- float: a temperature in ``unit`` (``kelvin`` by default, or ``celsius``), mapped linearly from
  (250 K, 350 K) to [0, 1]: -23 °C .. 77 °C covers indoor and outdoor scenes.
``value_range=(lo, hi)`` replaces the default range (in raw units for ints, in kelvin for
floats); ``value_range="minmax"`` stretches each image to its own min..max (auto-contrast).

Then the short side is resized to S (bicubic, as images), centre-cropped, and normalised as
(x - 0.5) / 0.5: ImageBind's released code documents no thermal statistics, so the symmetric
[-1, 1] mapping is used.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Optional, Sequence, Tuple, Union

import numpy as np
import torch

from . import _checks
from ._resize import INTERPOLATIONS, resize_short_side_center_crop

NAME = "thermal"
MAX_PIXELS = 1 << 26
KELVIN_RANGE = (250.0, 350.0)
DTYPE_RANGE = {np.dtype(np.uint8): (0.0, 255.0), np.dtype(np.uint16): (0.0, 65535.0)}
UNIT_TO_KELVIN = {"kelvin": 0.0, "celsius": 273.15}  # offset added to reach kelvin
MINMAX = "minmax"


@dataclass(frozen=True)
class ThermalConfig(_checks.ModalityOptions):
    """Thermal options.

    Attributes:
        size: output side S.
        value_range: (lo, hi) mapped to [0, 1], ``"minmax"``, or None for the per-dtype default.
        unit: unit of float input, ``kelvin`` or ``celsius`` (ignored for integer input).
        mean, std: final normalisation (0.5, 0.5).
        interpolation: resize filter.
    """

    NAME: ClassVar[str] = NAME
    size: int = 224
    value_range: Union[None, str, Tuple[float, float]] = None
    unit: str = "kelvin"
    mean: float = 0.5
    std: float = 0.5
    interpolation: str = "bicubic"

    def normalise(self) -> None:
        super().normalise()
        if self.value_range is not None and self.value_range != MINMAX:
            lo, hi = _checks.check_stats(NAME, "value_range", self.value_range, 2)
            if not hi > lo:
                raise ValueError(f"{NAME}: option value_range needs lo < hi, got {self.value_range!r}")
            object.__setattr__(self, "value_range", (lo, hi))

    def validate(self) -> None:
        super().validate()
        self.check_range("size", 1, 4096, integer=True)
        self.check_choice("unit", UNIT_TO_KELVIN)
        self.check_range("mean", -1e3, 1e3)
        self.check_range("std", 0.0, 1e3, open_lo=True)
        self.check_choice("interpolation", INTERPOLATIONS)

    def output_shape(self) -> Tuple[int, ...]:
        return (1, self.size, self.size)


DEFAULTS = ThermalConfig()
MODEL_OPTIONS = {"size": "image_size"}


def to_unit_range(arr: np.ndarray, cfg: ThermalConfig) -> np.ndarray:
    """Validated raw image -> float32 in [0, 1] by the documented rule.

    Works in place on one float32 copy of the image (4 bytes per pixel), whatever the input dtype."""
    values = arr.astype(np.float32)
    if arr.dtype.kind == "f" and UNIT_TO_KELVIN[cfg.unit]:
        values += np.float32(UNIT_TO_KELVIN[cfg.unit])
    if cfg.value_range == MINMAX:
        lo, hi = float(values.min()), float(values.max())
        if hi <= lo:  # a flat image carries no contrast
            return np.zeros(arr.shape, dtype=np.float32)
    elif cfg.value_range is not None:
        lo, hi = cfg.value_range
    else:
        lo, hi = DTYPE_RANGE.get(arr.dtype, KELVIN_RANGE)
    if arr.dtype.kind == "f":
        vmin, vmax = float(values.min()), float(values.max())
        if vmax < lo or vmin > hi or not np.any((values >= lo) & (values <= hi)):
            raise ValueError(
                f"{NAME}: every pixel lies outside value_range ({lo:g}, {hi:g}) K (data spans "
                f"{vmin:g}..{vmax:g} K); set unit='celsius' or value_range")
    values -= np.float32(lo)
    values *= np.float32(1.0 / (hi - lo))
    np.clip(values, 0.0, 1.0, out=values)
    return values


def preprocess(raw: Any, **options: Any) -> torch.Tensor:
    """One (H, W) or (H, W, 1) thermal image -> (1, S, S) float32."""
    cfg = _checks.parse_options(NAME, ThermalConfig, options)
    arr = _checks.to_array(NAME, raw)
    _checks.require_dtype(NAME, arr, (*DTYPE_RANGE, *_checks.FLOAT_DTYPES),
                          " - pass uint8/uint16 counts or float temperatures")
    if arr.ndim == 3 and arr.shape[-1] == 1:
        arr = arr[..., 0]
    if arr.ndim == 3 and arr.shape[-1] in (3, 4):
        raise ValueError(f"{NAME}: expected a single-channel (H, W) image, got {arr.shape[-1]} "
                         f"channels (shape {tuple(arr.shape)}); convert a colour-mapped image first")
    _checks.require_ndim(NAME, arr, (2,), "2-D (H, W)")
    _checks.require_nonempty(NAME, arr)
    _checks.require_at_most(NAME, arr.size, MAX_PIXELS, "pixels")
    _checks.require_finite(NAME, arr, "pixel values")
    x = torch.from_numpy(to_unit_range(arr, cfg))[None]
    x = resize_short_side_center_crop(x, cfg.size, cfg.interpolation).clamp(0.0, 1.0)
    return ((x - cfg.mean) / cfg.std).contiguous()


def preprocess_batch(raws: Sequence[Any], **options: Any) -> torch.Tensor:
    """A list of thermal images -> (B, 1, S, S)."""
    return _checks.stack_batch(NAME, preprocess, raws, options)


def example(rng: Optional[np.random.Generator] = None) -> np.ndarray:
    """A (48, 64) float32 temperature image in kelvin: a ~295 K room with a warm person-like blob."""
    rng = rng if rng is not None else np.random.default_rng(0)
    h, w = 48, 64
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    img = rng.uniform(290.0, 298.0) + 2.0 * yy / h  # floor warmer than the ceiling
    cy, cx = h * rng.uniform(0.4, 0.6), w * rng.uniform(0.3, 0.7)
    body = np.exp(-(((yy - cy) / 12.0) ** 2 + ((xx - cx) / 6.0) ** 2))
    img += 12.0 * body + rng.normal(0, 0.1, size=img.shape)  # skin ~307 K, sensor noise 0.1 K
    return img.astype(np.float32)
