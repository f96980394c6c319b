"""The regime sweep (training/sweep.py): parts of the benchmark and the sweep section of
docs/results.md rendered from their finished run records.

Each comparison is judged per regime with :func:`verdict`: one side is ahead when the difference
of the seed means exceeds two standard errors of that difference (and 1 point); with fewer than
three seeds on either side the verdict is marked exploratory.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Sequence, Tuple

import numpy as np

from ..config_base import read_mapping
from .runner import finished_runs
from .config import BenchmarkConfig
from .doc_blocks import replace_block
from .report import _table
from .claims import ALIGNED_START, ZS1, Results, se_of_difference
from .variants import VARIANTS
from ..config_base import deep_merge

MIN_SEEDS = 3          # a verdict rests on at least this many seeds per side
MIN_POINTS = 0.01      # and on a difference of at least 1 point
ZS1_SELECTED = "selected"


@dataclass
class Part:
    name: str
    config: BenchmarkConfig


def load_sweep(path: Path, only: Sequence[str] = ()) -> List[Part]:
    """The parts of a sweep file (``base``: the benchmark config they modify, ``parts``: name + set)."""
    raw = read_mapping(path)
    base = read_mapping(path.parent / raw.get("base", "benchmark.yaml"))
    parts = []
    for p in raw.get("parts", []):
        name = p["name"]
        if only and name not in only:
            continue
        if not re.fullmatch(r"[\w.-]+", name):
            raise ValueError(f"sweep part name {name!r}: letters, digits, '.', '_' and '-' only")
        cfg = BenchmarkConfig.from_dict({**base, **p.get("set", {}), "report": f"runs/sweep/{name}/results.md"})
        parts.append(Part(name, cfg))
    unknown = set(only) - {p.name for p in parts}
    if unknown:
        raise ValueError(f"unknown sweep parts {sorted(unknown)}")
    return parts


def part_records(part: Part) -> List[Dict[str, Any]]:
    return list(finished_runs(part.config, part.config.run_names()).values())


def verdict(ours: Sequence[float], theirs: Sequence[float]) -> str:
    """'ahead', 'behind' or 'no clear difference' for ``ours`` vs ``theirs`` (per-seed values),
    suffixed '(exploratory: n seeds)' when either side has fewer than MIN_SEEDS seeds."""
    if not ours or not theirs:
        return "not run"
    diff = float(np.mean(ours) - np.mean(theirs))
    margin = max(MIN_POINTS, 2.0 * se_of_difference(ours, theirs))
    word = "ahead" if diff > margin else "behind" if diff < -margin else "no clear difference"
    n = min(len(ours), len(theirs))
    return word if n >= MIN_SEEDS else f"{word} (exploratory: {n} seed{'s' if n > 1 else ''})"


def _sel_results(records: List[Dict[str, Any]]) -> Results:
    """Results of the val-selected models (records without selection count with their final model)."""
    return Results([{**r, "metrics": r.get("metrics_selected", r["metrics"])} for r in records])


def _fmt(v: List[float]) -> str:
    if not v:
        return "–"
    if len(v) == 1:
        return f"{100 * v[0]:.1f} (1)"
    return f"{100 * np.mean(v):.1f} ± {100 * np.std(v, ddof=1):.1f} ({len(v)})"


def _by_part(parts: List[Part]) -> Dict[str, Tuple[Part, Results, Results]]:
    out = {}
    for p in parts:
        recs = part_records(p)
        out[p.name] = (p, Results(recs), _sel_results(recs))
    return out


LENGTH_VARIANTS = ("hard_align", "no_codebook", "codebind", "codebind_full")


def _length_section(P, lines: List[str], fig_dir: Path) -> List[Tuple[str, str, List[float], List[float]]]:
    steps_parts = [(P[n][0].config.finetune_steps, n) for n in ("base", "steps800", "steps2000") if n in P]
    if not steps_parts:
        return []
    targets = P[steps_parts[0][1]][0].config.finetune_targets
    rows, checks, curves = [], [], {}
    for t in targets:
        for v in LENGTH_VARIANTS:
            cells_f, cells_s = [], []
            for steps, n in steps_parts:
                _, R, S = P[n]
                f, s = R.values(v, t, ZS1), S.values(v, t, ZS1)
                cells_f.append(_fmt(f))
                cells_s.append(_fmt(s))
                curves.setdefault((t, v), []).append((steps, f, s))
            rows.append([t, VARIANTS[v].label, *cells_f, *cells_s])
        start = P[steps_parts[0][1]][1].values(ALIGNED_START, t, ZS1)
        rows.append([t, "start (hard-aligned trunk)", *([_fmt(start)] * len(steps_parts)), *([""] * len(steps_parts))])
        for steps, n in steps_parts:
            _, R, S = P[n]
            for label, X in (("final", R), ("selected", S)):
                for v in ("codebind", "codebind_full"):
                    checks.append((f"{VARIANTS[v].label} vs hard alignment, {t}, {steps} steps, {label}",
                                   "codebook regime: length", X.values(v, t, ZS1), X.values("hard_align", t, ZS1)))
                checks.append((f"codebook on top of decoupling (CodeBind LoRA vs no codebook), {t}, {steps} steps, "
                               f"{label}", "codebook regime: length", X.values("codebind", t, ZS1),
                               X.values("no_codebook", t, ZS1)))
    curve_note = _plot_val_curves(P, steps_parts, targets, fig_dir / "sweep_val_curves.png")
    head = [f"final @{s}" for s, _ in steps_parts] + [f"val-selected @{s}" for s, _ in steps_parts]
    lines += ["### Training length\n",
              "Zero-shot Acc@1 on the test split (mean ± std (seeds)) after 200, 800 and 2000 finetune steps from "
              "the same hard-aligned start; `val-selected`: the checkpoint with the best zero-shot Acc@1 on the "
              "separate val split (evaluated every 50 / 200 / 250 steps), never chosen on test.\n",
              _table(["target", "variant", *head], rows), "",
              f"![accuracy against steps]({fig_dir.name}/sweep_length.png)\n", *curve_note]
    _plot_length(curves, targets, fig_dir / "sweep_length.png")
    return [(a, b, c, d) for a, b, c, d in checks]


def _figure(panels: int):
    """A row of ``panels`` plots (matplotlib without a display)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt.subplots(1, panels, figsize=(5 * panels, 3.6), dpi=110, squeeze=False)


