"""sensor_msgs/Image <-> numpy for every common encoding (REP 118 depth, padded rows, big-endian).

``image_to_array`` gives the pixels in their own dtype and channel order; the ``to_*`` helpers
give the layout each core modality's ``preprocess`` expects:

=========  =========================================================  ========================
helper     accepted encodings                                        result
=========  =========================================================  ========================
to_rgb     rgb8 bgr8 rgba8 bgra8 8UC3 8UC4 mono8 8UC1 rgb16 bgr16      (H, W, 3) uint8 RGB
           rgba16 bgra16 mono16 16UC1 yuv422 (UYVY) yuv422_yuy2 (YUYV)
to_depth   16UC1 mono16 (millimetres), 32FC1 64FC1 (metres)             (H, W) float32 metres
to_single  any one-channel encoding                                  (H, W) in its own dtype
=========  =========================================================  ========================

Unknown encodings, sizes that do not match ``step * height`` and rows shorter than
``width * bytes_per_pixel`` raise ValueError naming the problem.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Dict, Optional

import numpy as np
from sensor_msgs.msg import Image
from std_msgs.msg import Header

MAX_SIDE = 1 << 15  # pixels; larger images are refused before any allocation


@dataclass(frozen=True)
class PixelFormat:
    """How one encoding lays a pixel out in memory."""

    dtype: np.dtype
    channels: int
    order: str = ""  # colour order of the channels ("rgb", "bgr", "rgba", "bgra"), "" = none

    @property
    def bytes_per_pixel(self) -> int:
        return self.dtype.itemsize * self.channels


def _fmt(dtype, channels: int, order: str = "") -> PixelFormat:
    return PixelFormat(np.dtype(dtype), channels, order)


# Named encodings of sensor_msgs/image_encodings.hpp (YUV 4:2:2 is handled on its own below).
ENCODINGS: Dict[str, PixelFormat] = {
    "rgb8": _fmt(np.uint8, 3, "rgb"), "bgr8": _fmt(np.uint8, 3, "bgr"),
    "rgba8": _fmt(np.uint8, 4, "rgba"), "bgra8": _fmt(np.uint8, 4, "bgra"),
    "rgb16": _fmt(np.uint16, 3, "rgb"), "bgr16": _fmt(np.uint16, 3, "bgr"),
    "rgba16": _fmt(np.uint16, 4, "rgba"), "bgra16": _fmt(np.uint16, 4, "bgra"),
    "mono8": _fmt(np.uint8, 1), "mono16": _fmt(np.uint16, 1),
}
YUV422 = {"yuv422": "uyvy", "uyvy": "uyvy", "yuv422_yuy2": "yuyv", "yuyv": "yuyv"}
_GENERIC = re.compile(r"^(8|16|32|64)(U|S|F)C([1-4])$")
_GENERIC_DTYPES = {("8", "U"): np.uint8, ("8", "S"): np.int8, ("16", "U"): np.uint16,
                   ("16", "S"): np.int16, ("32", "S"): np.int32, ("32", "F"): np.float32,
                   ("64", "F"): np.float64}


def pixel_format(encoding: str) -> PixelFormat:
    """The memory layout of ``encoding`` (named, or OpenCV-style ``<bits><U|S|F>C<n>``)."""
    if encoding in ENCODINGS:
        return ENCODINGS[encoding]
    if encoding in YUV422:
        return _fmt(np.uint8, 2)
    match = _GENERIC.match(encoding)
    if match and (match[1], match[2]) in _GENERIC_DTYPES:
        return _fmt(_GENERIC_DTYPES[(match[1], match[2])], int(match[3]))
    raise ValueError(f"unsupported image encoding {encoding!r}; supported: "
                     f"{sorted(ENCODINGS) + sorted(YUV422)} and 8UC1..64FC4 (no 32UC)")


def image_to_array(msg: Image) -> np.ndarray:
    """Pixels of ``msg`` as (H, W) or (H, W, C) in the encoding's dtype, native byte order.

    Row padding (``step`` > width * bytes per pixel) is skipped and big-endian data swapped.
    YUV 4:2:2 encodings come back as (H, W, 2) uint8 (use :func:`to_rgb` to decode them).
    """
    fmt = pixel_format(msg.encoding)
    height, width, step = int(msg.height), int(msg.width), int(msg.step)
    if height <= 0 or width <= 0:
        raise ValueError(f"image is empty ({width}x{height})")
    if height > MAX_SIDE or width > MAX_SIDE:
        raise ValueError(f"image {width}x{height} exceeds the {MAX_SIDE}-pixel side limit")
    row_bytes = width * fmt.bytes_per_pixel
    if step < row_bytes:
        raise ValueError(f"step {step} is smaller than width * bytes per pixel = {row_bytes} "
                         f"for {msg.encoding!r}")
    size = len(msg.data)
    if size != step * height:
        raise ValueError(f"data has {size} bytes, expected step * height = {step} * {height} = "
                         f"{step * height}")
    if msg.encoding in YUV422 and width % 2:
        raise ValueError(f"{msg.encoding} needs an even width, got {width}")
    raw = np.frombuffer(msg.data, dtype=np.uint8).reshape(height, step)[:, :row_bytes]
    dtype = fmt.dtype.newbyteorder(">" if msg.is_bigendian else "<")
    pixels = np.ascontiguousarray(raw).view(dtype).reshape(height, width, fmt.channels)
    pixels = pixels.astype(fmt.dtype, copy=False)  # native byte order
    return pixels[:, :, 0] if fmt.channels == 1 else pixels


def array_to_image(array: np.ndarray, encoding: str, header: Optional[Header] = None,
                   step: Optional[int] = None, is_bigendian: bool = False) -> Image:
    """A numpy image -> sensor_msgs/Image with ``encoding``.

    ``array`` is (H, W) or (H, W, C) matching the encoding's channels (YUV 4:2:2: (H, W, 2)
    uint8); it is cast to the encoding's dtype. ``step`` pads each row (default: no padding).
    """
    fmt = pixel_format(encoding)
    array = np.asarray(array)
    if array.ndim == 2:
        array = array[:, :, None]
    if array.ndim != 3 or array.shape[2] != fmt.channels:
        raise ValueError(f"{encoding!r} needs (H, W, {fmt.channels}) pixels, got shape {array.shape}")
    height, width = array.shape[:2]
    if height == 0 or width == 0:
        raise ValueError("cannot publish an empty image")
    row_bytes = width * fmt.bytes_per_pixel
    step = row_bytes if step is None else int(step)
    if step < row_bytes:
        raise ValueError(f"step {step} is smaller than the row size {row_bytes}")
    dtype = fmt.dtype.newbyteorder(">" if is_bigendian else "<")
    rows = array.astype(dtype, copy=False).reshape(height, row_bytes // fmt.dtype.itemsize)
    buffer = np.zeros((height, step), dtype=np.uint8)
    buffer[:, :row_bytes] = rows.view(np.uint8).reshape(height, row_bytes)
    msg = Image()
    if header is not None:
        msg.header = header
    msg.height, msg.width, msg.encoding = height, width, encoding
    msg.is_bigendian, msg.step = int(bool(is_bigendian)), step
    msg.data = buffer.tobytes()
    return msg


def _yuv422_to_rgb(pairs: np.ndarray, layout: str) -> np.ndarray:
    """(H, W, 2) UYVY/YUYV bytes -> (H, W, 3) uint8 RGB (BT.601, studio swing)."""
    flat = pairs.reshape(pairs.shape[0], -1, 4).astype(np.float32)  # one macropixel = 2 pixels
    if layout == "uyvy":
        u, y0, v, y1 = (flat[..., i] for i in range(4))
    else:
        y0, u, y1, v = (flat[..., i] for i in range(4))
    y = np.stack([y0, y1], axis=-1).reshape(pairs.shape[0], -1) - 16.0
    u = np.repeat(u, 2, axis=1) - 128.0
    v = np.repeat(v, 2, axis=1) - 128.0
    r = 1.164 * y + 1.596 * v
    g = 1.164 * y - 0.392 * u - 0.813 * v
    b = 1.164 * y + 2.017 * u
    return np.clip(np.rint(np.stack([r, g, b], axis=-1)), 0, 255).astype(np.uint8)


def to_rgb(msg: Image) -> np.ndarray:
    """(H, W, 3) uint8 RGB from any colour or grey encoding (16-bit values are scaled to 8)."""
    if msg.encoding in YUV422:
        return _yuv422_to_rgb(image_to_array(msg), YUV422[msg.encoding])
    fmt = pixel_format(msg.encoding)
    pixels = image_to_array(msg)
    if fmt.dtype == np.uint16:
        pixels = (pixels >> 8).astype(np.uint8)
    elif fmt.dtype != np.uint8:
        raise ValueError(f"{msg.encoding!r} is not a colour encoding (need 8- or 16-bit unsigned)")
    if pixels.ndim == 2:
        return np.repeat(pixels[:, :, None], 3, axis=2)
    if fmt.channels == 2:
        raise ValueError(f"{msg.encoding!r} has 2 channels; it is not a colour image")
    if fmt.order.startswith("bgr"):
        return np.ascontiguousarray(pixels[:, :, 2::-1])
    return np.ascontiguousarray(pixels[:, :, :3])  # rgb, rgba, 8UC3/8UC4 taken as RGB(A)


def to_single(msg: Image) -> np.ndarray:
    """(H, W) single-channel pixels in the encoding's own dtype (thermal, depth, grey)."""
    if msg.encoding in YUV422 or pixel_format(msg.encoding).channels != 1:
        raise ValueError(f"{msg.encoding!r} has more than one channel; a single-channel "
                         "encoding is needed (mono8, mono16, 8UC1, 16UC1, 32FC1 ...)")
    return image_to_array(msg)


DEPTH_SCALE = {np.dtype(np.uint16): 0.001, np.dtype(np.float32): 1.0, np.dtype(np.float64): 1.0}


def to_depth(msg: Image) -> np.ndarray:
    """(H, W) float32 depth in metres (REP 118: 16UC1 millimetres or 32FC1 metres).

    Missing returns keep their REP 118 values (0, NaN, +inf), which the core depth preprocess
    treats as missing.
    """
    pixels = to_single(msg)
    if pixels.dtype not in DEPTH_SCALE:
        raise ValueError(f"depth needs 16UC1/mono16 (mm) or 32FC1/64FC1 (m), got {msg.encoding!r}")
    return (pixels.astype(np.float32) * np.float32(DEPTH_SCALE[pixels.dtype])).astype(np.float32)
