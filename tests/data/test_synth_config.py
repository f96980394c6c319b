"""SynthConfig: validation, YAML loading, cache key."""
import pytest

from codebind_core.data.synth import SynthConfig


def test_defaults_are_the_documented_training_benchmark():
    cfg = SynthConfig()
    assert cfg.num_samples == 20000 and len(cfg.categories) >= 10
    assert (cfg.image_size, cfg.video_frames, cfg.video_size, cfg.pointcloud_points) == (64, 4, 64, 1024)
    assert (cfg.tactile_size, cfg.eeg_channels, cfg.eeg_samples, cfg.audio_rate) == (32, 16, 256, 16000)
    assert cfg.split_sizes() == {"train": 14000, "val": 2000, "test": 2000, "test_unseen": 2000}


def test_yaml_round_trip_and_cache_key(tmp_path):
    path = tmp_path / "synth.yaml"
    path.write_text("synthbind:\n  seed: 3\n  num_samples: 100\n  categories: [box, sphere, torus]\n")
    cfg = SynthConfig.from_yaml(path)
    assert cfg.seed == 3 and cfg.categories == ("box", "sphere", "torus")
    assert SynthConfig.from_dict(cfg.to_dict()) == cfg
    assert cfg.cache_key() == SynthConfig.from_dict(cfg.to_dict()).cache_key()
    assert cfg.cache_key() != cfg.replace(seed=4).cache_key()


@pytest.mark.parametrize("changes, message", [
    (dict(categories=("box", "chair")), "chair"),
    (dict(modalities=("image", "lidar")), "lidar"),
    (dict(image_size=4), "image_size"),
    (dict(val_fraction=0.5, test_fraction=0.3, unseen_fraction=0.3), "fractions"),
    (dict(unseen_colours_per_category=10), "unseen_colours"),
    (dict(scale_range=(0.2, 0.1)), "scale_range"),
    (dict(num_samples=2, val_fraction=0.3, test_fraction=0.3, unseen_fraction=0.3), "no train"),
    (dict(categories="box"), "categories"),
    (dict(pose="sideways"), "pose"),
    (dict(pose="upright", elevation_range=(10.0, 95.0)), "elevation_range"),
])
def test_invalid_configs_raise_value_errors_naming_the_problem(changes, message):
    with pytest.raises(ValueError, match=message):
        SynthConfig(**changes)


def test_unknown_keys_are_rejected():
    with pytest.raises(ValueError, match="colour_count"):
        SynthConfig.from_dict({"colour_count": 3})


def test_pose_options_key_the_cache_only_when_they_change_the_data():
    any_pose = SynthConfig(num_samples=100)
    assert any_pose.cache_key() == any_pose.replace(elevation_range=(0.0, 5.0)).cache_key()  # unused when 'any'
    upright = any_pose.replace(pose="upright")
    assert upright.cache_key() != any_pose.cache_key()
    assert upright.cache_key() != upright.replace(elevation_range=(0.0, 5.0)).cache_key()
