"""The robot's metric: text -> stored-target retrieval through the memory's code-table search.

What the robot does is not the benchmark's zero-shot: the memory keeps only the m shared codes
of each observation and ranks them against a live text query by the code-table score (asymmetric
distance, :mod:`codebind_core.memory.codebooks`). Here every test sample's target embedding is
stored as codes in a real :class:`~codebind_core.memory.ObservationMemory` (SQLite) and queried:

* by its caption: a hit when the returned row is that sample (R@1, R@5);
* by each class prompt ("a photo of a cone."): precision@1/@5 of the returned rows' category.

Each is scored three ways: ``code`` (the robot: query as ``encode_text`` returns it, stored codes;
CodeBind's text is quantized, a post-hoc model's is not), ``code_fq`` (float query, stored codes:
equal footing for both), and ``float`` (no quantization anywhere, the reference). Bytes per stored
embedding come with each model, so CodeBind and hard alignment + post-hoc PQ compare at equal bytes.
"""
from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Union

import numpy as np

from ..memory import CodebookSet, MemoryConfig, Observation, ObservationMemory
from ..nearest import unit_rows
from ..posthoc_codebook import storage
from .synth_split import check_available, float_shared, open_synth
from ..model_checkpoint import load

KS = (1, 5)


def code_table_topk(codebooks: CodebookSet, codebook_set: str, codes: np.ndarray, queries: np.ndarray, k: int,
                    db_dir: Optional[Union[str, Path]] = None) -> np.ndarray:
    """(Q, k) stored-row indices ranked by the memory's code-table search (a fresh SQLite memory
    holding ``codes`` (N, m) as observations of ``codebook_set``)."""
    with tempfile.TemporaryDirectory(dir=db_dir) as tmp:
        mem = ObservationMemory(Path(tmp) / "robot_metric.db", codebooks, MemoryConfig(max_observations=len(codes) + 1))
        try:
            ids = mem.add([Observation("target", codebook_set, c, i) for i, c in enumerate(np.asarray(codes))])
            row = {int(j): i for i, j in enumerate(ids)}
            out = np.full((len(queries), k), -1, np.int64)
            for qi, q in enumerate(np.asarray(queries, np.float32)):
                hits = mem.search({codebook_set: q}, top_k=k, exact=True)
                out[qi, :len(hits)] = [row[h.id] for h in hits]
            return out
        finally:
            mem.close()


def float_topk(stored: np.ndarray, queries: np.ndarray, k: int) -> np.ndarray:
    """(Q, k) indices of exact cosine search (ties broken by index)."""
    s = unit_rows(np.asarray(queries, np.float64)) @ unit_rows(np.asarray(stored, np.float64)).T
    return np.argsort(-s, axis=1, kind="stable")[:, :k]


def recall(ranked: np.ndarray, truth: np.ndarray, ks: Sequence[int] = KS) -> Dict[int, float]:
    """R@k: share of queries whose own row is among the first k."""
    return {k: float((ranked[:, :k] == np.asarray(truth)[:, None]).any(1).mean()) for k in ks}


def category_precision(ranked: np.ndarray, labels: np.ndarray, query_labels: np.ndarray,
                       ks: Sequence[int] = KS) -> Dict[int, float]:
    """P@k: share of the first k rows whose category is the query's, averaged over queries."""
    got = np.asarray(labels)[ranked]
    return {k: float((got[:, :k] == np.asarray(query_labels)[:, None]).mean()) for k in ks}


def model_storage(model) -> Dict[str, object]:
    """Bytes per stored embedding and the codebook behind them (trained, post-hoc, or none)."""
    d = int(model.config.embed_dim)
    if model.quantized:
        q = model.config.quantizer
        return {"codebook": f"trained shared {q.shared_size}x{q.sub_dim}",
                **storage(d, q.sub_dim, q.shared_size, "shared")}
    ph = getattr(model, "posthoc_codebook", None)
    if ph is not None:
        return {"codebook": f"post-hoc {ph.kind} {ph.size()}x{ph.sub_dim()}",
                **storage(d, ph.sub_dim(), ph.size(), ph.kind)}
    return {"codebook": "none", "float32_bytes": 4 * d}


