"""World-frame placement of a proposal frame (codebind_ros.perception.placement) without rclpy:
positions and extents move by the sensor pose, a bad proposal is left out with its reason and the
rest of the frame kept; and the model's tuned object-memory thresholds (models/demo/memory.yaml)."""
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from codebind_core.geometry import RigidTransform
from codebind_core.memory import CodebookSet
from codebind_ros.nodes.memory_params import MemoryParams, model_settings, params_for_model
from codebind_ros.perception.placement import SensorProposal, place_frame, place_point

ROOT = Path(__file__).resolve().parents[2]
K, D_SUB, M = 16, 4, 8


@pytest.fixture
def books():
    b = np.random.default_rng(0).standard_normal((K, D_SUB)).astype(np.float32)
    return CodebookSet({"depth": b})


def _item(**kw):
    base = dict(modality="camera", codebook_set="depth", codes=np.arange(M) % K, shared=np.ones(M * D_SUB, np.float32),
                box=(1.0, 2.0, 11.0, 12.0), position=(1.0, 0.0, 2.0), size=(0.2, 0.1, 0.3), model_id="m")
    base.update(kw)
    return SensorProposal(**base)


def test_the_module_runs_without_rclpy():
    code = ("import sys; import codebind_ros.perception.placement, codebind_ros.perception.memory_search; "
            "print('rclpy' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"


def test_proposals_move_by_the_sensor_pose_into_the_fixed_frame(books):
    pose = RigidTransform.from_yaw(10.0, 20.0, 0.5, math.pi / 2)  # map <- camera: 90 degrees about z
    placed = place_frame([_item(), _item(position=None, size=None)], 7, "camera", "map", pose, books, "m")
    assert placed.dropped == [] and len(placed.observations) == 2 and len(placed.proposals) == 1
    a, b = placed.observations
    assert a.position == pytest.approx((10.0, 21.0, 2.5)) and a.size == pytest.approx((0.1, 0.2, 0.3))
    assert (a.frame_id, a.stamp_ns, a.box, a.codebook_set, a.model_id) == \
        ("map", 7, (1.0, 2.0, 11.0, 12.0), "depth", "m")
    assert b.position is None and b.box == (1.0, 2.0, 11.0, 12.0)
    (p,) = placed.proposals
    assert (p.codebook_set, p.stamp_ns, p.frame_id, p.source) == ("depth", 7, "map", "localisation")
    assert p.position == a.position and p.size == a.size
    np.testing.assert_array_equal(p.embedding, np.ones(M * D_SUB))
    np.testing.assert_allclose(place_point((1.0, 0.0, 2.0), pose), (10.0, 21.0, 2.5), atol=1e-12)


def test_without_a_pose_source_positions_stay_in_the_sensor_frame(books):
    placed = place_frame([_item(size=(-0.2, 0.1, 0.3))], 7, "camera", "map", None, books, "m", objects=False)
    (obs,) = placed.observations
    assert obs.frame_id == "camera" and obs.position == (1.0, 0.0, 2.0) and obs.size == (0.2, 0.1, 0.3)
    assert placed.proposals == []
    assert tuple(place_point((1.0, 2.0, 3.0), None)) == (1.0, 2.0, 3.0)


def test_a_bad_proposal_is_left_out_with_its_reason_and_the_frame_kept(books):
    items = [_item(model_id="other"), _item(codes=np.full(M, K)), _item(position=(0.0, math.nan, 1.0)),
             _item(codebook_set="audio"), _item()]
    placed = place_frame(items, 7, "camera", "map", RigidTransform(), books, "m")
    assert len(placed.observations) == 1 == len(placed.proposals)
    assert len(placed.dropped) == 4 and all(r.startswith("proposal: ") for r in placed.dropped)
    assert "embedding of model 'other'; this memory uses 'm'" in placed.dropped[0]
    assert "must be in [0, 16)" in placed.dropped[1]
    assert "NaN" in placed.dropped[2] and "unknown codebook set 'audio'" in placed.dropped[3]
    assert len(place_frame(items[:1], 7, "camera", "map", None, books, None).observations) == 1  # any model


def test_the_demo_model_brings_its_tuned_thresholds_and_the_defaults_are_generic(tmp_path):
    generic = MemoryParams()
    assert (generic.gate_distance, generic.min_similarity, generic.reid_similarity, generic.moved_similarity) == \
        (0.3, 0.5, 0.8, 0.5)
    demo = ROOT / "models" / "demo"
    assert model_settings(str(demo)) == {"gate_distance": 0.2, "min_similarity": 0.4, "reid_similarity": 0.7,
                                         "moved_similarity": 0.55}
    tuned = params_for_model(str(demo))()
    assert isinstance(tuned, MemoryParams) and tuned.object_config().gate_distance == 0.2
    assert (tuned.min_similarity, tuned.reid_similarity, tuned.moved_similarity, tuned.miss_limit) == \
        (0.4, 0.7, 0.55, 3)
    assert params_for_model("") is MemoryParams is params_for_model(str(tmp_path))
    (tmp_path / "memory.yaml").write_text("object_memory: {gate_distance: 0.2, gate: 1}\n")
    with pytest.raises(ValueError, match=r"unknown object_memory keys \['gate'\]"):
        model_settings(str(tmp_path))
    (tmp_path / "memory.yaml").write_text("object_memory: {miss_limit: 2.5}\n")
    with pytest.raises(ValueError, match="miss_limit must be an integer, got 2.5"):
        model_settings(str(tmp_path))
    (tmp_path / "memory.yaml").write_text("object_memory: {reid_similarity: 0.3}\n")  # below min_similarity
    with pytest.raises(ValueError, match="reid_similarity"):
        params_for_model(str(tmp_path))().validate()