def _save(fig, out: Path) -> None:
    import matplotlib.pyplot as plt

    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out)
    plt.close(fig)


def _plot_val_curves(P, steps_parts, targets, out: Path) -> List[str]:
    """Val zero-shot Acc@1 during the longest runs (mean over seeds): where each variant peaks."""
    steps, name = steps_parts[-1]
    recs = [r for r in part_records(P[name][0]) if r.get("selection") and r["run"]["setting"] == "finetune"]
    if not recs:
        return []
    fig, axes = _figure(len(targets))
    rows = []
    for ax, t in zip(axes[0], targets):
        for v in LENGTH_VARIANTS:
            curves = [r["selection"]["curve"] for r in recs if r["run"]["variant"] == v and r["run"]["targets"] == [t]]
            if not curves:
                continue
            xs = [c[0] for c in curves[0]]
            ys = np.mean([[c[1] for c in cur] for cur in curves if len(cur) == len(xs)], axis=0)
            ax.plot(xs, 100 * ys, marker=".", label=VARIANTS[v].label[:32])
            best = int(np.argmax(ys))
            rows.append([t, VARIANTS[v].label, str(len(curves)), f"{100 * ys[0]:.1f} @{xs[0]}",
                         f"{100 * ys[best]:.1f} @{xs[best]}", f"{100 * ys[-1]:.1f} @{xs[-1]}"])
        ax.set_xlabel("step")
        ax.set_ylabel("val zero-shot Acc@1 (%)")
        ax.set_title(f"{t}: val accuracy during {steps}-step runs", fontsize=9)
        ax.legend(fontsize=6)
    _save(fig, out)
    return [f"Val zero-shot Acc@1 during the {steps}-step runs (mean over seeds): first evaluation, best, last.\n",
            _table(["target", "variant", "seeds", "first", "best", "last"], rows), "",
            f"![val accuracy during training]({out.parent.name}/{out.name})\n"]


def _plot_length(curves, targets, out: Path) -> None:
    fig, axes = _figure(len(targets))
    for ax, t in zip(axes[0], targets):
        for v in LENGTH_VARIANTS:
            pts = [(s, f, sel) for s, f, sel in curves.get((t, v), []) if f]
            if not pts:
                continue
            xs = [p[0] for p in pts]
            line, = ax.plot(xs, [100 * np.mean(p[1]) for p in pts], marker="o", label=VARIANTS[v].label[:32])
            ax.plot(xs, [100 * np.mean(p[2]) if p[2] else np.nan for p in pts], ls="--", color=line.get_color())
        ax.set_xscale("log")
        ax.set_xlabel("finetune steps")
        ax.set_ylabel("zero-shot Acc@1 (%)")
        ax.set_title(f"{t}: final (solid), val-selected (dashed)", fontsize=9)
        ax.legend(fontsize=6)
    _save(fig, out)


