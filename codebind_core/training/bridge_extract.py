"""``codebind-bridge extract <model> <out>``: take the frozen OpenCLIP bridge out of any codebind
checkpoint, as the local OpenCLIP directory Stage 0 writes (``open_clip_model.safetensors`` +
``open_clip_config.json``), for a training config's ``model.overrides.bridge.weights``.

    codebind-bridge extract models/demo bridges/demo
    # model: {overrides: {bridge: {model_cfg: <printed>, weights: bridges/demo/open_clip_model.safetensors}}}
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, Dict, List, Optional

from .bridge_pretrain import CONFIG_NAME, WEIGHTS_NAME
from ..atomic import atomic_write, atomic_write_text

PREFIX = "bridge.clip."


def extract_bridge(model_dir: str | Path, out_dir: str | Path) -> Dict[str, Any]:
    """Write the bridge of the checkpoint `model_dir` to `out_dir`; returns {"weights", "model_cfg"}.
    The written file is checked to load into the OpenCLIP architecture (every tensor, exactly)."""
    import open_clip
    import torch
    from safetensors.torch import save_file

    import codebind_core as cb

    model = cb.load(model_dir)
    if model.config.bridge.kind != "openclip":
        raise ValueError(f"{model_dir}: its bridge is {model.config.bridge.kind!r}; only OpenCLIP bridges "
                         "can be extracted")
    state = {k[len(PREFIX):]: v.detach().cpu().contiguous() for k, v in model.state_dict().items()
             if k.startswith(PREFIX)}
    model_cfg = model.config.bridge.openclip_cfg()
    clip = open_clip.CLIP(**model_cfg)
    missing, unexpected = clip.load_state_dict(state, strict=False)
    missing = [k for k in missing if "attn_mask" not in k]
    if missing or unexpected:
        raise ValueError(f"{model_dir}: the bridge does not match its architecture: missing {missing[:5]}, "
                         f"unexpected {unexpected[:5]}")
    with torch.no_grad():
        assert all(torch.equal(clip.state_dict()[k], v.to(clip.state_dict()[k].dtype)) for k, v in state.items())
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write(out / WEIGHTS_NAME, lambda p: save_file(state, p, metadata={"source": str(model_dir)}))
    atomic_write_text(out / CONFIG_NAME, json.dumps({"model_cfg": model_cfg}, indent=2))
    return {"weights": str(out / WEIGHTS_NAME), "model_cfg": model_cfg}


def check_bridge_architecture(weights: Optional[str], model_cfg: Dict[str, Any]) -> None:
    """A bridge directory written by Stage 0 or :func:`extract_bridge` records its architecture:
    naming its weights with another one is an error that says which to set."""
    if not weights:
        return
    recorded = Path(weights).parent / CONFIG_NAME
    if not recorded.is_file():
        return
    saved = json.loads(recorded.read_text()).get("model_cfg")
    if saved is not None and saved != model_cfg:
        raise ValueError(f"bridge weights {weights} belong to another OpenCLIP architecture ({recorded}); "
                         f"set model.overrides.bridge.model_cfg to {json.dumps(saved)}")


def main(argv: Optional[List[str]] = None) -> int:
    ap = argparse.ArgumentParser(prog="codebind-bridge", description=__doc__.splitlines()[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="command", required=True)
    ex = sub.add_parser("extract", help="write a checkpoint's bridge as a local OpenCLIP directory")
    ex.add_argument("model", help="codebind checkpoint directory (config.json + model.safetensors)")
    ex.add_argument("out", help="output directory")
    args = ap.parse_args(argv)
    try:
        result = extract_bridge(args.model, args.out)
    except (OSError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 0
    print(f"wrote {result['weights']}; in a training config:")
    print(json.dumps({"model": {"overrides": {"bridge": {"model_cfg": result["model_cfg"],
                                                         "weights": result["weights"]}}}}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
