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
import os
import tempfile
from pathlib import Path
from typing import Any, Dict, Optional, Sequence

import torch

from .config import BridgePretrainConfig
from .optim import build_optimizer, build_schedule

WEIGHTS_NAME = "open_clip_model.safetensors"
CONFIG_NAME = "open_clip_config.json"


def bridge_is_trained(out_dir: str | Path, model_cfg: Dict[str, Any]) -> bool:
    """True when `out_dir` already holds a Stage-0 bridge of this exact architecture."""
    cfg_file = Path(out_dir) / CONFIG_NAME
    if not (cfg_file.is_file() and (Path(out_dir) / WEIGHTS_NAME).is_file()):
        return False
    return json.loads(cfg_file.read_text()).get("model_cfg") == model_cfg


@torch.no_grad()
def contrastive_accuracy(model, images: torch.Tensor, tokens: torch.Tensor, batch: int = 256) -> float:
    """Image->text top-1 accuracy of the bridge over a set of pairs (chance = 1/N)."""
    model.eval()
    fi = torch.cat([model.encode_image(images[i:i + batch], normalize=True) for i in range(0, len(images), batch)])
    ft = torch.cat([model.encode_text(tokens[i:i + batch], normalize=True) for i in range(0, len(tokens), batch)])
    return float(((fi @ ft.T).argmax(1) == torch.arange(len(fi))).float().mean())


@torch.no_grad()
def zero_shot_accuracy(model, images: torch.Tensor, class_prompts: Sequence[Sequence[str]], labels,
                       tokenizer, batch: int = 256) -> float:
    """Top-1 accuracy of the bridge classifying `images` by prompts (one list per class, the
    prompt embeddings averaged as in CLIP's zero-shot protocol)."""
    model.eval()
    fi = torch.cat([model.encode_image(images[i:i + batch], normalize=True) for i in range(0, len(images), batch)])
    classes = torch.stack([torch.nn.functional.normalize(model.encode_text(tokenizer(list(p)), normalize=True).mean(0), dim=0)
                           for p in class_prompts])
    pred = (fi @ classes.T).argmax(1)
    return float((pred == torch.as_tensor(labels, dtype=torch.long)).float().mean())


def pretrain_bridge(model_cfg: Dict[str, Any], images: torch.Tensor, captions: Sequence[str],
                    cfg: BridgePretrainConfig, out_dir: str | Path, seed: int = 0,
                    device: str | torch.device = "cpu", progress: bool = False,
                    holdout: Optional[tuple] = None,
                    holdout_classes: Optional[Dict[str, tuple]] = None) -> Dict[str, Any]:
    """Train an OpenCLIP model of architecture `model_cfg` on (images, captions); write it to
    `out_dir` and return {"weights": path, "loss": final loss, "holdout_i2t_acc": ...}.

    images: (N, 3, S, S) preprocessed (CLIP mean/std) with S = model_cfg vision image_size.
    holdout: optional (images, captions) scored with :func:`contrastive_accuracy` after training.
    holdout_classes: optional {name: (class prompts, labels)} over the holdout images, each
        scored with :func:`zero_shot_accuracy` as ``holdout_<name>_zero_shot``.
    """
    import open_clip
    from open_clip.loss import ClipLoss
    from safetensors.torch import save_file

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
    tok = open_clip.tokenizer.SimpleTokenizer(context_length=int(model_cfg["text_cfg"].get("context_length", 77)))
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
    _atomic_write(out / WEIGHTS_NAME, lambda p: save_file(state, p))
    _atomic_write(out / CONFIG_NAME, lambda p: Path(p).write_text(json.dumps({"model_cfg": model_cfg}, indent=2)))
    result = {"weights": str(out / WEIGHTS_NAME), "loss": float(loss.detach())}
    if holdout is not None:
        h_img, h_cap = holdout
        result["holdout_i2t_acc"] = contrastive_accuracy(model.cpu(), h_img, tok(list(h_cap)))
        result["holdout_size"] = len(h_img)
        for name, (prompts, labels) in (holdout_classes or {}).items():
            result[f"holdout_{name}_zero_shot"] = zero_shot_accuracy(model.cpu(), h_img, prompts, labels, tok)
    return result


def _atomic_write(target: Path, write) -> None:
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
