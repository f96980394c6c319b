"""Encoder latency and throughput per modality, backend and model size.

For every (size, modality, backend): latency p50/p99 at batch 1, and throughput (samples/s) at
batches 8, 64 and 256 (a batch whose estimated time per call exceeds ``--max-call-s`` is skipped
and reported as such). Inputs are random preprocessed tensors (text: strings, tokenized inside
the call as in deployment). Backends:

    torch          eager PyTorch fp32 (the reference)
    torch-bf16     eager PyTorch under bf16 autocast
    torch-compile  torch.compile'd fp32 (first call compiles; excluded from timing)
    onnxruntime    ONNX Runtime, fp32 graph
    onnxruntime-fp16  ONNX Runtime, fp16 graph (for GPUs; on CPU ORT up-casts most fp16 ops)
    cuda-*, tensorrt  the same on a GPU (need CUDA / TensorRT)

    .venv/bin/python benchmarks/bench_encode.py                                   # tiny, all modalities
    .venv/bin/python benchmarks/bench_encode.py --sizes base --modalities image depth --batches 8
    .venv/bin/python benchmarks/bench_encode.py --backends torch onnxruntime tensorrt --device cuda
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Dict, List, Optional

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

import codebind_core as cb  # noqa: E402
from codebind_core.config import TARGET_MODALITIES  # noqa: E402
from codebind_core.export import create_embedder  # noqa: E402
from codebind_core.export.timing import CLOCKS, measure  # noqa: E402

# backend name -> (create_embedder backend, options); device is filled in at run time.
BACKEND_SPECS: Dict[str, tuple] = {
    "torch": ("torch", {"dtype": "fp32"}),
    "torch-bf16": ("torch", {"dtype": "bf16"}),
    "torch-fp16": ("torch", {"dtype": "fp16"}),
    "torch-compile": ("torch", {"dtype": "fp32", "compile": True}),
    "onnxruntime": ("onnxruntime", {"precision": "fp32"}),
    "onnxruntime-fp16": ("onnxruntime", {"precision": "fp16"}),
    "tensorrt": ("tensorrt", {"fp16": True}),
    "tensorrt-fp32": ("tensorrt", {"fp16": False}),
    "torch_tensorrt": ("torch_tensorrt", {"fp16": True}),
}
GPU_ONLY = {"tensorrt", "tensorrt-fp32", "torch_tensorrt"}


@dataclass
class Row:
    size: str
    modality: str
    backend: str
    device: str
    p50_ms: Optional[float] = None
    p99_ms: Optional[float] = None
    throughput: Dict[int, Optional[float]] = field(default_factory=dict)  # batch -> samples/s (None: skipped)
    note: str = ""


def make_batch(embedder, modality: str, n: int):
    if modality == "text":
        return [f"a photo of a small object number {i}" for i in range(n)]
    return embedder.example(n)


def build(model, modality: str, backend: str, device: str, threads: int, export_dir: str, max_batch: int):
    kind, opts = BACKEND_SPECS[backend]
    opts = dict(opts)
    if kind == "torch":
        opts["device"] = device
    elif kind == "onnxruntime":
        opts.update(device=device, threads=threads, export_dir=export_dir, max_batch=max(max_batch, 2))
    elif kind == "tensorrt":
        opts.update(export_dir=export_dir, max_batch=max_batch, opt_batch=min(8, max_batch))
    else:
        opts.update(max_batch=max_batch, opt_batch=min(8, max_batch))
    return create_embedder(model, modality, kind, **opts)


def bench_one(model, size: str, modality: str, backend: str, args, sync: Callable[[], None]) -> Row:
    row = Row(size, modality, backend, args.device)
    try:
        emb = build(model, modality, backend, args.device, args.threads, args.export_dir, max(args.batches))
    except Exception as e:  # an unavailable backend is reported, not fatal
        row.note = f"unavailable: {type(e).__name__}: {str(e).splitlines()[0][:120]}"
        return row
    one = make_batch(emb, modality, 1)
    emb.warmup(1)
    lat = measure(lambda: emb(one), warmup=2, min_iters=args.min_iters, budget_s=args.budget, sync=sync,
                  clock=args.clock)
    row.p50_ms, row.p99_ms = lat.p50_ms, lat.p99_ms
    per_sample = lat.median_s
    for b in args.batches:
        if per_sample * b > args.max_call_s:
            row.throughput[b] = None
            continue
        batch = make_batch(emb, modality, b)
        t = measure(lambda: emb(batch), warmup=1, min_iters=3, budget_s=args.budget, sync=sync, clock=args.clock)
        row.throughput[b] = b / t.median_s
        per_sample = t.median_s / b
    return row


def fmt(v: Optional[float], digits: int = 1) -> str:
    return "skipped" if v is None else f"{v:,.{digits}f}"


def print_table(rows: List[Row], batches: List[int], header: bool = True) -> None:
    if header:
        print(f"{'size':5s} {'modality':10s} {'backend':17s} {'p50 ms':>9s} {'p99 ms':>9s} " +
              " ".join(f"{'b' + str(b) + ' /s':>10s}" for b in batches))
    for r in rows:
        if r.note:
            print(f"{r.size:5s} {r.modality:10s} {r.backend:17s} {r.note}")
            continue
        print(f"{r.size:5s} {r.modality:10s} {r.backend:17s} {r.p50_ms:9.2f} {r.p99_ms:9.2f} " +
              " ".join(f"{fmt(r.throughput.get(b)):>10s}" for b in batches))


def print_ratios(rows: List[Row], reference: str = "torch") -> None:
    """Speed-up of every backend over the reference (torch eager fp32) at batch 1 and per batch."""
    ref = {(r.size, r.modality): r for r in rows if r.backend == reference and not r.note}
    print(f"\nspeed-up over {reference} eager fp32 (latency p50 at batch 1; throughput per batch)")
    for r in rows:
        base = ref.get((r.size, r.modality))
        if r.backend == reference or r.note or base is None:
            continue
        parts = [f"b1 {base.p50_ms / r.p50_ms:5.2f}x"]
        for b, v in r.throughput.items():
            if v is not None and base.throughput.get(b):
                parts.append(f"b{b} {v / base.throughput[b]:5.2f}x")
        print(f"{r.size:5s} {r.modality:10s} {r.backend:17s} " + "  ".join(parts))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", nargs="+", default=["tiny"], choices=["tiny", "base"])
    ap.add_argument("--modalities", nargs="+", default=["text", "image", *TARGET_MODALITIES])
    ap.add_argument("--backends", nargs="+", default=["torch", "onnxruntime"], choices=sorted(BACKEND_SPECS))
    ap.add_argument("--batches", nargs="+", type=int, default=[8, 64, 256])
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    ap.add_argument("--threads", type=int, default=torch.get_num_threads())
    ap.add_argument("--budget", type=float, default=2.0, help="seconds of timing per measurement")
    ap.add_argument("--min-iters", type=int, default=20, help="at least this many batch-1 calls")
    ap.add_argument("--max-call-s", type=float, default=20.0, help="skip batches slower than this per call")
    ap.add_argument("--export-dir", default=os.path.join(tempfile.gettempdir(), "codebind-bench-onnx"))
    ap.add_argument("--clock", choices=sorted(CLOCKS), default="wall",
                    help="wall time, or process CPU time (steadier on a shared CPU; use with --threads 1)")
    ap.add_argument("--json", help="also write the rows to this JSON file")
    args = ap.parse_args(argv)
    if args.threads < 1 or any(b < 1 for b in args.batches):
        ap.error("--threads and --batches must be >= 1")
    torch.set_num_threads(args.threads)
    if args.device == "cuda" and not torch.cuda.is_available():
        ap.error("--device cuda: torch sees no GPU here")
    if args.clock == "cpu" and args.device == "cuda":
        ap.error("--clock cpu measures host CPU time; use the wall clock on a GPU")
    sync = torch.cuda.synchronize if args.device == "cuda" else (lambda: None)
    targets = [m for m in args.modalities if m in TARGET_MODALITIES] or ["depth"]
    print(f"# {platform.node()} {platform.machine()} {os.cpu_count()} cpus, {args.threads} threads, "
          f"device {args.device}{' ' + torch.cuda.get_device_name() if args.device == 'cuda' else ''}, "
          f"torch {torch.__version__}, {args.clock} clock, 1-min load average {os.getloadavg()[0]:.1f}, "
          f"{time.strftime('%Y-%m-%d %H:%M')}")
    print("# command: .venv/bin/python benchmarks/bench_encode.py " +
          " ".join(argv if argv is not None else sys.argv[1:]))
    rows: List[Row] = []
    for size in args.sizes:
        torch.manual_seed(0)
        model = cb.create_model(cb.CodeBindConfig.preset(size, targets=targets)).eval()
        for modality in args.modalities:
            for backend in args.backends:
                if backend in GPU_ONLY and args.device != "cuda":
                    rows.append(Row(size, modality, backend, args.device, note="not measured: needs --device cuda"))
                    print_table(rows[-1:], args.batches, header=len(rows) == 1)
                    continue
                rows.append(bench_one(model, size, modality, backend, args, sync))
                print_table(rows[-1:], args.batches, header=len(rows) == 1)
                sys.stdout.flush()
        del model
    print("\nsummary")
    print_table(rows, args.batches)
    print_ratios(rows)
    if args.json:
        Path(args.json).write_text(json.dumps([asdict(r) for r in rows], indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
