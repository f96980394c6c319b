"""Post-hoc codebooks: fitting, storage beside the weights, and the memory's code-table search."""
import json

import numpy as np
import pytest
import torch

import codebind_core as cb
from codebind_core import posthoc_codebook as ph
from codebind_core.checkpoint_format import model_digest
from codebind_core.codebook_cli import main as codebook_main
from codebind_core.evaluation.robot_metric import code_table_topk, float_topk
from codebind_core.memory import CodebookSet, MemoryConfig, Observation, ObservationMemory

D, SUB, M = 64, 8, 8


def clustered(seed, n=400, protos=8, spread=0.6, noise=0.03):
    """Unit vectors whose sub-vectors are one of ``protos`` close directions per position + noise."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((M, 1, SUB)) + spread * rng.standard_normal((M, protos, SUB))
    centres /= np.linalg.norm(centres, axis=-1, keepdims=True)
    x = centres[np.arange(M), rng.integers(0, protos, (n, M))].reshape(n, D) + noise * rng.standard_normal((n, D))
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32), rng


def top1_agreement(book, stored, queries):
    """Share of queries whose top-1 by the memory's code-table search is the exact float top-1."""
    books = CodebookSet({"depth": book}, {"depth": M})
    got = code_table_topk(books, "depth", books.quantize("depth", stored), queries, 1)[:, 0]
    return float((got == float_topk(stored, queries, 1)[:, 0]).mean())


@pytest.fixture(scope="module")
def clustered_set():
    stored, rng = clustered(0)
    q = stored[:200] + 0.03 * rng.standard_normal((200, D)).astype(np.float32)
    return stored, q / np.linalg.norm(q, axis=1, keepdims=True)


@pytest.mark.parametrize("kind,size", [("shared", 64), ("per_position", 16)])
def test_fitted_codebook_keeps_the_float_top1(clustered_set, kind, size):
    stored, queries = clustered_set
    book = ph.fit_book(stored, SUB, size, kind, seed=0)
    assert book.shape == ((size, SUB) if kind == "shared" else (M, size, SUB))
    assert top1_agreement(book, stored, queries) >= 0.9  # measured 1.0


def test_wrong_codebooks_fail_the_top1_check(clustered_set):
    stored, queries = clustered_set
    rnd = np.random.default_rng(5).standard_normal((64, SUB)).astype(np.float32)
    other, _ = clustered(9)
    wrong = {"random": rnd / np.linalg.norm(rnd, axis=1, keepdims=True),      # measured 0.82
             "fitted on other data": ph.fit_book(other, SUB, 64, "shared", 0),  # measured 0.81
             "too small": ph.fit_book(stored, SUB, 4, "shared", 0)}             # measured 0.09
    for name, book in wrong.items():
        assert top1_agreement(book, stored, queries) < 0.9, name


def test_fit_is_deterministic_given_the_seed(clustered_set):
    stored, _ = clustered_set
    a, b = ph.fit_book(stored, SUB, 32, seed=3), ph.fit_book(stored, SUB, 32, seed=3)
    assert np.array_equal(a, b)
    assert not np.array_equal(a, ph.fit_book(stored, SUB, 32, seed=4))
    assert np.allclose(np.linalg.norm(a, axis=1), 1.0, atol=1e-5)


def test_fit_refuses_bad_input():
    x = np.ones((10, D), np.float32)
    for kwargs, msg in [(dict(sub_dim=7), "does not divide"), (dict(size=1), "codebook size"),
                        (dict(kind="pq"), "kind")]:
        with pytest.raises(ValueError, match=msg):
            ph.fit_book(x, **{"sub_dim": SUB, "size": 4, **kwargs})
    with pytest.raises(ValueError, match="finite"):
        ph.fit_book(np.full((10, D), np.nan, np.float32), SUB, 4)


def test_storage_bytes_match_the_compositional_budget():
    s = ph.storage(1024, 8, 1024, "shared")  # the paper's shape: 128 codes of 10 bits
    assert (s["m"], s["bits"], s["bytes_packed"], s["table_bytes"]) == (128, 1280, 160.0, 4 * 1024 * 8)
    pp = ph.storage(64, 8, 256, "per_position")
    assert (pp["bits"], pp["bytes_uint16"], pp["table_bytes"]) == (64, 16, 4 * 8 * 256 * 8)


