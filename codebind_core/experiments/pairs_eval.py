"""``codebind-eval <model> <data config>``: a trained model on a user's own ``pairs_*`` data.

    codebind-eval runs/my_depth/model my_depth.yaml                 # the held-out split
    codebind-eval runs/my_depth/model my_depth.yaml --split all --json eval.json

The data config is a training config (its ``data`` section is used) or a bare ``{kind, options}``
mapping. Prints and writes as JSON:

- zero-shot Acc@1/5 (§4.1) per label template (the data's ``template``, or each ``--template``),
  class prompt = template.format(class);
- cross-modal retrieval R@1/5/10 (§4.1) target<->caption and target<->image, both ways; a
  caption shared by several pairs (a folder's class caption) counts as one key: a target hits
  when its own caption text is in the top k, a caption when any of its targets is;
- the target's embedding spread: the mean cosine over distinct pairs of shared (and specific)
  embeddings; near 1 means a collapsed model that maps everything to one point.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

import torch

from ..evaluation.metrics import cosine_scores, retrieval_recall, topk_accuracy, zero_shot_accuracy
from ..config_base import read_mapping
from ..training.datasets import pair_rows, pairs_options
from ..training.pairs import PairFiles

KS = (1, 5, 10)


def mean_pairwise_cosine(x: torch.Tensor) -> float:
    """Mean cosine similarity over the distinct pairs (i != j) of the rows of `x`."""
    s = cosine_scores(x, x)
    n = s.shape[0]
    if n < 2:
        raise ValueError("the spread needs at least 2 embeddings")
    return float((s.sum() - s.diagonal().sum()) / (n * (n - 1)))


def caption_retrieval(target: torch.Tensor, captions: torch.Tensor, caption_of: torch.Tensor,
                      ks: Sequence[int] = KS, name: str = "target") -> Dict[str, float]:
    """R@k between N targets and U distinct captions; target i is paired with caption_of[i]."""
    s = cosine_scores(target, captions)
    out = {f"{name}2text_r@{k}": v for k, v in ((int(k.split("@")[1]), v) for k, v in
                                                 topk_accuracy(s, caption_of, ks).items())}
    for k in ks:
        top = s.T.topk(min(k, s.shape[0]), dim=1).indices  # (U, k) targets of each caption
        hit = (caption_of[top] == torch.arange(s.shape[1])[:, None]).any(dim=1)
        out[f"text2{name}_r@{k}"] = float(hit.float().mean())
    return out


@torch.no_grad()
def evaluate_pairs(model, kind: str, options: Dict[str, Any], split: str = "holdout",
                   templates: Optional[List[str]] = None, batch_size: int = 64) -> Dict[str, Any]:
    """The metrics of the module docstring for ``model`` on one split of a pairs dataset."""
    o = pairs_options(kind, options)
    target = model.config.targets[0]
    rows = pair_rows(kind, o, [target], split)
    ds = PairFiles(rows, target, model.preprocess, o["preprocess"])
    items = [ds[i] for i in range(len(ds))]
    model.eval()

    def embed(m: str, xs) -> Any:
        out = [model.encode(m, xs[i:i + batch_size], codebook_set=target) for i in range(0, len(xs), batch_size)]
        return (torch.cat([e.shared for e in out]),
                None if out[0].specific is None else torch.cat([e.specific for e in out]))

    t_shared, t_specific = embed(target, torch.stack([it[target] for it in items]))
    res: Dict[str, Any] = {"model": model.config.name, "target": target, "split": split, "samples": len(rows),
                           "preprocess": model.trained_options(target, o["preprocess"].get(target, {}))}
    res["spread"] = {"shared_mean_pairwise_cosine": mean_pairwise_cosine(t_shared)}
    if t_specific is not None:
        res["spread"]["specific_mean_pairwise_cosine"] = mean_pairwise_cosine(t_specific)
    if "class" in rows[0]:
        all_rows = pair_rows(kind, o, [target], "all")
        names = [n for n, _ in sorted({r["class"]: r["label"] for r in all_rows}.items(), key=lambda kv: kv[1])]
        labels = torch.tensor([r["label"] for r in rows])
        res["classes"] = len(names)
        res["zero_shot"] = {}
        for tpl in templates or [o["template"]]:
            classes, _ = embed("text", [tpl.format(n) for n in names])
            res["zero_shot"][tpl] = zero_shot_accuracy(t_shared, classes, labels, ks=(1, 5))
        res["zero_shot_chance@1"] = 1.0 / len(names)
    retrieval: Dict[str, float] = {}
    if "text" in rows[0]:
        distinct = sorted({r["text"] for r in rows})
        captions, _ = embed("text", distinct)
        caption_of = torch.tensor([distinct.index(r["text"]) for r in rows])
        retrieval.update(caption_retrieval(t_shared, captions, caption_of, KS, target))
        res["distinct_captions"] = len(distinct)
    if "image" in rows[0] and target != "image":
        images, _ = embed("image", torch.stack([it["image"] for it in items]))
        retrieval.update(retrieval_recall(t_shared, images, KS, names=(target, "image")))
    res["retrieval"] = retrieval
    return res


def format_report(res: Dict[str, Any]) -> str:
    lines = [f"{res['model']} on {res['samples']} {res['split']} pairs ({res['target']}; preprocess "
             f"{res['preprocess']})"]
    if "zero_shot" in res:
        lines.append(f"zero-shot over {res['classes']} classes (chance Acc@1 {res['zero_shot_chance@1']:.1%}):")
        lines += [f"  {tpl!r}: Acc@1 {a['acc@1']:.1%}  Acc@5 {a['acc@5']:.1%}" for tpl, a in res["zero_shot"].items()]
    if res["retrieval"]:
        lines.append("retrieval (R@1 / R@5 / R@10):")
        pairs = sorted({k.rsplit("_r@", 1)[0] for k in res["retrieval"]})
        lines += [f"  {p}: " + " / ".join(f"{res['retrieval'][f'{p}_r@{k}']:.1%}" for k in KS) for p in pairs]
    lines.append("spread (mean pairwise cosine; near 1 = collapsed): "
                 + ", ".join(f"{k.split('_')[0]} {v:.3f}" for k, v in res["spread"].items()))
    return "\n".join(lines)


def _data_section(path: str) -> Dict[str, Any]:
    raw = read_mapping(path, "data config")
    data = raw.get("data", raw) if isinstance(raw, dict) else None
    if not isinstance(data, dict) or "kind" not in data:
        raise ValueError(f"{path}: expected a training config with a data section, or {{kind, options}}")
    return data


def main(argv: Optional[List[str]] = None) -> int:
    ap = argparse.ArgumentParser(prog="codebind-eval", description=__doc__.splitlines()[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model", help="codebind checkpoint directory")
    ap.add_argument("data", help="training config YAML (its data section) or a {kind, options} YAML")
    ap.add_argument("--split", default="holdout", choices=("holdout", "train", "all"))
    ap.add_argument("--template", action="append", help="label template(s) for zero-shot (default: the data's)")
    ap.add_argument("--json", help="write the results here (default: eval-<split>.json)")
    args = ap.parse_args(argv)
    try:
        import codebind_core as cb

        data = _data_section(args.data)
        res = evaluate_pairs(cb.load(args.model), data["kind"], data.get("options", {}), args.split, args.template)
        out = Path(args.json or f"eval-{args.split}.json")
        out.write_text(json.dumps(res, indent=2))
    except (OSError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 0
    print(format_report(res))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
