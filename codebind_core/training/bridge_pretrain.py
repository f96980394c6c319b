"""Stage 0: pretrain a small OpenCLIP bridge on image-caption pairs.

CodeBind assumes a frozen vision-language bridge (§3.1). For SynthBind no downloaded OpenCLIP
model knows the procedural objects, so Stage 0 trains a tiny OpenCLIP architecture with
open_clip's own contrastive loss (``open_clip.loss.ClipLoss``) on the benchmark's image-caption
pairs, then writes it as a local OpenCLIP directory::

    <dir>/open_clip_model.safetensors   the state dict
    <dir>/open_clip_config.json         {"model_cfg": ...}  (also loadable as "local-dir:<dir>")

Stage 1 then points ``bridge.weights`` at the safetensors file and freezes it, exactly as it would
a downloaded OpenCLIP checkpoint.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Dict, Optional, Sequence

import torch
from safetensors.torch import save_file

from ..atomic import atomic_write, atomic_write_text
from .config import BridgePretrainConfig
from .optim import build_optimizer, build_schedule
from ..evaluation.metrics import zero_shot_accuracy

WEIGHTS_NAME = "open_clip_model.safetensors"
CONFIG_NAME = "open_clip_config.json"


def bridge_is_trained(out_dir: str | Path, model_cfg: Dict[str, Any]) -> bool:
    """True when `out_dir` already holds a Stage-0 bridge of this exact architecture."""
    cfg_file = Path(out_dir) / CONFIG_NAME
    if not (cfg_file.is_file() and (Path(out_dir) / WEIGHTS_NAME).is_file()):
        return False
    return json.loads(cfg_file.read_text()).get("model_cfg") == model_cfg


@torch.no_grad()
def _encode(encode, x: torch.Tensor, batch: int = 256) -> torch.Tensor:
    """Unit embeddings of `x` through one tower of the bridge, in batches."""
    return torch.cat([encode(x[i:i + batch], normalize=True) for i in range(0, len(x), batch)])


@torch.no_grad()
def holdout_scores(model, images: torch.Tensor, captions: Sequence[str], tokenizer,
                   holdout_classes: Optional[Dict[str, tuple]] = None) -> Dict[str, Any]:
    """The bridge on held-out pairs, images encoded once: image->caption top-1 (``holdout_i2t_acc``,
    chance 1/N) and, per {name: (class prompts, labels)}, zero-shot Acc@1 with prompt-averaged
    class embeddings (``holdout_<name>_zero_shot``)."""
    model.eval()
    fi = _encode(model.encode_image, images)
    ft = _encode(model.encode_text, tokenizer(list(captions)))
    out: Dict[str, Any] = {"holdout_i2t_acc": float(((fi @ ft.T).argmax(1) == torch.arange(len(fi))).float().mean()),
                           "holdout_size": len(images)}
    for name, (prompts, labels) in (holdout_classes or {}).items():
        classes = torch.stack([model.encode_text(tokenizer(list(p)), normalize=True).mean(0) for p in prompts])
        out[f"holdout_{name}_zero_shot"] = zero_shot_accuracy(fi, classes, labels, ks=(1,))["acc@1"]
    return out


def pretrain_bridge(model_cfg: Dict[str, Any], images: torch.Tensor, captions: Sequence[str],
                    cfg: BridgePretrainConfig, out_dir: str | Path, seed: int = 0,
                    device: str | torch.device = "cpu", progress: bool = False,
                    holdout: Optional[tuple] = None,
                    holdout_classes: Optional[Dict[str, tuple]] = None) -> Dict[str, Any]:
    """Train an OpenCLIP model of architecture `model_cfg` on (images, captions); write it to
    `out_dir` and return {"weights": path, "loss": final loss, "holdout_i2t_acc": ...}.

    images: (N, 3, S, S) preprocessed (CLIP mean/std) with S = model_cfg vision image_size.
    holdout: optional (images, captions) scored with :func:`holdout_scores` after training.
    holdout_classes: optional {name: (class prompts, labels)} over the holdout images, for the
        zero-shot scores of :func:`holdout_scores`.
    """
    import open_clip
    from open_clip.loss import ClipLoss

    from ..encoders.fast_bpe import FastSimpleTokenizer

    size = int(model_cfg["vision_cfg"]["image_size"])
    if images.dim() != 4 or tuple(images.shape[1:]) != (3, size, size):
        raise ValueError(f"images must be (N, 3, {size}, {size}), got {tuple(images.shape)}")
    if len(captions) != len(images):
        raise ValueError(f"{len(images)} images but {len(captions)} captions")
    if len(images) < cfg.batch_size:
        raise ValueError(f"{len(images)} pairs is fewer than one batch of {cfg.batch_size}")
    device = torch.device(device)
    torch.manual_seed(seed)
    model = open_clip.CLIP(**model_cfg).to(device)
    tok = FastSimpleTokenizer(context_length=int(model_cfg["text_cfg"].get("context_length", 77)))
    tokens = tok(list(captions))
    loss_fn = ClipLoss()
    opt = build_optimizer("adamw", model.parameters(), cfg.lr, cfg.weight_decay, (0.9, 0.98))
    sched = build_schedule("cosine", opt, cfg.warmup_steps, cfg.steps)
    g = torch.Generator().manual_seed(seed)
    order, pos = torch.randperm(len(images), generator=g), 0
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=cfg.steps, desc="stage0 bridge", unit="step", dynamic_ncols=True)
    model.train()
    loss = torch.tensor(float("nan"))
    for _ in range(cfg.steps):
        if pos + cfg.batch_size > len(order):
            order, pos = torch.randperm(len(images), generator=g), 0
        idx = order[pos:pos + cfg.batch_size]
        pos += cfg.batch_size
        fi, ft, scale = model(images[idx].to(device), tokens[idx].to(device))
        loss = loss_fn(fi, ft, scale)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        with torch.no_grad():  # CLIP clamps the learnable temperature at 100
            model.logit_scale.clamp_(0, 4.6052)
        if bar is not None:
            bar.set_postfix(loss=f"{float(loss):.3f}")
            bar.update(1)
    if bar is not None:
        bar.close()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    atomic_write(out / WEIGHTS_NAME, lambda p: save_file(state, p))
    atomic_write_text(out / CONFIG_NAME, json.dumps({"model_cfg": model_cfg}, indent=2))
    result = {"weights": str(out / WEIGHTS_NAME), "loss": float(loss.detach())}
    if holdout is not None:
        h_img, h_cap = holdout
        result.update(holdout_scores(model.cpu(), h_img, h_cap, tok, holdout_classes))
    return result
