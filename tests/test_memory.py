"""Observation memory: code-table search is exact, persistent, bounded and validated."""
import sqlite3

import numpy as np
import pytest

from codebind_core.memory import (CodebookMismatchError, CodebookSet, MemoryConfig, Observation,
                                  ObservationMemory)
from codebind_core.memory import kernels

K, D_SUB, M = 64, 8, 16  # codebook size, sub-vector dim, sub-vectors per embedding (D = 128)


def _book(rng, k=K, d=D_SUB, unit=True):
    b = rng.standard_normal((k, d)).astype(np.float32)
    if unit:
        b /= np.linalg.norm(b, axis=1, keepdims=True)
    return b


def _obs(rng, n, codebook_set="depth", modality="depth", t0=0, k=K):
    return [Observation(modality, codebook_set, rng.integers(0, k, M), t0 + i * 1000, "map",
                        position=(float(i), 0.0, 1.0), size=(0.1, 0.1, 0.1), box=(0, 0, 10, 10))
            for i in range(n)]


def _brute(cbs, codebook_set, obs, q):
    codes = np.stack([o.codes for o in obs])
    x = cbs.decode(codebook_set, codes).astype(np.float64)
    return (x @ q) / (np.linalg.norm(x, axis=1) * np.linalg.norm(q))


def _assert_same_ranking(hits, scores_bf, ids_bf, k):
    """Ranking equals brute force except where brute-force scores tie within float error."""
    order = np.argsort(-scores_bf, kind="stable")[:k]
    got = np.array([h.score for h in hits])
    np.testing.assert_allclose(got, scores_bf[order], atol=1e-5)
    for h, i in zip(hits, order):
        if h.id != ids_bf[i]:  # allowed only for a tie
            assert abs(scores_bf[np.searchsorted(ids_bf, h.id)] - scores_bf[i]) < 1e-5


@pytest.fixture
def rng():
    return np.random.default_rng(0)


@pytest.mark.parametrize("unit", [True, False])
@pytest.mark.parametrize("numba", [True, False])
def test_table_search_ranks_like_brute_force(tmp_path, rng, unit, numba, monkeypatch):
    if not numba:
        monkeypatch.setattr(kernels, "HAVE_NUMBA", False)
    cbs = CodebookSet({"depth": _book(rng, unit=unit)})
    mem = ObservationMemory(tmp_path / "m.db", cbs)
    obs = _obs(rng, 3000)
    ids = np.asarray(mem.add(obs))
    for _ in range(5):
        q = rng.standard_normal(M * D_SUB)
        hits = mem.search({"depth": q}, top_k=25)
        assert len(hits) == 25
        _assert_same_ranking(hits, _brute(cbs, "depth", obs, q), ids, 25)


def test_filters_match_brute_force(tmp_path, rng):
    cbs = CodebookSet({"depth": _book(rng), "audio": _book(rng)})
    mem = ObservationMemory(tmp_path / "m.db", cbs)
    depth, audio = _obs(rng, 500), _obs(rng, 500, "audio", "audio", t0=10_000_000)
    thermal = _obs(rng, 500, "depth", "thermal", t0=20_000_000)
    mem.add(depth), mem.add(audio), mem.add(thermal)
    q = rng.standard_normal(M * D_SUB)
    queries = {"depth": q, "audio": q}
    hits = mem.search(queries, top_k=10, modalities=["thermal"])
    assert [h.observation.modality for h in hits] == ["thermal"] * 10
    bf = _brute(cbs, "depth", thermal, q)
    np.testing.assert_allclose([h.score for h in hits], np.sort(bf)[::-1][:10], atol=1e-5)
    # time window [10.0 ms, 10.1 ms]: audio rows 0..100 only
    hits = mem.search(queries, top_k=100, since_ns=10_000_000, until_ns=10_100_000)
    assert len(hits) == 100 and {h.observation.modality for h in hits} == {"audio"}
    assert all(10_000_000 <= h.observation.stamp_ns <= 10_100_000 for h in hits)
    # both paths, no filter: the merged ranking is the brute-force ranking over all rows
    bf_all = np.concatenate([_brute(cbs, "depth", depth, q), _brute(cbs, "audio", audio, q),
                             _brute(cbs, "depth", thermal, q)])
    hits = mem.search(queries, top_k=20)
    np.testing.assert_allclose([h.score for h in hits], np.sort(bf_all)[::-1][:20], atol=1e-5)
    assert mem.search(queries, modalities=["lidar"]) == []


