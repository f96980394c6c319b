"""``codebind-codebook``: fit, show or remove the post-hoc codebook of a model directory.

    codebind-codebook fit models/hard --data training/configs/synth_tiny.yaml --sub-dim 8 --size 256
    codebind-codebook fit models/hard --data cache/synthbind/synthbind-<key> --kind per_position
    codebind-codebook show models/hard
    codebind-codebook remove models/hard

``fit`` embeds the training split of the SynthBind data (a training config YAML, whose set is
generated when missing, or a generated set folder): per codebook set, its target's shared
embeddings and the captions, then fits spherical k-means (``--kind shared``: one (K, d*) table for
all m = D/d* positions, as CodeBind's codebook; ``per_position``: one table per position) and writes
``posthoc_codebook.safetensors`` beside the weights. ``codebind_core.load`` then attaches it.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import List, Optional

from . import posthoc_codebook as ph
from .checkpoint_format import model_digest
from .evaluation.synth_split import embed_for_sets, open_synth
from .model_checkpoint import load


def fit_model_dir(model_dir, data, sub_dim: int = 8, size: int = 256, kind: str = "shared", seed: int = 0,
                  split: str = "train", limit: Optional[int] = None, iters: int = 20, with_text: bool = True,
                  force: bool = False) -> ph.PosthocCodebook:
    """Fit and save the post-hoc codebook of ``model_dir``; returns it."""
    import torch

    model_dir = Path(model_dir)
    target = model_dir / ph.POSTHOC_FILE
    if target.exists() and not force:
        raise ValueError(f"{target} exists; pass --force to refit")
    if target.exists():
        target.unlink()
    model = load(model_dir)
    if model.quantized:
        raise ValueError(f"{model_dir} has trained codebooks; a post-hoc codebook is for models without them")
    source = open_synth(data)
    torch.manual_seed(seed)
    vectors = embed_for_sets(model, source, split, limit=limit, with_text=with_text)
    info = {"data": str(data), "split": split, "limit": limit, "with_text": with_text,
            "embeddings_per_set": {name: len(v) for name, v in vectors.items()}}
    codebook = ph.fit(vectors, sub_dim, size, kind, seed, iters, model_digest(model_dir), info)
    ph.save(model_dir, codebook)
    return codebook


def describe(codebook: ph.PosthocCodebook, embed_dim: int) -> str:
    s = ph.storage(embed_dim, codebook.sub_dim(), codebook.size(), codebook.kind)
    return (f"post-hoc codebook ({codebook.kind}): sets {sorted(codebook.books)}, K={s['K']}, d*={s['sub_dim']}, "
            f"m={s['m']}: {s['bits']} bits = {s['bytes_packed']:g} bytes per embedding packed "
            f"({s['bytes_uint16']} as the memory's uint16 codes; float32: {s['float32_bytes']}), "
            f"tables {s['table_bytes']} bytes per set; fitted with {codebook.info}")


def main(argv: Optional[List[str]] = None) -> int:
    ap = argparse.ArgumentParser(prog="codebind-codebook", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="command", required=True)
    f = sub.add_parser("fit", help="fit and store a post-hoc codebook")
    f.add_argument("model_dir", type=Path)
    f.add_argument("--data", required=True, help="training config YAML (SynthBind) or a generated set folder")
    f.add_argument("--sub-dim", type=int, default=8, help="d*, dims per sub-vector (default 8)")
    f.add_argument("--size", type=int, default=256, help="K, codevectors per table (default 256)")
    f.add_argument("--kind", choices=ph.KINDS, default="shared")
    f.add_argument("--seed", type=int, default=0)
    f.add_argument("--iters", type=int, default=20, help="k-means iterations")
    f.add_argument("--split", default="train")
    f.add_argument("--limit", type=int, default=None, help="first N samples of the split only")
    f.add_argument("--no-text", action="store_true", help="fit on the target embeddings only")
    f.add_argument("--force", action="store_true", help="replace an existing post-hoc codebook")
    for name in ("show", "remove"):
        sub.add_parser(name).add_argument("model_dir", type=Path)
    args = ap.parse_args(argv)
    try:
        if args.command == "fit":
            cb = fit_model_dir(args.model_dir, args.data, args.sub_dim, args.size, args.kind, args.seed,
                               args.split, args.limit, args.iters, not args.no_text, args.force)

            print(f"wrote {args.model_dir / ph.POSTHOC_FILE}\n{describe(cb, load(args.model_dir).config.embed_dim)}")
        elif args.command == "show":
            has = (args.model_dir / ph.POSTHOC_FILE).is_file()
            cb = ph.load(args.model_dir, model_digest(args.model_dir)) if has else None
            if cb is None:
                print(f"{args.model_dir} has no post-hoc codebook")
                return 1
            import json

            dim = json.loads((args.model_dir / "config.json").read_text())["embed_dim"]
            print(describe(cb, int(dim)))
        else:
            path = args.model_dir / ph.POSTHOC_FILE
            existed = path.exists()
            path.unlink(missing_ok=True)
            print(f"removed {path}" if existed else f"{path} did not exist")
    except (ValueError, OSError) as e:  # a bad model directory: missing or unreadable files
        print(f"codebind-codebook: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
