"""The robot metric: retrieval through the memory's code-table search, for a list of model dirs."""
import numpy as np
import pytest
import torch

import codebind_core as cb
from codebind_core import posthoc_codebook as ph
from codebind_core.evaluation.robot_metric import (category_precision, code_table_topk, float_topk, markdown,
                                                   measure, recall)
from codebind_core.memory import CodebookSet


def test_recall_and_category_precision_count_by_hand():
    ranked = np.array([[0, 4, 5, 6, 7], [9, 8, 7, 1, 6], [3, 4, 5, 6, 7]])
    assert recall(ranked, np.array([0, 1, 2])) == {1: 1 / 3, 5: 2 / 3}
    assert recall(ranked, np.array([3, 0, 3])) == {1: 1 / 3, 5: 1 / 3}
    labels = np.array([0, 1, 0, 1, 0, 1, 0, 1, 0, 1])
    assert category_precision(ranked, labels, np.array([0, 1, 1])) == {1: 1.0, 5: pytest.approx(3 / 5)}
    assert category_precision(ranked, labels, np.array([1, 0, 0])) == {1: 0.0, 5: pytest.approx(2 / 5)}


def test_code_table_search_equals_float_search_only_with_the_right_codebook():
    rng = np.random.default_rng(0)
    book = rng.standard_normal((16, 4)).astype(np.float32)
    book /= np.linalg.norm(book, axis=1, keepdims=True)
    codes = rng.integers(0, 16, (300, 8))
    stored = book[codes].reshape(300, 32)  # vectors made of codevectors: the codes are lossless
    queries = rng.standard_normal((40, 32)).astype(np.float32)
    right = CodebookSet({"depth": book}, {"depth": 8})
    exact = float_topk(stored, queries, 5)
    assert np.array_equal(code_table_topk(right, "depth", codes, queries, 5), exact)
    wrong = CodebookSet({"depth": book[rng.permutation(16)]}, {"depth": 8})
    assert (code_table_topk(wrong, "depth", codes, queries, 5)[:, 0] != exact[:, 0]).mean() > 0.5


@pytest.fixture(scope="module")
def synth_set(tmp_path_factory):
    from codebind_core.data.synth_source import SynthSource, synth_config

    cfg = synth_config({"seed": 1, "num_samples": 150, "modalities": ["image", "depth", "text"], "pose": "upright"})
    return SynthSource(cfg, tmp_path_factory.mktemp("synth"), workers=1)


@pytest.fixture(scope="module")
def model_dirs(tmp_path_factory, synth_set):
    from codebind_core.codebook_cli import fit_model_dir

    root = tmp_path_factory.mktemp("models")
    torch.manual_seed(0)
    hard = cb.save(cb.create_model(cb.CodeBindConfig.preset("tiny", targets=["depth"], decouple=False)), root / "hard")
    torch.manual_seed(0)
    codebind = cb.save(cb.create_model(cb.CodeBindConfig.preset("tiny", targets=["depth"])), root / "codebind")
    bare = cb.save(cb.load(hard), root / "bare")  # hard alignment, no codebook at all
    fit_model_dir(hard, synth_set.set.root, sub_dim=8, size=32, seed=0)
    return {"hard": hard, "codebind": codebind, "bare": bare}


def test_measure_a_list_of_models(model_dirs, synth_set):
    rows = measure([model_dirs["hard"], model_dirs["codebind"]], synth_set)
    assert [(r["modality"], r["n"], r["classes"]) for r in rows] == [("depth", 15, 10)] * 2
    hard, codebind = rows
    assert hard["codebook"] == "post-hoc shared 32x8" and (hard["bits"], hard["bytes_packed"]) == (40, 5.0)
    assert codebind["codebook"] == "trained shared 256x8" and codebind["bytes_packed"] == 8.0
    for r in rows:
        assert all(0.0 <= v <= 1.0 for k, v in r.items() if "@" in k)
        assert r["caption_R@1_float"] <= r["caption_R@5_float"]
    # a post-hoc model's text query is the float vector: the robot's search is the float-query one
    assert all(hard[k] == hard[k.replace("_code", "_code_fq")] for k in hard if k.endswith("_code"))
    table = markdown(rows)
    assert table.count("\n") == 3 and "| hard | depth | post-hoc shared 32x8 | 5, 16 |" in table


def test_float_column_is_exact_search_of_the_model(model_dirs, synth_set):
    from codebind_core.evaluation.synth_split import float_shared

    (row,) = measure([model_dirs["hard"]], synth_set)
    model = cb.load(model_dirs["hard"])
    split = synth_set.prepare(model.config.inputs, "test", ["depth"])
    ranked = float_topk(float_shared(model, "depth", split.inputs("depth")),
                        float_shared(model, "text", split.captions), 5)
    assert recall(ranked, np.arange(len(split))) == {1: row["caption_R@1_float"], 5: row["caption_R@5_float"]}


def test_a_model_without_any_codebook_is_told_to_fit_one(model_dirs, synth_set):
    assert not (model_dirs["bare"] / ph.POSTHOC_FILE).exists()
    with pytest.raises(ValueError, match=f"codebind-codebook fit {model_dirs['bare']} --data"):
        measure([model_dirs["bare"]], synth_set)


def test_the_script_prints_the_table(model_dirs, synth_set, capsys):
    import importlib.util
    from pathlib import Path

    path = Path(__file__).parents[1] / "benchmarks" / "robot_metric.py"
    spec = importlib.util.spec_from_file_location("robot_metric_script", path)
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    assert script.main([str(model_dirs["hard"]), "--data", str(synth_set.set.root), "--limit", "10"]) == 0
    out = capsys.readouterr().out
    assert "| hard | depth | post-hoc shared 32x8 | 5, 16 |" in out and "command:" in out
    assert script.main([str(model_dirs["bare"]), "--data", str(synth_set.set.root)]) == 2
