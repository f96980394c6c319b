"""sensor_msgs/PointCloud2 <-> numpy for any field layout.

Reading handles every PointField datatype (INT8..FLOAT64), arbitrary offsets and padding inside a
point (``point_step``) and after a row (``row_step``), big-endian data, organised (height > 1)
clouds, non-dense clouds with NaN/inf points (dropped), and colour as a packed ``rgb``/``rgba``
field (FLOAT32 or UINT32 bit pattern 0x00RRGGBB) or as separate ``r``, ``g``, ``b`` fields.
"""
from __future__ import annotations

from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
from sensor_msgs.msg import PointCloud2, PointField
from std_msgs.msg import Header

# PointField.datatype -> numpy dtype (sensor_msgs/PointField constants)
DATATYPES: Dict[int, np.dtype] = {
    PointField.INT8: np.dtype(np.int8), PointField.UINT8: np.dtype(np.uint8),
    PointField.INT16: np.dtype(np.int16), PointField.UINT16: np.dtype(np.uint16),
    PointField.INT32: np.dtype(np.int32), PointField.UINT32: np.dtype(np.uint32),
    PointField.FLOAT32: np.dtype(np.float32), PointField.FLOAT64: np.dtype(np.float64),
}
MAX_POINTS = 1 << 24
MAX_POINT_STEP = 1 << 12


def _field_dtype(cloud: PointCloud2) -> np.dtype:
    """Structured dtype (itemsize = point_step) for the cloud's fields."""
    order = ">" if cloud.is_bigendian else "<"
    names: List[str] = []
    formats: List[np.dtype] = []
    offsets: List[int] = []
    step = int(cloud.point_step)
    for field in cloud.fields:
        if field.datatype not in DATATYPES:
            raise ValueError(f"field {field.name!r} has unknown datatype {field.datatype}")
        if field.name in names:
            raise ValueError(f"field {field.name!r} appears twice")
        if field.count < 1:
            raise ValueError(f"field {field.name!r} has count {field.count}; it must be >= 1")
        base = DATATYPES[field.datatype].newbyteorder(order)
        dtype = base if field.count == 1 else np.dtype((base, (int(field.count),)))
        if field.offset + dtype.itemsize > step:
            raise ValueError(f"field {field.name!r} (offset {field.offset}, {dtype.itemsize} bytes) "
                             f"does not fit in point_step {step}")
        names.append(field.name)
        formats.append(dtype)
        offsets.append(int(field.offset))
    return np.dtype({"names": names, "formats": formats, "offsets": offsets, "itemsize": step})


def read_points(cloud: PointCloud2) -> np.ndarray:
    """All points as a structured array of shape (height * width,) in the message's byte order."""
    height, width = int(cloud.height), int(cloud.width)
    point_step, row_step = int(cloud.point_step), int(cloud.row_step)
    if height * width > MAX_POINTS:
        raise ValueError(f"cloud has {height * width} points, more than the limit {MAX_POINTS}")
    if point_step <= 0 or point_step > MAX_POINT_STEP:
        raise ValueError(f"point_step {point_step} must be in 1..{MAX_POINT_STEP}")
    if not cloud.fields:
        raise ValueError("cloud has no fields")
    dtype = _field_dtype(cloud)
    if row_step < width * point_step:
        raise ValueError(f"row_step {row_step} is smaller than width * point_step = "
                         f"{width} * {point_step}")
    if len(cloud.data) != row_step * height:
        raise ValueError(f"data has {len(cloud.data)} bytes, expected row_step * height = "
                         f"{row_step} * {height} = {row_step * height}")
    if height * width == 0:
        return np.zeros(0, dtype=dtype)
    raw = np.frombuffer(cloud.data, dtype=np.uint8).reshape(height, row_step)[:, :width * point_step]
    return np.ascontiguousarray(raw).view(dtype).reshape(-1)


def _scalar(points: np.ndarray, name: str) -> np.ndarray:
    column = points[name]
    return column[:, 0] if column.ndim == 2 else column


def _has_colour(points: np.ndarray) -> bool:
    names = points.dtype.names
    return any(n in names for n in ("rgb", "rgba")) or all(c in names for c in ("r", "g", "b"))


