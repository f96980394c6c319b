"""SynthBind modalities: formats, and each factor visible exactly where physics says."""
import numpy as np
import pytest

from codebind_core.data.synth import CATEGORIES, MATERIALS, SynthConfig, synthesize
from codebind_core.data.synth.appearance import COLOURS, palette_linear
from codebind_core.data.synth.audio import impact_sound, modal_frequencies
from codebind_core.data.synth.eeg import eeg_trial
from codebind_core.data.synth.factors import held_out_pairs, sample_factors
from codebind_core.data.synth.store import modality_specs

CFG = SynthConfig(num_samples=40, image_size=32, video_size=32, video_frames=2, audio_seconds=0.5,
                  pointcloud_points=256, tactile_size=24, eeg_channels=8, eeg_samples=128, occlusion_prob=0.0)
ALL = CFG.modalities


def base_factors(index=3, **changes):
    f = sample_factors(CFG, index, "train", held_out_pairs(CFG))
    defaults = dict(category=CFG.categories.index("cylinder"), position=(0.0, 0.0, 0.6), scale=0.12,
                    aspect=(1.0, 1.0, 1.0), occluded=0)
    return f.replace(**(defaults | changes))


def object_mask(sample):
    """Pixels showing the object (it stands 0.6 m away, the wall at >= 1 m)."""
    return (sample["depth"] > 0) & (sample["depth"] < 0.9)


def changed(a, b):
    return {m for m in a if (a[m] != b[m] if isinstance(a[m], str) else not np.array_equal(a[m], b[m]))}


def test_every_modality_has_the_documented_shape_dtype_and_range():
    specs = modality_specs(CFG)
    for index in range(6):
        f = sample_factors(CFG, index, "train", held_out_pairs(CFG))
        s = synthesize(CFG, f, index)
        for name, (shape, dtype) in specs.items():
            assert s[name].shape == shape and s[name].dtype == np.dtype(dtype), name
            assert np.all(np.isfinite(s[name])), name
        assert s["depth"].min() >= 0 and s["depth"].max() <= CFG.depth_max_range
        assert (s["depth"] > 0).any()
        assert 240 < s["thermal"].min() and s["thermal"].max() < 360
        xyz, rgb = s["pointcloud"][:, :3], s["pointcloud"][:, 3:]
        assert np.linalg.norm(xyz, axis=1).max() < 1.3 * f.scale and np.all(rgb == 0.5)
        assert np.abs(s["audio"]).max() <= 1.0 and np.abs(s["audio"]).max() > 0.1
        assert 1.0 < s["eeg"].std() < 50.0  # microvolts
        assert isinstance(s["text"], str)
        assert any(word in s["text"] for word in CATEGORIES[CFG.categories[f.category]].synonyms)


def test_colour_changes_image_and_video_only():
    def painted(name):
        return dict(colour=CFG.colours.index(name), albedo=tuple(palette_linear(COLOURS, name)))

    a = base_factors(**painted("red"))
    b = a.replace(**painted("blue"))
    sa, sb = synthesize(CFG, a, 3, ALL), synthesize(CFG, b, 3, ALL)
    assert changed(sa, sb) <= {"image", "video", "text"}
    assert {"image", "video"} <= changed(sa, sb)
    obj = object_mask(sa)
    assert obj.sum() > 50
    assert np.abs(sa["image"][obj].astype(float) - sb["image"][obj]).mean() > 10


def test_temperature_changes_thermal_only_and_hotter_reads_hotter():
    a = base_factors(temperature=300.0, material=CFG.materials.index("plastic"))
    b = a.replace(temperature=340.0)
    sa, sb = synthesize(CFG, a, 3, ALL), synthesize(CFG, b, 3, ALL)
    assert changed(sa, sb) <= {"thermal", "text"} and "thermal" in changed(sa, sb)
    obj = object_mask(sa)
    assert obj.sum() > 50
    assert sb["thermal"][obj].mean() - sa["thermal"][obj].mean() > 20
    assert abs(sb["thermal"][~obj].mean() - sa["thermal"][~obj].mean()) < 1.0