# ---- a model trained without codebooks ----------------------------------------------------------
@pytest.fixture(scope="module")
def synth_set(tmp_path_factory):
    from codebind_core.data.synth_source import SynthSource, synth_config

    cfg = synth_config({"seed": 0, "num_samples": 120, "modalities": ["image", "depth", "text"], "pose": "upright"})
    return SynthSource(cfg, tmp_path_factory.mktemp("synth"), workers=1).set.root


@pytest.fixture
def hard_model_dir(tmp_path):
    torch.manual_seed(0)
    model = cb.create_model(cb.CodeBindConfig.preset("tiny", targets=["depth"], decouple=False))
    assert not model.quantized and not model.codebooks
    return cb.save(model, tmp_path / "hard")


def test_model_without_codebooks_names_the_fit_command(hard_model_dir):
    with pytest.raises(ValueError, match="codebind-codebook fit"):
        CodebookSet.from_model(cb.load(hard_model_dir))


def test_posthoc_codebook_serves_the_memory_like_trained_ones(hard_model_dir, synth_set, tmp_path, capsys):
    assert codebook_main(["fit", str(hard_model_dir), "--data", str(synth_set), "--size", "32", "--seed", "1"]) == 0
    assert "40 bits = 5 bytes per embedding" in capsys.readouterr().out  # m = 64 / 8 codes of 5 bits
    model = cb.load(hard_model_dir)
    books = CodebookSet.from_model(model)
    assert books.book("depth").shape == (32, SUB) and books.sub_vectors == {"depth": M}
    x = torch.randn(6, 1, 64, 64)
    emb = model.encode("depth", x)
    assert emb.codes.shape == (6, M) and emb.specific_codes is None
    # the memory's encoding path: nearest codevector of each unit shared sub-vector
    assert np.array_equal(emb.codes.numpy(), books.quantize("depth", emb.shared.detach().numpy()))
    with ObservationMemory(tmp_path / "m.db", books, MemoryConfig()) as mem:
        ids = mem.add([Observation("depth", "depth", c, i) for i, c in enumerate(emb.codes.numpy())])
        q = emb.shared[2].detach().numpy()
        hits = mem.search({"depth": q}, top_k=6)
    scores = books.decode("depth", emb.codes.numpy()) @ q * books.inverse_norms("depth", emb.codes.numpy())
    assert [h.id for h in hits] == [ids[i] for i in np.argsort(-scores, kind="stable")]
    assert np.allclose([h.score for h in hits], np.sort(scores)[::-1], atol=1e-5)


def test_stale_or_damaged_posthoc_codebook_is_refused(hard_model_dir, synth_set):
    fitted = ph.fit({"depth": clustered(0)[0]}, SUB, 16, model_digest="0" * 64)  # other weights
    ph.save(hard_model_dir, fitted)
    with pytest.raises(ValueError, match="fitted on other weights.*codebind-codebook fit"):
        cb.load(hard_model_dir)
    (hard_model_dir / ph.POSTHOC_FILE).write_bytes(b"\x80\x04not safetensors")
    with pytest.raises(ValueError, match="not a valid post-hoc codebook"):
        cb.load(hard_model_dir)
    assert codebook_main(["remove", str(hard_model_dir)]) == 0
    assert cb.load(hard_model_dir).posthoc_codebook is None


def test_per_position_fit_through_the_command(hard_model_dir, synth_set):
    args = ["fit", str(hard_model_dir), "--data", str(synth_set), "--size", "8", "--kind", "per_position"]
    assert codebook_main(args) == 0
    assert codebook_main(args) == 2  # exists: refit needs --force
    assert codebook_main(args + ["--force", "--seed", "2"]) == 0
    model = cb.load(hard_model_dir)
    assert model.posthoc_codebook.kind == "per_position" and model.posthoc_codebook.info["seed"] == 2
    books = CodebookSet.from_model(model)
    assert books.book("depth").shape == (M, 8, SUB) and books.per_position("depth")
    codes = model.encode("depth", torch.randn(3, 1, 64, 64)).codes.numpy()
    assert codes.shape == (3, M) and codes.max() < 8


