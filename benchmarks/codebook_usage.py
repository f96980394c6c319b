#!/usr/bin/env python3
"""Why is shared-codebook usage below the paper's ~99 % (App. C.3, Tab. 8)? Measures it several ways
on CodeBind models trained in the benchmark's paper setting (from the cached hard-aligned trunk,
LoRA), with the codebook's initialisation, reinit and training length varied one at a time.

    .venv/bin/python benchmarks/codebook_usage.py                    # depth, the default benchmark config
    .venv/bin/python benchmarks/codebook_usage.py --target audio --steps 200

Needs the benchmark's caches (data, Stage-0 bridge, ``<out_dir>/aligned/<target>``): run
``training/benchmark.py`` (or its ``--quick``) first. Usage = share of the K shared codevectors
selected at least once by:
- ``cls test``: the [CLS] sub-vectors of the test split's target, images and captions (what
  docs/results.md reports);
- ``cls train``: the same over the 7x larger training split;
- ``all tokens test``: every token of the test split's target and images, plus the captions (the
  tokens training quantizes);
- ``training``: every sub-vector quantized during training (the codebook's own counters);
- per modality, the [CLS] codes of the test split's target, images and captions alone.
"""
from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

CASES = {  # name: (what changes, quantizer overrides, k-means source, steps factor)
    "official": ("as the benchmark: k-means on text [CLS], CVQ reinit", {}, "text", 1),
    "no_reinit": ("CVQ reinit off", {"reinit": False}, "text", 1),
    "init_all": ("k-means on every modality's tokens", {}, "all", 1),
    "longer": ("4x the steps", {}, "text", 4),
}


@torch.no_grad()
def usage_rows(model, data, target: str) -> dict:
    from codebind_core.evaluation.metrics import codebook_usage
    from codebind_core.quantize import shared_book

    model.eval()
    cset = model.config.codebook_set_for(target)
    book = shared_book(model.codebooks[cset], target)
    k = book.codebook_size

    def cls_codes(split, m):
        x = split.captions if m == "text" else split.inputs(m)
        return model.encode(m, x, codebook_set=cset, specific=False).codes.reshape(-1)

    def token_codes(split, m):
        out = []
        x = split.inputs(m)
        for i in range(0, len(x), 64):
            t = model._tokens(m, x[i:i + 64])
            out.append(book(t.shared, update=False, record=False).codes.reshape(-1))
        return torch.cat(out)

    per = {m: cls_codes(data.test, m) for m in (target, "image", "text")}
    row = {"cls test": codebook_usage(torch.cat(list(per.values())), k),
           "cls train": codebook_usage(torch.cat([cls_codes(data.train, m) for m in (target, "image", "text")]), k),
           "all tokens test": codebook_usage(torch.cat([token_codes(data.test, target), token_codes(data.test, "image"),
                                                        per["text"]]), k),
           "training": book.usage()}
    row.update({f"cls {m}": codebook_usage(c, k) for m, c in per.items()})
    return row


def train_case(cfg, data, target: str, name: str, steps: int, seed: int):
    from codebind_core.experiments.runner import build_model
    from codebind_core.training.config import deep_merge
    from codebind_core.data.prepared import PairDataset, collate_pairs
    from codebind_core.training.stream import RoundRobinStream, TargetData
    from codebind_core.training.trainer import LoopSettings, Trainer

    what, quant, init, factor = CASES[name]
    cfg = dataclasses.replace(cfg, model=dataclasses.replace(
        cfg.model, overrides=deep_merge(cfg.model.overrides, {"quantizer": quant})))
    run = {"setting": "finetune", "variant": "codebind", "targets": [target], "seed": seed, "name": f"usage-{name}"}
    model = build_model(cfg, run, data.bridge_weights)
    tokens = model.tokenize(data.train.captions)
    stream = RoundRobinStream([TargetData(target, PairDataset(data.train, ["image", target], tokens), collate_pairs)],
                              cfg.batch_size, seed)
    if init == "all":  # k-means on every token of text, target and image sub-vectors of two batches
        from codebind_core.quantize import shared_book

        with torch.no_grad():
            batches = stream.init_batches(2)
            model.init_codebooks(batches)  # the specific codebooks as usual
            subs = [model._tokens(m, b[m]).shared.flatten(0, -2) for b in batches for m in ("text", target, "image")]
            shared_book(model.codebooks[target], target).kmeans_init(torch.cat(subs))
    n = steps * factor
    settings = LoopSettings(steps=n, lr=cfg.finetune_lr, weight_decay=cfg.weight_decay, schedule="cosine",
                            warmup_steps=cfg.warmup_steps, checkpoint_every=n, log_every=max(1, n // 10),
                            progress=False, init_batches=0 if init == "all" else 2, fingerprint=run["name"])
    out = Path(cfg.out_dir) / "usage" / name
    Trainer(model, stream, settings, out, torch.device("cpu")).fit(resume=False)
    return model, what, n


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", default=str(ROOT / "training" / "configs" / "benchmark.yaml"))
    ap.add_argument("--target", default="depth")
    ap.add_argument("--steps", type=int, default=None, help="default: the config's finetune_steps")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--cases", nargs="*", default=list(CASES), choices=list(CASES))
    args = ap.parse_args(argv)
    torch.set_num_threads(1)

    from codebind_core.experiments.runner import aligned_dir, prepare
    from codebind_core.experiments.config import BenchmarkConfig

    cfg = BenchmarkConfig.from_file(args.config)
    if not (aligned_dir(cfg, args.target) / "encoder.safetensors").is_file():
        print(f"error: no hard-aligned start for {args.target} in {aligned_dir(cfg, args.target)}: run "
              "training/benchmark.py first", file=sys.stderr)
        return 2
    data = prepare(cfg, lambda msg: None)
    steps = args.steps or cfg.finetune_steps
    print(f"target {args.target}, seed {args.seed}, {steps} finetune steps, K = "
          f"{cfg.model.build().quantizer.shared_size} shared codes")
    cols = None
    for name in args.cases:
        t0 = time.perf_counter()
        model, what, n = train_case(cfg, data, args.target, name, steps, args.seed)
        row = usage_rows(model, data, args.target)
        if cols is None:
            cols = list(row)
            print("| case | steps | " + " | ".join(cols) + " |")
            print("|---|---|" + "---|" * len(cols))
        print(f"| {name}: {what} | {n} | " + " | ".join(f"{100 * row[c]:.1f}" for c in cols)
              + f" |  ({time.perf_counter() - t0:.0f} s)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
