"""scripts/train_demo_model.py decides when to reuse, resume or retrain without training anything."""
import importlib.util
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "train_demo_model.py"


@pytest.fixture(scope="module")
def demo():
    spec = importlib.util.spec_from_file_location("train_demo_model", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _finished_run(out: Path, cfg) -> None:
    (out / "model").mkdir(parents=True)
    (out / "model" / "config.json").write_text("{}")
    (out / "result.json").write_text("{}")
    cfg.save(out / "train_config.yaml")


def test_recipe(demo, tmp_path):
    cfg = demo.demo_config(tmp_path, 600, 3000, 1500)
    built = cfg.model.build()
    assert built.bridge.arch == "tiny-cnn" and cfg.data.options["synth"]["pose"] == "upright"
    assert cfg.bridge_pretrain.steps == 1500 and cfg.steps == 600
    assert set(built.targets) == {"depth", "thermal", "tactile", "pointcloud", "audio"}


def test_reuses_only_a_finished_run_of_the_same_recipe(demo, tmp_path):
    cfg = demo.demo_config(tmp_path, 600, 3000, 1500)
    assert not demo.is_trained(tmp_path, cfg)
    _finished_run(tmp_path, cfg)
    assert demo.is_trained(tmp_path, cfg)
    other = demo.demo_config(tmp_path, 600, 3000, 400)  # e.g. an older demo's shorter Stage 0
    assert not demo.same_recipe(tmp_path, other) and not demo.is_trained(tmp_path, other)


def test_clear_removes_the_run_and_nothing_else(demo, tmp_path):
    cfg = demo.demo_config(tmp_path, 600, 3000, 1500)
    _finished_run(tmp_path, cfg)
    (tmp_path / "bridge").mkdir()
    (tmp_path / demo.MEMORY_DB).write_text("")
    (tmp_path / "notes.txt").write_text("mine")
    demo.clear(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == [demo.MEMORY_DB, "notes.txt"]


SHIPPED = Path(__file__).resolve().parents[1] / "models" / "demo"


def test_shipped_model_was_made_by_the_current_recipe(demo):
    """models/demo (what `make demo` runs) carries the fingerprint of the recipe `make demo-train`
    runs now: a changed recipe or model config must be retrained and re-shipped."""
    import json

    recipe = json.loads((SHIPPED / "recipe.json").read_text())
    assert recipe["fingerprint"] == demo.default_fingerprint(), (
        "the shipped demo model was trained with another recipe: run `make demo-train`")
    assert recipe["precision"] in ("fp16", "fp32")


def test_shipped_model_loads_with_a_codebook_that_serves_the_memory_and_no_decoders():
    """The shipped recipe (hard alignment, docs/results.md) has no trained codebooks: its post-hoc
    codebook (fitted on these very weights) gives every target's codes, which the memory's
    CodebookSet decodes; a CodeBind demo would carry float32 trained codebooks instead."""
    import json

    import numpy as np
    from safetensors import safe_open

    import codebind_core as cb
    from codebind_core.memory import CodebookSet

    model = cb.load(SHIPPED)
    assert not model.decoders and set(model.config.targets) == {"depth", "thermal", "tactile", "pointcloud", "audio"}
    with safe_open(str(SHIPPED / "model.safetensors"), "pt") as f:
        dtypes = {k: f.get_slice(k).get_dtype() for k in f.keys()}
    assert all(d in ("F32", "BOOL") for k, d in dtypes.items() if k.startswith("codebooks."))
    assert any(d == "F16" for d in dtypes.values())
    assert all(p.dtype.is_floating_point for p in model.parameters())
    recipe = json.loads((SHIPPED / "recipe.json").read_text())
    assert recipe["variant"] == ("codebind" if model.quantized else "hard_align")
    books = CodebookSet.from_model(model)  # trained or post-hoc: the memory is served either way
    depth = np.random.default_rng(0).uniform(0.5, 3.0, (2, 64, 64)).astype(np.float32)
    emb = model.encode("depth", model.preprocess("depth", list(depth)))
    m = model.config.embed_dim // (model.config.quantizer.sub_dim if model.quantized
                                   else model.posthoc_codebook.sub_dim())
    assert emb.codes.shape == (2, m) and int(emb.codes.max()) < max(b.shape[-2] for b in books.books.values())


def test_fingerprint_does_not_depend_on_the_checkout_path(demo, tmp_path):
    a = demo.demo_config(tmp_path / "a", 600, 3000, 1500)
    b = demo.demo_config(tmp_path / "b", 600, 3000, 1500)
    b.data.options["cache_dir"] = str(tmp_path / "elsewhere")
    assert a.fingerprint() == b.fingerprint()