def test_persists_and_codes_are_16x_smaller(tmp_path, rng):
    cbs = CodebookSet({"depth": _book(rng)})
    obs = _obs(rng, 200)
    with ObservationMemory(tmp_path / "m.db", cbs) as mem:
        ids = mem.add(obs)
        q = rng.standard_normal(M * D_SUB)
        before = [(h.id, h.score) for h in mem.search({"depth": q}, top_k=10)]
    with ObservationMemory(tmp_path / "m.db", cbs) as mem:
        assert len(mem) == 200
        assert [(h.id, h.score) for h in mem.search({"depth": q}, top_k=10)] == before
        got = mem.get([ids[7]])[ids[7]]
        np.testing.assert_array_equal(got.codes, obs[7].codes)
        assert got.position == (7.0, 0.0, 1.0) and got.box == (0, 0, 10, 10) and got.frame_id == "map"
    blob = sqlite3.connect(tmp_path / "m.db").execute("SELECT codes FROM observations LIMIT 1").fetchone()[0]
    assert len(blob) == M * 2 == (M * D_SUB * 4) // 16  # uint16 per sub-vector vs float32 per dim


def test_bounded_size_evicts_oldest_from_db_too(tmp_path, rng):
    cbs = CodebookSet({"depth": _book(rng)})
    cfg = MemoryConfig(max_observations=300)
    with ObservationMemory(tmp_path / "m.db", cbs, cfg) as mem:
        ids = []
        for _ in range(5):
            ids += mem.add(_obs(rng, 100))
        assert len(mem) == 300
        assert mem.get(ids[:200]) == {}
        assert sorted(mem.get(ids[200:])) == ids[200:]
        q = rng.standard_normal(M * D_SUB)
        assert min(h.id for h in mem.search({"depth": q}, top_k=100)) > ids[199]
    assert sqlite3.connect(tmp_path / "m.db").execute("SELECT COUNT(*) FROM observations").fetchone()[0] == 300
    with ObservationMemory(tmp_path / "m.db", cbs, cfg) as mem:
        assert len(mem) == 300
        mem.add(_obs(rng, 50))
        assert len(mem) == 300 and mem.get(ids[200:250]) == {}


def test_rejects_bad_input(tmp_path, rng):
    cbs = CodebookSet({"depth": _book(rng)})
    mem = ObservationMemory(tmp_path / "m.db", cbs, MemoryConfig(max_top_k=7, max_text_chars=20))
    mem.add(_obs(rng, 10))
    bad = [
        (Observation("depth", "depth", np.full(M, K), 0), "must be in"),
        (Observation("depth", "lidar", np.zeros(M, int), 0), "unknown codebook set"),
        (Observation("depth", "depth", np.zeros(M + 1, int), 0), "stores 16 codes"),
        (Observation("depth", "depth", np.zeros(M, int), 0, position=(0, np.nan, 0)), "NaN"),
        (Observation("depth", "depth", np.zeros(M, int), 0, box=(5, 0, 1, 1)), "x0 <= x1"),
        (Observation("", "depth", np.zeros(M, int), 0), "modality"),
        (Observation("depth", "depth", np.zeros(M, int), -5), "stamp"),
    ]
    for o, msg in bad:
        with pytest.raises(ValueError, match=msg):
            mem.add([_obs(rng, 1)[0], o])
    assert len(mem) == 10  # a bad batch stores nothing
    q = rng.standard_normal(M * D_SUB)
    assert len(mem.search({"depth": q}, top_k=1000)) == 7
    with pytest.raises(ValueError, match="zero vector"):
        mem.search({"depth": np.zeros(M * D_SUB)})
    with pytest.raises(ValueError, match="NaN"):
        mem.search({"depth": np.full(M * D_SUB, np.nan)})
    with pytest.raises(ValueError, match="multiple"):
        mem.search({"depth": np.ones(M * D_SUB + 3)})
    with pytest.raises(ValueError, match="empty time window"):
        mem.search({"depth": q}, since_ns=10, until_ns=5)
    with pytest.raises(ValueError, match="top_k"):
        mem.search({"depth": q}, top_k=0)
    cfg = mem.config
    assert cfg.bounded_query("  a red sphere ", 100) == ("a red sphere", 7)
    for text, msg in [("", "empty"), ("x" * 21, "limit is 20")]:
        with pytest.raises(ValueError, match=msg):
            cfg.bounded_query(text, 3)
    with pytest.raises(ValueError, match="synchronous"):
        MemoryConfig(synchronous="OFF")


