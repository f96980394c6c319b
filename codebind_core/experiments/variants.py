"""CodeBind and its baselines/ablations as config changes, trained on the same data and budget.

Each variant is a function of the base model config returning nested overrides, so e.g.
conventional VQ always uses codevectors as long as the whole embedding.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Dict

from ..config import CodeBindConfig, QuantizerConfig


@dataclass(frozen=True)
class Variant:
    name: str
    label: str
    paper: str                                              # where the paper measures it
    overrides: Callable[[CodeBindConfig], Dict[str, Any]]
    joint: bool = False                                     # trains all its targets in one model
    lora: bool = True                                       # finetune setting: LoRA (else every trunk weight)

    def available(self, base: CodeBindConfig) -> bool:
        """False when the model config has no knob for this variant."""
        q = self.overrides(base).get("quantizer", {})
        return all(k in QuantizerConfig.__dataclass_fields__ for k in q)


def _conventional(base: CodeBindConfig) -> Dict[str, Any]:
    if base.specific_dim != base.embed_dim:
        raise ValueError("conventional VQ needs specific_dim == embed_dim (one codevector per embedding)")
    return {"quantizer": {"sub_dim": base.embed_dim}}


def _half_sub_dim(base: CodeBindConfig) -> Dict[str, Any]:
    if base.quantizer.sub_dim % 2:
        raise ValueError("fine_subvectors needs an even quantizer.sub_dim")
    return {"quantizer": {"sub_dim": base.quantizer.sub_dim // 2}}


VARIANTS: Dict[str, Variant] = {v.name: v for v in (
    Variant("codebind", "CodeBind", "Tab. 2", lambda b: {}),
    Variant("hard_align", "Hard alignment (ImageBind-style: no decoupling, no codebook)", "Tab. 2, Tab. 6 row 1",
            lambda b: {"decouple": False}, lora=False),
    Variant("codebind_full", "CodeBind, full fine-tune (no LoRA)", "App. A.3 (tactile's fulltune)", lambda b: {},
            lora=False),
    Variant("no_codebook", "Decoupled, no codebook", "Tab. 6 row 2", lambda b: {"quantizer": {"enabled": False}}),
    Variant("no_recon", "Without reconstruction", "Tab. 6 row 4", lambda b: {"loss": {"recon": False}}),
    Variant("conventional_vq", "Conventional VQ (codevector = whole embedding)", "Tab. 7 row 1, App. Tab. 6-8",
            _conventional),
    Variant("fine_subvectors", "Compositional VQ with half-size sub-vectors (twice as many codes per embedding)",
            "ours (App. A.2 sub-vector size)", _half_sub_dim),
    Variant("separate_codebooks", "Separate (per-modality) shared codebooks", "Tab. 7 row 2",
            lambda b: {"quantizer": {"shared_codebook": False}}),
    Variant("adaptive", "Adaptive loss weights", "App. B.2 Tab. 2", lambda b: {"loss": {"weights": "adaptive"}}),
    # capacity toward the paper's shape (1024 shared codes; App. Tab. 6/7 vary the sub-vector size)
    Variant("codebook_1024", "CodeBind, 1024 shared codes", "App. A.2 (K = 1024)",
            lambda b: {"quantizer": {"shared_size": 1024}}),
    Variant("codebook_1024_d4", "CodeBind, 1024 shared codes, sub-vectors of 4", "App. Tab. 6-7",
            lambda b: {"quantizer": {"shared_size": 1024, "sub_dim": 4}}),
    Variant("codebook_1024_d2", "CodeBind, 1024 shared codes, sub-vectors of 2", "App. Tab. 6-7",
            lambda b: {"quantizer": {"shared_size": 1024, "sub_dim": 2}}),
    Variant("unified", "Unified: one shared codebook for all targets (trained jointly)", "ours (§3.4 option)",
            lambda b: {"unified": True}, joint=True),
)}
