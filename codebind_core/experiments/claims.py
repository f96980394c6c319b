"""The paper's claims as declared checks over the benchmark's run records.

Each :class:`Claim` has a ``measure`` returning (holds, numbers) or None when the runs it needs
are missing. Every check is tested with records built to pass it and records built to fail it
(tests/test_claims.py).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

Getter = Callable[[Dict[str, Any]], Optional[float]]
ALIGNED_START = "aligned_start"  # the hard-aligned trunk every finetune run starts from
COMPARABLE_POINTS = 0.03         # "comparable": mean difference within 3 points ...
COMPARABLE_SE = 2.0              # ... or within 2 standard errors of the difference of means


class Results:
    """Run records indexed by (variant, target) -> list over seeds of that target's metrics."""

    def __init__(self, records: List[Dict[str, Any]]):
        self.by: Dict[tuple, List[Dict[str, Any]]] = {}
        for r in records:
            variant = ALIGNED_START if r["run"].get("setting") == "align" else r["run"]["variant"]
            for t, m in r["metrics"].items():
                self.by.setdefault((variant, t), []).append(m)

    def values(self, variant: str, target: str, get: Getter) -> List[float]:
        out = []
        for m in self.by.get((variant, target), []):
            try:
                v = get(m)
            except (KeyError, TypeError):
                v = None
            if v is not None:
                out.append(float(v))
        return out

    def mean(self, variant: str, target: str, get: Getter) -> Optional[float]:
        v = self.values(variant, target, get)
        return float(np.mean(v)) if v else None

    def cell(self, variant: str, target: str, get: Getter, pct: bool = True, digits: int = 1) -> str:
        v = self.values(variant, target, get)
        if not v:
            return "–"
        k = 100.0 if pct else 1.0
        if len(v) == 1:
            return f"{k * v[0]:.{digits}f}"
        return f"{k * np.mean(v):.{digits}f} ± {k * np.std(v, ddof=1):.{digits}f}"


ZS1: Getter = lambda m: m["zero_shot"]["acc@1"]  # noqa: E731
ZS5: Getter = lambda m: m["zero_shot"]["acc@5"]  # noqa: E731
ZSU: Getter = lambda m: m["zero_shot_unseen"]["acc@1"]  # noqa: E731
SHARED_USAGE: Getter = lambda m: m["codebook"]["shared_usage"]  # noqa: E731
PROBE_UNIQUE_SHARED: Getter = lambda m: m["probe_unique"]["shared"]  # noqa: E731
PROBE_UNIQUE_SPECIFIC: Getter = lambda m: m["probe_unique"]["specific"]  # noqa: E731


# ---- the paper's claims, declared ---------------------------------------------------------------

@dataclass
class Inputs:
    """What one report is rendered from: the runs' results and the benchmark's target lists."""

    R: Results                           # the finetune setting (the paper's) and its aligned starts
    T: Sequence[str]                     # all finetune target modalities (main comparison)
    A: Sequence[str]                     # the ablation targets
    toc_rows: List[List[str]]
    S: Optional[Results] = None          # the scratch setting
    ST: Sequence[str] = ()               # its targets

    def has(self, variant: str) -> bool:
        return any(k[0] == variant for k in self.R.by)


Measure = Callable[[Inputs], Optional[Tuple[bool, str]]]
Side = Tuple[str, Getter]                # (variant, metric)


@dataclass(frozen=True)
class Claim:
    """One claim of the paper and how the benchmark checks it. ``measure`` returns (holds,
    numbers), or None when the runs needed to judge it are not in the results (the claim is then
    left out). ``zero_shot`` claims inherit the caveat of a bridge that cannot tell the
    categories apart."""

    text: str
    measure: Measure
    zero_shot: bool = True


def _beats(ours: Side, theirs: Side, on: str, tally: bool = False) -> Measure:
    """``ours`` beats ``theirs`` (means over seeds) on every target of ``on`` ("T": all targets,
    "A": the ablation targets). Needs runs of ``theirs``' variant when it is not ``ours``'.
    ``tally`` prefixes the numbers with "better on k/n"."""

    def measure(x: Inputs) -> Optional[Tuple[bool, str]]:
        if theirs[0] != ours[0] and not x.has(theirs[0]):
            return None
        targets = x.T if on == "T" else x.A
        per = {t: (x.R.mean(ours[0], t, ours[1]), x.R.mean(theirs[0], t, theirs[1])) for t in targets}
        both = {t: (a, b) for t, (a, b) in per.items() if a is not None and b is not None}
        wins = [t for t, (a, b) in both.items() if a > b]
        numbers = ", ".join(f"{t} {100 * a:.1f} vs {100 * b:.1f}" for t, (a, b) in both.items())
        if tally:
            return len(wins) == len(targets), f"better on {len(wins)}/{len(targets)}: " + numbers
        return len(wins) == len(per), numbers

    return measure


