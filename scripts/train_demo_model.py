#!/usr/bin/env python3
"""Train (once) the small SynthBind model the ROS demo and the localisation evaluation use.

    .venv/bin/python scripts/train_demo_model.py            # -> cache/demo-model/model
    .venv/bin/python scripts/train_demo_model.py --force    # train again
    .venv/bin/python scripts/train_demo_model.py --ship     # (train and) ship it to models/demo

The shipped checkpoint in models/demo (what `make demo` runs) is this script's output, written
for inference (no reconstruction decoders; weights in float16 except the codebooks, which stay
float32 so codes are the trained ones) with ``recipe.json``: the recipe fingerprint it was trained
with, the precision and the command. ``make demo-train`` retrains and re-ships it; a test checks
that the shipped fingerprint is the current recipe's.

It runs the project's training pipeline (training/configs/synth_tiny.yaml: Stage 0 tiny OpenCLIP
bridge on SynthBind, then CodeBind alignment) on the five robot target modalities (depth,
thermal, tactile, point cloud, audio; the camera is the image bridge), with two changes for the
robot's tabletop: objects stand upright (``synth.pose: upright``, as on the sensor player's floor)
and the bridge has a convolutional image tower (``tiny-cnn``), which learns object shape on two
CPU cores where the tiny ViT learns only colour (docs/training.md).

The default recipe is **hard alignment with a post-hoc codebook** (``--variant hard_align``): the
regime sweep and the robot's metric in docs/results.md found CodeBind's trained codebooks behind
plain alignment at this scale, and a post-hoc codebook of the same 64 bits serving the memory's
code-table search at least as well. The shipped model therefore has no trained codebooks; ``ship``
fits its post-hoc codebook (one shared 256 x 8 table, as CodeBind's; ``codebind-codebook fit``)
on the training split and stores it beside the weights. ``--variant codebind`` trains the earlier
CodeBind recipe: the official
numerics (codebind_core/losses.py) with alignment-first weights and no reconstruction
(DEMO_LOSS): measured on the sensor player's scene after the same 4000 steps, Table 1's weights
with reconstruction find 4/6 objects by category name, the official adaptive balancer 5/6, these
weights 6/6 (docs/ros.md).
A finished checkpoint is reused: the script prints its directory and exits. Everything stays
under cache/ (git-ignored).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

ROBOT_TARGETS = ["depth", "thermal", "tactile", "pointcloud", "audio"]
DEFAULT_OUT = ROOT / "cache" / "demo-model"
SHIPPED = ROOT / "models" / "demo"  # the checkpoint `make demo` runs (tracked in git)
DEFAULT_STEPS, DEFAULT_BRIDGE_STEPS, DEFAULT_SAMPLES = 4000, 3000, 3000
MEMORY_DB = "memory.db"  # the memory database `make demo` keeps in <out>
DEMO_BRIDGE = {"arch": "tiny-cnn"}
DEMO_BRIDGE_PRETRAIN = {"batch_size": 128, "lr": 2.0e-3}
DEMO_LOSS = {"weights": {"align": 1.0, "vq": 1.0, "cm": 0.1, "orth": 0.1, "uni": 0.1, "ctr": 0.01, "cuni": 0.01,
                         "recon": 0.0},
             "recon": False}


def model_dir(out: Path) -> Path:
    return out / "model"


VARIANTS = ("hard_align", "codebind")
DEFAULT_VARIANT = "hard_align"
POSTHOC = {"kind": "shared", "size": 256, "sub_dim": 8}  # the shipped hard-aligned model's codebook


def demo_config(out: Path, steps: int, samples: int, bridge_steps: int, variant: str = DEFAULT_VARIANT):
    """The demo model's TrainConfig: synth_tiny.yaml with the demo's changes."""
    import yaml

    from codebind_core.training import TrainConfig

    raw = yaml.safe_load((ROOT / "training" / "configs" / "synth_tiny.yaml").read_text())
    raw["name"] = "demo-model"
    raw["model"]["targets"] = ROBOT_TARGETS
    if variant == "hard_align":  # no decoupling, no codebooks: InfoNCE to the bridge only
        raw["model"]["overrides"]["decouple"] = False
    else:
        raw["model"]["overrides"]["loss"] = dict(DEMO_LOSS)
        raw["init_batches"] = 4  # the CodeBind demo's recipe: k-means over 4 batches per target ahead
    raw["model"]["overrides"]["bridge"] = DEMO_BRIDGE
    raw["data"]["options"]["cache_dir"] = str(ROOT / "cache" / "synthbind")
    raw["data"]["options"]["synth"].update(num_samples=samples, pose="upright")
    raw["bridge_pretrain"].update(DEMO_BRIDGE_PRETRAIN, steps=bridge_steps)
    raw["steps"] = steps
    raw["out_dir"] = str(out)
    return TrainConfig.from_dict(raw)


def same_recipe(out: Path, cfg) -> bool:
    """Whether the run in `out` was started with `cfg` (same training trajectory)."""
    from codebind_core.training import TrainConfig

    try:
        return TrainConfig.from_file(out / "train_config.yaml").fingerprint() == cfg.fingerprint()
    except (OSError, ValueError, TypeError):
        return False


def is_trained(out: Path, cfg) -> bool:
    """A finished model trained with exactly `cfg` (another recipe, e.g. an older demo's, is stale)."""
    done = (model_dir(out) / "config.json").is_file() and (out / "result.json").is_file()
    return done and same_recipe(out, cfg)


def clear(out: Path) -> None:
    """Remove what a previous run left in `out` (its own files only)."""
    for sub in ("model", "bridge", "checkpoints", "tensorboard"):
        shutil.rmtree(out / sub, ignore_errors=True)
    for name in ("result.json", "log.csv", "train_config.yaml"):
        (out / name).unlink(missing_ok=True)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT, help="run directory (model in <out>/model)")
    ap.add_argument("--steps", type=int, default=DEFAULT_STEPS, help="alignment steps")
    ap.add_argument("--bridge-steps", type=int, default=DEFAULT_BRIDGE_STEPS, help="Stage 0 bridge steps")
    ap.add_argument("--samples", type=int, default=DEFAULT_SAMPLES, help="SynthBind samples generated for training")
    ap.add_argument("--force", action="store_true", help="train even if a finished model exists")
    ap.add_argument("--ship", nargs="?", type=Path, const=SHIPPED, default=None, metavar="DIR",
                    help=f"write the trained model for inference to DIR (default {SHIPPED.relative_to(ROOT)})")
    ap.add_argument("--precision", choices=("fp16", "fp32"), default="fp16", help="weights of the shipped model")
    ap.add_argument("--variant", choices=VARIANTS, default=DEFAULT_VARIANT,
                    help="hard alignment + post-hoc codebook (default) or the CodeBind recipe")
    args = ap.parse_args(argv)
    if min(args.steps, args.bridge_steps, args.samples) < 1:
        ap.error("--steps, --bridge-steps and --samples must be >= 1")
    cfg = demo_config(args.out, args.steps, args.samples, args.bridge_steps, args.variant)
    if is_trained(args.out, cfg) and not args.force:
        if args.ship:
            ship(model_dir(args.out), cfg, args.ship, args.precision)
        print(model_dir(args.out))
        return 0
    started = (args.out / "train_config.yaml").is_file()
    if args.force or (started and not same_recipe(args.out, cfg)):  # else resume this recipe's run
        clear(args.out)
    for suffix in ("", "-wal", "-shm"):  # `make demo`'s memory holds codes of the previous model
        (args.out / f"{MEMORY_DB}{suffix}").unlink(missing_ok=True)
    from codebind_core.training import run_training

    result = run_training(cfg, resume=True)
    print(json.dumps(result, indent=2))
    if args.ship:
        ship(Path(result["model_dir"]), cfg, args.ship, args.precision)
    print(result["model_dir"])
    return 0


