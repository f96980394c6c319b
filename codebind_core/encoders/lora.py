"""LoRA adapters on target trunks via peft (App. A.3: rank 4 on the last 6 blocks)."""
from __future__ import annotations

from typing import List

from torch import nn


def apply_lora(module: nn.Module, targets: List[str], rank: int, alpha: float) -> nn.Module:
    """Inject LoRA into ``targets`` (module names) and freeze everything else in ``module``."""
    from peft import LoraConfig, inject_adapter_in_model

    if not targets:
        raise ValueError("no LoRA target modules given")
    cfg = LoraConfig(r=rank, lora_alpha=alpha, lora_dropout=0.0, target_modules=targets, bias="none")
    inject_adapter_in_model(cfg, module)
    for name, p in module.named_parameters():
        p.requires_grad_("lora_" in name)
    return module


def merge_lora(module: nn.Module) -> nn.Module:
    """Fold every LoRA adapter into its base layer and replace the wrapper by the base layer."""
    from peft.tuners.lora import LoraLayer

    wrappers = [(name, m) for name, m in module.named_modules() if isinstance(m, LoraLayer)]
    replaced: List[str] = []
    for name, layer in wrappers:
        if any(name.startswith(done + ".") for done in replaced):
            continue  # nested in a wrapper already unloaded (e.g. MultiheadAttention.out_proj)
        if hasattr(layer, "unload_and_optionally_merge_module"):  # nn.MultiheadAttention wrappers
            base = layer.unload_and_optionally_merge_module(merge=True, safe_merge=False, adapter_names=None)
        else:
            layer.merge()
            base = layer.get_base_layer()
        parent_name, _, child = name.rpartition(".")
        parent = module.get_submodule(parent_name) if parent_name else module
        setattr(parent, child, base)
        replaced.append(name)
    return module


def has_lora(module: nn.Module) -> bool:
    return any("lora_" in n for n, _ in module.named_parameters())
