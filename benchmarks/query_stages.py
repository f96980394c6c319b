"""Where a QueryText round trip's time goes: stage by stage, a repeated text against a new one.

    OMP_NUM_THREADS=1 nice -n 5 .venv/bin/python benchmarks/query_stages.py --db /tmp/qrt/q.db \\
        --text-backend onnxruntime

The node and client are ``benchmarks/query_roundtrip.py``'s (same database, same parameters); the
objects answer is asked ``--queries`` times with a repeated text and as often with a new one,
alternating. Each call is stamped (``time.perf_counter``) where the client sends it, where the
query server has taken it off the middleware, where its handler starts and ends (and the text
encoder inside it: tokenizer and, on ONNX Runtime, the session's run), around ``send_response``,
at the client's future callback and where the waiting thread wakes. The table gives each stage's
p50. The stamps wrap the node's own objects and cost a few microseconds each.

A second table times the text encoder outside the node on new texts: back to back, after a core
query, and after 1 ms asleep (as in the node, where the answering thread waits for each request):
the figure the round trip table subtracts for new texts is the back-to-back one.
"""
from __future__ import annotations

import argparse
import collections
import os
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

import numpy as np  # noqa: E402
from query_roundtrip import load_average, node_arguments, node_parameters, print_header  # noqa: E402
from ros_memory_query import TEXTS, TOP_K, ask, grow_objects, new_text, prepared_database, served_node  # noqa: E402

# the stamps of one query in the order they are taken
ORDER = ("t0", "taken", "h0", "e0", "e1", "h1", "s0", "s1", "cb", "t1")
STAGES = (("request sent -> taken by the query server", "t0", "taken"),
          ("taken -> handler starts (answering thread wakes)", "taken", "h0"),
          ("text encoder (new texts)", "e0", "e1"),
          ("  of which the tokenizer", None, "tok"),
          ("  of which the ONNX Runtime session run", None, "run"),
          ("handler without the text encoder (core query, results)", None, "answer"),
          ("handler end -> send_response", "h1", "s0"),
          ("send_response", "s0", "s1"),
          ("response sent -> client's future callback", "s1", "cb"),
          ("callback -> waiting thread wakes", "cb", "t1"),
          ("round trip", "t0", "t1"))


def stamped(obj, name: str, stamps: dict, key: str, total: bool = False) -> None:
    """Wrap ``obj.name`` to stamp ``key + '0'``/``key + '1'`` around each call (``total``: add its
    duration to ``stamps[key]`` instead)."""
    inner = getattr(obj, name)

    def wrapper(*args, **kwargs):
        t = time.perf_counter()
        try:
            return inner(*args, **kwargs)
        finally:
            if total:
                stamps[key] = stamps.get(key, 0.0) + time.perf_counter() - t
            else:
                stamps[key + "0"], stamps[key + "1"] = t, time.perf_counter()

    setattr(obj, name, wrapper)


class _StampedQueue(collections.deque):
    """The query server's queue of taken requests, stamping ``taken`` as each is queued."""

    stamps: dict = {}

    def append(self, item) -> None:
        self.stamps["taken"] = time.perf_counter()
        super().append(item)


def instrument(node, stamps: dict) -> None:
    """Stamp a MemoryNode's answer path into ``stamps`` (cleared by :func:`call` per query)."""
    server = node.query_server
    queue = _StampedQueue(server._queue)
    queue.stamps = stamps
    server._queue = queue
    stamped(server, "handler", stamps, "h")
    stamped(server, "_send", stamps, "s")
    stamped(node.answers.text_cache, "encode", stamps, "e")
    stamped(node.answers.text_encoder.model, "tokenize", stamps, "tok", total=True)
    encoder = node.answers.text_encoder
    if encoder.backend != "torch":
        for s in node.memory.codebook_sets:
            stamped(encoder._embedder(s).session, "run", stamps, "run", total=True)


def call(client, stamps: dict, text: str) -> dict:
    """One objects query through :func:`ros_memory_query.ask`, stamped from send to wake."""
    stamps.clear()
    stamps["t0"] = time.perf_counter()
    ask(client, text, on_answer=lambda: stamps.__setitem__("cb", time.perf_counter()))
    stamps["t1"] = time.perf_counter()
    out = dict(stamps)
    out["answer"] = (out["h1"] - out["h0"]) - ((out["e1"] - out["e0"]) if "e0" in out else 0.0)
    return out


def stage_ms(rows, start, end):
    values = [(r[end] - r[start]) if start else r[end] for r in rows if end in r and (start is None or start in r)]
    return float(np.median(values)) * 1e3 if values else None


def encoder_alone(node, n: int):
    """p50 ms of the node's text encoder on new texts: back to back, after a core query, after 1 ms asleep."""
    sets, encode = node.memory.codebook_sets, node.answers.text_encoder
    query = encode(TEXTS[0], sets)
    before = {"back to back": lambda: None, "after a core query": lambda: node.objects.query(query, top_k=TOP_K),
              "after 1 ms asleep": lambda: time.sleep(1e-3)}
    out = {}
    for k, (name, first) in enumerate(before.items()):
        times = []
        for i in range(n):
            first()
            t = time.perf_counter()
            encode(new_text(10_000 * (k + 1) + i) + " (alone)", sets)
            times.append(time.perf_counter() - t)
        out[name] = float(np.median(times)) * 1e3
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    node_arguments(ap)
    args = ap.parse_args()
    print_header(__file__)
    rng = np.random.default_rng(0)
    with prepared_database(args.db, args.observations, args.model, rng) as (db, model, books, n_obs):
        have = grow_objects(db, books, model, n_obs, args.objects, rng)
        params = node_parameters(args)
        with served_node(db, model, n_obs, have, 1 + os.getpid() % 100, params) as (node, client):
            stamps: dict = {}
            instrument(node, stamps)
            for text in TEXTS:  # every repeated text asked once before; then warm up
                call(client, stamps, text)
            for i in range(5):
                call(client, stamps, f"warm up {i}")
            repeated, new = [], []
            for i in range(args.queries):
                repeated.append(call(client, stamps, TEXTS[i % len(TEXTS)]))
                new.append(call(client, stamps, new_text(i) + " (objects)"))
            alone = encoder_alone(node, args.queries)
        print(f"# {len(node.memory):,} observations, {have:,} objects; text_backend {args.text_backend}; "
              f"load average {load_average()} at the end")
    print("| stage (objects answer) | repeated text p50 ms | new text p50 ms |")
    print("|---|---:|---:|")
    for name, start, end in STAGES:
        cells = [stage_ms(rows, start, end) for rows in (repeated, new)]
        print(f"| {name} | " + " | ".join("-" if c is None else f"{c:.3f}" for c in cells) + " |")
    print()
    print("| text encoder alone, new texts | p50 ms |")
    print("|---|---:|")
    for name, ms in alone.items():
        print(f"| {name} | {ms:.3f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
