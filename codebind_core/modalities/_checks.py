"""Input checks shared by every modality: each failure is a ValueError that names the problem.

Checks run cheapest first (type, dtype, shape, emptiness, size) so that a huge or malformed input
is rejected before anything touches its values.
"""
from __future__ import annotations

import dataclasses
from typing import Any, Callable, ClassVar, Iterable, Mapping, Sequence, Type, TypeVar

import numpy as np
import torch

from codebind_core.config_base import Config

C = TypeVar("C")

FLOAT_DTYPES = (np.dtype(np.float16), np.dtype(np.float32), np.dtype(np.float64))
MAX_BATCH = 4096


def to_array(name: str, raw: Any) -> np.ndarray:
    """``raw`` (ndarray, torch tensor or nested sequence) as a real numeric ndarray, no copy if possible."""
    if isinstance(raw, np.ndarray):
        arr = raw
    elif torch.is_tensor(raw):
        raw = raw.detach().cpu()
        arr = (raw.float() if raw.dtype == torch.bfloat16 else raw).numpy()
    elif raw is None or isinstance(raw, (str, bytes, dict)):
        raise ValueError(f"{name}: expected a numeric array, got {type(raw).__name__}")
    else:
        try:
            arr = np.asarray(raw)
        except (ValueError, TypeError) as exc:  # ragged nested lists
            raise ValueError(f"{name}: cannot convert input to an array ({exc})") from None
    kind = arr.dtype.kind
    if kind == "c":
        raise ValueError(f"{name}: complex dtype {arr.dtype} is not supported (pass real values)")
    if kind == "b":
        raise ValueError(f"{name}: boolean dtype is not supported (pass numeric values)")
    if kind not in "iuf":
        raise ValueError(f"{name}: dtype {arr.dtype} is not numeric")
    if not arr.dtype.isnative:  # big-endian data from some file formats
        arr = arr.astype(arr.dtype.newbyteorder("="))
    return arr


def require_dtype(name: str, arr: np.ndarray, allowed: Iterable[Any], hint: str = "") -> None:
    """Raise unless ``arr.dtype`` is one of ``allowed``."""
    allowed = [np.dtype(d) for d in allowed]
    if arr.dtype not in allowed:
        names = ", ".join(str(d) for d in allowed)
        raise ValueError(f"{name}: dtype {arr.dtype} is not supported (expected {names}){hint}")


def require_ndim(name: str, arr: np.ndarray, ndims: Sequence[int], layout: str) -> None:
    """Raise unless ``arr.ndim`` is in ``ndims``; ``layout`` reads e.g. "2-D (H, W)"."""
    if arr.ndim not in ndims:
        raise ValueError(f"{name}: expected a {layout} array, got shape {tuple(arr.shape)}")


def require_nonempty(name: str, arr: np.ndarray) -> None:
    """Raise if any axis has length 0."""
    if arr.size == 0:
        raise ValueError(f"{name}: empty input, shape {tuple(arr.shape)}")


def require_at_most(name: str, count: int, limit: int, what: str) -> None:
    """Raise if ``count`` ``what`` exceed ``limit`` (guards memory and time against huge inputs)."""
    if count > limit:
        raise ValueError(f"{name}: {count} {what} exceeds the limit of {limit}")


def count_nonfinite(arr: np.ndarray) -> int:
    """Number of NaN/inf entries (0 for integer arrays)."""
    if arr.dtype.kind != "f":
        return 0
    return int(arr.size - np.count_nonzero(np.isfinite(arr)))


def require_finite(name: str, arr: np.ndarray, what: str = "values") -> None:
    """Raise naming how many entries are NaN or inf."""
    bad = count_nonfinite(arr)
    if bad:
        raise ValueError(f"{name}: {bad} non-finite {what} (NaN or inf)")


def require_range(name: str, arr: np.ndarray, lo: float, hi: float, what: str, hint: str = "") -> None:
    """Raise if any entry lies outside [lo, hi]."""
    amin, amax = float(arr.min()), float(arr.max())
    if amin < lo or amax > hi:
        raise ValueError(f"{name}: {what} must lie in [{lo:g}, {hi:g}], got [{amin:g}, {amax:g}]{hint}")


# ---- option dataclasses -------------------------------------------------------------------
class ModalityOptions(Config):
    """Base of the modalities' option dataclasses: a :class:`~codebind_core.config_base.Config`
    whose messages read ``<modality>: option <field> ...``."""

    NAME: ClassVar[str] = ""

    @property
    def error_prefix(self) -> str:  # type: ignore[override]
        return f"{self.NAME}: option "


def parse_options(name: str, cls: Type[C], options: Mapping[str, Any]) -> C:
    """Build the modality's config dataclass from keyword options; unknown keys raise."""
    fields = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(options) - fields)
    if unknown:
        raise ValueError(f"{name}: unknown option(s) {unknown}; known: {sorted(fields)}")
    return cls(**options)


def check_stats(name: str, field: str, values: Any, length: int) -> tuple:
    """A per-channel mean/std tuple of ``length`` finite numbers (std entries checked by caller)."""
    try:
        out = tuple(float(v) for v in values)
    except (TypeError, ValueError):
        raise ValueError(f"{name}: option {field} must be a sequence of {length} numbers") from None
    if len(out) != length or not all(np.isfinite(out)):
        raise ValueError(f"{name}: option {field} must be {length} finite numbers, got {values!r}")
    return out


# ---- batching -------------------------------------------------------------------------------
def stack_batch(name: str, preprocess: Callable[..., torch.Tensor], raws: Any,
                options: Mapping[str, Any]) -> torch.Tensor:
    """Preprocess each sample and stack along a new batch axis; errors name the bad item."""
    if isinstance(raws, np.ndarray) or torch.is_tensor(raws) or not isinstance(raws, Sequence) \
            or isinstance(raws, (str, bytes)):
        raise ValueError(f"{name}: preprocess_batch expects a list of samples, got {type(raws).__name__}")
    if len(raws) == 0:
        raise ValueError(f"{name}: preprocess_batch got an empty list")
    require_at_most(name, len(raws), MAX_BATCH, "batch items")
    out = []
    for i, raw in enumerate(raws):
        try:
            out.append(preprocess(raw, **options))
        except ValueError as exc:
            raise ValueError(f"batch item {i}: {exc}") from None
    shapes = {tuple(t.shape) for t in out}
    if len(shapes) > 1:
        raise ValueError(f"{name}: batch items preprocess to different shapes {sorted(shapes)}")
    return torch.stack(out)
