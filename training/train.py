#!/usr/bin/env python3
"""Train CodeBind from one YAML config (Stage 0 bridge + Stage 1 alignment).

    python training/train.py training/configs/synth_tiny.yaml
    python training/train.py CONFIG --set steps=50 --set optim.lr=1e-3 --out runs/try
    torchrun --nproc_per_node 4 training/train.py CONFIG          # multi-GPU (DDP)

Re-running the same command resumes from ``<out_dir>/checkpoints/last.pt``; ``--fresh`` ignores it.
Ctrl-C (or SIGTERM) finishes the optimiser step under way, saves that checkpoint and exits 0.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, Dict, List

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def apply_overrides(d: Dict[str, Any], pairs: List[str]) -> Dict[str, Any]:
    """``a.b=value`` pairs (value parsed as YAML) applied to a nested dict."""
    import yaml

    for pair in pairs:
        if "=" not in pair:
            raise ValueError(f"--set expects key=value, got {pair!r}")
        key, value = pair.split("=", 1)
        node = d
        *parents, leaf = key.split(".")
        for p in parents:
            node = node.setdefault(p, {})
            if not isinstance(node, dict):
                raise ValueError(f"--set {key}: {p!r} is not a mapping")
        node[leaf] = yaml.safe_load(value)
    return d


def main(argv: List[str] | None = None) -> int:
    try:
        return _main(argv)
    except KeyboardInterrupt:  # before training started (imports, data, Stage 0) or a second Ctrl-C
        print("interrupted; re-run the same command to resume from the last saved checkpoint", file=sys.stderr)
        return 0


def _main(argv: List[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("config", help="training YAML (see training/configs/)")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a config field")
    ap.add_argument("--out", help="output directory (overrides out_dir)")
    ap.add_argument("--fresh", action="store_true", help="do not resume from an existing checkpoint")
    args = ap.parse_args(argv)

    import yaml

    from codebind_core.training import TrainConfig, run_training

    try:
        raw = yaml.safe_load(Path(args.config).read_text()) or {}
        raw = apply_overrides(raw, args.set)
        if args.out:
            raw["out_dir"] = args.out
        cfg = TrainConfig.from_dict(raw)
    except (OSError, ValueError, yaml.YAMLError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    try:
        result = run_training(cfg, resume=not args.fresh)
    except (OSError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if "interrupted" in result:
        print(f"{result['interrupted']}: stopped after step {result['steps']}, checkpoint saved in "
              f"{result['checkpoint']}; re-run the same command to resume", file=sys.stderr)
        return 0
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
