"""A memory query's text encoding against the number of codebook sets the memory holds.

The memory node embeds a query text once per codebook set with stored observations (a robot that
stores camera, depth and thermal holds three). ``text_queries`` runs the text tower once and only
the head and quantization per set; the baseline is one full ``encode_text`` per set. Both in one
run, interleaved, same model (the d512 model of ``ros_memory_query.py``: tiny preset, D = 512,
5 targets), one torch thread by default.

    .venv/bin/python benchmarks/bench_text_query.py
    .venv/bin/python benchmarks/bench_text_query.py --queries 500 --threads 2
"""
from __future__ import annotations

import argparse
import os
import shlex
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from machine import cpu_model  # noqa: E402
from ros_memory_query import TARGETS, TEXTS, make_model  # noqa: E402

from codebind_ros.perception.memory_search import text_queries  # noqa: E402


def per_set(model, text, sets):
    with torch.no_grad():
        return {s: model.encode_text([text], codebook_set=s).shared[0].numpy() for s in sets}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--queries", type=int, default=300, help="timed queries per method and set count")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    model = make_model("d512")
    print(f"# {cpu_model()}, {os.cpu_count()} CPUs, torch {torch.__version__} ({args.threads} threads), "
          f"1-min load average {os.getloadavg()[0]:.1f}")
    print(f"# command: {shlex.join(['.venv/bin/python', 'benchmarks/bench_text_query.py', *sys.argv[1:]])}")
    print("| codebook sets | one encode per set p50 ms | tower once (text_queries) p50 ms | speed-up "
          "| same embeddings |")
    print("|---|---|---|---|---|")
    for n in range(1, len(TARGETS) + 1):
        sets = TARGETS[:n]
        a, b = per_set(model, TEXTS[0], sets), text_queries(model, TEXTS[0], sets)
        same = all(np.allclose(a[s], b[s], atol=1e-6, rtol=0) for s in sets)
        times = {"per set": [], "once": []}
        for i in range(args.queries):
            for name, fn in (("per set", per_set), ("once", text_queries)):
                t = time.perf_counter()
                fn(model, TEXTS[i % len(TEXTS)], sets)
                times[name].append((time.perf_counter() - t) * 1e3)
        p, o = float(np.median(times["per set"])), float(np.median(times["once"]))
        print(f"| {n} | {p:.2f} | {o:.2f} | {p / o:.2f}x | {'yes' if same else 'NO'} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
