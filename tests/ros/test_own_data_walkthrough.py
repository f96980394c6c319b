"""docs/training.md "Your own data": every command of the walk-through, run as written on a folder
of rendered shapes (RGB + 16-bit depth PNG, four classes the demo bridge tells apart): bridge,
train (Ctrl-C, then the same command resumes), evaluate (held-out zero-shot above chance),
export, and the encoder node embedding a depth image with the trained focal length (and other
codes when a parameter gives another one, which its log says)."""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from rclpy.node import Node

import codebind_core as cb
from codebind_ros.conversions import embedding_msg
from codebind_ros.conversions.image import array_to_image
from codebind_ros.messaging.qos import results_qos
from codebind_ros.msg import Embedding
from ros_testing import Collector

ROOT = Path(__file__).resolve().parents[2]
CLASSES = ("box", "sphere", "cone", "torus")
SECTION = "## Your own data: from a folder to the robot"


def make_folder(root: Path, per_class: int = 40) -> Path:
    """SynthBind's upright objects of four classes at one size and distance, as a robot's logger
    would save them: RGB PNG + 16-bit depth PNG in millimetres under image|depth/<class>/."""
    from codebind_core.data.synth import SynthConfig, make_factors, synthesize

    cfg = SynthConfig(num_samples=100000, pose="upright", categories=CLASSES, modalities=("image", "depth"),
                      scale_range=(0.12, 0.13), shape_jitter=0.0, distance_range=(0.5, 0.55), offset_max=0.0,
                      elevation_range=(20.0, 25.0), occlusion_prob=0.0)
    count = dict.fromkeys(CLASSES, 0)
    i = 0
    while min(count.values()) < per_class:
        f = make_factors(cfg, i)
        c = CLASSES[int(f.category)]
        if count[c] < per_class:
            s = synthesize(cfg, f, i, ["image", "depth"])
            for m in ("image", "depth"):
                (root / m / c).mkdir(parents=True, exist_ok=True)
            Image.fromarray(s["image"]).save(root / "image" / c / f"{i:05d}.png")
            mm = np.rint(np.nan_to_num(s["depth"], nan=0.0, posinf=0.0) * 1000).astype(np.uint16)
            Image.fromarray(mm).save(root / "depth" / c / f"{i:05d}.png")
            count[c] += 1
        i += 1
    return root


def walkthrough():
    """(my_depth.yaml text, [commands]) of the docs section."""
    text = (ROOT / "docs" / "training.md").read_text()
    section = text[text.index(SECTION):]
    section = section[:section.index("\n## ", 1)]
    blocks = re.findall(r"```(\w+)\n(.*?)```", section, re.S)
    config = next(b for lang, b in blocks if lang == "yaml" and b.startswith("# my_depth.yaml"))
    commands = [line for lang, b in blocks if lang == "bash" for line in b.splitlines()
                if line.strip() and not line.startswith("#")]
    return config, commands


def _binomial_threshold(n: int, p: float, alpha: float = 1e-3) -> int:
    """The least k with P(X >= k) < alpha for X ~ Binomial(n, p)."""
    from scipy.stats import binom

    return next(k for k in range(n + 1) if binom.sf(k - 1, n, p) < alpha)


