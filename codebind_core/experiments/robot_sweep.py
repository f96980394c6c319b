"""The robot's metric over the sweep's kept models, at equal bytes (docs/results.md, block ``robot``).

For every finished finetune run of a sweep part whose model was kept, a model with trained
codebooks is measured as it is; a model without them (hard alignment, decoupled without codebook)
is copied and given a post-hoc codebook of the same bytes as CodeBind's (one shared (K, d*) table
like CodeBind's, and classic per-position PQ), fitted on the training split's target and caption
embeddings (``codebind-codebook fit``), then measured the same way
(:func:`~codebind_core.evaluation.robot_metric.measure`: the memory's code-table search).
Measurements are cached as JSON next to the copies, so a re-run only adds what is missing.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any, Dict, List, Sequence, Tuple


from .sweep import Part, _fmt, part_records, verdict
from ..codebook_cli import fit_model_dir
from ..evaluation.robot_metric import measure
from .variants import VARIANTS

POSTHOC = (("shared", 256, 8), ("per_position", 256, 8))  # (kind, K, d*): 64 bits, as the tiny CodeBind
METRICS = ("caption_R@1_code", "caption_R@5_code", "class_P@1_code", "class_P@5_code", "class_P@1_float")


def _measure(model_dir: Path, set_root: str, limit=None) -> Dict[str, Any]:
    rows = measure([model_dir], set_root, split="test", limit=limit)
    return rows[0]


def robot_rows(part: Part, variants: Sequence[str], work: Path, set_root: str, log=print) -> List[Dict[str, Any]]:
    """One row per (run, codebook): the run's record fields and the robot metric."""
    out = []
    models = Path(part.config.out_dir) / "models"
    for rec in part_records(part):
        run = rec["run"]
        if run["setting"] != "finetune" or run["variant"] not in variants or len(run["targets"]) != 1:
            continue
        src = models / run["name"]
        if not (src / "config.json").is_file():
            continue
        quantized = json.loads((src / "config.json").read_text()).get("quantizer", {}).get("enabled", False) \
            and json.loads((src / "config.json").read_text()).get("decouple", True)
        cases: List[Tuple[str, Path, Any]] = [("trained", src, None)] if quantized else [
            (f"post-hoc {kind} {k}x{d}", work / f"{run['name']}-{kind}{k}x{d}", (kind, k, d)) for kind, k, d in POSTHOC]
        for label, model_dir, posthoc in cases:
            cache = work / f"{run['name']}-{label.replace(' ', '_')}.json"
            if cache.is_file():
                out.append(json.loads(cache.read_text()))
                continue
            if posthoc is not None:
                shutil.rmtree(model_dir, ignore_errors=True)
                shutil.copytree(src, model_dir)
                kind, k, d = posthoc
                fit_model_dir(model_dir, set_root, sub_dim=d, size=k, kind=kind, seed=0)
            row = {**_measure(model_dir, set_root), "variant": run["variant"], "target": run["targets"][0],
                   "seed": run["seed"], "codebook": label}
            work.mkdir(parents=True, exist_ok=True)
            cache.write_text(json.dumps(row, indent=1, default=float))
            log(f"robot metric {run['name']} ({label}): caption R@5 {100 * row['caption_R@5_code']:.1f}, "
                f"class P@1 {100 * row['class_P@1_code']:.1f}")
            out.append(row)
    return out


def render(rows: List[Dict[str, Any]], steps: int, command: str, part: str = "base", width: int = 64,
           first: bool = True) -> str:
    """The robot table and verdicts of one part's rows (``first``: with the section's heading and method)."""
    groups: Dict[Tuple[str, str, str], List[Dict[str, Any]]] = {}
    for r in rows:  # the trained codebook's label names its shape ("trained shared 256x8")
        book = "trained" if str(r["codebook"]).startswith("trained") else r["codebook"]
        groups.setdefault((r["target"], r["variant"], book), []).append(r)
    table = ["| target | model | codebook | bits per stored embedding | caption R@1 | caption R@5 | class P@1 | "
             "class P@5 | class P@1, float reference |", "|---|---|---|---|---|---|---|---|---|"]
    for (t, v, cb), rs in sorted(groups.items()):
        cb = rs[0]["codebook"] if cb == "trained" else cb
        table.append(f"| {t} | {VARIANTS[v].label} | {cb} | {rs[0].get('bits', '–')} | "
                     + " | ".join(_fmt([r[m] for r in rs]) for m in METRICS) + " |")
    verdicts = ["| target | CodeBind vs | metric | CodeBind | other | CodeBind is |", "|---|---|---|---|---|---|"]
    for t in sorted({r["target"] for r in rows}):
        cb = groups.get((t, "codebind", "trained"), [])
        for other in ("hard_align", "no_codebook"):
            for label in ("post-hoc shared 256x8", "post-hoc per_position 256x8"):
                rs = groups.get((t, other, label), [])
                if not cb or not rs:
                    continue
                for m in ("caption_R@1_code", "caption_R@5_code", "class_P@1_code"):
                    a, b = [r[m] for r in cb], [r[m] for r in rs]
                    verdicts.append(f"| {t} | {VARIANTS[other].label}, {label} | {m} | {_fmt(a)} | {_fmt(b)} | "
                                    f"{verdict(a, b)} |")
    head = [
        "## The robot's metric at equal bytes\n",
        "What the robot does: the memory stores each observation as its shared codes and ranks them against a live "
        "text query by the code-table score. Every SynthBind test sample's target embedding is stored as codes in a "
        "real observation memory (SQLite) and queried by its caption (R@k: the sample itself is among the first k) "
        f"and by each class prompt (P@k: share of the first k with the prompt's category). Models after {steps} "
        "finetune steps, mean ± std (seeds). Models without trained codebooks get a post-hoc codebook of the same "
        "bits (`codebind-codebook fit`: spherical k-means on the training split's target and caption embeddings; "
        "`shared` = one table for all positions as CodeBind's, `per_position` = classic PQ).\n",
        f"Command: `{command}`\n"] if first else []
    return "\n".join([
        *head, f"### Part `{part}`: {width}-d shared embedding\n",
        *table, "", "Verdicts (3 seeds per side and a difference beyond 2 standard errors):\n", *verdicts, ""])
