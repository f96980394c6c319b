"""Query latency through the memory node: QueryText round trip on ``codebind/query``, objects and
observations answers, with a large memory.

A SQLite memory of ``--observations`` N raw observations and ``--objects`` K objects (random codes
of the model's own codebooks, built through the core API with the builders of
``benchmarks/memory_objects.py``) is served by a real :class:`MemoryNode` (in-process rclpy,
localhost DDS); a client node in the same process sends ``--queries`` text queries (top-10) one at
a time and times each request -> response. Both answers are measured: objects (the default) and
observations (``observations: true``, exact scan over all N). In the same run, on the node's own
memory, it also times the parts of an answer without ROS: the text encoder alone (one forward per
stored codebook set, per query), the core query alone (``ObjectMemory.query`` /
``ObservationMemory.search`` with the text already encoded) and building + publishing the RViz
markers (which the node does on its ``markers_period`` timer when the objects or the highlighted
answer changed, not while answering). K grows through the given values (objects are added between
node starts); N is fixed per database.

Models: ``d512`` (default) is the tiny architecture with D = 512 and a shared codebook of 1024
entries of d* = 8 (m = 64 codes per row, as ``memory_objects.py``), random weights, seed 0;
``demo`` is the shipped ``models/demo`` (D = 64, K = 256, m = 8). With ``--db`` the database is
kept (and its model beside it, ``<db>.model``) and reused by a later run of the same N; K values
below its object count are then skipped.

Node settings: ``query_min_score`` and ``query_margin`` off (every answer has 10 entries),
``dedupe_distance`` 0 (the synthetic observations share one position), ``transform_source`` none.

    nice -n 5 .venv/bin/python benchmarks/ros_memory_query.py                        # 1M obs; 1k, 10k objects
    nice -n 5 .venv/bin/python benchmarks/ros_memory_query.py --quick                # 100k obs; 1k objects
    .venv/bin/python benchmarks/ros_memory_query.py --observations 300000 --objects 1000 --db /tmp/q.db
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import shlex
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Optional

os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

import numpy as np  # noqa: E402
import rclpy  # noqa: E402
import torch  # noqa: E402
from memory_objects import add_objects, cpu_name, fill_observations  # noqa: E402
from rclpy.executors import MultiThreadedExecutor, SingleThreadedExecutor  # noqa: E402
from rclpy.node import Node  # noqa: E402
from rclpy.parameter import Parameter  # noqa: E402

import codebind_core as cb  # noqa: E402
from codebind_core.memory import CodebookSet, MemoryConfig, ObjectConfig, ObjectMemory  # noqa: E402
from codebind_ros.messaging.topics import QUERY_SERVICE  # noqa: E402
from codebind_ros.nodes.memory_node import MemoryNode  # noqa: E402
from codebind_ros.nodes.session import freeze_start_up_objects  # noqa: E402
from codebind_ros.nodes.session import ros_session  # noqa: E402
from codebind_ros.srv import QueryText  # noqa: E402

TARGETS = ["depth", "thermal", "tactile", "pointcloud", "audio"]
CODEBOOK_SET = "depth"  # the codebook set of every stored observation and object (camera proposals)
TOP_K = 10
COLOURS = ["red", "blue", "green", "yellow", "black", "white", "orange", "grey"]
THINGS = ["mug", "chair", "drill", "box", "bottle", "book", "lamp", "ball"]
TEXTS = [f"a {c} {t} on the table" for c in COLOURS for t in THINGS]  # 64 queries, cycled


def make_model(kind: str):
    if kind == "demo":
        return cb.load(HERE.parent / "models" / "demo").eval()
    torch.manual_seed(0)
    return cb.create_model(cb.CodeBindConfig.preset("tiny", embed_dim=512, quantizer={"shared_size": 1024},
                                                    targets=TARGETS)).eval()


def prepare(db: Path, n: int, kind: str, rng):
    """(model, codebooks): a new database of ``n`` observations at ``db``, or the one there (its model)."""
    info, saved = Path(f"{db}.json"), Path(f"{db}.model")
    if db.exists() and info.exists():
        meta = json.loads(info.read_text())
        model = cb.load(saved).eval() if saved.is_dir() else make_model(meta["model"])
        print(f"# reusing {db}: {meta['observations']:,} observations, model {meta['model']}")
        return model, CodebookSet.from_model(model), meta["observations"]
    model = make_model(kind)
    books = CodebookSet.from_model(model)
    with ObjectMemory.open(db, books, MemoryConfig(max_observations=max(1, n)), ObjectConfig()) as mem:
        m = int(model.config.embed_dim) // books.sub_dim(CODEBOOK_SET)
        secs = fill_observations(mem, n, m, books.size(CODEBOOK_SET), rng, codebook_set=CODEBOOK_SET)
        print(f"# {len(mem.observations):,} observations stored in {secs:.1f} s")
    if kind != "demo":
        cb.save(model, saved)
    info.write_text(json.dumps({"model": kind, "observations": n}))
    return model, books, n


@contextlib.contextmanager
def prepared_database(db: Optional[Path], n: int, kind: str, rng):
    """(path, model, codebooks, observations) of the database to measure: ``db`` (made or reused
    by :func:`prepare`), or a temporary one removed afterwards."""
    with tempfile.TemporaryDirectory() as tmp:
        path = (db or Path(tmp) / "memory.db").expanduser()
        path.parent.mkdir(parents=True, exist_ok=True)
        yield (path, *prepare(path, n, kind, rng))


def grow_objects(db: Path, books, model, n_obs: int, k: int, rng) -> int:
    """Add objects up to ``k`` (through the core API); returns the object count."""
    m = int(model.config.embed_dim) // books.sub_dim(CODEBOOK_SET)
    with ObjectMemory.open(db, books, MemoryConfig(max_observations=max(1, n_obs)),
                           ObjectConfig(max_objects=max(k, 100_000))) as mem:
        have = len(mem)
        if have < k:
            add_objects(mem, k - have, m, books.size(CODEBOOK_SET), rng, start=have, codebook_set=CODEBOOK_SET)
        return len(mem)


def percentiles(ms):
    a = np.asarray(ms)
    return float(np.percentile(a, 50)), float(np.percentile(a, 95)), float(a.max())


def timed(fn, n: int):
    out = []
    for i in range(n):
        t = time.perf_counter()
        fn(i)
        out.append((time.perf_counter() - t) * 1e3)
    return out


def new_text(i: int) -> str:
    """A query text asked once: the node's text cache cannot hold its embedding."""
    return f"{TEXTS[i % len(TEXTS)]}, query {i}"