def retrieval(model, prepared, class_prompts: Sequence[str], modalities: Optional[Sequence[str]] = None,
              db_dir=None, batch_size: int = 128) -> List[Dict[str, object]]:
    """One row per target modality: caption R@1/5 and class-prompt P@1/5, each by ``code``,
    ``code_fq`` and ``float`` search (see the module docstring)."""
    codebooks = CodebookSet.from_model(model)  # raises, naming the fit command, without codebooks
    k = max(KS)
    rows = []
    labels = np.asarray(prepared.labels)
    truth = np.arange(len(prepared))
    prompt_labels = np.arange(len(class_prompts))
    device = next(model.parameters()).device
    for t in modalities or model.config.targets:
        codebook_set = model.config.codebook_set_for(t)
        x = prepared.inputs(t)
        codes = np.concatenate([model.encode(t, x[i:i + batch_size].to(device)).codes.cpu().numpy()
                                for i in range(0, len(x), batch_size)])
        stored_f = float_shared(model, t, x, codebook_set, batch_size)
        queries = {}
        for name, texts in (("caption", list(prepared.captions)), ("class", list(class_prompts))):
            robot = np.concatenate([model.encode_text(texts[i:i + batch_size], codebook_set=codebook_set)
                                    .shared.detach().float().cpu().numpy() for i in range(0, len(texts), batch_size)])
            queries[name] = (robot, float_shared(model, "text", texts, codebook_set, batch_size))
        row: Dict[str, object] = {"modality": t, "codebook_set": codebook_set, "n": len(prepared),
                                  "classes": len(class_prompts)}
        for name, (robot, qf) in queries.items():
            ranked = {"code": code_table_topk(codebooks, codebook_set, codes, robot, k, db_dir),
                      "code_fq": code_table_topk(codebooks, codebook_set, codes, qf, k, db_dir),
                      "float": float_topk(stored_f, qf, k)}
            for how, r in ranked.items():
                scores = recall(r, truth) if name == "caption" else category_precision(r, labels, prompt_labels)
                for kk, v in scores.items():
                    row[f"{name}_{'R' if name == 'caption' else 'P'}@{kk}_{how}"] = v
        rows.append(row)
    return rows


def measure(model_dirs: Sequence[Union[str, Path]], data, split: str = "test", limit: Optional[int] = None,
            modalities: Optional[Sequence[str]] = None, device: str = "cpu") -> List[Dict[str, object]]:
    """The robot metric of each model directory (its trained or post-hoc codebook) on ``split``
    of the SynthBind data (training config YAML or set folder); one row per model and target."""
    import torch

    source = open_synth(data) if not hasattr(data, "prepare") else data
    prompts = source.class_prompts()
    out = []
    for md in model_dirs:
        model = load(md, device=device)
        mods = [m for m in (modalities or model.config.targets) if m in model.config.targets]
        check_available(source, mods)
        prepared = source.prepare(model.config.inputs, split, mods, limit=limit)
        with torch.no_grad():
            try:
                rows = retrieval(model, prepared, prompts, mods)
            except ValueError as e:
                raise ValueError(f"{md}: {e}".replace("<model_dir>", str(md))) from e
        info = model_storage(model)
        out += [{"model": str(md), **info, **r} for r in rows]
    return out


COLUMNS = ("caption_R@1", "caption_R@5", "class_P@1", "class_P@5")


def markdown(rows: Sequence[Dict[str, object]]) -> str:
    """A table: model, target, codebook, bytes, then each metric as code / code_fq / float (%)."""
    head = "| model | target | codebook | bytes/emb (packed, uint16) | " + " | ".join(
        f"{c} code / code_fq / float" for c in COLUMNS) + " |"
    lines = [head, "|" + "---|" * (4 + len(COLUMNS))]
    for r in rows:
        b = f"{r.get('bytes_packed', r['float32_bytes']):g}, {r.get('bytes_uint16', '-')}"
        cells = [" / ".join(f"{100 * r[f'{c}_{h}']:.1f}" for h in ("code", "code_fq", "float")) for c in COLUMNS]
        name = Path(str(r["model"])).name
        lines.append(f"| {name} | {r['modality']} | {r['codebook']} | {b} | " + " | ".join(cells) + " |")
    return "\n".join(lines)
