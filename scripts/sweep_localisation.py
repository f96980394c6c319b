#!/usr/bin/env python3
"""Localisation by text and by sound on the sensor player's scene, for a sweep part's kept models
(the ``localisation`` block of docs/results.md).

    .venv/bin/python scripts/sweep_localisation.py                          # scarce part, audio models
    .venv/bin/python scripts/sweep_localisation.py --part scarce --target audio --sounds 3

Each finished finetune run of the part that has ``--target`` among its targets and a kept model is
run through the same nodes as scripts/eval_localisation.py (sensor player, audio encoder,
localisation node; real rclpy on localhost): every object is asked for by its prompt, its colour
prompt and ``--sounds`` different impact sounds; top-1 found counts per run are cached as JSON
under <runs>/localisation/, so a re-run only adds what is missing. Text queries rank camera crops
embedded by the frozen bridge (quantized by a CodeBind model's codebook, float otherwise); sound
queries go through the trained audio trunk, so they are where the variants differ.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Dict, List

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
KINDS = (("text", "category prompt"), ("text+colour", "colour + category prompt"), ("audio", "impact sound"))


def measure(model_dir: Path, sounds: int, domain: int) -> Dict[str, float]:
    import rclpy

    import codebind_core as cb
    from codebind_ros.tools.scene_eval import evaluate_scene, summary

    model = cb.load(str(model_dir)).eval()
    context = rclpy.Context()
    rclpy.init(context=context, domain_id=domain)
    try:
        return summary(evaluate_scene(model, context, audio=True, sounds_per_object=sounds))
    finally:
        rclpy.shutdown(context=context)


def render(rows: List[Dict], part: str, target: str, command: str) -> str:
    from codebind_core.experiments.sweep import _fmt, verdict
    from codebind_core.experiments.variants import VARIANTS

    variants = sorted({r["variant"] for r in rows}, key=lambda v: list(VARIANTS).index(v))
    share = {v: {k: [r[f"{k}_found"] / r[f"{k}_total"] for r in rows if r["variant"] == v and r[f"{k}_total"]]
                 for k, _ in KINDS} for v in variants}
    totals = {k: next((int(r[f"{k}_total"]) for r in rows), 0) for k, _ in KINDS}
    lines = ["## Localisation on the sensor player's scene\n",
             f"The `{part}` part's {target} models (each trained alone, 200 finetune steps) in the localisation "
             "node: share of queries (%) whose top-1 result is the asked-for object (of "
             + ", ".join(f"{totals[k]} {label}s" for k, label in KINDS) + " per model), mean ± std over seeds. "
             "Text queries rank camera crops embedded by the frozen bridge (through the model's codebook where "
             "it has one); sound queries go through the trained audio trunk.\n",
             "| model | " + " | ".join(label for _, label in KINDS) + " |", "|---|---|---|---|"]
    for v in variants:
        lines.append(f"| {VARIANTS[v].label} | " + " | ".join(_fmt(share[v][k]) for k, _ in KINDS) + " |")
    lines += ["", "| CodeBind vs | query | CodeBind is |", "|---|---|---|"]
    for other in (v for v in variants if v != "codebind"):
        for k, label in KINDS:
            if "codebind" in share:
                word = verdict(share["codebind"][k], share[other][k])
                lines.append(f"| {VARIANTS[other].label} | {label} | {word} |")
    return "\n".join([*lines, "", f"Command: `{command}`", ""])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--part", default="scarce", help="sweep part whose kept models are measured")
    ap.add_argument("--target", default="audio", help="models trained on this target (alone)")
    ap.add_argument("--variants", default="hard_align,no_codebook,codebind")
    ap.add_argument("--sounds", type=int, default=3, help="impact sounds per object")
    ap.add_argument("--runs", type=Path, default=None, help="runs folder (default: the part's)")
    ap.add_argument("--report", type=Path, default=ROOT / "docs" / "results.md")
    ap.add_argument("--domain", type=int, default=78)
    args = ap.parse_args(argv)
    if args.sounds < 1:
        ap.error("--sounds must be at least 1")
    os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
    from codebind_core.experiments.doc_blocks import replace_block
    from codebind_core.experiments.sweep import load_sweep, part_records

    part = load_sweep(ROOT / "training" / "configs" / "sweep.yaml", [args.part])[0]
    if args.runs is not None:
        part.config.out_dir = str(args.runs)
    out = Path(part.config.out_dir)
    wanted = set(args.variants.split(","))
    rows = []
    for rec in part_records(part):
        run = rec["run"]
        model_dir = out / "models" / run["name"]
        if run["setting"] != "finetune" or run["targets"] != [args.target] or run["variant"] not in wanted \
                or not (model_dir / "config.json").is_file():
            continue
        cache = out / "localisation" / f"{run['name']}-sounds{args.sounds}.json"
        if cache.is_file():
            row = json.loads(cache.read_text())
        else:
            row = {**measure(model_dir, args.sounds, args.domain), "variant": run["variant"], "seed": run["seed"]}
            cache.parent.mkdir(parents=True, exist_ok=True)
            cache.write_text(json.dumps(row, indent=1))
        print(f"{run['name']}: " + ", ".join(f"{k} {row[k + '_found']}/{row[k + '_total']}" for k, _ in KINDS),
              flush=True)
        rows.append(row)
    if not rows:
        print(f"no kept {args.target} models of part {args.part} under {out}", file=sys.stderr)
        return 2
    command = f"python scripts/sweep_localisation.py --part {args.part} --target {args.target} --sounds {args.sounds}"
    text = args.report.read_text() if args.report.is_file() else ""
    args.report.write_text(replace_block(text, "localisation", render(rows, args.part, args.target, command)))
    print(f"localisation block written to {args.report}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
