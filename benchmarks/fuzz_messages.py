"""Message generators of the fuzz benchmark (benchmarks/ros_fuzz.py): well-formed extreme messages,
field-level malformations and raw CDR garbage for every sensor type, reproducible from a seed."""
from __future__ import annotations

import zlib
from typing import Tuple

import numpy as np

MODALITIES = ("camera", "depth", "thermal", "tactile", "pointcloud", "audio")
MAX_MESSAGE_BYTES = 4 << 20  # node parameter: larger messages are dropped unread
U32 = (1 << 32) - 1


def _header(rng, msg):
    if rng.random() < 0.1:  # extreme stamps and frame ids
        msg.header.stamp.sec = int(rng.choice([-(1 << 31), -1, 0, (1 << 31) - 1]))
        msg.header.stamp.nanosec = int(rng.choice([0, 999_999_999, 1_000_000_000, U32]))
        msg.header.frame_id = rng.choice(["", "x" * 4096, "\u00e9\u4e2d/\u0000?", " "])
    else:
        msg.header.stamp.sec = int(rng.integers(0, 1 << 30))
        msg.header.frame_id = "fuzz"
    return msg


IMAGE_ENCODINGS = {
    "camera": ["rgb8", "bgr8", "rgba8", "bgra8", "mono8", "mono16", "rgb16", "bgr16", "yuv422", "uyvy",
               "yuyv", "8UC3", "8UC1", "16UC1", "32FC1", "8UC4", "bayer_rggb8"],
    "tactile": ["rgb8", "bgr8", "mono8", "rgba8", "yuv422", "8UC3", "16UC3", "32FC3"],
    "depth": ["16UC1", "mono16", "32FC1", "64FC1", "8UC1", "mono8", "16SC1", "rgb8"],
    "thermal": ["mono8", "mono16", "16UC1", "32FC1", "64FC1", "8SC1", "16SC1", "32SC1", "rgb8", "8UC2"],
}
_DTYPES = {"8U": np.uint8, "8S": np.int8, "16U": np.uint16, "16S": np.int16, "32S": np.int32,
           "32F": np.float32, "64F": np.float64}


def _bytes_per_pixel(encoding: str) -> Tuple[int, type]:
    named = {"rgb8": (3, np.uint8), "bgr8": (3, np.uint8), "rgba8": (4, np.uint8), "bgra8": (4, np.uint8),
             "mono8": (1, np.uint8), "mono16": (2, np.uint16), "rgb16": (6, np.uint16), "bgr16": (6, np.uint16),
             "yuv422": (2, np.uint8), "uyvy": (2, np.uint8), "yuyv": (2, np.uint8), "bayer_rggb8": (1, np.uint8)}
    if encoding in named:
        return named[encoding]
    depth, channels = encoding[:-2], int(encoding[-1])
    dtype = _DTYPES[depth]
    return channels * np.dtype(dtype).itemsize, dtype


def _content(rng, n_values: int, dtype) -> np.ndarray:
    style = rng.integers(0, 6)
    if np.issubdtype(dtype, np.floating):
        if style == 0:
            return np.full(n_values, rng.choice([np.nan, np.inf, -np.inf, 0.0, -1.0, 1e38, 1e-45]), dtype)
        values = rng.uniform(0.2, 5.0, n_values).astype(dtype)
        if style == 1:  # sprinkled NaN/inf
            values[rng.random(n_values) < 0.3] = rng.choice([np.nan, np.inf, -np.inf])
        elif style == 2:
            values *= rng.choice([-1.0, 1e30, 1e-30, 300.0])
        return values
    info = np.iinfo(dtype)
    if style == 0:
        return np.full(n_values, rng.choice([info.min, info.max, 0]), dtype)
    return rng.integers(info.min, int(info.max) + 1, n_values, dtype=dtype)


def _image_dims(rng) -> Tuple[int, int]:
    style = rng.integers(0, 8)
    if style == 0:
        return 1, int(rng.integers(1, 8192))
    if style == 1:
        return int(rng.integers(1, 8192)), 1
    if style == 2:
        return int(rng.integers(1, 4)), int(rng.integers(1, 4))
    if style == 3:
        return int(rng.integers(64, 481)), int(rng.integers(64, 641))
    return int(rng.integers(2, 97)), int(rng.integers(2, 129))


