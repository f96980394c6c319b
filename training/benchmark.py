#!/usr/bin/env python3
"""Train and evaluate CodeBind and every baseline/ablation on SynthBind; write docs/results.md.

    python training/benchmark.py                    # the default run (within 60 min on 2 CPU cores)
    python training/benchmark.py --quick            # one seed, three targets (within 15 min, bridge cached)
    python training/benchmark.py training/configs/benchmark.yaml --set seeds=[3,4,5] --set synth.seed=7

Finished runs are stored under ``<out_dir>/runs/*.json`` and skipped when the command is re-run,
so an interrupted benchmark continues where it stopped (``--fresh`` starts over).
"""
from __future__ import annotations

import argparse
import shlex
import shutil
import sys
from pathlib import Path
from typing import List

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "training"))
QUICK = ROOT / "training" / "configs" / "benchmark_quick.yaml"


def main(argv: List[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("config", nargs="?", default=str(ROOT / "training" / "configs" / "benchmark.yaml"))
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a config field")
    ap.add_argument("--fresh", action="store_true", help="discard finished runs of this out_dir")
    ap.add_argument("--quick", action="store_true",
                    help="apply training/configs/benchmark_quick.yaml on top of the config (before --set)")
    args = ap.parse_args(argv)

    import yaml

    from codebind_core.experiments.runner import run_benchmark
    from codebind_core.experiments.config import BenchmarkConfig
    from train import apply_overrides

    try:
        raw = yaml.safe_load(Path(args.config).read_text()) or {}
        if args.quick:
            raw.update(yaml.safe_load(QUICK.read_text()) or {})
        raw = apply_overrides(raw, args.set)
        cfg = BenchmarkConfig.from_dict(raw)
    except (OSError, ValueError, TypeError, yaml.YAMLError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if args.fresh:
        shutil.rmtree(Path(cfg.out_dir) / "runs", ignore_errors=True)
    args = argv if argv is not None else sys.argv[1:]
    command = "python training/benchmark.py " + " ".join(shlex.quote(a) for a in args)
    run_benchmark(cfg, command.strip())
    return 0


if __name__ == "__main__":
    sys.exit(main())