def test_a_model_with_trained_codebooks_gets_no_posthoc_one(tmp_path, synth_set):
    torch.manual_seed(0)
    d = cb.save(cb.create_model(cb.CodeBindConfig.preset("tiny", targets=["depth"])), tmp_path / "cbind")
    assert codebook_main(["fit", str(d), "--data", str(synth_set)]) == 2
    assert not (d / ph.POSTHOC_FILE).exists()
    assert json.loads((d / "config.json").read_text())["quantizer"]["enabled"]


def test_per_position_tables_serve_ivf_reindex_and_objects(clustered_set, tmp_path):
    from codebind_core.memory import ObjectConfig, ObjectMemory, ObjectProposal

    stored, queries = clustered_set
    books = CodebookSet({"depth": ph.fit_book(stored, SUB, 16, "per_position", seed=0)})
    codes = books.quantize("depth", stored)
    exact = code_table_topk(books, "depth", codes, queries[:20], 5)
    cfg = MemoryConfig(index="ivf", ivf_nprobe=64, ivf_min_observations=10)
    with ObservationMemory(tmp_path / "ivf.db", books, cfg) as mem:
        ids = mem.add([Observation("depth", "depth", c, i) for i, c in enumerate(codes)])
        mem.train_coarse("depth")
        probed = [[ids.index(h.id) for h in mem.search({"depth": q}, top_k=5)] for q in queries[:20]]
    assert np.array_equal(np.array(probed), exact)  # every cell probed: the exact ranking
    # reopened with a shared table: rows re-quantized from their decoded vectors
    shared = CodebookSet({"depth": ph.fit_book(stored, SUB, 64, "shared", seed=0)})
    with ObservationMemory(tmp_path / "ivf.db", shared, MemoryConfig(on_codebook_mismatch="reindex")) as mem:
        assert mem.reindexed == len(stored)
        again = np.stack([o.codes for o in mem.get(ids[:50]).values()])
    assert np.array_equal(again, shared.quantize("depth", books.decode("depth", codes[:50])))
    with ObjectMemory.open(tmp_path / "obj.db", books, object_config=ObjectConfig("map")) as objs:
        objs.observe([ObjectProposal("depth", 1, (float(i), 0.0, 0.0), embedding=stored[i], frame_id="map")
                      for i in range(3)])
        hit = objs.query({"depth": stored[1]}, top_k=1, min_score=0.0, margin=0.0)[0]
        assert np.array_equal(hit.object.codes, codes[1]) and hit.score > 0.9


def test_save_carries_the_posthoc_codebook_only_with_its_weights(hard_model_dir, tmp_path):
    ph.save(hard_model_dir, ph.fit({"depth": clustered(0)[0]}, SUB, 16, model_digest=model_digest(hard_model_dir)))
    model = cb.load(hard_model_dir)
    copy = cb.save(model, tmp_path / "copy")  # same weights: the codebook goes along
    assert np.array_equal(cb.load(copy).posthoc_codebook.books["depth"], model.posthoc_codebook.books["depth"])
    with torch.no_grad():
        model.heads["depth"].shared.weight.add_(0.1)  # changed weights: it stays behind
    cb.save(model, copy)
    assert not (copy / ph.POSTHOC_FILE).exists() and cb.load(copy).posthoc_codebook is None


def test_show_on_a_directory_without_a_codebook_or_weights_answers_without_a_traceback(tmp_path, capsys):
    assert codebook_main(["show", str(tmp_path)]) == 1            # nothing there: "has no post-hoc codebook"
    assert "has no post-hoc codebook" in capsys.readouterr().out
    (tmp_path / ph.POSTHOC_FILE).write_bytes(b"")                  # a codebook but no weights to check it
    assert codebook_main(["show", str(tmp_path)]) == 2
    assert "model.safetensors" in capsys.readouterr().err