def _set_name(cfg) -> str:
    """The folder name of the SynthBind set the recipe trains on (under its cache_dir)."""
    from codebind_core.data.synth_source import SynthSource, synth_config

    source = SynthSource(synth_config(cfg.data.options["synth"]), cfg.data.options["cache_dir"], progress=False)
    return source.set.root.name


def default_fingerprint() -> str:
    """The fingerprint of the recipe `make demo-train` runs (the script's defaults)."""
    return demo_config(DEFAULT_OUT, DEFAULT_STEPS, DEFAULT_SAMPLES, DEFAULT_BRIDGE_STEPS).fingerprint()


def ship(trained: Path, cfg, dest: Path, precision: str = "fp16") -> Path:
    """Write the trained checkpoint `trained` to `dest` for inference: no decoders, weights in
    `precision` except the codebooks (float32), and recipe.json with the recipe's fingerprint."""
    import copy
    import tempfile

    from torch import nn

    import codebind_core as cb

    model = cb.load(trained)
    model.config.loss.recon = False
    model.decoders = nn.ModuleDict()
    if precision == "fp16":  # float32 codebooks, untouched: codes stay the trained ones
        books = copy.deepcopy(model.codebooks)
        model.half()
        model.codebooks = books
    posthoc = not model.quantized
    dest.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=dest.parent, prefix=f".{dest.name}-") as tmp:
        model.save(tmp)  # records the weights' digest
        recipe = {"fingerprint": cfg.fingerprint(), "precision": precision,
                  "command": "make demo-train  (scripts/train_demo_model.py --force --ship)",
                  "variant": "hard_align" if posthoc else "codebind",
                  "note": ("float16 weights and a post-hoc codebook (posthoc_codebook.safetensors)" if posthoc else
                           "float16 weights, float32 codebooks") + "; load with codebind_core.load"}
        (Path(tmp) / "recipe.json").write_text(json.dumps(recipe, indent=2) + "\n")
        if posthoc:  # fitted on the shipped (fp16) weights, whose digest it records
            from codebind_core.codebook_cli import fit_model_dir

            fit_model_dir(tmp, str(Path(cfg.data.options["cache_dir"]) / _set_name(cfg)),
                          sub_dim=POSTHOC["sub_dim"], size=POSTHOC["size"], kind=POSTHOC["kind"], seed=0)
        for stale in ("posthoc_codebook.safetensors",):  # a CodeBind demo replacing a hard-aligned one
            if not (Path(tmp) / stale).exists():
                (dest / stale).unlink(missing_ok=True)
        for f in sorted(Path(tmp).iterdir()):
            os.replace(f, dest / f.name)
    print(f"shipped {trained} -> {dest} ({precision})")
    return dest


if __name__ == "__main__":
    sys.exit(main())
