"""text: validation of captions/queries; tokenisation belongs to the bridge encoder.

``preprocess`` returns cleaned strings (surrounding whitespace stripped, inner whitespace runs
collapsed to one space); ``preprocess_batch(texts, tokenizer=fn)`` also tokenises them with the
bridge's tokenizer and returns its tensor of token ids.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, ClassVar, List, Optional, Sequence, Union

import numpy as np
import torch

from . import _checks

NAME = "text"


@dataclass(frozen=True)
class TextConfig(_checks.ModalityOptions):
    """Text options: ``max_chars`` per string (1000), ``max_items`` per call (4096)."""

    NAME: ClassVar[str] = NAME
    max_chars: int = 1000
    max_items: int = _checks.MAX_BATCH

    def validate(self) -> None:
        super().validate()
        self.check_range("max_chars", 1, 1_000_000, integer=True)
        self.check_range("max_items", 1, 1_000_000, integer=True)


DEFAULTS = TextConfig()
MODEL_OPTIONS: dict = {}


def _clean(i: int, text: Any, cfg: TextConfig) -> str:
    if not isinstance(text, str):
        raise ValueError(f"{NAME}: item {i} is {type(text).__name__}, expected str")
    cleaned = " ".join(text.split())
    if not cleaned:
        raise ValueError(f"{NAME}: item {i} is empty or only whitespace")
    if len(cleaned) > cfg.max_chars:
        raise ValueError(f"{NAME}: item {i} has {len(cleaned)} characters, over max_chars={cfg.max_chars}")
    return cleaned


def preprocess(raw: Union[str, Sequence[str]], **options: Any) -> List[str]:
    """A string or a list of strings -> list of cleaned, non-empty strings."""
    cfg = _checks.parse_options(NAME, TextConfig, options)
    if isinstance(raw, str):
        raw = [raw]
    if isinstance(raw, np.ndarray):
        raw = raw.tolist()
    if not isinstance(raw, Sequence):
        raise ValueError(f"{NAME}: expected a str or a list of str, got {type(raw).__name__}")
    if len(raw) == 0:
        raise ValueError(f"{NAME}: empty list of texts")
    _checks.require_at_most(NAME, len(raw), cfg.max_items, "texts")
    return [_clean(i, t, cfg) for i, t in enumerate(raw)]


def preprocess_batch(raws: Sequence[str], tokenizer: Optional[Callable[[List[str]], torch.Tensor]] = None,
                     **options: Any) -> Union[List[str], torch.Tensor]:
    """A list of strings -> cleaned strings, or ``tokenizer(cleaned)`` (e.g. (B, 77) token ids)."""
    texts = preprocess(raws, **options)
    return texts if tokenizer is None else tokenizer(texts)


def example(rng: Optional[np.random.Generator] = None) -> str:
    """A short object caption, as used for text queries."""
    rng = rng if rng is not None else np.random.default_rng(0)
    colours = ("red", "blue", "white", "black", "green")
    objects = ("mug", "chair", "laptop", "backpack", "plant")
    return f"a photo of a {colours[rng.integers(len(colours))]} {objects[rng.integers(len(objects))]}"
