#!/usr/bin/env python3
"""The robot's metric for a list of model directories (CodeBind vs hard alignment + post-hoc PQ).

    .venv/bin/python benchmarks/robot_metric.py MODEL_DIR [MODEL_DIR ...] --data CONFIG_OR_SET \
        [--split test] [--limit N] [--localisation] [--json out.json]

(a) text -> stored-target retrieval through the memory's code-table search on the SynthBind split
(:mod:`codebind_core.evaluation.robot_metric`): caption R@1/5 and class-prompt P@1/5, each as
``code`` (the robot's query) / ``code_fq`` (float query, stored codes) / ``float`` (unquantized);
(b) with ``--localisation``: localisation top-1 by text and by sound on the sensor player's scene
through the real nodes (rclpy; codebind_ros.tools.scene_eval, as scripts/eval_localisation.py).
Each model is served by its trained codebook or by its post-hoc one (``codebind-codebook fit``);
bytes per stored embedding are printed with it. Prints a markdown table and the command.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def localisation(model_dir: Path, domain: int) -> dict:
    """Top-1 found counts of the sensor player's scene for one model (real nodes, localhost)."""
    os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
    import rclpy

    import codebind_core as cb
    from codebind_ros.tools.scene_eval import evaluate_scene, summary

    model = cb.load(str(model_dir)).eval()
    context = rclpy.Context()
    rclpy.init(context=context, domain_id=domain)
    try:
        outcomes = evaluate_scene(model, context, audio="audio" in model.config.targets)
    finally:
        rclpy.shutdown(context=context)
    return summary(outcomes)


def localisation_table(results: dict) -> str:
    lines = ["| model | text top-1 | colour+text top-1 | sound top-1 | median 3-D error (cm) |",
             "|---|---|---|---|---|"]
    for name, s in results.items():
        cell = lambda k: f"{s[k + '_found']}/{s[k + '_total']}" if s[k + "_total"] else "-"  # noqa: E731
        lines.append(f"| {name} | {cell('text')} | {cell('text+colour')} | {cell('audio')} "
                     f"| {s['median_error_cm']:.1f} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("models", nargs="+", type=Path, help="model directories (config.json + model.safetensors)")
    ap.add_argument("--data", required=True, help="training config YAML (SynthBind) or a generated set folder")
    ap.add_argument("--split", default="test")
    ap.add_argument("--limit", type=int, default=None, help="first N samples of the split")
    ap.add_argument("--modalities", default=None, help="comma-separated targets (default: each model's)")
    ap.add_argument("--localisation", action="store_true", help="also localisation top-1 (needs rclpy)")
    ap.add_argument("--domain", type=int, default=78, help="ROS domain id of the localisation runs")
    ap.add_argument("--json", type=Path, default=None, help="write all rows here")
    args = ap.parse_args(argv)

    from codebind_core.evaluation.robot_metric import markdown, measure

    mods = args.modalities.split(",") if args.modalities else None
    try:
        rows = measure(args.models, args.data, split=args.split, limit=args.limit, modalities=mods)
    except ValueError as e:
        print(f"robot_metric: {e}", file=sys.stderr)
        return 2
    print(markdown(rows))
    out = {"retrieval": rows}
    if args.localisation:
        out["localisation"] = {str(m): localisation(m, args.domain) for m in args.models}
        print("\n" + localisation_table({Path(k).name: v for k, v in out["localisation"].items()}))
    load = os.getloadavg()
    print(f"\nmachine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, load average "
          f"{load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    print("command: .venv/bin/python benchmarks/robot_metric.py " + " ".join(sys.argv[1:] if argv is None else argv))
    if args.json:
        args.json.write_text(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