def ask(client, text: str, observations: bool = False, on_answer=None):
    """One QueryText call from another thread than the client's executor, waited for (60 s at
    most); RuntimeError unless it has TOP_K results. ``on_answer()`` runs in the future's callback."""
    done = threading.Event()

    def answered(_) -> None:
        if on_answer is not None:
            on_answer()
        done.set()

    future = client.call_async(QueryText.Request(text=text, top_k=TOP_K, observations=observations))
    future.add_done_callback(answered)
    if not done.wait(60.0):
        raise RuntimeError("no answer within 60 s")
    res = future.result()
    if not res.success or len(res.results) != TOP_K:
        raise RuntimeError(f"bad answer: {res.success} {res.message!r} ({len(res.results)} results)")
    return res


def round_trips(client, n: int, observations: bool, repeated: bool = True):
    """Round-trip ms of ``n`` QueryText calls, one at a time. ``repeated``: the texts of
    :data:`TEXTS`, each asked once before (unmeasured), as a robot is asked the same questions
    again; else a new text every call (:func:`new_text`), after 5 unmeasured ones."""
    def call(text: str) -> None:
        ask(client, text, observations)

    if repeated:
        timed(lambda i: call(TEXTS[i]), len(TEXTS))
        return timed(lambda i: call(TEXTS[i % len(TEXTS)]), n)
    tag = "objects" if not observations else "observations"
    timed(lambda i: call(f"warm up {tag} {i}"), 5)
    return timed(lambda i: call(new_text(i) + f" ({tag})"), n)


@contextlib.contextmanager
def served_node(db: Path, model, n_obs: int, k: int, domain: int, params=()):
    """(node, client): a MemoryNode on ``db`` spun as ``run_node`` spins it and a QueryText client
    on its own single-threaded executor (``params``: more node parameters); start-up seconds in
    ``node.start_s``."""
    with ros_session(context=rclpy.Context(), domain_id=domain) as context:
        t = time.perf_counter()
        node = MemoryNode(model=model, node_name="bench_memory", context=context, parameter_overrides=[
            Parameter("db_path", value=str(db)), Parameter("max_observations", value=max(1, n_obs)),
            Parameter("max_objects", value=max(k, 100_000)), Parameter("transform_source", value="none"),
            Parameter("query_min_score", value=-1.0), Parameter("query_margin", value=-1.0),
            Parameter("dedupe_distance", value=0.0), *params])
        node.start_s = time.perf_counter() - t
        helper = Node("bench_query_client", context=context)
        executor = MultiThreadedExecutor(context=context)  # the node as run_node spins it
        executor.add_node(node)
        client_executor = SingleThreadedExecutor(context=context)  # a client as its own process spins it
        client_executor.add_node(helper)
        freeze_start_up_objects()
        spinners = [threading.Thread(target=e.spin, daemon=True) for e in (executor, client_executor)]
        for spinner in spinners:
            spinner.start()
        try:
            client = helper.create_client(QueryText, QUERY_SERVICE)
            if not client.wait_for_service(timeout_sec=30.0):
                raise RuntimeError(f"{QUERY_SERVICE} did not come up")
            yield node, client
        finally:
            for e in (executor, client_executor):
                e.shutdown(timeout_sec=2.0)
            helper.destroy_node()
            node.destroy_node()