def test_other_codebooks_refused_or_reindexed(tmp_path, rng):
    old = CodebookSet({"depth": _book(rng)})
    obs = _obs(rng, 100)
    with ObservationMemory(tmp_path / "m.db", old) as mem:
        mem.add(obs)
    new = CodebookSet({"depth": _book(rng)})
    with pytest.raises(CodebookMismatchError, match="reindex"):
        ObservationMemory(tmp_path / "m.db", new)
    with ObservationMemory(tmp_path / "m.db", new, MemoryConfig(on_codebook_mismatch="reindex")) as mem:
        assert mem.reindexed == 100
        codes = new.quantize("depth", old.decode("depth", np.stack([o.codes for o in obs])))
        got = mem.get(range(1, 101))
        np.testing.assert_array_equal(np.stack([got[i].codes for i in range(1, 101)]), codes)
        q = rng.standard_normal(M * D_SUB)
        requant = [Observation("depth", "depth", c, 0) for c in codes]
        _assert_same_ranking(mem.search({"depth": q}, top_k=10), _brute(new, "depth", requant, q),
                             np.arange(1, 101), 10)
    with ObservationMemory(tmp_path / "m.db", new) as mem:  # now matches
        assert len(mem) == 100


def _clustered(rng, cbs, n, centres, noise=0.35):
    labels = rng.integers(0, len(centres), n)
    x = centres[labels] + noise * rng.standard_normal((n, centres.shape[1])) / np.sqrt(centres.shape[1])
    return cbs.quantize("depth", x), labels


def test_coarse_cells_recall_and_persistence(tmp_path, rng):
    cbs = CodebookSet({"depth": _book(rng)})
    centres = rng.standard_normal((40, M * D_SUB))
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    codes, _ = _clustered(rng, cbs, 6000, centres)
    cfg = MemoryConfig(index="ivf", ivf_nlist=64, ivf_nprobe=8, ivf_min_observations=4000, ivf_train_sample=4000)
    mem = ObservationMemory(tmp_path / "m.db", cbs, cfg)
    mem.add([Observation("depth", "depth", c, i) for i, c in enumerate(codes[:3000])])
    assert "depth" not in mem._coarse
    mem.add([Observation("depth", "depth", c, i) for i, c in enumerate(codes[3000:])])
    assert mem._coarse["depth"].nlist == 64  # trained once 4000 rows were reached
    recalls = []
    queries = centres[rng.integers(0, 40, 20)] + 0.3 * rng.standard_normal((20, M * D_SUB)) / np.sqrt(M * D_SUB)
    for q in queries:
        exact = [h.id for h in mem.search({"depth": q}, top_k=10, exact=True)]
        approx = mem.search({"depth": q}, top_k=10)
        recalls.append(len(set(exact) & {h.id for h in approx}) / 10)
        bf = _brute(cbs, "depth", [Observation("depth", "depth", codes[h.id - 1], 0) for h in approx], q)
        np.testing.assert_allclose([h.score for h in approx], bf, atol=1e-5)  # scores are exact
    assert np.mean(recalls) >= 0.9
    mem.close()
    mem = ObservationMemory(tmp_path / "m.db", cbs, cfg)  # cells persisted, not retrained
    assert mem._coarse["depth"].nlist == 64
    after = [[h.id for h in mem.search({"depth": q}, top_k=10)] for q in queries[:5]]
    mem.add([Observation("depth", "depth", c, 0) for c in codes[:10]])
    m = mem._mirrors["depth"]
    assert int((m.col("cells")[m.end - 10: m.end] >= 0).sum()) == 10 and len(mem._coarse["depth"]) == 6010
    full = MemoryConfig(index="ivf", ivf_nlist=64, ivf_nprobe=64, ivf_min_observations=4000)
    mem.close()
    with ObservationMemory(tmp_path / "m.db", cbs, full) as mem:  # probing every cell == exact
        for q, prev in zip(queries[:5], after):
            assert [h.id for h in mem.search({"depth": q}, top_k=10)] == \
                   [h.id for h in mem.search({"depth": q}, top_k=10, exact=True)]


