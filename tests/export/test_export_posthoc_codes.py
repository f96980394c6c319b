"""A model without trained codebooks but with a post-hoc codebook (the shipped demo) gives codes on
every backend: the ONNX Runtime graphs carry no codebook, so the runtime quantizes their shared
embedding with the post-hoc codebook, as the torch backend does inside the model."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

import codebind_core as cb
from codebind_core.export.runtime import create_embedder, example_batch

DEMO = Path(__file__).resolve().parents[2] / "models" / "demo"


@pytest.fixture(scope="module")
def model():
    model = cb.load(str(DEMO), device="cpu")
    assert getattr(model, "posthoc_codebook", None) is not None and not model.quantized
    return model


def _margin_mask(book: np.ndarray, shared: torch.Tensor, sub_dim: int, eps: float) -> np.ndarray:
    """Sub-vectors whose best code beats the second best by more than ``eps`` in cosine: there the
    torch and ONNX Runtime embeddings (equal to float rounding) must choose the same code."""
    x = torch.nn.functional.normalize(shared.float(), dim=-1).numpy()
    sub = x.reshape(x.shape[0], -1, sub_dim)
    sub = sub / np.maximum(np.linalg.norm(sub, axis=-1, keepdims=True), 1e-12)
    b = book / np.maximum(np.linalg.norm(book, axis=-1, keepdims=True), 1e-12)
    scores = np.einsum("nmd,kd->nmk", sub, b) if b.ndim == 2 else np.einsum("nmd,mkd->nmk", sub, b)
    top2 = np.sort(scores, axis=-1)[..., -2:]
    return (top2[..., 1] - top2[..., 0]) > eps


@pytest.mark.parametrize("modality", ["depth", "image"])
def test_onnxruntime_gives_the_post_hoc_codes_the_torch_backend_gives(model, modality, tmp_path):
    torch_e = create_embedder(model, modality, "torch")
    ort_e = create_embedder(model, modality, "onnxruntime", export_dir=tmp_path, threads=1)
    torch.manual_seed(0)
    x = example_batch(model, modality, 16)
    a, b = torch_e(x), ort_e(x)
    m = model.config.embed_dim // model.posthoc_codebook.sub_dim()
    assert a.codes.shape == b.codes.shape == (16, m) and b.codes.dtype == torch.int64
    assert a.codebook_set == b.codebook_set
    book = model.posthoc_codebook.books[b.codebook_set]
    # fp32 graphs agree with torch to ~1e-5 relative; a code may flip only where two codevectors
    # score within that of each other
    sure = _margin_mask(book, a.shared, model.posthoc_codebook.sub_dim(), eps=1e-3)
    assert sure.mean() > 0.5, "the test inputs should mostly have clear nearest codes"
    assert torch.equal(a.codes[torch.from_numpy(sure)], b.codes[torch.from_numpy(sure)])
    # batch 1, as the nodes call it
    assert ort_e(ort_e.example(1)).codes.shape == (1, m)


def test_a_model_without_any_codebook_still_gives_no_codes(tmp_path):
    torch.manual_seed(0)
    model = cb.create_model(cb.CodeBindConfig.preset("tiny", targets=["thermal"], decouple=False)).eval()
    out = create_embedder(model, "thermal", "onnxruntime", export_dir=tmp_path, threads=1)(torch.randn(2, 1, 64, 64))
    assert out.codes is None or out.codes.shape[1] == 0
