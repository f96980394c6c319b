"""Command line: convert ImageBind's released ``.pth`` to our safetensors checkpoint, once.

    python -m codebind_core.encoders.imagebind.convert imagebind_huge.pth checkpoints/imagebind_huge

The ``.pth`` is read with ``torch.load(weights_only=True)`` and checked key for key against the
architecture before anything is written.
"""
from __future__ import annotations

import argparse
import sys
import time
from typing import List, Optional

from .config import IMAGEBIND_CONFIGS
from .weights import WEIGHTS_FILE, convert_imagebind, read_converted_config

AUTO = "auto"


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("pth", help="ImageBind state dict, e.g. imagebind_huge.pth")
    parser.add_argument("out_dir", help="directory to write imagebind.safetensors and config.json to")
    parser.add_argument("--config", default="imagebind_huge", choices=[*IMAGEBIND_CONFIGS, AUTO],
                        help="architecture of the checkpoint (auto: infer it from the tensor shapes)")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    try:
        out = convert_imagebind(args.pth, args.out_dir, config=None if args.config == AUTO else args.config)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    cfg = read_converted_config(out)
    size_mb = (out / WEIGHTS_FILE).stat().st_size / 2**20
    print(f"wrote {out} ({size_mb:.1f} MiB, out_embed_dim {cfg.out_embed_dim}) "
          f"in {time.perf_counter() - start:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
