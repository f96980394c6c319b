"""Encode a few synthetic inputs of every modality and print their cross-modal similarities.

Run with ``make demo`` (or ``python -m codebind_core.demo``). The model is randomly initialised
unless ``--checkpoint`` points at a trained one, so the numbers show the plumbing, not accuracy.
"""
from __future__ import annotations

import argparse

import numpy as np
import torch

import codebind_core as cb

RANDOM_NOTE = ("this model is RANDOMLY INITIALISED (no --checkpoint): the numbers below show the plumbing, "
               "not accuracy; --checkpoint models/demo runs the trained demo model")
MODALITIES = ("image", "video", "audio", "depth", "thermal", "tactile", "pointcloud", "eeg")


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--checkpoint", help="a codebind checkpoint directory (default: random tiny model)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    torch.manual_seed(args.seed)
    if args.checkpoint:
        model = cb.load(args.checkpoint)
    else:
        targets = [m for m in MODALITIES if m != "image"]
        model = cb.create_model(cb.CodeBindConfig.preset("tiny", targets=targets, unified=True)).eval()
    rng = np.random.default_rng(args.seed)
    prompts = ["a red mug", "a wooden chair", "a metal box"]
    with torch.no_grad():
        text = model.encode_text(prompts)
        rows = []
        for m in MODALITIES:
            if m != "image" and m not in model.encoders:
                continue
            raw = cb.modalities.get(m).example(rng)
            if m == "eeg":
                raw = raw[: model.config.inputs.eeg_channels]
            x = model.preprocess(m, [raw])
            emb = model.encode(m, x)
            if text.codebook_set != emb.codebook_set:  # compare within one codebook set
                text = model.encode_text(prompts, codebook_set=emb.codebook_set)
            rows.append((m, model.similarity(emb, text)[0], emb))
    print(f"model {model.config.name}: shared dim {model.config.embed_dim}, "
          f"{model.config.embed_dim // model.config.quantizer.sub_dim} codes per embedding")
    if not args.checkpoint:
        print(RANDOM_NOTE)
    print(f"{'modality':<11}" + "".join(f"{p!r:>18}" for p in prompts) + "   first codes")
    for m, sims, emb in rows:
        print(f"{m:<11}" + "".join(f"{float(s):>18.3f}" for s in sims) + f"   {emb.codes[0, :6].tolist()}")
    embs = torch.cat([e.shared for _, _, e in rows])
    sim = embs @ embs.T
    names = [m for m, _, _ in rows]
    print("\ncross-modal cosine similarity of shared parts")
    print(" " * 11 + "".join(f"{n[:8]:>9}" for n in names))
    for n, r in zip(names, sim):
        print(f"{n:<11}" + "".join(f"{float(v):>9.3f}" for v in r))


if __name__ == "__main__":
    main()
