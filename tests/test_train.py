"""Training: config validation, deterministic data order, the loop (accumulation, AMP, DDP),
atomic checkpoints and an exact resume after SIGKILL, through the real CLI and pair-folder data."""
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
from torch import nn

from codebind_core.training import TrainConfig, run_training
from codebind_core.training.train_state import load_checkpoint, save_atomic
from codebind_core.training.pairs import rows_from_csv
from codebind_core.training.run_log import read_log
from codebind_core.training.sampler import ResumableBatchSampler
from codebind_core.training.stream import RoundRobinStream, TargetData
from codebind_core.training.trainer import LoopSettings, Trainer
from micro_training import micro_config

ROOT = Path(__file__).resolve().parents[1]
CLASSES = ["box", "sphere", "cone", "torus"]


def _pairs_folder(root: Path, per_class: int = 12) -> Path:
    """root/image/<class>/<i>.png + root/depth/<class>/<i>.npy: class-specific depth shapes."""
    from PIL import Image

    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:32, 0:32] / 31.0
    shapes = [xx, yy, np.hypot(xx - 0.5, yy - 0.5), np.abs(xx - yy)]
    for c, name in enumerate(CLASSES):
        (root / "image" / name).mkdir(parents=True, exist_ok=True)
        (root / "depth" / name).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            rgb = np.clip(rng.normal(60 * c + 40, 30, (32, 32, 3)), 0, 255).astype(np.uint8)
            Image.fromarray(rgb).save(root / "image" / name / f"{i}.png")
            depth = 1.0 + shapes[c] + 0.05 * rng.standard_normal((32, 32))
            np.save(root / "depth" / name / f"{i}.npy", depth.astype(np.float32))
    return root


def _config(tmp: Path, data_root: Path, **over) -> dict:
    return micro_config(tmp, data_root, **{**dict(steps=8, batch_size=8, checkpoint_every=3), **over})


@pytest.fixture(scope="module")
def data_root(tmp_path_factory) -> Path:
    return _pairs_folder(tmp_path_factory.mktemp("pairs"))


# ---- config ---------------------------------------------------------------------------------

@pytest.mark.parametrize("change, message", [
    ({"precision": "fp8"}, "precision"),
    ({"batch_size": 1}, "batch_size"),
    ({"steps": 0}, "steps"),
    ({"grad_accum": 0}, "grad_accum"),
    ({"bogus": 1}, "unknown keys in config"),
    ({"optim": {"name": "lion"}}, "optim.name"),
    ({"optim": {"lr": -1.0}}, "optim.lr"),
    ({"schedule": {"name": "step"}}, "schedule.name"),
    ({"data": {"kind": "webdataset"}}, "data.kind"),
    ({"model": {"targets": ["smell"]}}, "unknown target modality"),
    ({"model": {"overrides": {"quantizer": {"sub_dim": 7}}}}, "not divisible by sub_dim"),
    ({"model": {"overrides": {"bridge": {"random_init": False}}}}, "no bridge weights"),
    ({"bridge_pretrain": {"enabled": True, "batch_size": 64, "corpus_samples": 8}}, "corpus_samples"),
    ({"log_backend": "wandb"}, "log_backend"),
    ({"threads": 0}, "threads"),
])
def test_config_rejects_bad_values(tmp_path, data_root, change, message):
    with pytest.raises(ValueError, match=message):
        TrainConfig.from_dict(_config(tmp_path, data_root, **change))


def test_config_yaml_roundtrip_and_fingerprint(tmp_path, data_root):
    cfg = TrainConfig.from_dict(_config(tmp_path, data_root))
    cfg.save(tmp_path / "c.yaml")
    again = TrainConfig.from_file(tmp_path / "c.yaml")
    assert again.to_dict() == cfg.to_dict()
    assert again.fingerprint() == cfg.fingerprint()
    # logging/paths do not change the trajectory; the learning rate does
    same = TrainConfig.from_dict(_config(tmp_path, data_root, log_every=5, out_dir="x"))
    assert same.fingerprint() == cfg.fingerprint()
    assert TrainConfig.from_dict(_config(tmp_path, data_root, optim={"lr": 1e-4})).fingerprint() != cfg.fingerprint()
    built = cfg.model.build()
    assert built.embed_dim == 32 and built.bridge.model_cfg["vision_cfg"]["layers"] == 1
    assert built.bridge.model_cfg["vision_cfg"]["image_size"] == 32 and built.trunk.depth == 1


