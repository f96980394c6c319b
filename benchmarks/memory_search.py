"""Text-query latency of the observation memory vs float brute force and faiss.

Synthetic robot memory: ``N`` observations of ``N / 500`` objects (each object seen ~500 times;
every observation keeps its object's codes except a random 25%), quantized with a
``--codebook`` x ``--sub-dim`` shared codebook into D = ``--dim`` vectors. Queries are noisy
object vectors (like a text embedding near its object). Per method and N: p50 / p99 latency of
one query (top-10) and recall@10 against the exact search.

    .venv/bin/python benchmarks/memory_search.py                      # 10k, 100k, 1M
    .venv/bin/python benchmarks/memory_search.py --sizes 10000 --queries 20 --no-docs
"""
from __future__ import annotations

import argparse
import datetime
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable, Dict, List

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from machine import cpu_model  # noqa: E402

from codebind_core.memory import CodebookSet, MemoryConfig, Observation, ObservationMemory  # noqa: E402

TOP_K = 10
TARGET_MS = 5.0


def make_data(n: int, dim: int, sub_dim: int, k: int, n_queries: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    m = dim // sub_dim
    book = rng.standard_normal((k, sub_dim)).astype(np.float32)
    book /= np.linalg.norm(book, axis=1, keepdims=True)
    cbs = CodebookSet({"camera": book})
    n_obj = max(20, n // 500)
    protos = rng.integers(0, k, (n_obj, m)).astype(np.uint16)
    labels = rng.integers(0, n_obj, n)
    codes = protos[labels]
    flip = rng.random((n, m)) < 0.25
    codes[flip] = rng.integers(0, k, int(flip.sum())).astype(np.uint16)
    targets = rng.integers(0, n_obj, n_queries)
    q = cbs.decode("camera", protos[targets]) / np.sqrt(m)
    q = q + 0.6 * rng.standard_normal(q.shape).astype(np.float32) / np.sqrt(dim)
    return cbs, codes, (q / np.linalg.norm(q, axis=1, keepdims=True)).astype(np.float32)


def decoded_unit(cbs: CodebookSet, codes: np.ndarray) -> np.ndarray:
    x = np.empty((codes.shape[0], codes.shape[1] * cbs.sub_dim("camera")), np.float32)
    for a in range(0, codes.shape[0], 100_000):
        part = cbs.decode("camera", codes[a: a + 100_000])
        x[a: a + 100_000] = part / np.linalg.norm(part, axis=1, keepdims=True)
    return x


def build_memory(db: Path, cbs: CodebookSet, codes: np.ndarray, config: MemoryConfig) -> ObservationMemory:
    mem = ObservationMemory(db, cbs, config)
    for a in range(0, codes.shape[0], 20_000):
        mem.add([Observation("camera", "camera", c, a + i, "map", position=(0.0, 0.0, 0.0))
                 for i, c in enumerate(codes[a: a + 20_000])])
    return mem


def measure(name: str, fn: Callable[[np.ndarray], np.ndarray], queries: np.ndarray,
            truth: List[np.ndarray]) -> Dict[str, float]:
    for q in queries[:3]:
        fn(q)  # warm-up (JIT, caches)
    lat, recall = [], []
    for q, gt in zip(queries, truth):
        t = time.perf_counter()
        got = fn(q)
        lat.append((time.perf_counter() - t) * 1e3)
        recall.append(len(set(np.asarray(got).tolist()) & set(gt.tolist())) / TOP_K)
    return dict(method=name, p50=float(np.percentile(lat, 50)), p99=float(np.percentile(lat, 99)),
                recall=float(np.mean(recall)))


def run_size(n: int, args, tmp: Path) -> List[dict]:
    """Every method at one N, each built and measured on its own (one method's threads or memory
    never run beside another's measurement)."""
    import faiss

    cbs, codes, queries = make_data(n, args.dim, args.sub_dim, args.codebook, args.queries)
    m = codes.shape[1]
    rows = []

    def add(row, bytes_per_obs, built_s):
        row.update(n=n, bytes=bytes_per_obs, build_s=built_s)
        rows.append(row)
        print(f"  {row['method']:40s} p50 {row['p50']:8.2f} ms  p99 {row['p99']:8.2f} ms  recall@10 "
              f"{row['recall']:.3f}  {bytes_per_obs} B/obs  (built in {built_s:.1f} s)", flush=True)

    t = time.perf_counter()
    cfg = MemoryConfig(max_observations=n, index="ivf", ivf_nprobe=args.nprobe, ivf_min_observations=n)
    mem = build_memory(tmp / "memory.db", cbs, codes, cfg)
    built = time.perf_counter() - t
    exact = lambda q: np.array([h.id - 1 for h in mem.search({"camera": q}, TOP_K, exact=True)])  # noqa: E731
    truth = [exact(q) for q in queries]
    add(measure("code table, exact", exact, queries, truth), 2 * m, built)
    nlist = mem._coarse["camera"].nlist
    add(measure(f"code table, ivf (nprobe {args.nprobe}/{nlist})",
                lambda q: np.array([h.id - 1 for h in mem.search({"camera": q}, TOP_K)]), queries, truth),
        2 * m, built)
    mem.close()

    t = time.perf_counter()
    x = decoded_unit(cbs, codes)
    built = time.perf_counter() - t

    def numpy_bf(q):
        s = x @ q
        top = np.argpartition(-s, TOP_K)[:TOP_K]
        return top[np.argsort(-s[top])]

    add(measure("numpy float matmul", numpy_bf, queries, truth), 4 * x.shape[1], built)

    faiss.omp_set_num_threads(os.cpu_count() or 1)
    t = time.perf_counter()
    flat = faiss.IndexFlatIP(x.shape[1])
    flat.add(x)
    built = time.perf_counter() - t
    add(measure("faiss IndexFlatIP", lambda q: flat.search(q[None], TOP_K)[1][0], queries, truth),
        4 * x.shape[1], built)

    faiss.omp_set_num_threads(1)  # k-means with OpenMP barriers stalls badly on a busy 2-core CPU
    t = time.perf_counter()
    pq = faiss.IndexPQ(x.shape[1], x.shape[1] // 8, 8, faiss.METRIC_INNER_PRODUCT)
    pq.pq.cp.niter = 10
    pq.train(x[np.random.default_rng(0).choice(n, min(n, 16_384), replace=False)])
    pq.add(x)
    built = time.perf_counter() - t
    faiss.omp_set_num_threads(os.cpu_count() or 1)
    add(measure("faiss IndexPQ (m=D/8, 8 bit)", lambda q: pq.search(q[None], TOP_K)[1][0], queries, truth),
        x.shape[1] // 8, built)
    return rows


def run(args) -> List[dict]:
    rows = []
    for n in args.sizes:
        print(f"N={n}:", flush=True)
        with tempfile.TemporaryDirectory() as tmp:
            rows += run_size(n, args, Path(tmp))
    return rows


def markdown(rows: List[dict], command: str, args, load) -> str:
    lines = ["## Memory search", "",
             f"Text query (top-{TOP_K}) over N stored observations, D = {args.dim}, d* = {args.sub_dim}, "
             f"K = {args.codebook} (m = {args.dim // args.sub_dim} uint16 codes per observation), "
             f"{args.queries} queries, synthetic clustered memory (N/500 objects, 25% of codes perturbed). "
             "Recall@10 is measured against the exact code-table search (which ranks exactly like brute "
             "force over the decoded vectors, tests/test_memory.py). The float and faiss baselines search "
             "the decoded vectors. Target: p50 <= 5 ms at N = 1M.", "",
             f"Command: `{command}`", "",
             f"1-minute load average of the machine (other jobs included): {load[0][0]:.1f} at the start, "
             f"{load[1][0]:.1f} at the end; timings on a busy machine are inflated, compare methods "
             "within one run.", "",
             "| N | method | p50 ms | p99 ms | recall@10 | bytes/obs |", "|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['n']:,} | {r['method']} | {r['p50']:.2f} | {r['p99']:.2f} | {r['recall']:.3f} "
                     f"| {r['bytes']} |")
    by = {}
    for r in rows:
        by.setdefault(r["method"], []).append(r)
    lines += ["", "Growth with N (p50 at the largest N / p50 at the smallest):", ""]
    for name, rs in by.items():
        if len(rs) > 1:
            lines.append(f"- {name}: x{rs[-1]['p50'] / max(rs[0]['p50'], 1e-9):.1f} for N x{rs[-1]['n'] // rs[0]['n']}")
    big = max(r["n"] for r in rows)
    best = min((r for r in rows if r["n"] == big and r["method"].startswith("code table")), key=lambda r: r["p50"])
    lines += ["", f"At N = {big:,}: fastest code-table search p50 {best['p50']:.2f} ms "
              f"({best['p50'] / TARGET_MS:.2f} x the {TARGET_MS:.0f} ms target, recall@10 {best['recall']:.3f}).", ""]
    return "\n".join(lines)


def write_docs(section: str, path: Path) -> None:
    header = (f"# Benchmarks\n\nMachine: {os.cpu_count()}-core CPU ({cpu_model()}), no GPU; shared with "
              f"other work, so expect noise. Date: {datetime.date.today()}.\n\n")
    text = path.read_text() if path.exists() else header
    start = text.find("## Memory search")
    if start >= 0:
        nxt = text.find("\n## ", start + 5)
        text = text[:start] + section + ("" if nxt < 0 else text[nxt + 1:])
    else:
        text = text.rstrip("\n") + "\n\n" + section
    path.write_text(text)


def add_code_arguments(ap: argparse.ArgumentParser) -> None:
    """The stored codes' geometry: --dim D, --sub-dim d* (D / d* codes per row), --codebook K."""
    ap.add_argument("--dim", type=int, default=512)
    ap.add_argument("--sub-dim", type=int, default=8)
    ap.add_argument("--codebook", type=int, default=1024)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    add_code_arguments(ap)
    ap.add_argument("--queries", type=int, default=50)
    ap.add_argument("--nprobe", type=int, default=16)
    ap.add_argument("--no-docs", action="store_true", help="do not write docs/benchmarks.md")
    args = ap.parse_args()
    command = "python benchmarks/memory_search.py " + " ".join(sys.argv[1:])
    print(f"command: {command.strip()}")
    load = os.getloadavg()
    rows = run(args)
    load = (load, os.getloadavg())
    section = markdown(rows, command.strip(), args, load)
    print("\n" + section)
    if not args.no_docs:
        write_docs(section, ROOT / "docs" / "benchmarks.md")
        print(f"wrote {ROOT / 'docs' / 'benchmarks.md'}")


if __name__ == "__main__":
    main()