def test_walkthrough_commands_train_evaluate_export_and_run_on_the_node(tmp_path, ros_context, spin):
    config, commands = walkthrough()
    assert [c.split()[0] for c in commands] == ["codebind-bridge", "python", "codebind-eval", "codebind-export",
                                                "codebind-encoder", "codebind-encoder"]
    make_folder(tmp_path / "my_data")
    (tmp_path / "my_depth.yaml").write_text(config)
    for link in ("models", "training"):
        (tmp_path / link).symlink_to(ROOT / link)
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
           "PYTHONUNBUFFERED": "1", "ROS_DOMAIN_ID": str(ros_context.get_domain_id()),
           "ROS_AUTOMATIC_DISCOVERY_RANGE": "LOCALHOST"}

    def run(cmd: str, timeout: float = 1200) -> str:  # wall time: a loaded CPU stretches it 10x
        p = subprocess.run(cmd, shell=True, executable="/bin/bash", cwd=tmp_path, env=env, capture_output=True,
                           text=True, timeout=timeout)
        assert p.returncode == 0, (cmd, p.stdout[-2000:], p.stderr[-3000:])
        return p.stdout

    bridge, train, evaluate, export, node_cmd, override_cmd = commands
    run(bridge)
    # train: Ctrl-C once it logged, then the same command resumes to the end
    proc = subprocess.Popen(train, shell=True, executable="/bin/bash", cwd=tmp_path, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    log = tmp_path / "runs" / "my_depth" / "log.csv"
    deadline = time.time() + 900
    while proc.poll() is None and time.time() < deadline and not (log.exists() and log.read_text().count("\n") >= 2):
        time.sleep(0.1)
    assert proc.poll() is None, proc.communicate()[1][-3000:]
    os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C in a terminal does
    out, err = proc.communicate(timeout=600)
    assert proc.returncode == 0 and "Traceback" not in err and "checkpoint saved" in err, err[-3000:]
    assert not (tmp_path / "runs" / "my_depth" / "model").exists()
    result = json.loads(run(train))
    assert result["steps"] == 80
    model = cb.load(tmp_path / "runs" / "my_depth" / "model")
    assert model.config.preprocess == {"depth": {"focal_length": 68.6}}

    print(run(evaluate))
    res = json.loads((tmp_path / "runs" / "my_depth" / "eval.json").read_text())
    n, acc = res["samples"], res["zero_shot"]["a photo of a {}."]["acc@1"]
    assert n == 32 and res["classes"] == 4
    assert round(acc * n) >= _binomial_threshold(n, 0.25), res
    assert res["spread"]["shared_mean_pairwise_cosine"] < 0.9, res
    run(export)
    manifest = json.loads((tmp_path / "runs" / "my_depth" / "onnx" / "depth.fp32.json").read_text())
    assert manifest["preprocess"]["focal_length"] == 68.6

    # the node, as written, plus a namespace each (the input is remapped to an absolute topic: both get
    # the image there)
    (topic,) = {re.search(r"-r camera/depth/image_raw:=(/\S+)", c)[1] for c in (node_cmd, override_cmd)}
    helper = spin.add(Node("walkthrough_helper", context=ros_context))
    got = {ns: Collector(helper, Embedding, f"/{ns}/codebind/embeddings/depth", results_qos()) for ns in ("a", "b")}
    logs = {ns: tmp_path / f"node_{ns}.log" for ns in ("a", "b")}
    nodes = {ns: subprocess.Popen(f"{cmd} -r __ns:=/{ns}", shell=True, executable="/bin/bash", cwd=tmp_path,
                                  env=env, stdout=logs[ns].open("w"), stderr=subprocess.STDOUT,
                                  start_new_session=True)
             for ns, cmd in (("a", node_cmd), ("b", override_cmd))}
    try:
        pub = helper.create_publisher(type(array_to_image(np.zeros((2, 2), np.uint16), "16UC1")),
                                      topic, 10)
        from ros_testing import wait_until

        wait_until(lambda: pub.get_subscription_count() >= 2 or any(p.poll() is not None for p in nodes.values()),
                   timeout=600.0)
        assert pub.get_subscription_count() >= 2, {ns: p.read_text()[-2000:] for ns, p in logs.items()}
        depth = np.array(Image.open(sorted((tmp_path / "my_data" / "depth" / "sphere").iterdir())[0]))
        deadline = time.time() + 300
        while time.time() < deadline and not all(c.messages for c in got.values()):
            pub.publish(array_to_image(depth, "16UC1"))
            time.sleep(0.5)
        assert all(c.messages for c in got.values()), {ns: p.read_text()[-2000:] for ns, p in logs.items()}
    finally:
        for p in nodes.values():
            os.killpg(p.pid, signal.SIGINT)
        codes = [p.wait(timeout=120) for p in nodes.values()]
    assert codes == [0, 0], {ns: p.read_text()[-2000:] for ns, p in logs.items()}
    node_a, node_b = (embedding_msg.from_msg(got[ns].messages[0]) for ns in ("a", "b"))
    with torch.no_grad():
        trained = model.encode("depth", model.preprocess("depth", [depth]))
        other = model.encode("depth", model.preprocess("depth", [depth], focal_length=500.0))
    assert np.array_equal(node_a.codes, trained.codes[0].numpy())  # ONNX Runtime node == torch, trained focal
    assert np.abs(node_a.shared - trained.shared[0].numpy()).max() < 1e-4
    assert np.array_equal(node_b.codes, other.codes[0].numpy())
    assert not np.array_equal(node_a.codes, node_b.codes)
    assert "preprocessing as trained: {'focal_length': 68.6}" in logs["a"].read_text()
    assert "sets depth focal_length=500.0; the model was trained with focal_length=68.6" in logs["b"].read_text()