def test_fingerprint_covers_the_resolved_bridge(tmp_path, data_root, monkeypatch):
    """A run resumed after a named bridge architecture changed is a new run, not a resume."""
    from codebind_core import config as model_config

    raw = _config(tmp_path, data_root)
    raw["model"]["overrides"]["bridge"] = {"random_init": True}  # the named tiny architecture
    raw["model"]["overrides"]["embed_dim"] = 64  # the named tiny bridge's width
    before = TrainConfig.from_dict(raw).fingerprint()
    tiny = model_config.BRIDGE_ARCHS["tiny"]
    changed = {**tiny, "vision_cfg": {**tiny["vision_cfg"], "layers": 3}}
    monkeypatch.setitem(model_config.BRIDGE_ARCHS, "tiny", changed)
    assert TrainConfig.from_dict(raw).fingerprint() != before


# ---- data order -----------------------------------------------------------------------------

def test_sampler_is_deterministic_resumable_and_sharded():
    full = ResumableBatchSampler(50, 4, seed=3)
    it = iter(full)
    first = [next(it) for _ in range(30)]  # 12 batches per epoch: crosses two epoch boundaries
    assert first == [b for _, b in zip(range(30), ResumableBatchSampler(50, 4, seed=3))]
    resumed = iter(ResumableBatchSampler(50, 4, seed=3, start=17))
    assert [next(resumed) for _ in range(13)] == first[17:]
    assert sorted(sum(first[:12], [])) == sorted(set(sum(first[:12], [])))  # no repeats in an epoch
    r0 = iter(ResumableBatchSampler(50, 4, seed=3, rank=0, world_size=2))
    r1 = iter(ResumableBatchSampler(50, 4, seed=3, rank=1, world_size=2))
    a, b = sum((next(r0) for _ in range(6)), []), sum((next(r1) for _ in range(6)), [])
    assert not set(a) & set(b) and len(a) == len(b) == 24
    with pytest.raises(ValueError, match="smaller than one batch"):
        ResumableBatchSampler(5, 4, seed=0, world_size=2)


def test_round_robin_stream_resumes_mid_cycle():
    parts = [TargetData(f"t{j}", list(range(10 * j, 10 * j + 10)), lambda xs: {"x": torch.tensor(xs)})
             for j in range(3)]
    stream = RoundRobinStream(parts, batch_size=2, seed=0)
    it = stream.batches()
    ref = [next(it)["x"] for _ in range(20)]
    assert [int(b[0]) // 10 for b in ref[:6]] == [0, 1, 2, 0, 1, 2]
    it7 = stream.batches(start=7)
    assert all(torch.equal(next(it7)["x"], r) for r in ref[7:])


# ---- the loop on a plain regression model (exact equivalences) -------------------------------

class _Linear(nn.Module):
    def __init__(self):
        super().__init__()
        self.w = nn.Linear(6, 1)

    def forward(self, batch, step=0):
        return {"total": ((self.w(batch["x"]) - batch["y"]) ** 2).mean()}


def _regression_parts(n=64):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(n, 6, generator=g)
    y = x @ torch.arange(1.0, 7.0)[:, None] + 0.5
    return [TargetData("r", [{"x": x[i], "y": y[i]} for i in range(n)],
                       lambda items: {k: torch.stack([it[k] for it in items]) for k in items[0]})]


def _fit_linear(tmp, batch, accum, steps=5, precision="fp32"):
    torch.manual_seed(0)
    model = _Linear()
    s = LoopSettings(steps=steps, grad_accum=accum, precision=precision, optimizer="sgd", lr=0.05,
                     weight_decay=0.0, betas=(0.0, 0.0), grad_clip=None, schedule="constant", progress=False,
                     init_batches=0, checkpoint_every=100, log_every=1)
    Trainer(model, RoundRobinStream(_regression_parts(), batch, seed=0), s, tmp, torch.device("cpu")).fit()
    return model.w.weight.detach().clone()


def test_gradient_accumulation_equals_the_large_batch(tmp_path):
    # accumulation draws micro-batches of 4 in the same order as one batch of 8 would hold them
    big = _fit_linear(tmp_path / "a", batch=8, accum=1)
    acc = _fit_linear(tmp_path / "b", batch=4, accum=2)
    assert torch.allclose(big, acc, atol=1e-6), (big, acc)


def test_bf16_autocast_trains_on_cpu(tmp_path):
    w0 = _fit_linear(tmp_path / "a", batch=8, accum=1, steps=1, precision="fp32")
    w = _fit_linear(tmp_path / "b", batch=8, accum=1, steps=40, precision="bf16")
    rows = read_log(tmp_path / "b" / "log.csv")
    assert rows[-1]["total"] < 0.2 * rows[0]["total"]
    assert not torch.equal(w0, w)


def _ddp_worker(rank: int, world: int, port: int, out: str, q) -> None:
    """One rank, set up from the environment exactly as torchrun would."""
    from codebind_core.training.distributed import cleanup, init_distributed

    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), LOCAL_RANK=str(rank),
                      WORLD_SIZE=str(world))
    info = init_distributed("cpu")
    torch.manual_seed(0)
    model = _Linear()
    s = LoopSettings(steps=4, optimizer="sgd", lr=0.05, weight_decay=0.0, betas=(0.0, 0.0), grad_clip=None,
                     schedule="constant", progress=False, init_batches=0, checkpoint_every=2)
    stream = RoundRobinStream(_regression_parts(), 4, seed=0, rank=rank, world_size=world)
    rows = Trainer(model, stream, s, out, torch.device("cpu"), info).fit()
    # plain lists: a tensor sent through the queue would share memory with an exiting process
    q.put((rank, model.w.weight.detach().tolist(), rows[-1]["total"]))
    cleanup(info)


