"""Stage 0 on a user's own ``pairs_*`` data: the image column and captions of the training split
train the bridge (open_clip's ClipLoss, :func:`.bridge_pretrain.pretrain_bridge`); the held-out
split, when there is one, scores it (image->caption top-1 and zero-shot on the class prompts)."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Dict, List

import numpy as np
import torch

from .bridge_pretrain import WEIGHTS_NAME, bridge_is_trained, pretrain_bridge
from .pairs import read_file
from ..modalities import image
from .datasets import pair_rows, pairs_options


def image_batch(rows: List[Dict[str, Any]], size: int) -> torch.Tensor:
    """(N, 3, size, size) bridge inputs of the rows' image files (ImageBind's image preprocessing)."""
    return torch.stack([image.preprocess(read_file(r["image"], "image"), size=size) for r in rows])


def _check_pairs(rows: List[Dict[str, Any]], what: str) -> None:
    if rows and ("image" not in rows[0] or "text" not in rows[0]):
        raise ValueError(f"bridge_pretrain on pairs data needs an image column and captions (or labels); "
                         f"the {what} rows have {sorted(rows[0])}")


def ensure_pairs_bridge(kind: str, options: Dict[str, Any], targets, model_cfg: Dict[str, Any], bp, out: Path,
                        seed: int, device=None, progress: bool = False) -> str:
    """Train (unless `out` holds one of this architecture) a Stage-0 bridge on a pairs dataset;
    returns the weights path."""
    if not bridge_is_trained(out, model_cfg):
        train = pair_rows(kind, options, targets, "train")
        _check_pairs(train, "training")
        order = np.random.default_rng(seed).permutation(len(train))[:bp.corpus_samples]
        train = [train[i] for i in sorted(order)]
        size = int(model_cfg["vision_cfg"]["image_size"])
        o = pairs_options(kind, options)
        has_holdout = o["holdout_fraction"] > 0 or o["holdout_list"] is not None
        holdout, probes = None, None
        if has_holdout:
            held = pair_rows(kind, options, targets, "holdout")
            _check_pairs(held, "held-out")
            holdout = (image_batch(held, size), [r["text"] for r in held])
            if all("class" in r for r in held):
                names = sorted({r["class"]: r["label"] for r in train + held}.items(), key=lambda kv: kv[1])
                probes = {"class": ([[o["template"].format(n)] for n, _ in names],
                                    np.asarray([r["label"] for r in held]))}
        result = pretrain_bridge(model_cfg, image_batch(train, size), [r["text"] for r in train], bp, out,
                                 seed=seed, device=device or "cpu", progress=progress, holdout=holdout,
                                 holdout_classes=probes)
        (out / "stage0.json").write_text(json.dumps(result, indent=2))
    return str(out / WEIGHTS_NAME)
