"""depth: (H, W) metric depth -> (1, S, S) float32 normalised disparity (ImageBind / Omnivore).

Steps:
1. depth in metres = raw * ``scale`` (default 1 for float input; 0.001 for uint16, the
   millimetre ``16UC1`` encoding of ROS REP 118).
2. Missing returns are allowed and become disparity 0: 0, NaN and +inf (REP 118: no return /
   too far). -inf, negative depths, or an image with no valid pixel raise ValueError.
3. disparity [px] = ``baseline`` [m] * focal [px] / depth [m]. Defaults: the NYU Depth v2
   Kinect focal length fx = 518.857901 px and a 0.075 m baseline (Kinect's projector-camera
   distance). ``intrinsics`` (a 3 x 3 K, or the 9-element row-major ``CameraInfo.k``) sets
   focal = K[0, 0].
4. clipped to [0, ``max_disparity``] and divided by it (Omnivore's ``DepthNorm(max_depth=75,
   clamp_max_before_scale=True)``, the depth normalisation ImageBind's depth data went through).
5. short side resized to S (bicubic, as Omnivore's depth pipeline), centre crop, clamped to [0, 1].
6. (x - mean) / std with a dataset preset: ``sun`` (default: SUN RGB-D, ImageBind's depth
   training set; 0.0418 / 0.0295) or ``nyu`` (NYU-D; 0.2321 / 0.1151). ``mean``/``std`` override.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Optional, Sequence, Tuple

import numpy as np
import torch

from . import _checks
from ._resize import INTERPOLATIONS, resize_short_side_center_crop

NAME = "depth"
NYU_FOCAL_LENGTH = 518.857901  # px, fx of the NYU Depth v2 Kinect RGB camera
KINECT_BASELINE = 0.075  # m
MAX_PIXELS = 1 << 26
DTYPE_SCALE = {np.dtype(np.uint16): 0.001, **{d: 1.0 for d in _checks.FLOAT_DTYPES}}  # -> metres

# preset name -> (mean, std) of the scaled disparity over that dataset
PRESETS = {
    "sun": (0.0418, 0.0295),
    "nyu": (0.2321, 0.1151),
}


@dataclass(frozen=True)
class DepthConfig(_checks.ModalityOptions):
    """Depth options.

    Attributes:
        size: output side S.
        focal_length: px; None means NYU's 518.857901 (or K[0, 0] when ``intrinsics`` is given).
        baseline: m.
        max_disparity: px; disparities are clipped to [0, max_disparity] and divided by it.
        preset: dataset statistics for the final normalisation (``sun`` or ``nyu``).
        mean, std: override the preset's statistics.
        scale: metres per raw unit; None means 0.001 for uint16 and 1.0 for float input.
        interpolation: resize filter (``bicubic``, ``bilinear`` or ``nearest``).
    """

    NAME: ClassVar[str] = NAME
    size: int = 224
    focal_length: Optional[float] = None
    baseline: float = KINECT_BASELINE
    max_disparity: float = 75.0
    preset: str = "sun"
    mean: Optional[float] = None
    std: Optional[float] = None
    scale: Optional[float] = None
    interpolation: str = "bicubic"

    def validate(self) -> None:
        super().validate()
        self.check_range("size", 1, 4096, integer=True)
        self.check_range("focal_length", 0.0, 1e6, open_lo=True)
        self.check_range("baseline", 0.0, 1e3, open_lo=True)
        self.check_range("max_disparity", 0.0, 1e6, open_lo=True)
        self.check_choice("preset", PRESETS)
        self.check_range("mean", -1e6, 1e6)
        self.check_range("std", 0.0, 1e6, open_lo=True)
        self.check_range("scale", 0.0, 1e6, open_lo=True)
        self.check_choice("interpolation", INTERPOLATIONS)

    @property
    def stats(self) -> Tuple[float, float]:
        """(mean, std) used for the final normalisation."""
        mean, std = PRESETS[self.preset]
        return (mean if self.mean is None else self.mean, std if self.std is None else self.std)

    def output_shape(self) -> Tuple[int, ...]:
        return (1, self.size, self.size)


DEFAULTS = DepthConfig()
MODEL_OPTIONS = {"size": "image_size"}


def focal_from_intrinsics(intrinsics: Any) -> float:
    """fx = K[0, 0] of a 3 x 3 camera matrix (or its 9-element row-major form)."""
    k = _checks.to_array(NAME, intrinsics)
    if k.shape not in ((3, 3), (9,)):
        raise ValueError(f"{NAME}: intrinsics must be a 3x3 matrix or 9 values, got shape {tuple(k.shape)}")
    fx = float(k.reshape(-1)[0])
    if not np.isfinite(fx) or fx <= 0:
        raise ValueError(f"{NAME}: intrinsics K[0, 0] (focal length) must be positive, got {fx}")
    return fx


def to_metres(arr: np.ndarray, scale: Optional[float]) -> np.ndarray:
    """Validated depth in metres (float64), missing pixels (0, NaN, +inf) set to +inf."""
    _checks.require_dtype(NAME, arr, DTYPE_SCALE, " - pass metres as float or millimetres as uint16")
    if arr.ndim == 3 and arr.shape[-1] == 1:
        arr = arr[..., 0]
    _checks.require_ndim(NAME, arr, (2,), "2-D (H, W)")
    _checks.require_nonempty(NAME, arr)
    _checks.require_at_most(NAME, arr.size, MAX_PIXELS, "pixels")
    depth = arr.astype(np.float64) * (DTYPE_SCALE[arr.dtype] if scale is None else scale)
    neg_inf = int(np.count_nonzero(np.isneginf(depth)))
    if neg_inf:
        raise ValueError(f"{NAME}: {neg_inf} pixels are -inf (too close); replace them with 0 (missing)")
    negative = int(np.count_nonzero(depth < 0))
    if negative:
        raise ValueError(f"{NAME}: {negative} negative depth values (min {np.nanmin(depth):g} m)")
    missing = ~(depth > 0) | np.isinf(depth)  # 0, NaN (comparison is False) and +inf
    if missing.all():
        raise ValueError(f"{NAME}: no valid depth pixel (all are 0, NaN or +inf)")
    depth[missing] = np.inf
    return depth


def disparity(depth_m: np.ndarray, focal_length: float, baseline: float) -> np.ndarray:
    """baseline * focal / depth in pixels; +inf depth (missing) gives 0."""
    return baseline * focal_length / depth_m


def preprocess(raw: Any, intrinsics: Any = None, **options: Any) -> torch.Tensor:
    """One (H, W) depth image -> (1, S, S) float32 normalised disparity.

    Args:
        raw: (H, W) or (H, W, 1) depth: float metres or uint16 millimetres.
        intrinsics: optional camera matrix; its K[0, 0] is the focal length (conflicts with an
            explicit ``focal_length``).
        **options: fields of :class:`DepthConfig`.
    """
    cfg = _checks.parse_options(NAME, DepthConfig, options)
    focal = cfg.focal_length
    if intrinsics is not None:
        if focal is not None:
            raise ValueError(f"{NAME}: pass either intrinsics or focal_length, not both")
        focal = focal_from_intrinsics(intrinsics)
    focal = NYU_FOCAL_LENGTH if focal is None else focal
    depth = to_metres(_checks.to_array(NAME, raw), cfg.scale)
    scaled = np.clip(disparity(depth, focal, cfg.baseline), 0.0, cfg.max_disparity) / cfg.max_disparity
    x = torch.from_numpy(scaled.astype(np.float32))[None]
    x = resize_short_side_center_crop(x, cfg.size, cfg.interpolation).clamp(0.0, 1.0)
    mean, std = cfg.stats
    return ((x - mean) / std).contiguous()


def preprocess_batch(raws: Sequence[Any], intrinsics: Any = None, **options: Any) -> torch.Tensor:
    """A list of depth images -> (B, 1, S, S); one ``intrinsics`` applies to all."""
    return _checks.stack_batch(NAME, preprocess, raws, {"intrinsics": intrinsics, **options})


def example(rng: Optional[np.random.Generator] = None) -> np.ndarray:
    """A (48, 64) float32 depth image in metres: a floor plane, a back wall, a box, some holes.

    Holes follow REP 118: NaN where the sensor got no return, 0 for invalid pixels.
    """
    rng = rng if rng is not None else np.random.default_rng(0)
    h, w = 48, 64
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    wall = rng.uniform(3.0, 4.5)
    floor = 1.2 * 518.857901 * (48 / 480) / np.maximum(yy - h / 2, 0.5)  # camera 1.2 m above the floor
    depth = np.minimum(floor, wall)
    top, left = int(rng.integers(10, 20)), int(rng.integers(10, 40))
    depth[top:top + 18, left:left + 16] = rng.uniform(1.0, 2.0)
    depth += rng.normal(0, 0.005, size=depth.shape) * depth ** 2  # noise grows with distance
    depth = depth.astype(np.float32)
    depth[rng.random((h, w)) < 0.02] = np.nan
    depth[:, :2] = 0.0  # invalid border columns, as Kinect-style sensors produce
    return depth
