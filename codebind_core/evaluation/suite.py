"""Every measurement of one trained model on one target modality (paper §4.1-4.3, App. C.3, TOC).

- zero-shot classification by text prompts: Acc@1/Acc@5 on ``test`` and on ``test_unseen``
  (held-out factor combinations);
- cross-modal retrieval target <-> caption, R@1/R@10 both ways;
- fine-grained intra-modal retrieval (label = category x modality-unique factor) with shared,
  specific and concatenated embeddings;
- linear probes of the category and of the modality-unique factor from shared vs specific parts;
- codebook usage and perplexity of the shared and the target's specific codebook (Tab. 8);
- TOC: zero-shot Acc@1 keeping a fraction of the shared dimensions, TOC vs random choices.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from .. import toc as TOC
from ..quantize import shared_book
from ..data.prepared import PreparedSplit
from .embed import EmbeddedSplit, embed
from .factors import unique_factor
from .metrics import (codebook_perplexity, codebook_usage, intra_modal_retrieval, linear_probe,
                      retrieval_recall, zero_shot_accuracy)


@dataclass
class TargetEvalData:
    """Evaluation inputs of one target: a probe-training subset of ``train``, ``test`` and
    ``test_unseen`` (tensors for the target and image), and the zero-shot prompts per class."""

    target: str
    probe: PreparedSplit
    test: PreparedSplit
    unseen: PreparedSplit
    prompts: List[List[str]]  # prompts[c] = the templates filled with class c


@dataclass
class EvalOptions:
    toc_fractions: Sequence[float] = (0.25, 0.5, 0.75)
    toc_random: int = 10
    toc_lambda: float = TOC.PAPER_LAMBDA
    run_toc: bool = True
    seed: int = 0


def class_embeddings(model, prompts: List[List[str]], codebook_set: str) -> torch.Tensor:
    """(C, D) prompt-ensembled text embeddings (mean of unit embeddings, re-normalised)."""
    flat = [p for ps in prompts for p in ps]
    emb = embed(model, "text", flat, codebook_set=codebook_set).shared
    per = emb.view(len(prompts), -1, emb.shape[-1])
    return F.normalize(F.normalize(per, dim=-1).mean(1), dim=-1)


def modality_gap(a: torch.Tensor, b: torch.Tensor) -> float:
    """Distance between the centroids of two modalities' unit embeddings (the "modality gap"
    that Fig. 4 shows qualitatively; 0 = the two clouds share a centre)."""
    return float((F.normalize(a, dim=-1).mean(0) - F.normalize(b, dim=-1).mean(0)).norm())


def _fine_labels(split: PreparedSplit, target: str, edges) -> np.ndarray:
    uf = unique_factor(target)
    u = uf.labels(split.factors, edges)
    return split.labels * (int(u.max()) + 1 if len(u) else 1) + u


def _codebook_stats(model, codebook_set: str, parts: Dict[str, EmbeddedSplit], target: str) -> Dict[str, float]:
    if not getattr(model, "quantized", False):
        return {}
    books = model.codebooks[codebook_set]
    if "shared" not in books:  # separate per-modality shared codebooks: the target's own
        parts = {target: parts[target]}
    shared = shared_book(books, target)
    codes = torch.cat([p.codes.reshape(-1) for p in parts.values()])
    out = {"shared_usage": codebook_usage(codes, shared.codebook_size),
           "shared_perplexity": codebook_perplexity(codes, shared.codebook_size)}
    spec = parts[target].specific_codes
    if spec is not None and target in books:
        out["specific_usage"] = codebook_usage(spec, books[target].codebook_size)
        out["specific_perplexity"] = codebook_perplexity(spec, books[target].codebook_size)
    return out


def _toc_curve(model, codebook_set: str, target: str, test: EmbeddedSplit, labels: np.ndarray, cls: torch.Tensor,
               probe_parts: List[torch.Tensor], opt: EvalOptions) -> Dict[str, Dict[str, float]]:
    """Zero-shot Acc@1 with only a fraction of the shared dimensions kept: TOC (fcid-toc §4.1) on
    the codewords the model really uses vs the mean of random selections."""
    book = TOC.effective_codebook(torch.cat(probe_parts))
    g = torch.Generator().manual_seed(opt.seed)
    d = test.shared.shape[1]
    curve = {}
    for frac in opt.toc_fractions:
        sel = TOC.toc(book, frac, opt.toc_lambda)
        acc = zero_shot_accuracy(TOC.keep_dimensions(test.shared, sel.dims),
                                 TOC.keep_dimensions(cls, sel.dims), labels, (1,))["acc@1"]
        rnd = []
        for _ in range(opt.toc_random):
            dims = TOC.random_dimensions(d, sel.keep, g)
            rnd.append(zero_shot_accuracy(TOC.keep_dimensions(test.shared, dims),
                                          TOC.keep_dimensions(cls, dims), labels, (1,))["acc@1"])
        curve[f"{frac:g}"] = {"toc": acc, "random": float(np.mean(rnd)), "random_std": float(np.std(rnd))}
    return curve


@torch.no_grad()
def evaluate_target(model, data: TargetEvalData, opt: Optional[EvalOptions] = None) -> Dict[str, object]:
    """All metrics of one target (a nested dict of floats; None where a part does not exist)."""
    opt = opt or EvalOptions()
    t = data.target
    codebook_set = model.config.codebook_set_for(t)
    cls = class_embeddings(model, data.prompts, codebook_set)
    test = embed(model, t, data.test.inputs(t))
    unseen = embed(model, t, data.unseen.inputs(t))
    probe = embed(model, t, data.probe.inputs(t))
    captions = embed(model, "text", data.test.captions, codebook_set=codebook_set)
    image = embed(model, "image", data.test.inputs("image"), codebook_set=codebook_set)
    res: Dict[str, object] = {
        "zero_shot": zero_shot_accuracy(test.shared, cls, data.test.labels),
        "zero_shot_unseen": zero_shot_accuracy(unseen.shared, cls, data.unseen.labels),
        "retrieval_text": retrieval_recall(test.shared, captions.shared, (1, 10), (t, "text")),
        "retrieval_image": retrieval_recall(test.shared, image.shared, (1, 10), (t, "image")),
        "modality_gap": modality_gap(test.shared, captions.shared),
    }
    uf = unique_factor(t)
    edges = uf.edges(data.probe.factors)
    u_probe, u_test = uf.labels(data.probe.factors, edges), uf.labels(data.test.factors, edges)
    fine = _fine_labels(data.test, t, edges)
    parts = {"shared": (probe.shared, test.shared)}
    if test.specific is not None:
        parts["specific"] = (probe.specific, test.specific)
        parts["concat"] = (probe.concat(), test.concat())
    res["fine_retrieval"] = {k: intra_modal_retrieval(te, fine, k=10) for k, (_, te) in parts.items()}
    res["probe_category"] = {k: linear_probe(tr, data.probe.labels, te, data.test.labels, seed=opt.seed)
                             for k, (tr, te) in parts.items() if k != "concat"}
    res["probe_unique"] = {k: linear_probe(tr, u_probe, te, u_test, seed=opt.seed)
                           for k, (tr, te) in parts.items() if k != "concat"}
    res["unique_factor"] = uf.name
    res["codebook"] = _codebook_stats(model, codebook_set, {"text": captions, "image": image, t: test}, t)
    if opt.run_toc and getattr(model, "quantized", False):
        probe_text = embed(model, "text", data.probe.captions, codebook_set=codebook_set)
        res["toc"] = _toc_curve(model, codebook_set, t, test, data.test.labels, cls,
                                [probe.shared, probe_text.shared], opt)
    return res
