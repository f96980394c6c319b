"""SynthBind generation: determinism, cache, parallel == serial, splits, Dataset access."""
import json
import pickle

import numpy as np
import pytest
import torch

import codebind_core.data.synth.generator as gen
from codebind_core.data.synth import ObjectFactors, SynthBindSet, SynthConfig, generate, make_factors, synthesize
from codebind_core.data.synth.factors import HELDOUT_NONE, held_out_pairs

SMALL = SynthConfig(num_samples=40, image_size=32, video_size=32, video_frames=2, audio_seconds=0.25,
                    pointcloud_points=128, tactile_size=16, eeg_channels=4, eeg_samples=64,
                    val_fraction=0.1, test_fraction=0.1, unseen_fraction=0.2)


@pytest.fixture(scope="module")
def serial(tmp_path_factory):
    return generate(SMALL, tmp_path_factory.mktemp("serial"), workers=0, chunk_size=16)


@pytest.fixture(scope="module")
def parallel(tmp_path_factory):
    return generate(SMALL, tmp_path_factory.mktemp("parallel"), workers=2, chunk_size=8)


def assert_identical(a: SynthBindSet, b: SynthBindSet) -> None:
    assert a.meta["modalities"] == b.meta["modalities"]
    for name in a.meta["modalities"]:
        assert np.array_equal(a.array(name), b.array(name)), name
    assert a.texts == b.texts
    assert a.factors.keys() == b.factors.keys()
    for key in a.factors:
        assert np.array_equal(a.factors[key], b.factors[key]), key


def test_parallel_generation_equals_serial_byte_for_byte(serial, parallel):
    assert not serial.cache_hit and not parallel.cache_hit
    assert_identical(serial, parallel)
    for name in serial.meta["modalities"]:
        assert (serial.root / f"{name}.npy").read_bytes() == (parallel.root / f"{name}.npy").read_bytes()


def test_same_seed_same_bytes_other_seed_other_data(serial, tmp_path):
    again = generate(SMALL, tmp_path / "again", workers=0)
    assert_identical(serial, again)
    other = generate(SMALL.replace(seed=1, num_samples=12), tmp_path / "other", workers=0)
    n = len(other)
    for name in ("image", "depth", "audio", "eeg"):
        assert not np.array_equal(serial.array(name)[:n], other.array(name))
    assert serial.root.name != other.root.name


def test_cache_hit_returns_the_same_data_without_generating(serial, monkeypatch):
    def refuse(*_):
        raise AssertionError("generate() regenerated a cached set")

    mtime = (serial.root / "image.npy").stat().st_mtime_ns
    monkeypatch.setattr(gen, "_work_chunk", refuse)
    hit = generate(SMALL, serial.root.parent, workers=2)
    assert hit.cache_hit and hit.root == serial.root
    assert (serial.root / "image.npy").stat().st_mtime_ns == mtime
    assert_identical(serial, hit)


def test_splits_hold_out_the_unseen_combinations(serial):
    sizes = {name: len(serial.split(name)) for name in ("train", "val", "test", "test_unseen")}
    assert sizes == {"train": 24, "val": 4, "test": 4, "test_unseen": 8}
    held_colour = {tuple(p) for p in serial.meta["heldout"]["colour"]}
    held_material = {tuple(p) for p in serial.meta["heldout"]["material"]}
    assert len(held_colour) == len(SMALL.categories) and len(held_material) == len(SMALL.categories)
    f = serial.factors

    def pairs(split):
        idx = serial.indices(split)
        cat = f["category"][idx.start:idx.stop]
        return (set(zip(cat, f["colour"][idx.start:idx.stop])), set(zip(cat, f["material"][idx.start:idx.stop])),
                f["heldout"][idx.start:idx.stop])

    for split in ("train", "val", "test"):
        colour, material, kind = pairs(split)
        assert not colour & held_colour and not material & held_material
        assert np.all(kind == HELDOUT_NONE)
    colour, material, kind = pairs("test_unseen")
    assert np.all(kind != HELDOUT_NONE)
    idx = serial.indices("test_unseen")
    for i in idx:
        c = int(f["category"][i])
        assert (c, int(f["colour"][i])) in held_colour or (c, int(f["material"][i])) in held_material
    # another seed holds out other pairs (the held-out variant of the benchmark)
    other = held_out_pairs(SMALL.replace(seed=7))
    assert other.colour != frozenset(held_colour)


def test_split_is_a_torch_dataset_of_raw_samples(serial):
    train = serial.split("train", modalities=["image", "depth", "audio", "text"])
    item = train[0]
    assert set(item) == {"index", "category", "factors", "image", "depth", "audio", "text"}
    assert item["image"].shape == (32, 32, 3) and item["image"].dtype == np.uint8
    assert item["category"] == item["factors"]["category"] == int(train.labels[0])
    assert serial.class_prompts()[item["category"]].startswith("a photo of a")
    batch = next(iter(torch.utils.data.DataLoader(train, batch_size=5)))
    assert batch["depth"].shape == (5, 32, 32) and len(batch["text"]) == 5
    assert batch["factors"]["rotation"].shape == (5, 4)
    # memmaps are not pickled into DataLoader workers, the folder is reopened there
    blob = pickle.dumps(train)
    assert len(blob) < serial.array("audio").nbytes
    assert np.array_equal(pickle.loads(blob)[3]["audio"], train[3]["audio"])


def test_meta_records_the_config_and_bad_requests_fail_clearly(serial, tmp_path):
    meta = json.loads((serial.root / "meta.json").read_text())
    assert SynthConfig.from_dict(meta["config"]) == SMALL
    with pytest.raises(ValueError, match="split"):
        serial.split("holdout")
    with pytest.raises(ValueError, match="lidar"):
        serial.split("train", modalities=["lidar"])
    with pytest.raises(IndexError):
        serial.split("val")[10]
    with pytest.raises(ValueError, match="not a SynthBind set"):
        SynthBindSet.open(tmp_path)
    with pytest.raises(ValueError, match="workers"):
        generate(SMALL, tmp_path, workers=-1)


def test_stored_factors_regenerate_the_stored_sample(serial):
    for index in (0, 37):
        record = {k: v[index] for k, v in serial.factors.items()}
        factors = ObjectFactors.from_record(record)
        assert factors == make_factors(SMALL, index)
        again = synthesize(SMALL, factors, index)
        stored = serial.sample(index)
        for name in serial.meta["modalities"]:
            assert np.array_equal(again[name], stored[name]), name
        assert again["text"] == stored["text"]