def test_ddp_two_processes_stay_in_sync(tmp_path):
    import socket

    import torch.multiprocessing as mp

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    procs = [ctx.Process(target=_ddp_worker, args=(r, 2, port, str(tmp_path), q)) for r in range(2)]
    for p in procs:
        p.start()
    res = sorted(q.get(timeout=120) for _ in procs)
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    (_, w0, loss0), (_, w1, loss1) = res
    assert w0 == w1 and loss0 == loss1  # identical replicas, loss averaged over ranks
    ckpt = load_checkpoint(tmp_path / "checkpoints" / "last.pt")
    assert ckpt["world_size"] == 2 and len(ckpt["rng"]) == 2 and ckpt["step"] == 4


# ---- checkpoints ----------------------------------------------------------------------------

def test_atomic_save_replaces_whole_files_only(tmp_path):
    path = tmp_path / "c" / "last.pt"
    save_atomic({"step": 1, "w": torch.ones(3)}, path)
    save_atomic({"step": 2, "w": torch.zeros(3)}, path)
    assert load_checkpoint(path)["step"] == 2
    assert [p.name for p in path.parent.iterdir()] == ["last.pt"]  # no temporary files left
    path.write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="not a loadable training checkpoint"):
        load_checkpoint(path)


def test_pairs_csv_errors(tmp_path):
    (tmp_path / "a.csv").write_text("path_a,caption\nclip.wav,a dog\n")
    rows = rows_from_csv(tmp_path / "a.csv", "audio")
    assert rows[0]["audio"] == tmp_path / "clip.wav" and rows[0]["text"] == "a dog"
    (tmp_path / "b.csv").write_text("path_a,path_b,label\nrgb.png,d.png,kitchen\nrgb2.png,d2.png,bedroom\n")
    rows = rows_from_csv(tmp_path / "b.csv", "depth", template="a photo of a {}.")
    assert rows[0]["image"].name == "rgb.png" and rows[0]["depth"].name == "d.png"
    assert rows[0]["text"] == "a photo of a kitchen." and [r["label"] for r in rows] == [1, 0]
    with pytest.raises(ValueError, match="missing columns"):
        rows_from_csv(tmp_path / "a.csv", "audio", columns={"audio": "wav"})
    with pytest.raises(ValueError, match="not found"):
        rows_from_csv(tmp_path / "none.csv", "audio")


# ---- CodeBind end to end --------------------------------------------------------------------

