"""Pure evaluation metrics on embeddings (paper §4.1, §4.3, App. C.3 Tab. 8).

Every function takes plain tensors (or arrays) and returns Python floats, so the same code scores
CodeBind, the baselines and any exported backend. Embeddings are compared by cosine similarity.
"""
from __future__ import annotations

from typing import Dict, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from ..finite import all_finite


def _as_tensor(x, name: str) -> torch.Tensor:
    t = torch.as_tensor(x)
    if not torch.is_floating_point(t):
        t = t.float()
    if t.dim() != 2 or t.shape[0] == 0 or t.shape[1] == 0:
        raise ValueError(f"{name} must be a non-empty 2-D (N, D) array, got shape {tuple(t.shape)}")
    if not all_finite(t):
        raise ValueError(f"{name} contains NaN or inf")
    return t.float()


def _as_labels(y, n: int, name: str) -> torch.Tensor:
    t = torch.as_tensor(np.asarray(y)).long().reshape(-1)
    if t.numel() != n:
        raise ValueError(f"{name} has {t.numel()} entries, expected {n}")
    return t


def cosine_scores(queries, keys) -> torch.Tensor:
    """(Nq, Nk) cosine similarities between rows of `queries` and rows of `keys`."""
    q = _as_tensor(queries, "queries")
    k = _as_tensor(keys, "keys")
    if q.shape[1] != k.shape[1]:
        raise ValueError(f"dimension mismatch: queries have {q.shape[1]}, keys {k.shape[1]}")
    return F.normalize(q, dim=-1) @ F.normalize(k, dim=-1).T


def topk_accuracy(scores, labels, ks: Sequence[int] = (1, 5)) -> Dict[str, float]:
    """Acc@k of a (N, C) score matrix against integer labels in [0, C): {"acc@1": ..., ...}.

    k larger than C is clipped to C (Acc@5 on a 3-class task is 1.0).
    """
    s = _as_tensor(scores, "scores")
    y = _as_labels(labels, s.shape[0], "labels")
    if y.min() < 0 or y.max() >= s.shape[1]:
        raise ValueError(f"labels must lie in [0, {s.shape[1]}), got range [{y.min()}, {y.max()}]")
    out = {}
    for k in ks:
        if k < 1:
            raise ValueError(f"k must be >= 1, got {k}")
        top = s.topk(min(k, s.shape[1]), dim=1).indices
        out[f"acc@{k}"] = float((top == y[:, None]).any(dim=1).float().mean())
    return out


def zero_shot_accuracy(embeddings, class_embeddings, labels, ks: Sequence[int] = (1, 5)) -> Dict[str, float]:
    """Zero-shot classification (§4.1): each sample goes to the class prompt with the highest
    cosine similarity. `class_embeddings` is (C, D), one (prompt-averaged) text embedding per class."""
    return topk_accuracy(cosine_scores(embeddings, class_embeddings), labels, ks)


def retrieval_recall(a, b, ks: Sequence[int] = (1, 10), names: tuple = ("a", "b")) -> Dict[str, float]:
    """Cross-modal retrieval R@k in both directions; row i of `a` is paired with row i of `b`.

    Returns {"a2b_r@1": ..., "b2a_r@1": ..., ...} with the given direction names.
    """
    s = cosine_scores(a, b)
    if s.shape[0] != s.shape[1]:
        raise ValueError(f"retrieval needs paired rows, got {s.shape[0]} and {s.shape[1]}")
    gt = torch.arange(s.shape[0])
    out = {}
    for src, dst, mat in ((names[0], names[1], s), (names[1], names[0], s.T)):
        for k, v in topk_accuracy(mat, gt, ks).items():
            out[f"{src}2{dst}_r@{k.split('@')[1]}"] = v
    return out


def intra_modal_retrieval(embeddings, labels, k: int = 10) -> Dict[str, float]:
    """Fine-grained intra-modal retrieval (§4.3): every sample queries all others (itself excluded).

    Returns "r@1" (the nearest neighbour shares the label) and "p@k" (mean fraction of the k
    nearest neighbours that share the label; more discriminative than R@k when classes are few).
    """
    s = cosine_scores(embeddings, embeddings)
    n = s.shape[0]
    if n < 2:
        raise ValueError("intra-modal retrieval needs at least 2 samples")
    y = _as_labels(labels, n, "labels")
    s.fill_diagonal_(-float("inf"))
    k = min(k, n - 1)
    nn = s.topk(k, dim=1).indices
    same = (y[nn] == y[:, None]).float()
    return {"r@1": float(same[:, 0].mean()), f"p@{k}": float(same.mean())}


def linear_probe(train_x, train_y, test_x, test_y, c: float = 1.0, max_iter: int = 1000,
                 seed: int = 0) -> float:
    """Accuracy of a multinomial logistic-regression probe (§4.3 "linear probing") trained on
    frozen features. Features are standardised with the training statistics first."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    xtr = _as_tensor(train_x, "train_x").numpy()
    xte = _as_tensor(test_x, "test_x").numpy()
    ytr = _as_labels(train_y, xtr.shape[0], "train_y").numpy()
    yte = _as_labels(test_y, xte.shape[0], "test_y").numpy()
    if xtr.shape[1] != xte.shape[1]:
        raise ValueError(f"train/test feature dims differ: {xtr.shape[1]} vs {xte.shape[1]}")
    if len(np.unique(ytr)) < 2:
        raise ValueError("linear probe needs at least 2 classes in the training labels")
    scaler = StandardScaler().fit(xtr)
    clf = LogisticRegression(C=c, max_iter=max_iter, random_state=seed)
    clf.fit(scaler.transform(xtr), ytr)
    return float((clf.predict(scaler.transform(xte)) == yte).mean())


def _code_histogram(codes, num_codes: int) -> torch.Tensor:
    c = torch.as_tensor(np.asarray(codes)).long().reshape(-1)
    if num_codes < 1:
        raise ValueError(f"num_codes must be >= 1, got {num_codes}")
    if c.numel() == 0:
        raise ValueError("codes is empty")
    if c.min() < 0 or c.max() >= num_codes:
        raise ValueError(f"codes must lie in [0, {num_codes}), got range [{c.min()}, {c.max()}]")
    return torch.bincount(c, minlength=num_codes).double()


def codebook_usage(codes, num_codes: int) -> float:
    """Fraction of the codebook's entries selected at least once (App. C.3 Tab. 8 "usage")."""
    return float((_code_histogram(codes, num_codes) > 0).double().mean())


def codebook_perplexity(codes, num_codes: int) -> float:
    """exp(entropy) of the code-usage distribution (App. C.3 Tab. 8 "perplexity"); it equals the
    number of codes when usage is perfectly uniform and 1 when a single code is used."""
    h = _code_histogram(codes, num_codes)
    p = h / h.sum()
    p = p[p > 0]
    return float(torch.exp(-(p * p.log()).sum()))
