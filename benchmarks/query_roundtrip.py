"""What the memory node adds to a query: QueryText round trip against the core query, p50.

    nice -n 5 .venv/bin/python benchmarks/query_roundtrip.py                      # 1M observations, 10k objects
    .venv/bin/python benchmarks/query_roundtrip.py --observations 300000 --db /tmp/q.db

Builds (or reuses, ``--db``) a SQLite memory of ``--observations`` raw observations and
``--objects`` objects with the project's own core API, serves it with a real ``MemoryNode``
(in-process rclpy, localhost DDS) and times, in one run (``ros_memory_query.measure``): the text
encoder alone, the core query alone (text already encoded) and the QueryText round trip from a
client node, for the objects answer (the default) and the observations answer (exact scan), each
with repeated texts (asked before: the node's text cache answers without the text encoder) and with
a new text every query (the encoder runs).

Queries come back to back, so with the markers on (``--markers-period``, the node's default 1 s)
some of them meet the node's once-a-second marker build (``docs/benchmarks.md``); 0 turns it off.

The table gives, per answer, round trip - core query (the goal: within 1 ms at p50) and the part
that is neither the text encoder (for new texts) nor the core query (the service: request and
response through the middleware and the query server's hand-over between its threads).
"""
from __future__ import annotations

import argparse
import os
import shlex
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from memory_objects import cpu_name  # noqa: E402
from rclpy.parameter import Parameter  # noqa: E402
from ros_memory_query import grow_objects, measure, percentiles, prepared_database  # noqa: E402

GOAL_MS = 1.0  # round trip within this of the core query, at p50
ANSWERS = (("objects, repeated text", "objects answer", "core objects", "encode"),
           ("objects, new text", "objects answer, new text", "core objects", "encode, new text"),
           ("observations, repeated text", "observations answer", "core observations", "encode"),
           ("observations, new text", "observations answer, new text", "core observations", "encode, new text"))


def table(rows) -> None:
    print("| observations | objects | answer | core query p50 ms | text encode p50 ms | round trip p50 ms | "
          "p95 ms | round trip - core p50 ms | service p50 ms | within 1 ms of core |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for row in rows:
        for name, trip_key, core_key, enc_key in ANSWERS:
            trip, core, enc = percentiles(row[trip_key]), percentiles(row[core_key])[0], percentiles(row[enc_key])[0]
            over = trip[0] - core
            service = over - (enc if "new text" in name else 0.0)  # repeated texts: the node's cache answers
            print(f"| {row['n_obs']:,} | {row['n_objects']:,} | {name} | {core:.2f} | {enc:.2f} | {trip[0]:.2f} | "
                  f"{trip[1]:.2f} | {over:.2f} | {service:.2f} | {'yes' if over <= GOAL_MS else 'no'} |")


def node_arguments(ap: argparse.ArgumentParser) -> None:
    """The options of the database, the node and the load, shared with ``query_stages.py``."""
    ap.add_argument("--observations", type=int, default=1_000_000)
    ap.add_argument("--objects", type=int, default=10_000)
    ap.add_argument("--queries", type=int, default=200, help="timed queries of each kind")
    ap.add_argument("--model", choices=["d512", "demo"], default="d512")
    ap.add_argument("--markers-period", type=float, default=1.0,
                    help="the node's markers_period (its default 1 s; 0: no RViz markers)")
    ap.add_argument("--text-backend", default="torch", help="the node's text_backend (torch, onnxruntime)")
    ap.add_argument("--db", type=Path, help="database to build (or reuse) here; default: a temporary one")


def node_parameters(args) -> list:
    """The memory node's parameters from :func:`node_arguments`' options."""
    return [Parameter("markers_period", value=args.markers_period),
            Parameter("text_backend", value=args.text_backend),
            Parameter("text_backend_options", value="{threads: 1}" if args.text_backend != "torch" else "")]


def load_average() -> str:
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


def print_header(script: str) -> None:
    """The machine, torch, the load and the command that reruns ``script``."""
    print(f"# {cpu_name()}, {os.cpu_count()} CPUs, torch {torch.__version__} ({torch.get_num_threads()} threads), "
          f"load average {load_average()} at the start")
    print(f"# command: {shlex.join(['.venv/bin/python', str(Path(script).relative_to(HERE.parent)), *sys.argv[1:]])}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    node_arguments(ap)
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print_header(__file__)
    rng = np.random.default_rng(0)
    with prepared_database(args.db, args.observations, args.model, rng) as (db, model, books, n_obs):
        have = grow_objects(db, books, model, n_obs, args.objects, rng)
        if have != args.objects:
            print(f"# the database holds {have:,} objects (asked {args.objects:,})")
        row = measure(db, model, n_obs, have, args.queries, 1 + os.getpid() % 100, node_parameters(args))
        print(f"# text_backend {args.text_backend}; markers_period {args.markers_period:g} s; "
              f"node start-up {row['start_s']:.1f} s; load average {load_average()} at the end")
        table([row])
    return 0


if __name__ == "__main__":
    sys.exit(main())
