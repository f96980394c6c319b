"""Bounded work on pathological inputs: elongated images, huge thermal frames, changing audio rates.

Memory bounds are measured in a fresh process (the kernel's peak-RSS mark, reset just before the
input is processed) and derived from the input's size, not from one machine's figures.
"""
from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
from machine import reset_peak_rss

from codebind_core.modalities import _resize, resample as rs

ROOT = Path(__file__).resolve().parents[2]
MB = 1 << 20


def _full_resize_crop(x, size, interpolation, quantize):
    """The resize built in full, then cropped (the reference the crop-first path must equal)."""
    mode, aa = _resize.INTERPOLATIONS[interpolation]
    h, w = x.shape[-2:]
    nh, nw = _resize.resized_shape(h, w, size)
    if quantize:
        for hw in ((h, nw), (nh, nw)):
            if hw != tuple(x.shape[-2:]):
                x = _resize._interpolate(x, hw, mode, aa).clamp(0, 255).round()
    elif (nh, nw) != (h, w):
        x = _resize._interpolate(x, (nh, nw), mode, aa)
    top, left = int(round((nh - size) / 2)), int(round((nw - size) / 2))
    return x[..., top:top + size, left:left + size]


@pytest.mark.parametrize("shape", [(5, 300), (300, 5), (20, 200), (200, 33), (1, 500), (700, 3), (9, 64)])
@pytest.mark.parametrize("interpolation", sorted(_resize.INTERPOLATIONS))
@pytest.mark.parametrize("quantize", [False, True])
def test_elongated_images_resize_straight_into_the_crop_with_the_same_result(shape, interpolation, quantize):
    size = 32
    nh, nw = _resize.resized_shape(*shape, size)
    assert nh * nw > _resize.MAX_FULL_RESIZE_RATIO * size * size  # the crop-first path is taken
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(2, 3, *shape, generator=gen)
    if quantize:
        x = (x * 255).round()
    got = _resize.resize_short_side_center_crop(x, size, interpolation, quantize_255=quantize)
    want = _full_resize_crop(x, size, interpolation, quantize)
    assert got.shape == want.shape == (2, 3, size, size)
    # float: the same weights summed in another order; uint8: PIL's rounding may flip one level
    assert (got - want).abs().max() <= (1.0 if quantize else 1e-4)


def _peak_extra_bytes(body: str) -> int:
    """Run ``body`` (which defines ``setup()`` and ``work(inputs)``) in a fresh process; returns
    the peak RSS during ``work`` minus the RSS before it."""
    script = textwrap.dedent(f'''
        import json, sys
        sys.path.insert(0, {str(ROOT / "benchmarks")!r})
        from machine import peak_rss_mb, reset_peak_rss, rss_mb
        ''') + textwrap.dedent(body) + textwrap.dedent('''
        inputs = setup()
        base = rss_mb()
        reset_peak_rss()
        work(inputs)
        print(json.dumps(round((peak_rss_mb() - base) * 1024 * 1024)))
        ''')
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT,
                         timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    return int(out.stdout.strip().splitlines()[-1])


needs_proc = pytest.mark.skipif(not reset_peak_rss(), reason="needs Linux /proc/self/clear_refs")


@needs_proc
def test_a_1x32768_rgb8_image_costs_a_bounded_amount_of_memory():
    # was one 2.8 GB allocation: a 64 x 2,097,152 intermediate before the crop
    extra = _peak_extra_bytes('''
        import numpy as np
        from codebind_core.modalities import image
        def setup():
            image.preprocess(np.zeros((48, 64, 3), np.uint8), size=64)   # warm up thread pools
            return np.random.default_rng(0).integers(0, 255, (1, 32768, 3), dtype=np.uint8)
        def work(x):
            assert image.preprocess(x, size=64).shape == (3, 64, 64)
            assert image.preprocess(x.transpose(1, 0, 2), size=224).shape == (3, 224, 224)
        ''')
    input_bytes = 32768 * 3
    assert extra <= 32 * MB + 64 * input_bytes, f"{extra / MB:.0f} MB for a {input_bytes} byte image"


@needs_proc
def test_an_8000x8000_mono8_thermal_image_costs_one_float32_copy():
    # was +1.7 GB: float64 copies of the frame
    extra = _peak_extra_bytes('''
        import numpy as np
        from codebind_core.modalities import thermal
        def setup():
            thermal.preprocess(np.zeros((48, 64), np.uint8))
            return np.random.default_rng(0).integers(0, 255, (8000, 8000), dtype=np.uint8)
        def work(x):
            assert thermal.preprocess(x).shape == (1, 224, 224)
        ''')
    pixels = 8000 * 8000
    assert extra <= 5 * pixels + 64 * MB, f"{extra / MB:.0f} MB for {pixels} pixels"


def test_thermal_scaling_is_unchanged_by_the_float32_buffer():
    from codebind_core.modalities import thermal

    rng = np.random.default_rng(0)
    for arr, opts in ((rng.uniform(280, 320, (40, 50)), {}),
                      (rng.uniform(5, 40, (40, 50)).astype(np.float32), {"unit": "celsius"}),
                      (rng.integers(0, 65535, (40, 50)).astype(np.uint16), {}),
                      (rng.integers(0, 255, (40, 50)).astype(np.uint8), {"value_range": "minmax"})):
        cfg = thermal.ThermalConfig(**opts)
        values = arr.astype(np.float64) + (thermal.UNIT_TO_KELVIN[cfg.unit] if arr.dtype.kind == "f" else 0)
        if cfg.value_range == "minmax":
            lo, hi = values.min(), values.max()
        else:
            lo, hi = thermal.DTYPE_RANGE.get(arr.dtype, thermal.KELVIN_RANGE)
        want = np.clip((values - lo) / (hi - lo), 0, 1)
        np.testing.assert_allclose(thermal.to_unit_range(arr, cfg), want, atol=2e-6)


def test_the_resampler_cache_stays_within_its_byte_budget_whatever_the_rates():
    rs.cache_clear()

    def elements(rate):  # size of the rate's filter to 16 kHz (resample.py's formula)
        g = int(np.gcd(rate, 16000))
        orig, new = rate // g, 16000 // g
        return new * (2 * int(np.ceil(6 * orig / (min(orig, new) * 0.99))) + orig)

    # the accepted rates with the largest filters (each > 1/4 of the cache's budget)
    rates = [r for r in range(8000, 192_001, 7)
             if rs.MAX_CACHE_BYTES / 4 < 8 * elements(r) <= 8 * rs.MAX_KERNEL_ELEMENTS][:24]
    assert len(rates) == 24
    accepted = 0
    for rate in rates:
        try:
            y = rs.resample(torch.zeros(rate // 10), rate, 16000)
        except ValueError as exc:
            assert "too fine for a polyphase filter" in str(exc)
            continue
        accepted += 1
        assert y.shape[-1] == -(-16000 * (rate // 10) // rate)
        assert rs.cache_bytes() <= rs.MAX_CACHE_BYTES
    assert accepted == len(rates)  # 24 filters of > 8 MB each went through a 32 MB cache


def test_every_common_microphone_rate_resamples():
    for rate in (8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000, 88200, 96000,
                 176400, 192000):
        y = rs.resample(torch.zeros(rate), rate, 16000)
        assert y.shape[-1] == 16000
