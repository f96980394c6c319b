"""The memory node takes its object-memory thresholds from the model folder's memory.yaml; a
parameter given explicitly wins, and without the file the generic defaults hold (real rclpy node)."""
from ros_testing import make_memory

from codebind_core.memory import ObjectConfig


def test_model_thresholds_are_defaults_that_explicit_parameters_override(spin, ros_context, tiny_model, topic,
                                                                        tmp_path):
    model_dir = tmp_path / "tuned-model"
    model_dir.mkdir()
    (model_dir / "memory.yaml").write_text("object_memory: {gate_distance: 0.15, min_similarity: 0.45, "
                                           "moved_similarity: 0.6}\n")
    node = spin.add(make_memory(tiny_model, topic, ros_context, tmp_path / "a.db", model_path=str(model_dir),
                                min_similarity=0.42))
    cfg = node.objects.config
    assert (cfg.gate_distance, cfg.min_similarity, cfg.moved_similarity) == (0.15, 0.42, 0.6)
    assert node.get_parameter("gate_distance").value == 0.15 and node.get_parameter("min_similarity").value == 0.42
    assert cfg.reid_similarity == ObjectConfig().reid_similarity == 0.8  # not in the file: generic
    spin.remove(node)
    plain = spin.add(make_memory(tiny_model, topic, ros_context, tmp_path / "b.db"))
    generic = ObjectConfig()
    assert (plain.objects.config.gate_distance, plain.objects.config.min_similarity) == \
        (generic.gate_distance, generic.min_similarity) == (0.3, 0.5)
