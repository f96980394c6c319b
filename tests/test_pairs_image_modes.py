"""Image columns of pairs_* data accept every mode Pillow opens, converted as ImageBind reads a
photo (``Image.open(p).convert("RGB")``); 16-bit greyscale is scaled to 8 bits first."""
from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from PIL import Image

from codebind_core.training.pairs import PairFiles, read_file


def _rgb(h=20, w=24):
    rng = np.random.default_rng(1)
    return rng.integers(0, 256, (h, w, 3), dtype=np.uint8)


def _images(tmp_path):
    rgb = _rgb()
    base = Image.fromarray(rgb)
    out = {
        "L.png": base.convert("L"), "LA.png": base.convert("LA"), "P.png": base.convert("P"),
        "1.png": base.convert("1"), "RGBA.png": base.convert("RGBA"), "RGB.jpg": base,
        "CMYK.jpg": base.convert("CMYK"), "P.gif": base.convert("P"), "L.bmp": base.convert("L"),
    }
    rgba = np.dstack([rgb, np.linspace(0, 255, rgb.shape[0] * rgb.shape[1]).reshape(rgb.shape[:2]).astype(np.uint8)])
    out["RGBA-alpha.png"] = Image.fromarray(rgba, "RGBA")
    paths = {}
    for name, im in out.items():
        p = tmp_path / name
        im.save(p)
        paths[name] = p
    return paths


def test_every_pillow_mode_reads_as_pillow_converts_it(tmp_path):
    for name, p in _images(tmp_path).items():
        with Image.open(p) as im:
            mode = im.mode
            expected = np.array(im.convert("RGB"))
        got = read_file(p, "image")
        assert got.dtype == np.uint8 and got.shape == expected.shape == (20, 24, 3), (name, mode)
        assert np.array_equal(got, expected), (name, mode, int(np.abs(got.astype(int) - expected).max()))
        if name.startswith("CMYK"):
            assert mode == "CMYK"
            # a CMYK JPEG's RGB, not its four channels: close to the source image
            assert np.abs(got.astype(int) - _rgb().astype(int)).mean() < 12


def test_16_bit_greyscale_photo_is_scaled_not_clipped(tmp_path):
    v = (np.arange(20 * 24, dtype=np.float64).reshape(20, 24) * 137) % 65536
    Image.fromarray(v.astype(np.uint16)).save(tmp_path / "g16.png")
    with Image.open(tmp_path / "g16.png") as im:
        assert im.mode in ("I;16", "I")
        clipped = np.array(im.convert("RGB"))
    got = read_file(tmp_path / "g16.png", "image")
    expected = np.rint(v * 255 / 65535).astype(np.uint8)
    assert np.array_equal(got, np.repeat(expected[..., None], 3, axis=2))
    assert (clipped == 255).mean() > 0.9 and (got == 255).mean() < 0.01  # Pillow alone: nearly all white
    # a depth column keeps the millimetres
    depth = read_file(tmp_path / "g16.png", "depth")
    assert depth.dtype == np.uint16 and np.array_equal(depth, v.astype(np.uint16))


def test_every_mode_goes_through_the_image_preprocessing_without_warnings(tmp_path):
    paths = _images(tmp_path)
    rows = [{"image": p, "text": "x", "label": 0, "key": p.name} for p in paths.values()]

    def preprocess(m, raws, **opts):
        from codebind_core import modalities

        return modalities.get(m).preprocess_batch(raws, size=16, **opts)

    ds = PairFiles(rows, "image", preprocess)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # e.g. torch's "The given NumPy array is not writable"
        items = [ds[i]["image"] for i in range(len(ds))]
    assert all(x.shape == (3, 16, 16) and torch.isfinite(x).all() for x in items)


def test_unreadable_image_is_a_clear_error(tmp_path):
    (tmp_path / "bad.png").write_bytes(b"not an image")
    with pytest.raises(Exception, match="bad.png|cannot identify"):
        read_file(tmp_path / "bad.png", "image")