def _shared_usage(x: Inputs) -> Optional[Tuple[bool, str]]:
    usage = [u for t in x.T for u in x.R.values("codebind", t, SHARED_USAGE)]
    if not usage:
        return None
    return min(usage) >= 0.99, f"min {100 * min(usage):.1f} %, mean {100 * np.mean(usage):.1f} % over targets and seeds"


def comparable(a: Sequence[float], b: Sequence[float]) -> bool:
    """Whether two groups of per-seed values are comparable: the difference of their means is at
    most max(3 points, 2 standard errors of that difference), the standard error from each
    group's own spread (sample variance; a single seed has none, so only the 3 points remain)."""
    if not a or not b:
        return False
    return abs(float(np.mean(a)) - float(np.mean(b))) <= max(COMPARABLE_POINTS, COMPARABLE_SE * se_of_difference(a, b))


def se_of_difference(a: Sequence[float], b: Sequence[float]) -> float:
    """Standard error of mean(a) - mean(b) from each group's sample variance (0 for one value)."""
    var = lambda v: float(np.var(v, ddof=1)) if len(v) > 1 else 0.0  # noqa: E731
    return float(np.sqrt(var(a) / len(a) + var(b) / len(b)))


def _adaptive_comparable(x: Inputs) -> Optional[Tuple[bool, str]]:
    if not x.has("adaptive"):
        return None
    per = {t: (x.R.values("codebind", t, ZS1), x.R.values("adaptive", t, ZS1)) for t in x.A}
    ok = all(comparable(c, a) for c, a in per.values())
    return ok, ", ".join(f"{t} manual {100 * np.mean(c):.1f} vs adaptive {100 * np.mean(a):.1f}"
                         for t, (c, a) in per.items() if c and a)


def _toc_beats_random(x: Inputs) -> Optional[Tuple[bool, str]]:
    if not x.toc_rows:
        return None
    ok = all(float(r[1].split()[0]) > float(r[2].split()[0]) for r in x.toc_rows)
    return ok, "; ".join(f"keep {r[0]}: TOC {r[1]} vs random {r[2]}" for r in x.toc_rows)


CODEBIND_ZS1: Side = ("codebind", ZS1)

CLAIMS: Tuple[Claim, ...] = (
    Claim("CodeBind beats hard alignment on zero-shot Acc@1 of every target modality (Tab. 2, 6); both "
          "fine-tune the same hard-aligned trunk, CodeBind with LoRA",
          _beats(CODEBIND_ZS1, ("hard_align", ZS1), on="T", tally=True)),
    Claim("CodeBind improves on the aligned trunk it starts from (Tab. 2: CodeBind-IB vs ImageBind)",
          _beats(CODEBIND_ZS1, (ALIGNED_START, ZS1), on="T", tally=True)),
    Claim("The codebook adds accuracy on top of decoupling (Tab. 6 rows 2-3)",
          _beats(CODEBIND_ZS1, ("no_codebook", ZS1), on="A")),
    Claim("Compositional VQ beats conventional VQ (Tab. 7, App. Tab. 6-7)",
          _beats(CODEBIND_ZS1, ("conventional_vq", ZS1), on="A")),
    Claim("Shared-codebook usage ≥ 99 % (App. Tab. 8)", _shared_usage, zero_shot=False),
    Claim("Specific embeddings beat shared ones at probing modality-unique factors (§4.3, Fig. 7)",
          _beats(("codebind", PROBE_UNIQUE_SPECIFIC), ("codebind", PROBE_UNIQUE_SHARED), on="T", tally=True),
          zero_shot=False),
    Claim("A shared codebook beats separate per-modality codebooks (Tab. 7)",
          _beats(CODEBIND_ZS1, ("separate_codebooks", ZS1), on="A")),
    Claim("Reconstruction adds accuracy on top of codebook + decoupling (Tab. 6)",
          _beats(CODEBIND_ZS1, ("no_recon", ZS1), on="A")),
    Claim("Adaptive loss weights perform comparably to the manual Table 1 weights (App. B.2 Tab. 2); "
          "'comparable' = mean difference within max(3 points, 2 standard errors)", _adaptive_comparable),
    Claim("TOC keeps more useful dimensions than random selection (fcid-toc §4.1, Tab. 6)", _toc_beats_random),
)
