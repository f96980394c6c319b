"""Training on a user's own pairs: a bridge is required (random only when asked for), the
preprocessing options travel with the model, Ctrl-C saves a resumable checkpoint, the held-out
split is deterministic."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

import codebind_core as cb
from codebind_core import modalities
from codebind_core.training import TrainConfig, run_training
from codebind_core.training.datasets import pair_rows
from codebind_core.training.run_log import read_log
from codebind_core.training.train_state import load_checkpoint
from micro_training import micro_config

ROOT = Path(__file__).resolve().parents[1]
CLASSES = ["box", "sphere", "cone"]


@pytest.fixture(scope="module")
def data_root(tmp_path_factory) -> Path:
    """root/image/<class>/<i>.png (RGB) + root/depth/<class>/<i>.png (16-bit millimetres)."""
    from PIL import Image

    root = tmp_path_factory.mktemp("pairs")
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:40, 0:48] / 40.0
    for c, name in enumerate(CLASSES):
        (root / "image" / name).mkdir(parents=True)
        (root / "depth" / name).mkdir(parents=True)
        for i in range(10):
            rgb = np.clip(rng.normal(70 * c + 40, 30, (40, 48, 3)), 0, 255).astype(np.uint8)
            Image.fromarray(rgb).save(root / "image" / name / f"{i}.png")
            depth_mm = 1000 + 800 * [xx, yy, np.hypot(xx - 0.5, yy - 0.5)][c] + rng.normal(0, 20, xx.shape)
            Image.fromarray(depth_mm.astype(np.uint16)).save(root / "depth" / name / f"{i}.png")
    return root


def _config(tmp: Path, data_root: Path, **over) -> dict:
    return micro_config(tmp, data_root, **{**dict(steps=6, batch_size=6, checkpoint_every=100), **over})


def _train_py(cfg: dict, tmp: Path, **popen) -> subprocess.Popen:
    f = tmp / "cfg.yaml"
    f.write_text(yaml.safe_dump(cfg))
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, str(ROOT / "training" / "train.py"), str(f)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **popen)


# ---- the bridge -------------------------------------------------------------------------------

def test_no_bridge_weights_is_a_clear_error(tmp_path, data_root):
    raw = _config(tmp_path, data_root)
    raw["model"]["overrides"]["bridge"]["random_init"] = False
    with pytest.raises(ValueError, match="no bridge weights.*codebind-bridge extract.*bridge_pretrain.*random_init"):
        TrainConfig.from_dict(raw)
    proc = _train_py(raw, tmp_path)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 2 and "error: no bridge weights" in err and "Traceback" not in err, err[-2000:]
    assert not (tmp_path / "run" / "checkpoints").exists()
    # a bridge weights file is enough; random_init says a random bridge is meant
    raw["model"]["overrides"]["bridge"]["weights"] = str(tmp_path / "bridge.safetensors")
    TrainConfig.from_dict(raw)
    TrainConfig.from_dict(_config(tmp_path, data_root))


# ---- preprocessing saved with the model ----------------------------------------------------------

def test_training_preprocess_options_are_saved_and_used(tmp_path, data_root):
    pre = {"depth": {"focal_length": 300.0, "max_disparity": 60.0}}
    cfg = TrainConfig.from_dict(_config(tmp_path, data_root, steps=2, data={"options": {"preprocess": pre}}))
    run_training(cfg)
    model = cb.load(tmp_path / "run" / "model")
    assert model.config.preprocess == pre
    from PIL import Image

    depth = np.array(Image.open(data_root / "depth" / "box" / "0.png"))
    trained = modalities.depth.preprocess(depth, size=32, focal_length=300.0, max_disparity=60.0)
    default = modalities.depth.preprocess(depth, size=32)
    got = model.preprocess("depth", [depth])[0]
    assert float((got - trained).abs().max()) == 0.0
    assert float((got - default).abs().max()) > 0.1  # the options change the input
    # an explicit option still wins; a camera matrix replaces the trained focal length
    explicit = modalities.depth.preprocess(depth, size=32, focal_length=400.0, max_disparity=60.0)
    assert float((model.preprocess("depth", [depth], focal_length=400.0)[0] - explicit).abs().max()) == 0
    k = np.array([[450.0, 0, 24], [0, 450.0, 20], [0, 0, 1]])
    assert float((model.preprocess("depth", [depth], intrinsics=k)[0]
                  - modalities.depth.preprocess(depth, intrinsics=k, size=32, max_disparity=60.0)).abs().max()) == 0
    # the ONNX manifest records what a runtime must feed the graph
    from codebind_core.export import OnnxExportConfig, export_onnx

    graph = export_onnx(model, "depth", tmp_path / "onnx", OnnxExportConfig(precision="fp32"))
    assert graph.manifest.preprocess == {"size": 32, "focal_length": 300.0, "max_disparity": 60.0}


def test_bad_preprocess_options_are_refused(tmp_path, data_root):
    for bad, match in (({"depth": {"focal": 3.0}}, "unknown options"), ({"smell": {}}, "unknown modality"),
                       ({"depth": {"focal_length": -1.0}}, "focal_length")):
        cfg = TrainConfig.from_dict(_config(tmp_path, data_root, data={"options": {"preprocess": bad}}))
        with pytest.raises(ValueError, match=match):
            run_training(cfg)


def test_checkpoints_saved_before_these_fields_still_load(tmp_path):
    """A config.json written before ``preprocess`` and ``bridge.random_init`` existed."""
    import json
    import shutil

    shutil.copytree(ROOT / "models" / "demo", tmp_path / "old")
    raw = json.loads((tmp_path / "old" / "config.json").read_text())
    raw.pop("preprocess", None)
    raw["bridge"].pop("random_init", None)
    (tmp_path / "old" / "config.json").write_text(json.dumps(raw))
    model = cb.load(tmp_path / "old")
    assert model.config.preprocess == {} and not model.config.bridge.random_init


# ---- Ctrl-C ----------------------------------------------------------------------------------------

def test_ctrl_c_saves_a_checkpoint_exits_0_and_the_resume_matches(tmp_path, data_root):
    ref_cfg = TrainConfig.from_dict(_config(tmp_path / "ref", data_root, steps=40))
    run_training(ref_cfg)
    ref = read_log(Path(ref_cfg.out_dir) / "log.csv")

    raw = _config(tmp_path, data_root, steps=40)
    proc = _train_py(raw, tmp_path)
    log = tmp_path / "run" / "log.csv"
    deadline = time.time() + 240
    while proc.poll() is None and time.time() < deadline and not (log.exists() and len(read_log(log)) >= 3):
        time.sleep(0.05)
    assert proc.poll() is None, "the run ended before it could be interrupted"
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err[-2000:]
    assert "Traceback" not in err and "KeyboardInterrupt" not in err, err[-2000:]
    ckpt = load_checkpoint(tmp_path / "run" / "checkpoints" / "last.pt")
    assert 3 <= ckpt["step"] < 40 and f"stopped after step {ckpt['step']}" in err
    assert not (tmp_path / "run" / "model").exists()  # unfinished: no final model

    run_training(TrainConfig.from_dict(raw))  # the same command again resumes
    got = read_log(log)
    assert [r["step"] for r in got] == list(range(1, 41))
    for a, b in zip(ref, got):
        for k in ("total", "align", "vq"):
            assert abs(a[k] - b[k]) <= 1e-6 * max(1.0, abs(a[k])), (a["step"], k, a[k], b[k])


# ---- held-out split ------------------------------------------------------------------------------

def test_holdout_split_is_deterministic_per_class_and_by_list(tmp_path, data_root):
    opts = {"root": str(data_root), "holdout_fraction": 0.2}
    train = pair_rows("pairs_folder", opts, ["depth"], "train")
    held = pair_rows("pairs_folder", opts, ["depth"], "holdout")
    assert len(held) == 6 and len(train) == 24  # 2 of each class's 10
    assert sorted(r["label"] for r in held) == [0, 0, 1, 1, 2, 2]
    assert not {r["key"] for r in held} & {r["key"] for r in train}
    assert [r["key"] for r in pair_rows("pairs_folder", opts, ["depth"], "holdout")] == [r["key"] for r in held]
    other = pair_rows("pairs_folder", {**opts, "holdout_seed": 1}, ["depth"], "holdout")
    assert {r["key"] for r in other} != {r["key"] for r in held}
    (tmp_path / "held.txt").write_text("# held out\nbox/3\ncone/7\n")
    listed = pair_rows("pairs_folder", {"root": str(data_root), "holdout_list": str(tmp_path / "held.txt")},
                       ["depth"], "holdout")
    assert [r["key"] for r in listed] == ["box/3", "cone/7"]
    (tmp_path / "bad.txt").write_text("box/99\n")
    with pytest.raises(ValueError, match="match no pair"):
        pair_rows("pairs_folder", {"root": str(data_root), "holdout_list": str(tmp_path / "bad.txt")}, ["depth"])
    with pytest.raises(ValueError, match="holdout split is empty"):
        pair_rows("pairs_folder", {"root": str(data_root)}, ["depth"], "holdout")
    with pytest.raises(ValueError, match=r"holdout_fraction must be in \[0, 1\)"):
        pair_rows("pairs_folder", {**opts, "holdout_fraction": 1.0}, ["depth"])


# ---- preprocessing cache ---------------------------------------------------------------------------

def test_cached_pairs_equal_preprocessing_on_access_and_follow_file_changes(tmp_path, data_root):
    import shutil

    from codebind_core.training.pairs import PairFiles
    from codebind_core.training.pairs_cache import CachedPairs

    data = tmp_path / "data"
    shutil.copytree(data_root, data)
    model = cb.create_model(cb.CodeBindConfig.from_dict(
        TrainConfig.from_dict(_config(tmp_path, data)).model.build().to_dict()))
    pre = {"depth": {"focal_length": 300.0}}
    rows = pair_rows("pairs_folder", {"root": str(data)}, ["depth"], "all")
    direct = PairFiles(rows, "depth", model.preprocess, pre)
    cached = CachedPairs(rows, model, pre, tmp_path / "cache", workers=2)
    assert len(cached) == len(direct) == 30
    for i in (0, 7, 29):
        a, b = direct[i], cached[i]
        assert a["text"] == b["text"] and a["label"] == b["label"]
        for m in ("image", "depth"):
            assert a[m].dtype == b[m].dtype == torch.float32 and torch.equal(a[m], b[m]), (i, m)
    again = CachedPairs(rows, model, pre, tmp_path / "cache", workers=1)
    assert again.dir == cached.dir and len(list((tmp_path / "cache").iterdir())) == 1  # reused
    other = CachedPairs(rows, model, {"depth": {"focal_length": 400.0}}, tmp_path / "cache", workers=1)
    assert other.dir != cached.dir
    from PIL import Image

    Image.fromarray(np.full((40, 48), 2000, np.uint16)).save(rows[0]["depth"])  # a file changes
    changed = CachedPairs(rows, model, pre, tmp_path / "cache", workers=1)
    assert changed.dir not in (cached.dir, other.dir)
    assert torch.equal(changed[0]["depth"], PairFiles(rows, "depth", model.preprocess, pre)[0]["depth"])
    assert not torch.equal(changed[0]["depth"], cached[0]["depth"])
    (data / "depth" / "box" / "1.png").write_bytes(b"broken")
    with pytest.raises(ValueError, match="1.png"):
        CachedPairs(rows, model, pre, tmp_path / "cache", workers=2)
    assert sorted(p.name for p in (tmp_path / "cache").iterdir() if ".tmp-" in p.name) == []  # no half cache


def test_init_from_copies_the_target_encoder_heads_and_codebooks_not_the_bridge(tmp_path, data_root):
    from codebind_core.training.run import start_from

    source = cb.create_model(TrainConfig.from_dict(_config(tmp_path, data_root)).model.build())
    cb.save(source, tmp_path / "source")
    torch.manual_seed(1)
    model = cb.create_model(TrainConfig.from_dict(_config(tmp_path, data_root)).model.build())
    bridge_before = {k: v.clone() for k, v in model.state_dict().items() if k.startswith("bridge.")}
    n = start_from(model, str(tmp_path / "source"))
    own, src = model.state_dict(), source.state_dict()
    copied = [k for k in own if not k.startswith("bridge.")]
    assert n == len(copied) and all(torch.equal(own[k], src[k]) for k in copied)
    assert all(torch.equal(own[k], v) for k, v in bridge_before.items())
    assert not all(torch.equal(own[k], src[k]) for k in bridge_before)  # the bridge was not copied
    with pytest.raises(ValueError, match="no depth encoder tensor matches"):
        start_from(model, str(ROOT / "models" / "demo"))  # another architecture