def measure(db: Path, model, n_obs: int, k: int, queries: int, domain: int, params=()):
    """One node on ``db``: the timings of one row (``params``: more node parameters)."""
    with served_node(db, model, n_obs, k, domain, params) as (node, client):
        sets = node.memory.codebook_sets
        encoded = [node.answers.text_encoder(t, sets) for t in TEXTS]
        row = {"n_obs": len(node.memory), "n_objects": len(node.objects), "start_s": node.start_s,
               "codebook_sets": len(sets)}
        encode = node.answers.text_encoder  # the node's text backend (text_backend)
        row["encode"] = timed(lambda i: encode(TEXTS[i % len(TEXTS)], sets), queries)
        # texts of the same form as the new-text round trips' (their words' BPE not yet cached)
        row["encode, new text"] = timed(lambda i: encode(new_text(queries + i) + " (encode)", sets), queries)
        row["core objects"] = timed(lambda i: node.objects.query(encoded[i % len(TEXTS)], top_k=TOP_K), queries)
        row["markers"] = timed(lambda i: node.publish_markers(force=True), max(1, queries // 4))
        row["objects answer"] = round_trips(client, queries, observations=False)
        row["objects answer, new text"] = round_trips(client, queries, observations=False, repeated=False)
        row["core observations"] = timed(
            lambda i: node.memory.search(encoded[i % len(TEXTS)], top_k=TOP_K), queries)
        row["observations answer"] = round_trips(client, queries, observations=True)
        row["observations answer, new text"] = round_trips(client, queries, observations=True, repeated=False)
        return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--observations", type=int, default=1_000_000, help="N raw observations")
    ap.add_argument("--objects", type=int, nargs="+", default=[1_000, 10_000], help="K objects (increasing)")
    ap.add_argument("--queries", type=int, default=200, help="timed queries per answer kind and K")
    ap.add_argument("--quick", action="store_true", help="100k observations, 1k objects")
    ap.add_argument("--model", choices=["d512", "demo"], default="d512")
    ap.add_argument("--db", type=Path, help="database to build (or reuse) here; default: a temporary one")
    args = ap.parse_args()
    if args.quick:
        args.observations, args.objects = 100_000, [1_000]
    if sorted(args.objects) != args.objects:
        ap.error("--objects must be increasing")
    torch.set_num_threads(max(1, min(4, os.cpu_count() or 1)))
    print(f"# {cpu_name()}, {os.cpu_count()} CPUs, load avg {os.getloadavg()[0]:.1f}, torch {torch.__version__}")
    print(f"# command: {shlex.join([Path(sys.executable).name, *sys.argv])}")
    rng = np.random.default_rng(0)
    with prepared_database(args.db, args.observations, args.model, rng) as (db, model, books, n_obs):
        m = int(model.config.embed_dim) // books.sub_dim(CODEBOOK_SET)
        print(f"# model {args.model}: D = {model.config.embed_dim}, d* = {books.sub_dim(CODEBOOK_SET)}, "
              f"K = {books.size(CODEBOOK_SET)}, m = {m}; top-{TOP_K}, {args.queries} queries per row")
        rows = []
        for k in args.objects:
            have = grow_objects(db, books, model, n_obs, k, rng)
            if have > k:
                print(f"# skipped {k:,} objects: the database already holds {have:,}")
                continue
            row = measure(db, model, n_obs, k, args.queries, 1 + os.getpid() % 100)
            rows.append(row)
            print(f"# {row['n_obs']:,} observations, {row['n_objects']:,} objects: node start-up "
                  f"{row['start_s']:.1f} s; text encode ({row['codebook_sets']} codebook set) p50 "
                  f"{percentiles(row['encode'])[0]:.2f} ms; markers (timer, when changed) p50 "
                  f"{percentiles(row['markers'])[0]:.2f} ms", flush=True)
        print()
        print("| observations | objects | answer | round trip p50 ms | p95 ms | max ms | core query p50 ms | "
              "p95 ms | text encode p50 ms | p95 ms |")
        print("|---|---|---|---|---|---|---|---|---|---|")
        for row in rows:
            enc = percentiles(row["encode"])
            for name, trip, core in (("objects, repeated text", "objects answer", "core objects"),
                                     ("objects, new text", "objects answer, new text", "core objects"),
                                     ("observations, repeated text", "observations answer", "core observations"),
                                     ("observations, new text", "observations answer, new text",
                                      "core observations")):
                t, c = percentiles(row[trip]), percentiles(row[core])
                print(f"| {row['n_obs']:,} | {row['n_objects']:,} | {name} | {t[0]:.2f} | {t[1]:.2f} | "
                      f"{t[2]:.2f} | {c[0]:.2f} | {c[1]:.2f} | {enc[0]:.2f} | {enc[1]:.2f} |")


if __name__ == "__main__":
    main()