def _colours(points: np.ndarray, out: np.ndarray) -> None:
    """Write RGB in [0, 1] into the (N, 3) float32 ``out`` (the cloud has colour: _has_colour)."""
    names = points.dtype.names
    packed = next((n for n in ("rgb", "rgba") if n in names), None)
    if packed is not None:
        column = np.ascontiguousarray(_scalar(points, packed))
        if column.dtype.itemsize != 4:
            raise ValueError(f"packed colour field {packed!r} must be 4 bytes (FLOAT32 or UINT32)")
        # reinterpret the 4 bytes as an integer in the message's byte order (no float maths)
        bits = column.view(np.dtype(np.uint32).newbyteorder(column.dtype.byteorder)).astype(np.uint32)
        for i, shift in enumerate((16, 8, 0)):
            np.divide((bits >> shift) & 0xFF, np.float32(255.0), out=out[:, i], dtype=np.float32)
        return
    for i, c in enumerate(("r", "g", "b")):
        out[:, i] = _scalar(points, c)
    if points.dtype["r"].kind in "ui":
        out /= np.float32(255.0)
    np.clip(out, 0.0, 1.0, out=out)


def to_xyz(cloud: PointCloud2, colour: bool = True, drop_invalid: bool = True) -> np.ndarray:
    """(N, 3) float32 xyz, or (N, 6) xyz + RGB in [0, 1] when ``colour`` and the cloud has one.

    Points with a NaN/inf coordinate (``is_dense`` false) are dropped unless ``drop_invalid`` is
    False. The result may be empty (0 rows); callers decide whether that is an error.
    """
    points = read_points(cloud)
    missing = [a for a in "xyz" if a not in points.dtype.names]
    if missing:
        raise ValueError(f"cloud lacks field(s) {missing}; it has {list(points.dtype.names)}")
    with_colour = colour and _has_colour(points)
    out = np.empty((points.shape[0], 6 if with_colour else 3), dtype=np.float32)  # one array, no copies
    for i, a in enumerate("xyz"):
        out[:, i] = _scalar(points, a)
    if with_colour:
        _colours(points, out[:, 3:])
    if drop_invalid and not np.isfinite(out[:, :3]).all():  # the row mask only where a point is bad
        out = np.ascontiguousarray(out[np.isfinite(out[:, :3]).all(axis=1)])
    return out


def pack_rgb(rgb: np.ndarray) -> np.ndarray:
    """(N, 3) colours in [0, 1] -> (N,) float32 carrying the 0x00RRGGBB bit pattern (PCL style)."""
    bytes_ = np.clip(np.rint(np.asarray(rgb, dtype=np.float64) * 255.0), 0, 255).astype(np.uint32)
    return ((bytes_[:, 0] << 16) | (bytes_[:, 1] << 8) | bytes_[:, 2]).view(np.float32)


def xyz_to_cloud(points: np.ndarray, header: Optional[Header] = None,
                 fields: Sequence[Tuple[str, int]] = (), organised: Optional[Tuple[int, int]] = None
                 ) -> PointCloud2:
    """(N, 3) xyz or (N, 6) xyz + RGB in [0, 1] -> a dense-layout PointCloud2.

    Fields are x, y, z as FLOAT32 and, for (N, 6), a packed FLOAT32 ``rgb``. ``fields`` adds
    extra named FLOAT32 columns taken from ``points[:, index]``. ``organised=(height, width)``
    makes an organised cloud (height * width == N).
    """
    points = np.asarray(points, dtype=np.float32)
    if points.ndim != 2 or points.shape[1] not in (3, 6):
        raise ValueError(f"points must be (N, 3) or (N, 6), got shape {points.shape}")
    names = ["x", "y", "z"] + (["rgb"] if points.shape[1] == 6 else []) + [n for n, _ in fields]
    columns = [points[:, 0], points[:, 1], points[:, 2]]
    if points.shape[1] == 6:
        columns.append(pack_rgb(points[:, 3:6]))
    columns += [points[:, i] for _, i in fields]
    structured = np.zeros(points.shape[0], dtype=[(n, "<f4") for n in names])
    for name, column in zip(names, columns):
        structured[name] = column
    height, width = organised if organised is not None else (1, points.shape[0])
    if height * width != points.shape[0]:
        raise ValueError(f"organised={organised} does not hold {points.shape[0]} points")
    msg = PointCloud2()
    if header is not None:
        msg.header = header
    msg.height, msg.width = height, width
    msg.fields = [PointField(name=n, offset=4 * i, datatype=PointField.FLOAT32, count=1)
                  for i, n in enumerate(names)]
    msg.is_bigendian = False
    msg.point_step = 4 * len(names)
    msg.row_step = msg.point_step * width
    msg.is_dense = bool(np.isfinite(points[:, :3]).all())
    msg.data = structured.tobytes()
    return msg
