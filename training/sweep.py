#!/usr/bin/env python3
"""The regime sweep: where does CodeBind's codebook help or cost against plain alignment?

    python training/sweep.py                       # every part: first seed, then all seeds; report
    python training/sweep.py --parts base,scarce   # only these parts
    python training/sweep.py --explore-only        # first seed of every part only
    python training/sweep.py --report-only         # re-render the sweep section from finished runs

Each part (training/configs/sweep.yaml) is the default benchmark config with some keys replaced;
all parts write run records into the default benchmark's runs folder, where a record is reused
only when its configuration fingerprint matches, so an interrupted sweep continues where it
stopped and no run is trained twice. The sweep section of docs/results.md (between the
``sweep`` markers, kept when the default benchmark rewrites the file) is rendered from every
finished record of the parts.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import List

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
SWEEP = ROOT / "training" / "configs" / "sweep.yaml"


def main(argv: List[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("config", nargs="?", default=str(SWEEP))
    ap.add_argument("--parts", default="", help="comma-separated part names (default: all)")
    ap.add_argument("--explore-only", action="store_true", help="run only the first seed of each part")
    ap.add_argument("--report-only", action="store_true", help="render the sweep section from finished runs")
    ap.add_argument("--robot", default="", help="also the robot metric of these parts' kept models (base,wide256)")
    ap.add_argument("--report", default=str(ROOT / "docs" / "results.md"), help="file whose sweep section is written")
    args = ap.parse_args(argv)

    from codebind_core.experiments.runner import run_benchmark
    from codebind_core.experiments.sweep import load_sweep, write_sweep_section

    try:
        parts = load_sweep(Path(args.config), [p for p in args.parts.split(",") if p])
    except (OSError, ValueError, TypeError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if not args.report_only:
        t0 = time.perf_counter()
        passes = [("explore", lambda c: c.replace(seeds=c.seeds[:1]))]
        if not args.explore_only:
            passes.append(("confirm", lambda c: c))
        for label, pick in passes:
            for part in parts:
                cfg = pick(part.config)
                print(f"== {label}: part {part.name} (seeds {cfg.seeds}), {(time.perf_counter() - t0) / 60:.1f} min "
                      "into the sweep", flush=True)
                run_benchmark(cfg, f"python training/sweep.py --parts {part.name}")
    path = write_sweep_section(parts, Path(args.report))
    print(f"sweep section written to {path}")
    if args.robot:
        robot(args.robot, Path(args.config), Path(args.report))
    return 0


def robot(part_names: str, config: Path, report: Path) -> None:
    """The robot metric of some parts' kept models at equal bytes: the ``robot`` block of the report
    (one table per part, e.g. ``base,wide256``)."""
    from codebind_core.experiments.runner import prepare
    from codebind_core.experiments.doc_blocks import replace_block
    from codebind_core.experiments.robot_sweep import render, robot_rows
    from codebind_core.experiments.sweep import load_sweep

    names = [n for n in part_names.split(",") if n]
    command = f"python training/sweep.py --report-only --robot {','.join(names)}"
    sections = []
    for part in load_sweep(config, names):
        data = prepare(part.config, lambda m: None)
        rows = robot_rows(part, ("hard_align", "no_codebook", "codebind", "codebind_full"),
                          Path(part.config.out_dir) / "robot", data.set_root)
        sections.append(render(rows, part.config.finetune_steps, command, part=part.name,
                               width=part.config.model.build().embed_dim, first=not sections))
        print(f"robot metric of part {part.name}: {len(rows)} rows")
    text = report.read_text() if report.is_file() else ""
    report.write_text(replace_block(text, "robot", "\n".join(sections)))
    print(f"robot metric written to {report}")


if __name__ == "__main__":
    sys.exit(main())
