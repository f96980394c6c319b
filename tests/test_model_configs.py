"""Model presets and bridge architectures are data files scanned into registries (as open_clip's
model_configs/): the shipped ones load, a user's folder adds more, bad files are refused."""
from __future__ import annotations

import json

import pytest

from codebind_core import config as model_config
from codebind_core.config import BRIDGE_ARCHS, PRESETS, CodeBindConfig, add_model_config


@pytest.fixture
def registries(monkeypatch):
    monkeypatch.setattr(model_config, "PRESETS", dict(PRESETS))
    monkeypatch.setattr(model_config, "BRIDGE_ARCHS", dict(BRIDGE_ARCHS))
    return model_config


def test_shipped_presets_and_bridges_are_registered_from_files():
    assert {"tiny", "base"} <= set(PRESETS) and all(p.suffix == ".yaml" for p in PRESETS.values())
    assert {"tiny", "tiny-cnn", "tiny-cnn-256"} <= set(BRIDGE_ARCHS)
    tiny = CodeBindConfig.preset("tiny")
    assert (tiny.name, tiny.embed_dim, tiny.trunk.width, tiny.quantizer.shared_size) == ("codebind-tiny", 64, 64, 256)
    assert tiny.bridge.openclip_cfg()["embed_dim"] == tiny.embed_dim
    assert BRIDGE_ARCHS["tiny-cnn-256"]["embed_dim"] == 256
    assert CodeBindConfig.preset("base").bridge.arch == "ViT-B-16"


def test_overrides_merge_into_the_preset_file():
    cfg = CodeBindConfig.preset("tiny", targets=["thermal"], quantizer={"sub_dim": 4})
    assert cfg.targets == ("thermal",) and cfg.quantizer.sub_dim == 4
    assert cfg.quantizer.shared_size == 256  # the file's other quantizer fields stay


def test_a_users_folder_adds_a_preset_and_a_bridge(tmp_path, registries):
    (tmp_path / "bridges").mkdir()
    arch = {**BRIDGE_ARCHS["tiny-cnn"], "embed_dim": 32}
    (tmp_path / "bridges" / "my-cnn-32.json").write_text(json.dumps(arch))
    (tmp_path / "robot.yaml").write_text("name: robot\nembed_dim: 32\nbridge: {arch: my-cnn-32}\n"
                                         "trunk: {width: 32, depth: 1, heads: 2}\n")
    add_model_config(tmp_path)
    cfg = registries.CodeBindConfig.preset("robot", targets=["depth"])
    assert (cfg.name, cfg.embed_dim, cfg.trunk.depth) == ("robot", 32, 1)
    assert cfg.bridge.openclip_cfg() == arch


def test_bad_model_config_files_are_refused(tmp_path, registries):
    with pytest.raises(ValueError, match="model config path not found"):
        add_model_config(tmp_path / "missing")
    (tmp_path / "bridges").mkdir()
    (tmp_path / "bridges" / "broken.json").write_text('{"vision_cfg": {}}')
    with pytest.raises(ValueError, match="broken.json: a bridge architecture is an OpenCLIP config mapping"):
        add_model_config(tmp_path)
    bad = tmp_path / "typo.yaml"
    bad.write_text("name: typo\nembed_dimm: 32\n")
    add_model_config(bad)
    with pytest.raises(ValueError, match=r"unknown keys in model config: \['embed_dimm'\]"):
        registries.CodeBindConfig.preset("typo")
    with pytest.raises(ValueError, match="unknown preset 'nope'"):
        registries.CodeBindConfig.preset("nope")


def test_the_package_data_ships_every_model_config_file():
    import tomllib
    from pathlib import Path

    root = Path(model_config.__file__).resolve().parents[1]
    patterns = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]
    shipped = {p for pattern in patterns["codebind_core"] for p in (root / "codebind_core").glob(pattern)}
    on_disk = set(model_config.MODEL_CONFIG_DIR.rglob("*.*"))
    assert shipped == on_disk and len(on_disk) >= 5
