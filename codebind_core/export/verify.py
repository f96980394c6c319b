"""Parity of an exported graph (run in ONNX Runtime) against the torch model it came from.

fp32 graphs must match torch to :data:`FP32_MAX_ABS` on the embeddings with identical codes.
fp16 graphs (trunk in half, VQ in float32) may flip codes whose fp32 scores are near-ties; their
bound is on the share of identical codes and the cosine of the shared embedding to torch fp32.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence

import torch

from .artifact import ExportedGraph
from .onnx_export import example_input
from .ort_backend import OnnxRuntimeEmbedder

FP32_MAX_ABS = 1e-4
FP16_MIN_CODE_AGREEMENT = 0.98
FP16_MIN_MEAN_COSINE = 0.99


@dataclass
class ParityReport:
    """Worst-case differences between an ONNX Runtime graph and torch over the tested batches."""

    modality: str
    precision: str
    batch_sizes: Sequence[int]
    max_abs_shared: float
    max_abs_specific: Optional[float]
    code_agreement: float          # share of identical shared + specific codes
    mean_cosine: float             # mean cosine of the shared embeddings
    passed: bool

    def line(self) -> str:
        spec = "-" if self.max_abs_specific is None else f"{self.max_abs_specific:.2e}"
        return (f"{self.modality:10s} {self.precision:4s} max|d shared| {self.max_abs_shared:.2e} "
                f"max|d specific| {spec} codes {100 * self.code_agreement:6.2f}% "
                f"cos {self.mean_cosine:.5f} {'PASS' if self.passed else 'FAIL'}")


def _batch(model, modality: str, n: int, seed: int):
    if modality == "text":
        return [f"a photo of object number {seed * 100 + i}" for i in range(n)]
    x = example_input(model, modality, n, clips=2)
    return torch.randn(x.shape, generator=torch.Generator().manual_seed(seed))


@torch.no_grad()
def check_parity(model, graph: ExportedGraph, batch_sizes: Sequence[int] = (1, 3), seed: int = 0,
                 threads: Optional[int] = None) -> ParityReport:
    """Run ``graph`` in ONNX Runtime (CPU) and ``model.encode`` on the same random batches."""
    m = graph.manifest
    runner = OnnxRuntimeEmbedder(model, m.modality, onnx_path=graph.onnx_path, threads=threads)
    worst_s, worst_p, same, total, cos_sum, rows = 0.0, None, 0, 0, 0.0, 0
    for i, n in enumerate(batch_sizes):
        x = _batch(model, m.modality, n, seed + i)
        got = runner(x)
        ref = model.encode(m.modality, x, codebook_set=m.codebook_set, specific="specific" in m.outputs)
        worst_s = max(worst_s, float((got.shared - ref.shared).abs().max()))
        cos_sum += float((got.shared * ref.shared).sum(-1).sum())
        rows += n
        if got.specific is not None:
            d = float((got.specific - ref.specific).abs().max())
            worst_p = d if worst_p is None else max(worst_p, d)
        for a, b in ((got.codes, ref.codes), (got.specific_codes, ref.specific_codes)):
            if a is not None and b is not None:
                same += int((a == b).sum())
                total += a.numel()
    agreement = same / total if total else 1.0
    mean_cos = cos_sum / rows
    if m.precision == "fp32":
        passed = worst_s <= FP32_MAX_ABS and (worst_p is None or worst_p <= FP32_MAX_ABS) and same == total
    else:
        passed = agreement >= FP16_MIN_CODE_AGREEMENT and mean_cos >= FP16_MIN_MEAN_COSINE
    return ParityReport(m.modality, m.precision, tuple(batch_sizes), worst_s, worst_p, agreement, mean_cos, passed)
