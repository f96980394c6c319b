"""Message <-> numpy conversions: round trips for every encoding and field layout (hypothesis),
padded rows, big-endian data, colour orders, and clear errors for malformed messages."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from sensor_msgs.msg import CameraInfo, Image, PointCloud2, PointField

from codebind_ros.conversions import audio as A
from codebind_ros.conversions import camera_info as C
from codebind_ros.conversions import image as I
from codebind_ros.conversions import pointcloud2 as P

GENERIC = [f"{b}{k}C{c}" for b, k in I._GENERIC_DTYPES for c in (1, 2, 3, 4)]
ALL_ENCODINGS = sorted(I.ENCODINGS) + GENERIC + sorted(I.YUV422)
FAST = settings(max_examples=40, deadline=None, derandomize=True)


@st.composite
def images(draw, encoding=None):
    encoding = encoding or draw(st.sampled_from(ALL_ENCODINGS))
    fmt = I.pixel_format(encoding)
    h = draw(st.integers(1, 9))
    w = draw(st.integers(1, 9)) * (2 if encoding in I.YUV422 else 1)
    pixels = draw(hnp.arrays(fmt.dtype, (h, w, fmt.channels)))
    pad = draw(st.integers(0, 7))
    bigendian = draw(st.booleans())
    return encoding, pixels, pad, bigendian


@FAST
@given(images())
def test_image_round_trip_every_encoding_padding_and_byte_order(case):
    encoding, pixels, pad, bigendian = case
    fmt = I.pixel_format(encoding)
    msg = I.array_to_image(pixels, encoding, step=pixels.shape[1] * fmt.bytes_per_pixel + pad,
                           is_bigendian=bigendian)
    assert len(msg.data) == msg.step * msg.height
    back = I.image_to_array(msg)
    expected = pixels[:, :, 0] if fmt.channels == 1 else pixels
    assert back.dtype == fmt.dtype and back.dtype.isnative
    np.testing.assert_array_equal(back, expected)  # NaNs compare equal here


def test_big_endian_bytes_are_read_as_big_endian():
    msg = Image(height=1, width=2, encoding="16UC1", is_bigendian=1, step=4)
    msg.data = bytes([0x01, 0x02, 0xAB, 0xCD])
    np.testing.assert_array_equal(I.image_to_array(msg), [[0x0102, 0xABCD]])
    msg.is_bigendian = 0
    np.testing.assert_array_equal(I.image_to_array(msg), [[0x0201, 0xCDAB]])


def test_colour_orders_and_grey_become_rgb():
    rgb = np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3) * 7
    alpha = np.full((2, 3, 1), 9, np.uint8)
    for encoding, pixels in [("rgb8", rgb), ("bgr8", rgb[:, :, ::-1]), ("8UC3", rgb),
                             ("rgba8", np.concatenate([rgb, alpha], 2)),
                             ("bgra8", np.concatenate([rgb[:, :, ::-1], alpha], 2))]:
        np.testing.assert_array_equal(I.to_rgb(I.array_to_image(pixels, encoding, step=20)), rgb)
    np.testing.assert_array_equal(I.to_rgb(I.array_to_image(rgb.astype(np.uint16) << 8, "rgb16")), rgb)
    grey = rgb[:, :, 0]
    np.testing.assert_array_equal(I.to_rgb(I.array_to_image(grey, "mono8")), np.repeat(grey[:, :, None], 3, 2))


def test_yuv422_decodes_known_colours():
    # BT.601 studio swing: white (235,128,128), black (16,128,128), red (81,90,240)
    for (y, u, v), rgb in [((235, 128, 128), (255, 255, 255)), ((16, 128, 128), (0, 0, 0)),
                           ((81, 90, 240), (255, 0, 0))]:
        uyvy = np.array([[[u, y], [v, y]]], np.uint8)  # one macropixel = two pixels
        yuyv = np.array([[[y, u], [y, v]]], np.uint8)
        for encoding, pairs in (("yuv422", uyvy), ("yuv422_yuy2", yuyv)):
            out = I.to_rgb(I.array_to_image(pairs, encoding))
            assert out.shape == (1, 2, 3)
            np.testing.assert_allclose(out[0, 0], rgb, atol=2)
            np.testing.assert_allclose(out[0, 1], rgb, atol=2)


def test_depth_in_metres_from_millimetres_and_float():
    mm = np.array([[0, 1000, 2500]], np.uint16)
    np.testing.assert_allclose(I.to_depth(I.array_to_image(mm, "16UC1", is_bigendian=True)), [[0, 1.0, 2.5]])
    metres = np.array([[np.nan, 0.5, np.inf]], np.float32)
    out = I.to_depth(I.array_to_image(metres, "32FC1", step=20))
    assert out.dtype == np.float32 and np.isnan(out[0, 0]) and out[0, 1] == 0.5 and np.isinf(out[0, 2])
    with pytest.raises(ValueError, match="depth needs 16UC1"):
        I.to_depth(I.array_to_image(mm.astype(np.uint8), "mono8"))


def test_single_channel_keeps_its_dtype():
    raw = np.array([[1, 2], [3, 65535]], np.uint16)
    out = I.to_single(I.array_to_image(raw, "mono16", is_bigendian=True))
    assert out.dtype == np.uint16 and (out == raw).all()
    with pytest.raises(ValueError, match="more than one channel"):
        I.to_single(I.array_to_image(np.zeros((2, 2, 3), np.uint8), "rgb8"))


@pytest.mark.parametrize("change, message", [
    (dict(encoding="rgb9"), "unsupported image encoding 'rgb9'"),
    (dict(step=5), "step 5 is smaller than width"),
    (dict(data=bytes(10)), "data has 10 bytes, expected step \\* height"),
    (dict(height=0, data=b""), "image is empty"),
    (dict(width=1 << 16, step=3 << 16), "side limit"),
])
def test_malformed_images_raise_clear_errors(change, message):
    msg = I.array_to_image(np.zeros((2, 2, 3), np.uint8), "rgb8")
    for key, value in change.items():
        setattr(msg, key, value)
    with pytest.raises(ValueError, match=message):
        I.image_to_array(msg)


def test_odd_width_yuv_is_refused():
    msg = Image(height=1, width=3, encoding="yuv422", step=6)
    msg.data = bytes(6)
    with pytest.raises(ValueError, match="even width"):
        I.image_to_array(msg)


# ---- PointCloud2 -------------------------------------------------------------------------------
NUMERIC = [PointField.INT8, PointField.UINT8, PointField.INT16, PointField.UINT16,
           PointField.INT32, PointField.UINT32, PointField.FLOAT32, PointField.FLOAT64]


@st.composite
def clouds(draw):
    """A cloud with random datatypes, offsets, padding, organisation and byte order."""
    types = [draw(st.sampled_from(NUMERIC)) for _ in "xyz"]
    colour = draw(st.sampled_from(["none", "rgb_float", "rgb_uint", "rgba_uint", "fields"]))
    bigendian = draw(st.booleans())
    order = ">" if bigendian else "<"
    layout = [(n, P.DATATYPES[t]) for n, t in zip("xyz", types)]
    if colour in ("rgb_float", "rgba_uint", "rgb_uint"):
        name = "rgba" if colour == "rgba_uint" else "rgb"
        layout.append((name, np.dtype(np.float32 if colour == "rgb_float" else np.uint32)))
    elif colour == "fields":
        layout += [(c, np.dtype(np.uint8)) for c in "rgb"]
    draw(st.randoms()).shuffle(layout)
    fields, offset = [], 0
    for name, dtype in layout:
        offset += draw(st.integers(0, 3))  # padding before the field
        fields.append((name, dtype, offset))
        offset += dtype.itemsize
    point_step = offset + draw(st.integers(0, 5))
    height, width = draw(st.integers(1, 3)), draw(st.integers(0, 6))
    n = height * width
    rng = np.random.default_rng(draw(st.integers(0, 1000)))
    xyz = np.stack([rng.integers(-50, 50, n) if P.DATATYPES[t].kind in "iu" else rng.normal(size=n) * 10
                    for t in types], 1)
    xyz = np.stack([np.abs(xyz[:, i]) if P.DATATYPES[t].kind == "u" else xyz[:, i]
                    for i, t in enumerate(types)], 1)
    rgb8 = rng.integers(0, 256, (n, 3))
    structured = np.zeros(n, dtype=np.dtype({
        "names": [f[0] for f in fields], "formats": [f[1].newbyteorder(order) for f in fields],
        "offsets": [f[2] for f in fields], "itemsize": point_step}))
    for i, a in enumerate("xyz"):
        structured[a] = xyz[:, i]
    packed = (rgb8[:, 0] << 16) | (rgb8[:, 1] << 8) | rgb8[:, 2]
    if colour == "rgb_float":
        structured["rgb"] = packed.astype(np.uint32).view(np.float32)
    elif colour in ("rgb_uint", "rgba_uint"):
        structured["rgba" if colour == "rgba_uint" else "rgb"] = packed | (255 << 24) * (colour == "rgba_uint")
    elif colour == "fields":
        for i, c in enumerate("rgb"):
            structured[c] = rgb8[:, i]
    row_pad = draw(st.integers(0, 9))
    rows = structured.view(np.uint8).reshape(height, width * point_step)
    data = np.zeros((height, width * point_step + row_pad), np.uint8)
    data[:, :width * point_step] = rows
    msg = PointCloud2(height=height, width=width, is_bigendian=bigendian, point_step=point_step,
                      row_step=width * point_step + row_pad, is_dense=True)
    msg.fields = [PointField(name=f[0], offset=f[2], datatype=_datatype(f[1]), count=1) for f in fields]
    msg.data = data.tobytes()
    expected = xyz.astype(np.float32)
    if colour != "none":
        expected = np.concatenate([expected, (rgb8 / 255.0).astype(np.float32)], 1)
    return msg, expected


def _datatype(dtype: np.dtype) -> int:
    return next(k for k, v in P.DATATYPES.items() if v == dtype)


@FAST
@given(clouds())
def test_cloud_any_field_layout_round_trips(case):
    msg, expected = case
    out = P.to_xyz(msg)
    assert out.dtype == np.float32 and out.shape == expected.shape
    np.testing.assert_allclose(out, expected, rtol=1e-6, atol=1e-6)


def test_cloud_writer_and_reader_agree_and_drop_invalid_points():
    pts = np.random.default_rng(0).uniform(0, 1, (50, 6)).astype(np.float32)
    pts[[3, 7], 1] = np.nan
    pts[9, 2] = np.inf
    msg = P.xyz_to_cloud(pts, organised=(5, 10))
    assert not msg.is_dense and msg.height == 5
    out = P.to_xyz(msg)
    keep = np.isfinite(pts[:, :3]).all(1)
    assert out.shape == (47, 6)
    np.testing.assert_allclose(out[:, :3], pts[keep, :3])
    np.testing.assert_allclose(out[:, 3:], np.round(pts[keep, 3:] * 255) / 255, atol=1e-6)
    assert P.to_xyz(msg, drop_invalid=False).shape == (50, 6)
    assert P.to_xyz(msg, colour=False).shape == (47, 3)


@pytest.mark.parametrize("change, message", [
    (lambda m: setattr(m, "fields", m.fields[1:]), "lacks field"),
    (lambda m: setattr(m.fields[0], "offset", 20), "does not fit in point_step"),
    (lambda m: setattr(m.fields[0], "datatype", 42), "unknown datatype 42"),
    (lambda m: setattr(m, "row_step", 3), "row_step 3 is smaller"),
    (lambda m: setattr(m, "data", bytes(7)), "data has 7 bytes"),
    (lambda m: setattr(m, "point_step", 0), "point_step 0"),
    (lambda m: setattr(m, "fields", []), "no fields"),
    (lambda m: (setattr(m, "width", 1 << 24), setattr(m, "height", 2)), "more than the limit"),
])
def test_malformed_clouds_raise_clear_errors(change, message):
    msg = P.xyz_to_cloud(np.zeros((4, 3), np.float32))
    change(msg)
    with pytest.raises(ValueError, match=message):
        P.to_xyz(msg)


# ---- audio -------------------------------------------------------------------------------------
@pytest.mark.parametrize("sample_format", sorted(A.FORMATS))
def test_audio_round_trip_every_format(sample_format):
    wave = np.clip(np.random.default_rng(0).normal(0, 0.3, (2, 400)), -0.99, 0.99)
    msg = A.array_to_audio(wave, 16000, sample_format)
    assert msg.channels == 2 and len(msg.data) == 800 * A.FORMATS[sample_format][0].itemsize
    back = A.audio_to_array(msg)
    assert back.shape == (2, 400) and back.dtype == np.float32
    tolerance = {"U8": 1 / 128, "S16LE": 1 / 32768, "S16BE": 1 / 32768}.get(sample_format, 1e-6)
    np.testing.assert_allclose(back, wave, atol=tolerance)


def test_audio_is_interleaved_frame_by_frame():
    msg = A.array_to_audio(np.zeros((1, 1)), 16000)
    msg.channels, msg.sample_format = 2, "S16LE"
    msg.data = np.array([1000, -2000, 3000, -4000], "<i2").tobytes()  # L0 R0 L1 R1
    np.testing.assert_allclose(A.audio_to_array(msg) * 32768, [[1000, 3000], [-2000, -4000]])


@pytest.mark.parametrize("change, message", [
    (dict(sample_format="S24LE"), "unsupported sample_format"),
    (dict(channels=0), "channels must be in"),
    (dict(sample_rate=10), "sample_rate must be in"),
    (dict(data=bytes(3)), "not a multiple"),
    (dict(data=b""), "no samples"),
])
def test_malformed_audio_raises_clear_errors(change, message):
    msg = A.array_to_audio(np.zeros((1, 8)), 16000)
    for key, value in change.items():
        setattr(msg, key, value)
    with pytest.raises(ValueError, match=message):
        A.audio_to_array(msg)


def test_audio_nan_samples_are_refused():
    msg = A.array_to_audio(np.zeros((1, 4)), 16000, "F32LE")
    msg.data = np.array([0, np.nan, 0, 0], "<f4").tobytes()
    with pytest.raises(ValueError, match="NaN"):
        A.audio_to_array(msg)


# ---- CameraInfo --------------------------------------------------------------------------------
def test_camera_info_round_trip_and_projection():
    cam = C.Pinhole(640, 480, 525.0, 520.0, 319.5, 239.5)
    msg = C.to_camera_info(cam)
    assert C.from_camera_info(msg) == cam
    pts = np.array([[0.1, -0.2, 2.0], [0.0, 0.0, 1.0], [1.0, 1.0, -1.0]])
    uv = C.Pinhole.project(cam, pts)
    np.testing.assert_allclose(uv[1], [319.5, 239.5])
    assert np.isnan(uv[2]).all()  # behind the camera
    back = cam.back_project(uv[:2, 0], uv[:2, 1], pts[:2, 2])
    np.testing.assert_allclose(back, pts[:2], atol=1e-9)


def test_camera_info_without_intrinsics_is_refused():
    with pytest.raises(ValueError, match="fx must be a positive"):
        C.from_camera_info(CameraInfo(width=640, height=480))


def test_one_sensor_list_names_every_default_topic_and_node_modality():
    from codebind_ros.conversions.sensors import SENSORS
    from codebind_ros.messaging.topics import SENSOR_TOPICS
    from codebind_ros.nodes.encoder_params import MODALITIES

    assert MODALITIES == tuple(SENSORS) == tuple(SENSOR_TOPICS)
    assert all(SENSORS[m].default_topic == SENSOR_TOPICS[m] for m in MODALITIES)
