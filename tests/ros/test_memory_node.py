"""Memory + query node with real rclpy nodes: stores embeddings and proposals, answers QueryText
exactly like the core search, bounds its inputs, and keeps every acknowledged observation
across a SIGKILL."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from ros_testing import make_memory, memory_feeder, wait_for_subscribers, wait_until
from rclpy.node import Node
from rclpy.parameter import Parameter
from std_msgs.msg import Header

import codebind_core as cb
from codebind_core.memory import CodebookSet, ObservationMemory
from codebind_ros.conversions import embedding_msg
from codebind_ros.nodes.memory_node import MemoryNode
from codebind_ros.msg import Embedding, Proposal, ProposalArray
from codebind_ros.messaging.qos import results_qos
from codebind_ros.conversions.results import box_to_roi, ns_to_stamp
from codebind_ros.messaging.spatial_topics import PROPOSALS
from codebind_ros.srv import QueryText
from codebind_ros.messaging.topics import QUERY_SERVICE, embedding_topic

TEXTS = ["a red sphere", "a blue box", "a green torus", "a yellow cone"]
PATH = "depth"


def _header(sec: int, frame: str = "camera_optical_frame") -> Header:
    return Header(stamp=ns_to_stamp(sec * 1_000_000_000), frame_id=frame)


def _messages(model, texts, modality="camera", first_sec=1, model_id=None):
    with torch.no_grad():
        emb = model.encode_text(texts, codebook_set=PATH)
    mid = model_id or model.config.name
    return emb, [embedding_msg.to_msg(emb, i, _header(first_sec + i), modality, mid) for i in range(len(texts))]


def _call(helper, request, timeout=20.0):
    """Call QueryText, re-sending every 5 s: after a SIGKILL, discovery still lists the dead
    server for a while and a request sent before the new server has matched is lost."""
    client = helper.create_client(QueryText, QUERY_SERVICE)
    try:
        assert client.wait_for_service(timeout_sec=timeout)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            future = client.call_async(request)
            if wait_until(future.done, min(5.0, max(0.1, deadline - time.monotonic()))):
                return future.result()
            client.remove_pending_request(future)
        raise AssertionError(f"no QueryText answer within {timeout} s")
    finally:
        helper.destroy_client(client)


def _memory(spin, ros_context, model, topic, db, **params):
    return spin.add(make_memory(model, topic, ros_context, db, **params))


def test_stores_and_answers_like_the_core(spin, ros_context, tiny_model, topic, tmp_path):
    node = _memory(spin, ros_context, tiny_model, topic, tmp_path / "m.db")
    helper = spin.add(Node("helper_store", namespace=topic, context=ros_context))
    acks, pub = memory_feeder(helper)
    assert wait_for_subscribers(pub)
    emb, msgs = _messages(tiny_model, TEXTS)
    for m in msgs:
        pub.publish(m)
    assert wait_until(lambda: acks and acks[-1] >= len(TEXTS), 20.0), "no ack for the stored embeddings"

    # proposals: embedding + geometry of each proposal of one frame, in one message
    prop_emb, prop_msgs = _messages(tiny_model, ["a purple mobius strip", "a white arrow"], first_sec=50)
    frame = ProposalArray(header=_header(50), proposals=[
        Proposal(embedding=prop_msgs[0], box=box_to_roi((10, 20, 40, 60)), has_position=True),
        Proposal(embedding=prop_msgs[1], box=box_to_roi((100, 20, 140, 80)), has_position=True)])
    frame.proposals[0].position.x, frame.proposals[0].position.y, frame.proposals[0].position.z = 0.1, -0.2, 1.5
    frame.proposals[1].position.z = 2.0
    p1 = helper.create_publisher(ProposalArray, PROPOSALS, results_qos())
    assert wait_for_subscribers(p1)
    p1.publish(frame)
    assert wait_until(lambda: acks and acks[-1] >= len(TEXTS) + 2, 20.0)

    # the service ranks exactly like the core search over the same codebooks
    res = _call(helper, QueryText.Request(observations=True, text="a blue box", top_k=3))
    assert res.success, res.message
    assert [(r.stamp.sec, r.modality) for r in res.results][0] == (2, "camera")
    cos = tiny_model.similarity(emb, emb)[1].numpy()  # stored text embeddings vs the query
    assert res.results[0].score == pytest.approx(1.0, abs=1e-5) == pytest.approx(float(cos[1]), abs=1e-5)
    with ObservationMemory(tmp_path / "copy_check.db", CodebookSet.from_model(tiny_model)) as ref:
        ref.add([o for o in node.memory.get(range(1, 7)).values()])
        q = {p: tiny_model.encode_text(["a blue box"], codebook_set=p).shared[0].detach().numpy()
             for p in ref.codebook_sets}
        want = [(h.observation.stamp_ns, round(h.score, 5)) for h in ref.search(q, top_k=3)]
    got = [(r.stamp.sec * 1_000_000_000 + r.stamp.nanosec, round(r.score, 5)) for r in res.results]
    assert got == want

    res = _call(helper, QueryText.Request(observations=True, text="a purple mobius strip", top_k=1))
    top = res.results[0]
    assert top.stamp.sec == 50 and top.has_position and top.has_box and top.frame_id == "camera_optical_frame"
    assert (top.position.x, top.position.y, top.position.z) == pytest.approx((0.1, -0.2, 1.5), abs=1e-6)
    assert (top.box.x_offset, top.box.y_offset, top.box.width, top.box.height) == (10, 20, 31, 41)

    # the command-line client answers the same
    env = dict(os.environ, ROS_DOMAIN_ID=str(ros_context.get_domain_id()))
    out = subprocess.run([sys.executable, "-m", "codebind_ros.tools.query_cli", "a purple mobius strip", "--top-k", "2",
                          "--json", "--observations", "--service", f"{topic}/{QUERY_SERVICE}"], env=env,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    cli = json.loads(out.stdout)["results"]
    assert cli[0]["position"] == pytest.approx([0.1, -0.2, 1.5], abs=1e-6) and cli[0]["box"] == [10, 20, 31, 41]
    assert [r["score"] for r in cli] == pytest.approx([r.score for r in _call(helper, QueryText.Request(
        observations=True, text="a purple mobius strip", top_k=2)).results], abs=1e-6)

    # filters: modality and time window
    request = QueryText.Request(observations=True, text="a blue box", top_k=5, modality="depth")
    assert _call(helper, request).results == []
    res = _call(helper, QueryText.Request(observations=True, text="a blue box", top_k=10,
                                          since=ns_to_stamp(3 * 10 ** 9), until=ns_to_stamp(4 * 10 ** 9)))
    assert sorted(r.stamp.sec for r in res.results) == [3, 4]


def test_bounds_inputs_and_drops_foreign_embeddings(spin, ros_context, tiny_model, topic, tmp_path):
    node = _memory(spin, ros_context, tiny_model, topic, tmp_path / "m.db", max_top_k=2, max_text_chars=30)
    helper = spin.add(Node("helper_bounds", namespace=topic, context=ros_context))
    pub = helper.create_publisher(Embedding, embedding_topic("depth"), results_qos())
    assert wait_for_subscribers(pub)
    _, good = _messages(tiny_model, TEXTS, modality="depth")
    _, foreign = _messages(tiny_model, ["x"], modality="depth", first_sec=20, model_id="another-model")
    bad_codes = embedding_msg.to_msg(tiny_model.encode_text(["y"], codebook_set=PATH), 0, _header(30), "depth",
                                     tiny_model.config.name)
    bad_codes.codes = np.full(len(bad_codes.codes), 60000, np.uint16)
    for m in good + foreign + [bad_codes]:
        pub.publish(m)
    assert wait_until(lambda: len(node.memory) == len(TEXTS) and node.stats.snapshot().dropped["invalid"] == 2, 20.0)

    res = _call(helper, QueryText.Request(observations=True, text="a red sphere", top_k=1000))
    assert res.success and len(res.results) == 2
    for text, msg in [("x" * 31, "limit is 30"), ("   ", "empty")]:
        res = _call(helper, QueryText.Request(observations=True, text=text, top_k=3))
        assert not res.success and msg in res.message
    assert not _call(helper, QueryText.Request(observations=True, text="a red sphere", top_k=0)).success

    # 60 sightings of one place rank first; the search widens until a second place shows up
    from codebind_core.memory import Observation
    with torch.no_grad():
        codes = tiny_model.encode_text(["a red sphere", "a blue box"], codebook_set=PATH).codes.numpy()
    node.memory.add([Observation("camera", PATH, codes[0], 100 + i, "map", position=(1.0, 0.0, 0.0)) for i in range(60)]
                    + [Observation("camera", PATH, codes[1], 200, "map", position=(2.0, 0.0, 0.0))])
    hits = node.search("a red sphere", 2, modality="camera")
    assert [h.observation.position for h in hits] == [(1.0, 0.0, 0.0), (2.0, 0.0, 0.0)]


def _start_memory_process(model_dir: Path, db: Path, domain: int, namespace: str, log: Path):
    env = dict(os.environ, ROS_DOMAIN_ID=str(domain), ROS_AUTOMATIC_DISCOVERY_RANGE="LOCALHOST")
    cmd = [sys.executable, "-m", "codebind_ros.nodes.memory_node", "--ros-args", "-r", f"__ns:={namespace}",
           "-p", f"model_path:={model_dir}", "-p", f"db_path:={db}", "-p", "commit_period:=0.05",
           "-p", "min_period:=0.0"]
    return subprocess.Popen(cmd, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT)


def test_sigkill_keeps_every_acknowledged_observation(spin, ros_context, tiny_model, topic, tmp_path):
    model_dir = tmp_path / "tiny-ckpt"
    cb.save(tiny_model, model_dir)
    db = tmp_path / "memory.db"
    domain = ros_context.get_domain_id()
    helper = spin.add(Node("helper_kill", namespace=topic, context=ros_context))
    acks, pub = memory_feeder(helper, "audio", depth=100)
    with torch.no_grad():
        emb = tiny_model.encode_text(TEXTS, codebook_set=PATH)
    model_id = model_dir.name

    proc = _start_memory_process(model_dir, db, domain, topic, tmp_path / "run1.log")
    try:
        assert wait_for_subscribers(pub, timeout=90.0), (tmp_path / "run1.log").read_text()
        # Publish until a real batch is acknowledged (how fast depends on the machine), kill the
        # node then, and go on publishing: the kill lands mid-stream, with messages in flight.
        published, acked_at_kill, i = {}, None, 0
        deadline = time.monotonic() + 120.0
        while time.monotonic() < deadline and (acked_at_kill is None or i < acked_at_kill + 100):
            stamp = 1_000 + i
            pub.publish(embedding_msg.to_msg(emb, i % len(TEXTS), _header(stamp), "audio", model_id))
            published[stamp] = i % len(TEXTS)
            i += 1
            time.sleep(0.005)
            if acked_at_kill is None and i >= 300 and acks and max(acks) >= 50:
                proc.send_signal(signal.SIGKILL)
                acked_at_kill = i
        assert acked_at_kill is not None, f"the memory node acknowledged {max(acks, default=0)} of {i} observations"
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
    acked = max(acks)
    assert acked >= 50

    proc = _start_memory_process(model_dir, db, domain, topic, tmp_path / "run2.log")
    try:
        res = _call(helper, QueryText.Request(observations=True, text=TEXTS[2], top_k=3), timeout=60.0)
        assert res.success and res.results and res.results[0].score == pytest.approx(1.0, abs=1e-5)
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
    with ObservationMemory(db, CodebookSet.from_model(tiny_model)) as mem:
        stored = mem.get(range(1, acked + 1))
        assert sorted(stored) == list(range(1, acked + 1)), "an acknowledged observation is missing"
        for obs in stored.values():  # each is one of the published messages, intact
            sec = obs.stamp_ns // 1_000_000_000
            expected = emb.codes[published[sec]].numpy()
            np.testing.assert_array_equal(obs.codes, expected)


def test_repeated_sightings_of_one_place_count_once():
    from codebind_core.memory import Observation, SearchHit
    from codebind_ros.nodes.memory_node import dedupe

    def hit(i, score, pos, frame="cam", code=0):
        return SearchHit(i, score, Observation("camera", PATH, np.full(8, code, np.uint16), i, frame, position=pos))

    hits = [hit(1, 0.9, (0, 0, 1)), hit(2, 0.85, (0.05, 0, 1)), hit(3, 0.8, (1, 0, 1)),
            hit(4, 0.7, (0, 0, 1), frame="map"), hit(5, 0.6, None), hit(6, 0.5, None), hit(7, 0.4, None, code=3)]
    assert [h.id for h in dedupe(hits, 0.1)] == [1, 3, 4, 5, 7]  # 2: same place as 1; 6: same view as 5
    assert [h.id for h in dedupe(hits, 0.0)] == [1, 2, 3, 4, 5, 6, 7]


def test_two_models_of_the_same_folder_name_get_their_own_default_database(
        ros_context, tiny_model, topic, tmp_path, monkeypatch):
    """Checkpoints are often all called ``model``: the default database is named after the
    model's codebooks too, so a second model starts its own memory instead of a FATAL."""
    from codebind_ros.nodes.memory_node import default_db_path

    monkeypatch.setenv("HOME", str(tmp_path))  # ~/.ros/codebind/ of this test
    torch.manual_seed(1)
    other = cb.create_model(tiny_model.config).eval()
    nodes = []
    try:
        for i, model in enumerate((tiny_model, other, tiny_model)):
            model_path = Parameter("model_path", value=str(tmp_path / f"run{i}" / "model"))
            if i == 2:  # the same model's memory again: only once the first has let go of it
                with pytest.raises(ValueError, match="in use by another memory"):
                    MemoryNode(model=model, node_name="memory_x", namespace=topic, context=ros_context,
                               parameter_overrides=[model_path])
                nodes[0].destroy_node()
            nodes.append(MemoryNode(model=model, node_name=f"memory_{i}", namespace=topic, context=ros_context,
                                    parameter_overrides=[model_path]))
        first, second, again = nodes
        assert first.model_id == second.model_id == "model"
        assert first.db_path != second.db_path and first.db_path == again.db_path  # same model, same memory
        for node in nodes[:2]:
            assert node.db_path.parent == tmp_path / ".ros" / "codebind" and node.db_path.is_file()
            fingerprint = CodebookSet.from_model(node.model).fingerprint()
            assert node.db_path.name == f"memory_model-{fingerprint[:12]}.db"
            assert str(node.db_path) == str(Path(default_db_path("model", node.memory.codebooks)).expanduser())
    finally:
        for node in nodes[1:] if len(nodes) == 3 else nodes:
            node.destroy_node()