CAPACITY = ("codebind", "codebook_1024", "codebook_1024_d4", "codebook_1024_d2")


def _bits(cfg: BenchmarkConfig, variant: str) -> int:
    base = cfg.model.build()
    q = deep_merge(base.quantizer.to_dict(), VARIANTS[variant].overrides(base).get("quantizer", {}))
    return base.embed_dim // q["sub_dim"] * int(math.ceil(math.log2(q["shared_size"])))


CAPACITY_PARTS = ("capacity", "wide256", "wide1024")  # the tiny preset's 64-d shared space, then 256-d, 1024-d


def _capacity_section(P, lines: List[str], fig_dir: Path) -> List[Tuple[str, str, List[float], List[float]]]:
    names = [n for n in CAPACITY_PARTS if n in P]
    if not names:
        return []
    rows, checks, series = [], [], {}
    for name in names:
        part, R, _ = P[name]
        width = part.config.model.build().embed_dim
        for t in part.config.finetune_targets:
            hard = R.values("hard_align", t, ZS1)
            free = R.values("no_codebook", t, ZS1)
            for v in CAPACITY:
                if v not in (*part.config.finetune_variants, *part.config.ablation_variants):
                    continue  # not run in this part
                vals, bits = R.values(v, t, ZS1), _bits(part.config, v)
                rows.append([str(width), t, VARIANTS[v].label, str(bits), _fmt(vals), _fmt(free), _fmt(hard)])
                entry = series.setdefault((t, width), {"points": [], "hard": hard, "free": free})
                if vals:
                    entry["points"].append((bits, vals))
                checks.append((f"{VARIANTS[v].label} vs hard alignment, {t}, {width}-d shared, "
                               f"{part.config.finetune_steps} steps", "codebook regime: capacity", vals, hard))
                if free:  # the paper's Tab. 6 row 2 -> 5: the codebook on top of the decoupled model
                    checks.append((f"{VARIANTS[v].label} vs decoupled without codebook, {t}, {width}-d shared",
                                   "codebook regime: capacity", vals, free))
    lines += ["### Capacity toward the paper's shape\n",
              "The paper quantizes 1024-d embeddings as 128 sub-vectors against 1024 shared codes (1280 bits); the "
              "tiny preset's 64-d shared embedding gives 8 sub-vectors against 256 codes (64 bits). The shared "
              "embedding is as wide as the bridge, so the 256-d and 1024-d rows use bridges trained with a projection "
              "of that width by the same Stage-0 recipe (archs `tiny-cnn-256` and `tiny-cnn-1024`, parts `wide256` "
              "and `wide1024`) and their own hard-aligned start. "
              "Same data and steps as `base`; bits = sub-vectors × log2(codes) per stored shared embedding.\n",
              _table(["shared dims", "target", "variant", "bits", "Acc@1", "no codebook Acc@1",
                      "hard align Acc@1"], rows), "",
              f"![accuracy against bits per embedding]({fig_dir.name}/sweep_capacity.png)\n"]
    plot_capacity(series, fig_dir / "sweep_capacity.png")
    return checks


def plot_capacity(series: Dict[Tuple[str, int], Dict[str, Any]], out: Path) -> Path:
    """CodeBind's Acc@1 against bits per stored shared embedding, one line per shared width (mean
    and seed std), with that width's hard alignment (dashed) and decoupled model without a codebook
    (dotted) as horizontal lines; one panel per target. ``series[(target, width)]`` holds
    ``points`` [(bits, per-seed values)], ``hard`` and ``free`` (per-seed values)."""
    targets = sorted({t for t, _ in series})
    fig, axes = _figure(len(targets))
    fig.set_figheight(4.8)
    for ax, t in zip(axes[0], targets):
        for width in sorted(w for tt, w in series if tt == t):
            s = series[(t, width)]
            pts = sorted(s["points"])
            if not pts:
                continue
            xs = [b for b, _ in pts]
            line = ax.errorbar(xs, [100 * np.mean(v) for _, v in pts],
                               yerr=[100 * np.std(v, ddof=1) if len(v) > 1 else 0 for _, v in pts],
                               marker="o", capsize=3, label=f"CodeBind, {width}-d")[0]
            for key, style, name in (("hard", "--", "hard alignment"), ("free", ":", "no codebook")):
                if s[key]:
                    ax.axhline(100 * np.mean(s[key]), ls=style, lw=1, color=line.get_color(),
                               label=f"{name}, {width}-d")
        ax.set_xscale("log", base=2)
        ax.set_xlabel("bits per stored shared embedding")
        ax.set_ylabel("zero-shot Acc@1 (%)")
        ax.set_title(f"{t}: codebook capacity (mean ± std over seeds)", fontsize=9)
        ax.legend(fontsize=6, ncol=3, loc="upper center", bbox_to_anchor=(0.5, -0.2))  # below: off the points
    _save(fig, out)
    return out


