"""int8 ONNX Runtime (``onnxruntime-int8``) against fp32 ONNX Runtime on the CPU.

Per modality: batch-1 latency p50 / p99 of fp32, int8 dynamic and int8 static (calibrated on
SynthBind training samples), interleaved call by call in one run; the speed-up (fp32 p50 / int8
p50); codes agreeing with fp32 (share of sub-vectors, shared part, SynthBind test samples); and
with ``--zero-shot`` (a trained model) the zero-shot top-1 accuracy on a SynthBind split
for each backend (class prompts encoded by the model's text tower in torch).

    .venv/bin/python benchmarks/bench_int8.py --zero-shot                     # shipped tiny demo
    .venv/bin/python benchmarks/bench_int8.py --preset base --modalities image depth audio
    .venv/bin/python benchmarks/bench_int8.py --preset base --modes dynamic --float-blocks 0 1  # the option's effect
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import torch  # noqa: E402
import yaml  # noqa: E402

import codebind_core as cb  # noqa: E402
from codebind_core.data.synth import SynthConfig, generate  # noqa: E402
from codebind_core.export import create_embedder  # noqa: E402
from codebind_core.export.ort_int8 import FLOAT_BLOCKS, calibration_inputs, save_calibration  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
from bench_pointcloud import cpu_model  # noqa: E402


def synthbind(samples: int, seed: int):
    """A SynthBind set with the demo model's data options (training/configs/synth_tiny.yaml,
    upright poses), ``samples`` objects, cached under cache/synthbind."""
    raw = yaml.safe_load((ROOT / "training" / "configs" / "synth_tiny.yaml").read_text())
    synth = dict(raw["data"]["options"]["synth"], num_samples=samples, seed=seed, pose="upright")
    return generate(SynthConfig.from_dict(synth), ROOT / "cache" / "synthbind", workers=1)


def batches(model, modality, split, limit, skip=0):
    """Preprocessed inputs of ``limit`` items of a split after the first ``skip``, and their labels."""
    items = [split[i] for i in range(skip, min(skip + limit, len(split)))]
    x = calibration_inputs(model, modality, [it[modality] for it in items])
    return x, np.array([it["category"] for it in items])


def latency(embedders, x, iters):
    """p50 / p99 ms per backend at batch 1, calls interleaved across backends."""
    times = {k: [] for k in embedders}
    for e in embedders.values():
        e(x[:1])
    for i in range(iters):
        names = list(embedders) if i % 2 == 0 else list(embedders)[::-1]
        for name in names:
            t0 = time.perf_counter()
            embedders[name](x[i % len(x): i % len(x) + 1])
            times[name].append(time.perf_counter() - t0)
    return {k: (np.median(v) * 1e3, np.percentile(v, 99) * 1e3) for k, v in times.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=str(ROOT / "models" / "demo"), help="checkpoint dir (unless --preset)")
    ap.add_argument("--preset", choices=["tiny", "base"], help="an untrained preset (seed 0) instead of --model")
    ap.add_argument("--modalities", nargs="+", default=["image", "depth", "audio"])
    ap.add_argument("--iters", type=int, default=20)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--samples", type=int, default=400, help="SynthBind objects generated (all splits)")
    ap.add_argument("--calibration-samples", type=int, default=32)
    ap.add_argument("--eval-samples", type=int, default=200)
    ap.add_argument("--zero-shot", action="store_true")
    ap.add_argument("--modes", nargs="+", choices=["dynamic", "static"], default=["dynamic", "static"],
                    help="int8 modes (static calibration of a base graph needs several GB of memory)")
    ap.add_argument("--float-blocks", nargs="+", type=int, default=[FLOAT_BLOCKS],
                    help="leading transformer blocks kept in float32: one int8 row per value")
    ap.add_argument("--eval-split", default="test", choices=["train", "val", "test"],
                    help="split for codes and zero-shot (the set's seed 1 differs from the demo model's "
                         "training set; train skips the calibration samples)")
    ap.add_argument("--export-dir", default=str(ROOT / "cache" / "exports"))
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    if args.preset:
        torch.manual_seed(0)
        model = cb.create_model(cb.CodeBindConfig.preset(args.preset, targets=["depth", "audio"])).eval()
        name = f"{args.preset} preset (untrained, seed 0)"
    else:
        model, name = cb.load(args.model, device="cpu"), args.model
    data = synthbind(args.samples, seed=1)
    print(f"# {cpu_model()}, {os.cpu_count()} CPUs, {args.threads} thread(s), load average "
          f"{os.getloadavg()[0]:.2f}, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; model: {name}")
    print(f"# {' '.join([Path(sys.executable).name] + sys.argv)}")
    print("| modality | backend | p50 / p99 ms | speed-up | codes = fp32 | zero-shot top-1 |")
    print("|---|---|---:|---:|---:|---:|")
    cal_dir = Path(args.export_dir) / "calibration"
    for modality in args.modalities:
        train_x, _ = batches(model, modality, data.split("train", [modality]), args.calibration_samples)
        cal = save_calibration(cal_dir / f"{modality}-{args.preset or 'model'}.safetensors", model, modality,
                               train_x, source=f"SynthBind train, {len(train_x)} samples")
        opts = {"export_dir": args.export_dir, "threads": args.threads}
        embedders = {"fp32": create_embedder(model, modality, "onnxruntime", **opts)}
        for mode in args.modes:
            extra = {"calibration": cal} if mode == "static" else {}
            for blocks in args.float_blocks:
                label = f"int8 {mode}" + ("" if args.float_blocks == [FLOAT_BLOCKS] else f" ({blocks} float blocks)")
                embedders[label] = create_embedder(model, modality, "onnxruntime-int8", mode=mode,
                                                   float_blocks=blocks, **extra, **opts)
        skip = args.calibration_samples if args.eval_split == "train" else 0
        test_x, labels = batches(model, modality, data.split(args.eval_split, [modality]), args.eval_samples, skip)
        lat = latency(embedders, test_x, args.iters)
        outs = {k: [e(test_x[i:i + 16]) for i in range(0, len(test_x), 16)] for k, e in embedders.items()}
        embs = {k: torch.cat([o.codes for o in v]) for k, v in outs.items()}
        zs = {k: "-" for k in embedders}
        if args.zero_shot:
            from codebind_core.evaluation.metrics import zero_shot_accuracy
            classes = model.encode_text(data.class_prompts()).shared
            for k, v in outs.items():
                shared = torch.cat([o.shared for o in v])
                zs[k] = f"{100 * zero_shot_accuracy(shared, classes, labels, (1,))['acc@1']:.1f} %"
        for k in embedders:
            agree = (embs[k] == embs["fp32"]).float().mean().item()
            print(f"| {modality} | {k} | {lat[k][0]:.1f} / {lat[k][1]:.1f} | {lat['fp32'][0] / lat[k][0]:.2f}x | "
                  f"{100 * agree:.1f} % | {zs[k]} |")
    print(f"# load average after: {os.getloadavg()[0]:.2f}; codes and zero-shot over {len(test_x)} SynthBind "
          f"{args.eval_split} samples, calibration on {args.calibration_samples} train samples")


if __name__ == "__main__":
    main()