def test_tiny_training_lowers_the_loss(tmp_path, data_root):
    cfg = TrainConfig.from_dict(_config(tmp_path, data_root, steps=20, checkpoint_every=20))
    run_training(cfg)
    rows = read_log(tmp_path / "run" / "log.csv")
    assert len(rows) == 20
    # The total is mostly reconstruction (summed over image and depth, official §4), which
    # falls to about 0.7x in 20 steps; the commitment (Table 1's λ_vq = 1000) to about 0.1x.
    for key, factor in (("total", 0.6), ("vq", 0.3), ("recon", 0.9), ("align", 1.0)):
        first = np.mean([r[key] for r in rows[:3]])
        last = np.mean([r[key] for r in rows[-3:]])
        assert last < factor * first, (key, first, last)
    assert (tmp_path / "run" / "model" / "model.safetensors").is_file()
    import codebind_core as cb

    model = cb.load(tmp_path / "run" / "model")
    assert model.config.embed_dim == 32


def test_sigkill_then_resume_matches_uninterrupted_run(tmp_path, data_root):
    ref_cfg = TrainConfig.from_dict(_config(tmp_path / "ref", data_root))
    run_training(ref_cfg)
    ref = read_log(Path(ref_cfg.out_dir) / "log.csv")

    cfg_dict = _config(tmp_path, data_root, steps=8)
    cfg_file = tmp_path / "cfg.yaml"
    cfg_file.write_text(yaml.safe_dump(cfg_dict))
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, str(ROOT / "training" / "train.py"), str(cfg_file)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    ckpt = Path(cfg_dict["out_dir"]) / "checkpoints" / "last.pt"
    deadline = time.time() + 240
    while not ckpt.exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait(30)
    assert proc.returncode == -signal.SIGKILL, proc.stderr.read().decode()[-2000:]
    killed_at = load_checkpoint(ckpt)["step"]
    assert 3 <= killed_at < 8, killed_at

    run_training(TrainConfig.from_dict(cfg_dict))  # same config, same out_dir: resumes
    got = read_log(Path(cfg_dict["out_dir"]) / "log.csv")
    assert [r["step"] for r in got] == list(range(1, 9))
    for a, b in zip(ref, got):
        for k in ("total", "align", "recon", "vq", "cm"):
            assert abs(a[k] - b[k]) <= 1e-6 * max(1.0, abs(a[k])), (a["step"], k, a[k], b[k])


def test_official_optimiser_preset_trains_new_parts_at_lr_new(tmp_path):
    """official §13: AdamW (0.9, 0.95), weight decay 1e-4, base lr per target (audio 5e-5) for the
    trunk/LoRA and shared heads, lr_new 5e-4 for the specific heads and decoders; one schedule."""
    import codebind_core as cb
    from codebind_core.training.config import OptimConfig
    from codebind_core.training.optim import official_optim

    o = OptimConfig(preset="official").resolved("audio")
    assert (o.lr, o.lr_new, tuple(o.betas), o.weight_decay) == (5e-5, 5e-4, (0.9, 0.95), 1e-4)
    assert OptimConfig().resolved("audio") == OptimConfig()
    assert official_optim("depth")["lr"] == official_optim("depth")["lr_new"] == 5e-4
    with pytest.raises(ValueError, match="no official optimiser settings"):
        official_optim("smell")
    with pytest.raises(ValueError, match="optim.preset"):
        OptimConfig(preset="fast")

    model = cb.create_model(cb.CodeBindConfig.preset("tiny", targets=["audio"]))
    s = LoopSettings(steps=10, lr=o.lr, lr_new=o.lr_new, betas=o.betas, weight_decay=o.weight_decay,
                     schedule="cosine", progress=False)
    trainer = Trainer(model, RoundRobinStream(_regression_parts(), 4, seed=0), s, tmp_path, torch.device("cpu"))
    base, new = trainer.optimizer.param_groups
    names = {id(p): n for n, p in model.named_parameters()}
    new_names = {names[id(p)] for p in new["params"]}
    assert (base["lr"], new["lr"]) == (5e-5, 5e-4)
    assert "heads.audio.specific.weight" in new_names and any(n.startswith("decoders.") for n in new_names)
    assert all(".specific." in n or n.startswith("decoders.") for n in new_names)
    base_names = {names[id(p)] for p in base["params"]}
    assert "heads.audio.shared.weight" in base_names and any(n.startswith("encoders.audio.") for n in base_names)
    assert len(base_names) + len(new_names) == len(model.trainable_parameters())
    trainer.schedule.step()  # both groups follow the one schedule
    assert new["lr"] / base["lr"] == pytest.approx(10.0)