def _scarce_section(P, lines: List[str]) -> List[Tuple[str, str, List[float], List[float]]]:
    if "scarce" not in P:
        return []
    part, R, _ = P["scarce"]
    frac = part.config.target_fraction
    rows, checks = [], []
    for t in part.config.finetune_targets:
        share = f"{100 * frac.get(t, 1.0):.0f} %"
        vals = {v: R.values(v, t, ZS1) for v in ("hard_align", "no_codebook", "codebind", "unified")}
        rows.append([t, share, *(_fmt(vals[v]) for v in ("hard_align", "no_codebook", "codebind", "unified"))])
        if frac.get(t, 1.0) < 1.0:
            checks.append((f"one shared codebook for depth, thermal, audio vs hard alignment, {t} at {share} data",
                           "the paper's thesis: scarcity", vals["unified"], vals["hard_align"]))
            checks.append((f"one shared codebook (joint) vs CodeBind alone, {t} at {share} data",
                           "the paper's thesis: scarcity", vals["unified"], vals["codebind"]))
    lines += ["### The paper's thesis: one scarce modality among several\n",
              "Depth, thermal and audio trained jointly into one shared codebook (`unified`), one of them with a "
              "tenth of the others' training pairs (its hard-aligned start trunk too), against each target "
              "trained alone on the same data. Zero-shot Acc@1.\n",
              _table(["target", "train data", "hard align (alone)", "decoupled, no codebook (alone)",
                      "CodeBind (alone)", "CodeBind, one shared codebook (joint)"], rows), ""]
    return checks


def _init_section(P, lines: List[str]) -> None:
    if "init4" not in P or "base" not in P:
        return
    part, R4, _ = P["init4"]
    _, R0, _ = P["base"]
    rows = [[t, _fmt(R0.values("codebind", t, ZS1)), _fmt(R4.values("codebind", t, ZS1)),
             verdict(R4.values("codebind", t, ZS1), R0.values("codebind", t, ZS1))]
            for t in part.config.finetune_targets]
    lines += ["### Codebook initialisation\n",
              "The official code initialises each codebook by k-means on its first training call (one batch; the "
              "default now); the earlier default ran k-means over 4 batches per target before training. CodeBind "
              "(LoRA), 200 steps, zero-shot Acc@1.\n",
              _table(["target", "lazy, first call (default)", "k-means over 4 batches ahead", "4 batches vs lazy"],
                     rows), ""]


def render(parts: List[Part], fig_dir: Path) -> str:
    P = _by_part(parts)
    lines = ["## The regime sweep: when does the codebook help?\n",
             "Produced by `python training/sweep.py` (parts in training/configs/sweep.yaml); every cell is mean ± "
             "sample std over the seeds finished, their number in brackets. A verdict needs "
             f"{MIN_SEEDS} seeds per side and a difference beyond 2 standard errors (and "
             f"{100 * MIN_POINTS:.0f} point); "
             "otherwise it is marked exploratory or 'no clear difference'.\n"]
    checks = []
    checks += _length_section(P, lines, fig_dir)
    checks += _capacity_section(P, lines, fig_dir)
    checks += _scarce_section(P, lines)
    _init_section(P, lines)
    if checks:
        lines += ["### Verdicts per regime\n",
                  _table(["comparison", "regime", "first side", "second side", "first side is"],
                         [[c, reg, _fmt(a), _fmt(b), verdict(a, b)] for c, reg, a, b in checks]), ""]
    return "\n".join(lines)


def write_sweep_section(parts: List[Part], report: Path) -> Path:
    """Replace (or append) the sweep block of `report` (the other blocks and text stay)."""
    text = report.read_text() if report.is_file() else ""
    report.write_text(replace_block(text, "sweep", render(parts, report.parent / "figures")))
    return report
