"""A model trained without codebooks serves the memory node through its post-hoc codebook."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from ros_testing import call_query, make_memory, memory_feeder, wait_for_subscribers, wait_until
from rclpy.node import Node
from rclpy.parameter import Parameter
from std_msgs.msg import Header

import codebind_core as cb
from codebind_core import posthoc_codebook as ph
from codebind_core.checkpoint_format import model_digest
from codebind_core.evaluation.synth_split import float_shared
from codebind_core.memory import CodebookSet, ObservationMemory
from codebind_ros.conversions import embedding_msg
from codebind_ros.conversions.results import ns_to_stamp
from codebind_ros.nodes.memory_node import MemoryNode
from codebind_ros.srv import QueryText

TEXTS = ["a red sphere", "a blue box", "a green torus", "a yellow cone", "a white arrow"]


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    """A hard-alignment model (no codebooks) saved, then a post-hoc codebook fitted on its
    text and depth embeddings and stored beside it."""
    torch.manual_seed(0)
    model = cb.create_model(cb.CodeBindConfig.preset("tiny", targets=["depth"], decouple=False)).eval()
    d = cb.save(model, tmp_path_factory.mktemp("posthoc") / "hard")
    words = [f"a {c} {s}" for c in ("red", "blue", "green", "grey", "black") for s in ("box", "cone", "torus", "cube")]
    x = np.concatenate([float_shared(model, "text", words), float_shared(model, "depth", torch.randn(64, 1, 64, 64))])
    ph.save(d, ph.fit({"depth": x}, sub_dim=8, size=16, seed=0, model_digest=model_digest(d)))
    return d


def test_memory_node_stores_and_answers_with_posthoc_codes(spin, ros_context, model_dir, topic, tmp_path):
    model = cb.load(model_dir)
    assert not model.quantized and model.posthoc_codebook is not None
    node = spin.add(make_memory(model, topic, ros_context, tmp_path / "m.db"))
    helper = spin.add(Node("helper_posthoc", namespace=topic, context=ros_context))
    acks, pub = memory_feeder(helper)
    assert wait_for_subscribers(pub)
    with torch.no_grad():
        emb = model.encode_text(TEXTS, codebook_set="depth")
    assert emb.codes.shape == (len(TEXTS), 8)
    for i in range(len(TEXTS)):
        pub.publish(embedding_msg.to_msg(emb, i, Header(stamp=ns_to_stamp((i + 1) * 10 ** 9), frame_id="cam"),
                                         "camera", model.config.name))
    assert wait_until(lambda: acks and acks[-1] >= len(TEXTS), 20.0), "no ack for the stored embeddings"
    stored = node.memory.get(range(1, len(TEXTS) + 1))
    assert [list(o.codes) for o in stored.values()] == emb.codes.tolist()

    res = call_query(helper, QueryText.Request(observations=True, text="a blue box", top_k=3))
    assert res.success, res.message
    books = CodebookSet.from_model(model)
    with ObservationMemory(tmp_path / "ref.db", books) as ref:  # the core's code-table search
        ref.add(list(stored.values()))
        q = model.encode_text(["a blue box"], codebook_set="depth").shared[0].detach().numpy()
        want = [(h.observation.stamp_ns, round(h.score, 5)) for h in ref.search({"depth": q}, top_k=3)]
    got = [(r.stamp.sec * 10 ** 9 + r.stamp.nanosec, round(r.score, 5)) for r in res.results]
    assert got == want and len(got) == 3
    # the stored row of the query text itself scores its decoded cosine, below 1 (lossy codes)
    codes = emb.codes[1:2].numpy()
    own = float(books.decode("depth", codes)[0] @ q * books.inverse_norms("depth", codes)[0])
    assert dict(got)[2 * 10 ** 9] == pytest.approx(own, abs=1e-5)


def test_memory_node_without_any_codebook_names_the_fit_command(spin, ros_context, model_dir, topic, tmp_path):
    bare = cb.load(model_dir)
    bare.posthoc_codebook = None
    with pytest.raises(ValueError, match="codebind-codebook fit"):
        MemoryNode(model=bare, node_name="memory_bare", namespace=topic, context=ros_context,
                   parameter_overrides=[Parameter("db_path", value=str(tmp_path / "bare.db"))])