def extreme_image(rng, modality):
    from sensor_msgs.msg import Image

    encoding = str(rng.choice(IMAGE_ENCODINGS[modality]))
    h, w = _image_dims(rng)
    bpp, dtype = _bytes_per_pixel(encoding)
    pad = int(rng.choice([0, 0, 0, 1, 3, 64]))
    step = w * bpp + pad
    values = _content(rng, h * w * bpp // np.dtype(dtype).itemsize, dtype)
    big = bool(rng.random() < 0.2 and np.dtype(dtype).itemsize > 1)
    rows = values.astype(values.dtype.newbyteorder(">") if big else values.dtype).tobytes()
    data = b"".join(rows[r * w * bpp:(r + 1) * w * bpp] + bytes(pad) for r in range(h)) if pad else rows
    return Image(height=h, width=w, encoding=encoding, is_bigendian=int(big), step=step, data=data)


def malformed_image(rng, modality):
    msg = extreme_image(rng, modality)
    kind = rng.integers(0, 11)
    if kind == 0:
        alphabet = list("abcdefgrbmonoUCSF0123456789_ \u00e9\u4e2d")
        msg.encoding = "".join(rng.choice(alphabet, int(rng.integers(0, 40))))
    elif kind == 1:
        msg.step = int(rng.integers(0, max(1, msg.step)))
    elif kind == 2:
        msg.step = int(rng.choice([U32, (1 << 31), msg.step * 1000 + 1]))
    elif kind == 3:
        msg.data = bytes(max(0, len(msg.data) + int(rng.choice([-1, 1, -7, 13, -len(msg.data)]))))
    elif kind == 4:
        msg.height, msg.width = int(rng.choice([0, 1, U32])), int(rng.choice([0, U32, 1 << 20]))
    elif kind == 5:
        msg.height, msg.width, msg.step = 1 << 16, 1 << 16, 3 << 16  # 4 G pixels declared, tiny data
    elif kind == 6:
        msg.height, msg.width, msg.step = 1, MAX_MESSAGE_BYTES + 1, MAX_MESSAGE_BYTES + 1
        msg.encoding = "mono8"
        msg.data = bytes(MAX_MESSAGE_BYTES + 1) if rng.random() < 0.02 else bytes(16)
    elif kind == 7:
        msg.is_bigendian = int(rng.choice([2, 255]))
    elif kind == 8:
        msg.height = 0
    elif kind == 9:
        msg.width = msg.width + int(rng.integers(1, 10))
    else:
        msg.data = rng.integers(0, 256, int(rng.integers(0, 64)), dtype=np.uint8).tobytes()
    return msg


CLOUD_TYPES = {1: np.int8, 2: np.uint8, 3: np.int16, 4: np.uint16, 5: np.int32, 6: np.uint32, 7: np.float32,
               8: np.float64}


def extreme_cloud(rng):
    from sensor_msgs.msg import PointCloud2, PointField

    n = int(rng.choice([1, 2, 3, int(rng.integers(4, 3000)), int(rng.integers(20_000, 60_000))]))
    dt = int(rng.choice([7, 7, 7, 8, 3, 4]))
    names = ["x", "y", "z"] + (["rgb"] if rng.random() < 0.4 else []) + (["intensity"] if rng.random() < 0.3 else [])
    fields, offset = [], 0
    for name in names:
        t = 7 if name in ("rgb", "intensity") else dt
        fields.append(PointField(name=name, offset=offset, datatype=t, count=1))
        offset += np.dtype(CLOUD_TYPES[t]).itemsize + int(rng.choice([0, 0, 0, 4]))
    point_step = offset + int(rng.choice([0, 0, 4, 16]))
    data = bytearray(n * point_step)
    big = rng.random() < 0.15
    for f in fields:
        dtype = np.dtype(CLOUD_TYPES[f.datatype]).newbyteorder(">" if big else "<")
        values = (_content(rng, n, CLOUD_TYPES[f.datatype]) if f.name != "rgb"
                  else rng.integers(0, 1 << 24, n).astype(np.uint32).view(np.float32))
        view = np.ndarray((n,), dtype, buffer=data, offset=f.offset, strides=(point_step,))
        view[:] = values
    organised = rng.random() < 0.2 and n % 4 == 0
    h, w = (4, n // 4) if organised else (1, n)
    return PointCloud2(height=h, width=w, fields=fields, is_bigendian=bool(big), point_step=point_step,
                       row_step=w * point_step, data=bytes(data), is_dense=bool(rng.random() < 0.5))


def malformed_cloud(rng):
    from sensor_msgs.msg import PointField

    msg = extreme_cloud(rng)
    kind = rng.integers(0, 13)
    if kind == 0:
        msg.fields = [f for f in msg.fields if f.name != rng.choice(["x", "y", "z"])]
    elif kind == 1:
        msg.fields[int(rng.integers(0, len(msg.fields)))].offset = int(rng.choice([msg.point_step, U32, 1 << 20]))
    elif kind == 2:
        msg.fields[int(rng.integers(0, len(msg.fields)))].datatype = int(rng.choice([0, 9, 200, 255]))
    elif kind == 3:
        msg.fields[0].count = int(rng.choice([0, 2, U32]))
    elif kind == 4:
        msg.point_step = int(rng.choice([0, 1, U32, msg.point_step - 1]))
    elif kind == 5:
        msg.row_step = int(rng.choice([0, msg.row_step - 1, U32]))
    elif kind == 6:
        msg.width, msg.height = int(rng.choice([U32, 1 << 16])), int(rng.choice([1, U32, 1 << 16]))
    elif kind == 7:
        msg.data = bytes(max(0, len(msg.data) + int(rng.choice([-1, 1, -len(msg.data)]))))
    elif kind == 8:
        msg.fields = list(msg.fields) + [PointField(name="x", offset=0, datatype=7, count=1)]
    elif kind == 9:
        msg.fields = []
    elif kind == 10:
        msg.height = 0
    elif kind == 11:
        msg.fields = list(msg.fields) + [PointField(name=str(rng.choice(["rgb", "rgba", "\u00e9", ""])),
                                                    offset=int(rng.integers(0, 64)),
                                                    datatype=int(rng.integers(0, 12)), count=1)]
    else:
        n = MAX_MESSAGE_BYTES // 12 + 1
        msg.width, msg.height, msg.point_step, msg.row_step = n, 1, 12, n * 12
        msg.data = bytes(n * 12) if rng.random() < 0.02 else bytes(12)
    return msg


AUDIO_FORMATS = ["U8", "S16LE", "S16BE", "S32LE", "S32BE", "F32LE", "F32BE", "F64LE"]
AUDIO_WIDTH = {"U8": 1, "S16LE": 2, "S16BE": 2, "S32LE": 4, "S32BE": 4, "F32LE": 4, "F32BE": 4, "F64LE": 8}


def extreme_audio(rng):
    from codebind_ros.msg import AudioData

    fmt = str(rng.choice(AUDIO_FORMATS))
    rate = int(rng.choice([8000, 11025, 16000, 44100, 48000, 96000, 192000]))
    channels = int(rng.choice([1, 1, 2, 4, 8]))
    seconds = float(rng.choice([1 / rate, 0.001, 0.05, 0.5, 1.0, 2.0]))
    n = max(1, int(rate * seconds))
    while n * channels * AUDIO_WIDTH[fmt] > 2 << 20:
        n //= 2
    width = AUDIO_WIDTH[fmt]
    if fmt.startswith("F"):
        values = _content(rng, n * channels, np.float32 if width == 4 else np.float64)
        dtype = np.dtype(values.dtype).newbyteorder(">" if fmt.endswith("BE") else "<")
        data = values.astype(dtype).tobytes()
    else:
        data = rng.integers(0, 256, n * channels * width, dtype=np.uint8).tobytes()
        if rng.random() < 0.3:  # full scale
            data = (b"\x7f" * width) * (n * channels)
    return AudioData(sample_rate=rate, channels=channels, sample_format=fmt, data=data)


def malformed_audio(rng):
    msg = extreme_audio(rng)
    kind = rng.integers(0, 9)
    if kind == 0:
        msg.sample_format = str(rng.choice(["S24LE", "", "mp3", "f32le", "U16", "\u00e9", "F64BE" * 20]))
    elif kind == 1:
        msg.channels = int(rng.choice([0, 33, 1000, U32]))
    elif kind == 2:
        msg.sample_rate = int(rng.choice([0, 1, 7999, 192_001, 10_000_000, U32]))
    elif kind == 3 and len(msg.data) > 1:
        msg.data = msg.data[:-1]
    elif kind == 4:
        msg.data = b""
    elif kind == 5:  # longer than max_audio_seconds (60 s) at 8 kHz U8
        msg.sample_format, msg.sample_rate, msg.channels = "U8", 8000, 1
        msg.data = bytes(8000 * 61)
    elif kind == 6:
        msg.channels, msg.sample_format = 1, "F32LE"
        msg.data = np.full(int(rng.integers(1, 2000)), rng.choice([np.nan, np.inf]), np.float32).tobytes()
    elif kind == 7:
        msg.data = bytes(MAX_MESSAGE_BYTES + 2) if rng.random() < 0.02 else bytes(3)
    else:
        msg.channels = msg.channels + 1
    return msg


def _message(modality, rng, malformed: bool = False):
    """A well-formed extreme message of ``modality``, or (``malformed``) one with a broken field."""
    if modality == "pointcloud":
        return (malformed_cloud if malformed else extreme_cloud)(rng)
    if modality == "audio":
        return (malformed_audio if malformed else extreme_audio)(rng)
    return (malformed_image if malformed else extreme_image)(rng, modality)


def cdr_garbage(rng, modality) -> Tuple[str, bytes]:
    """Raw serialized bytes: random, CDR header + random, or a real message's serialization
    bit-flipped, truncated or extended."""
    from rclpy.serialization import serialize_message

    kind = int(rng.integers(0, 5))
    if kind == 0:
        return "cdr_random", rng.integers(0, 256, int(rng.integers(0, 4096)), dtype=np.uint8).tobytes()
    if kind == 1:
        return "cdr_header_random", b"\x00\x01\x00\x00" + rng.integers(
            0, 256, int(rng.integers(0, 512)), dtype=np.uint8).tobytes()
    raw = bytearray(serialize_message(_message(modality, rng)))
    if len(raw) > 1 << 16:  # keep the garbage small: bit flips in a 1 MB frame say little more
        raw = raw[:1 << 16]
    if kind == 2:
        for pos in rng.integers(4, max(5, len(raw)), int(rng.integers(1, 16))):
            if pos < len(raw):
                raw[pos] ^= 1 << int(rng.integers(0, 8))
        return "cdr_bitflip", bytes(raw)
    if kind == 3:
        return "cdr_truncated", bytes(raw[:int(rng.integers(0, len(raw)))])
    # a length field (uint32 at a 4-aligned position) made huge
    pos = 4 + 4 * int(rng.integers(0, max(1, (min(len(raw), 256) - 8) // 4)))
    raw[pos:pos + 4] = int(rng.choice([U32, 1 << 31, 1 << 24])).to_bytes(4, "little")
    return "cdr_huge_length", bytes(raw)


def generate(modality: str, count: int, seed: int = 0, cdr_fraction: float = 0.1):
    """``count`` (kind, message or bytes) for ``modality``: about ``cdr_fraction`` raw CDR garbage,
    40 % well-formed extreme messages, the rest field-level malformations."""
    rng = np.random.default_rng([seed, zlib.crc32(modality.encode())])
    for _ in range(count):
        r = rng.random()
        if r < cdr_fraction:
            yield cdr_garbage(rng, modality)
        elif r < cdr_fraction + 0.4:
            yield "extreme", _header(rng, _message(modality, rng))
        else:
            yield "malformed", _header(rng, _message(modality, rng, malformed=True))


def message_class(modality: str):
    from sensor_msgs.msg import Image, PointCloud2

    from codebind_ros.msg import AudioData

    return {"pointcloud": PointCloud2, "audio": AudioData}.get(modality, Image)