def test_material_changes_touch_sound_and_emissivity_but_not_image():
    metal = base_factors(material=CFG.materials.index("metal"), temperature=340.0)
    rubber = metal.replace(material=CFG.materials.index("rubber"))
    sm, sr = synthesize(CFG, metal, 3, ALL), synthesize(CFG, rubber, 3, ALL)
    assert changed(sm, sr) <= {"audio", "tactile", "thermal", "text"}
    assert {"audio", "tactile"} <= changed(sm, sr)

    def ring_time(x):  # seconds until the 4 ms RMS envelope falls 30 dB below its peak
        win = int(0.004 * CFG.audio_rate)
        env = np.sqrt(np.convolve(x.astype(float) ** 2, np.ones(win) / win, mode="same"))
        peak = env.argmax()
        below = np.nonzero(env[peak:] < env[peak] * 10 ** (-30 / 20))[0]
        return below[0] / CFG.audio_rate if len(below) else len(x) / CFG.audio_rate

    assert ring_time(sm["audio"]) > 5 * ring_time(sr["audio"])
    # low-emissivity metal reads far cooler than the same hot rubber object
    obj = object_mask(sm)
    assert sr["thermal"][obj].mean() - sm["thermal"][obj].mean() > 15


def peak_frequency(x, rate):
    spec = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    return np.fft.rfftfreq(len(x), 1 / rate)[spec.argmax()]


def test_bigger_objects_ring_lower():
    cat, mat = CATEGORIES["box"], MATERIALS["wood"]
    small = impact_sound(cat, mat, 0.08, 16000, 16000, np.random.default_rng(5), noise=False)
    big = impact_sound(cat, mat, 0.16, 16000, 16000, np.random.default_rng(5), noise=False)
    ratio = peak_frequency(small, 16000) / peak_frequency(big, 16000)
    assert ratio == pytest.approx(2.0, rel=0.03)
    assert np.allclose(modal_frequencies(cat, mat, 0.08), 2 * modal_frequencies(cat, mat, 0.16))


def test_audio_modes_identify_the_category_not_the_colour():
    # the spectrum is set by shape: the ratio between the two lowest modes differs by category
    ratios = {name: spec.mode_ratios[1] for name, spec in CATEGORIES.items()}
    assert len(set(ratios.values())) == len(ratios)
    a = base_factors()
    b = a.replace(pattern=(a.pattern + 1) % len(CFG.patterns))
    assert np.array_equal(synthesize(CFG, a, 3, ["audio"])["audio"], synthesize(CFG, b, 3, ["audio"])["audio"])


def test_eeg_templates_depend_on_category_and_not_on_the_seed():
    def clean(category, seed):
        return eeg_trial(category, 0, 16, 256, 256.0, 0.0, np.random.default_rng(seed), noise=False)

    def corr(x, y):
        return np.corrcoef(x.ravel(), y.ravel())[0, 1]

    same = corr(clean("torus", 1), clean("torus", 2))
    other = corr(clean("torus", 1), clean("sphere", 2))
    assert same > 0.8 and other < same - 0.1


def test_pointcloud_colour_is_optional():
    cfg = CFG.replace(pointcloud_rgb=True)
    f = base_factors()
    pc = synthesize(cfg, f, 3, ["pointcloud"])["pointcloud"]
    assert np.abs(pc[:, 3:] - 0.5).max() > 0.1
    assert np.array_equal(pc[:, :3], synthesize(CFG, f, 3, ["pointcloud"])["pointcloud"][:, :3])


def test_synthesize_rejects_unknown_modalities():
    with pytest.raises(ValueError, match="lidar"):
        synthesize(CFG, base_factors(), 0, ["lidar"])


def test_partial_point_cloud_sees_only_the_camera_facing_side():
    sphere = base_factors(category=CFG.categories.index("sphere"))
    r = sphere.scale
    partial = synthesize(CFG.replace(sensor_noise=False), sphere, 3, ["pointcloud"])["pointcloud"]
    full = synthesize(CFG.replace(sensor_noise=False, pointcloud_view="full"), sphere, 3, ["pointcloud"])["pointcloud"]
    # the camera looks along +z from 0.6 m: a scan holds the near (negative z) cap only
    assert partial[:, 2].max() < 0.25 * r and partial[:, 2].mean() < -0.4 * r
    assert abs(full[:, 2].mean()) < 0.1 * r and full[:, 2].max() > 0.9 * r
    assert np.allclose(np.linalg.norm(partial[:, :3], axis=1), r, atol=0.01 * r)


def test_shape_jitter_stretches_the_object_at_a_fixed_bounding_radius():
    f = base_factors(category=CFG.categories.index("sphere"))
    cfg = CFG.replace(sensor_noise=False, pointcloud_view="full")
    stretched = synthesize(cfg, f.replace(aspect=(1.3, 1.0, 0.8), rotation=(1.0, 0.0, 0.0, 0.0)), 3, ["pointcloud"])
    xyz = stretched["pointcloud"][:, :3]
    extent = xyz.max(axis=0) - xyz.min(axis=0)
    assert extent[0] / extent[2] == pytest.approx(1.3 / 0.8, rel=0.05)
    assert np.linalg.norm(xyz, axis=1).max() == pytest.approx(f.scale, rel=0.01)
