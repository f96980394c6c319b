"""A training run small enough for tests (tens of milliseconds a step) on a pair folder, shared by
the training tests: the model overrides and the run config."""
from __future__ import annotations

from pathlib import Path

from codebind_core.config_base import deep_merge

# a model small enough that a training step takes tens of milliseconds
MICRO = {
    "embed_dim": 32,
    "bridge": {"random_init": True,  # a random frozen bridge: these tests check the loop, not accuracy
               "model_cfg": {"embed_dim": 32,
                             "vision_cfg": {"image_size": 32, "layers": 1, "width": 32, "patch_size": 8,
                                            "head_width": 16},
                             "text_cfg": {"context_length": 16, "vocab_size": 49408, "width": 32, "heads": 2,
                                          "layers": 1}}},
    "trunk": {"width": 32, "depth": 1, "heads": 2},
    "inputs": {"image_size": 32, "patch_size": 8},
    "quantizer": {"shared_size": 32, "specific_size": 16},
    "loss": {"decoder_depth": 1, "decoder_width": 32, "decoder_heads": 2},
}


def micro_config(tmp: Path, data_root: Path, steps: int, batch_size: int, checkpoint_every: int, **over) -> dict:
    """A TrainConfig dict: the micro model on depth from the pair folder ``data_root``, run in ``tmp``;
    ``over`` is deep-merged on top."""
    d = {"name": "micro", "seed": 0,
         "model": {"preset": "tiny", "targets": ["depth"], "overrides": MICRO},
         "data": {"kind": "pairs_folder", "options": {"root": str(data_root), "cache_dir": str(tmp / "cache")}},
         "optim": {"lr": 3e-3}, "schedule": {"name": "constant"},
         "steps": steps, "batch_size": batch_size, "checkpoint_every": checkpoint_every, "log_every": 1,
         "progress": False, "init_batches": 1, "out_dir": str(tmp / "run")}
    return deep_merge(d, over)
