#!/usr/bin/env python3
"""Localisation accuracy of a trained model on the sensor player's scene (the table in docs/ros.md).

    .venv/bin/python scripts/eval_localisation.py                       # model: cache/demo-model/model
    .venv/bin/python scripts/eval_localisation.py --model runs/synth-tiny/model --write-docs

Starts the sensor player, the audio encoder and the localisation node in one process (real rclpy,
localhost discovery), sends each object's text prompt and impact sound as queries, and prints
per object whether the top result is that object and its 3-D error. ``--write-docs`` replaces the
table in docs/ros.md (between the ``localisation-table`` markers).
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
BEGIN, END = "<!-- localisation-table:begin -->", "<!-- localisation-table:end -->"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", type=Path, default=ROOT / "cache" / "demo-model" / "model")
    ap.add_argument("--no-audio", action="store_true", help="text queries only")
    ap.add_argument("--write-docs", action="store_true", help="update the table in docs/ros.md")
    ap.add_argument("--domain", type=int, default=77, help="ROS domain id for the run")
    args = ap.parse_args(argv)
    if not (args.model / "config.json").is_file():
        print(f"no model at {args.model}: run scripts/train_demo_model.py first", file=sys.stderr)
        return 2
    os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
    import rclpy

    import codebind_core as cb
    from codebind_ros.tools.scene_eval import evaluate_scene, markdown_table, summary

    model = cb.load(str(args.model)).eval()
    context = rclpy.Context()
    rclpy.init(context=context, domain_id=args.domain)
    try:
        outcomes = evaluate_scene(model, context, audio=not args.no_audio)
    finally:
        rclpy.shutdown(context=context)
    table = markdown_table(outcomes)
    s = summary(outcomes)
    rel = args.model.relative_to(ROOT) if args.model.is_relative_to(ROOT) else args.model
    parts = [f"{label}: {s[k + '_found']}/{s[k + '_total']} found (top-1), {s[k + '_within_5cm']} within 5 cm"
             for k, label in (("text", "category prompts"), ("text+colour", "colour + category prompts"),
                              ("audio", "impact sounds")) if s[k + "_total"]]
    text = (f"{table}\n\n{'; '.join(parts)}. Median 3-D error of the found objects: "
            f"{s['median_error_cm']:.1f} cm.\n\nCommand: `python scripts/eval_localisation.py --model {rel}`")
    print(text)
    if args.write_docs:
        doc = ROOT / "docs" / "ros.md"
        content = doc.read_text()
        if BEGIN not in content or END not in content:
            print(f"{doc} lacks the {BEGIN} / {END} markers", file=sys.stderr)
            return 2
        head, rest = content.split(BEGIN, 1)
        doc.write_text(head + BEGIN + "\n" + text + "\n" + END + rest.split(END, 1)[1])
        print(f"updated {doc}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
