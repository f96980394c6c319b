"""t-SNE pictures of embedding spaces (paper Fig. 4: modality gap; Fig. 5: shared vs specific)."""
from __future__ import annotations

from pathlib import Path
from typing import Dict, Sequence

import numpy as np
import torch


def tsne_2d(x: torch.Tensor, seed: int = 0, perplexity: float = 30.0) -> np.ndarray:
    """(N, D) -> (N, 2) t-SNE coordinates (cosine metric, PCA init, fixed seed)."""
    from sklearn.manifold import TSNE

    a = torch.as_tensor(x).float().numpy()
    if a.ndim != 2 or a.shape[0] < 5:
        raise ValueError(f"t-SNE needs an (N >= 5, D) array, got {a.shape}")
    p = min(perplexity, (a.shape[0] - 1) / 3)
    return TSNE(2, perplexity=p, init="pca", metric="cosine", random_state=seed).fit_transform(a)


def plot_groups(groups: Dict[str, torch.Tensor], labels: Dict[str, Sequence[int]], out: str | Path,
                title: str, seed: int = 0) -> Path:
    """One t-SNE of all groups together (e.g. {"depth shared": ..., "text shared": ...}); marker
    shape = group, colour = label. Writes a PNG and returns its path."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(groups)
    xs = [torch.as_tensor(groups[n]).float() for n in names]
    dims = {x.shape[1] for x in xs}
    if len(dims) != 1:
        raise ValueError(f"groups must share one dimension to be embedded together, got {sorted(dims)}")
    xy = tsne_2d(torch.cat(xs), seed=seed)
    markers = "o^sDvP*X"
    fig, ax = plt.subplots(figsize=(5.5, 5), dpi=110)
    start = 0
    for i, (n, x) in enumerate(zip(names, xs)):
        pts = xy[start:start + len(x)]
        start += len(x)
        ax.scatter(pts[:, 0], pts[:, 1], c=np.asarray(labels[n]), cmap="tab20", s=10, alpha=0.75,
                   marker=markers[i % len(markers)], label=n, linewidths=0)
    ax.set_title(title, fontsize=10)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.legend(fontsize=7, loc="best", markerscale=1.5)
    fig.tight_layout()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out)
    plt.close(fig)
    return out