def test_coarse_cells_follow_eviction(tmp_path, rng):
    cbs = CodebookSet({"depth": _book(rng)})
    centres = rng.standard_normal((10, M * D_SUB))
    codes, _ = _clustered(rng, cbs, 3000, centres / np.linalg.norm(centres, axis=1, keepdims=True))
    cfg = MemoryConfig(index="ivf", ivf_nlist=16, ivf_nprobe=4, ivf_min_observations=500, max_observations=1000)
    with ObservationMemory(tmp_path / "m.db", cbs, cfg) as mem:
        ids = []
        for a in range(0, 3000, 250):
            ids += mem.add([Observation("depth", "depth", c, a + i) for i, c in enumerate(codes[a: a + 250])])
        assert len(mem) == 1000 and len(mem._coarse["depth"]) >= 1000
        for q in centres:
            hits = mem.search({"depth": q}, top_k=50)
            assert hits and min(h.id for h in hits) > ids[1999]  # evicted rows never come back
        assert mem._coarse["depth"].used <= 3 * 4096 + 16 * 64  # arena stays bounded


def test_known_sub_vector_count_is_enforced(tmp_path, rng):
    cbs = CodebookSet({"depth": _book(rng)}, sub_vectors={"depth": M})
    with ObservationMemory(tmp_path / "m.db", cbs) as mem:
        with pytest.raises(ValueError, match="has 16 codes per embedding, got 15"):
            mem.add([Observation("depth", "depth", np.zeros(M - 1, int), 0)])
        assert mem.add([Observation("depth", "depth", np.zeros(M, int), 0)]) == [1]
    with pytest.raises(ValueError, match="sub_vectors"):
        CodebookSet({"depth": _book(rng)}, sub_vectors={"audio": 4})


def test_coarse_arena_stays_consistent_under_random_growth_and_eviction(tmp_path, rng):
    """After any mix of batch sizes and evictions, the cells hold exactly the live rows, with
    their codes, each cell in id order."""
    cbs = CodebookSet({"depth": _book(rng)})
    cfg = MemoryConfig(index="ivf", ivf_nlist=8, ivf_nprobe=2, ivf_min_observations=300, max_observations=900)
    with ObservationMemory(tmp_path / "m.db", cbs, cfg) as mem:
        for step in range(40):
            n = int(rng.choice([1, 7, 50, 400]))
            mem.add([Observation("depth", "depth", rng.integers(0, K, M), step) for _ in range(n)])
            coarse = mem._coarse.get("depth")
            if coarse is None:
                continue
            mirror = mem._mirrors["depth"]
            live = dict(zip(mirror.col("ids")[mirror.start: mirror.end].tolist(),
                            map(tuple, mirror.codes[mirror.start: mirror.end])))
            seen = {}
            for c in range(coarse.nlist):
                coarse._trim(c)
                a, b = coarse.region_off[c] + coarse.live_lo[c], coarse.region_off[c] + coarse.live_hi[c]
                ids = coarse.cols["ids"][a:b]
                assert (np.diff(ids) > 0).all()
                assert b - a <= coarse.region_cap[c] and coarse.region_off[c] + coarse.region_cap[c] <= coarse.used
                seen.update(zip(ids.tolist(), map(tuple, coarse.codes[a:b])))
            assert seen == live
            assert coarse.used <= 4 * max(len(mem), 4096)


@pytest.mark.skipif(not kernels.HAVE_NUMBA, reason="numba not installed")
def test_warm_up_compiles_every_search_kernel():
    """The memory node warms up at start, so its first query does not compile (seconds when busy)."""
    kernels.warm_up()
    for k in (kernels._scan_topk_serial, kernels._scan_topk_parallel, kernels._lookup_table_jit,
              kernels._matvec_jit):
        assert k.signatures, k
