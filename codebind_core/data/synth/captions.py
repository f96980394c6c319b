"""Text captions from category templates, optionally naming colour, pattern, material and
temperature ("a hot red striped metal cone"). Text is the one modality that may name every
factor: it describes what a person would say about the object."""
from __future__ import annotations

from typing import List, Sequence

import numpy as np

from .materials import material_spec
from .patterns import PATTERN_WORDS
from .shapes import category_spec

TEMPLATES = ("a photo of {np}.", "{np}.", "there is {np} in front of the camera.", "an image of {np}.",
             "a close-up of {np}.", "{np} on display.")
HOT_K, COLD_K = 25.0, 10.0  # above / below ambient by this much -> "hot" / "cold"


def with_article(phrase: str) -> str:
    """Prefix 'a' or 'an' by the first letter's sound (vowel letters)."""
    return ("an " if phrase[:1].lower() in "aeiou" else "a ") + phrase


def class_name(category: str) -> str:
    """The canonical noun of a category (for zero-shot prompts)."""
    return category_spec(category).synonyms[0]


def class_prompts(categories: Sequence[str], template: str = "a photo of {np}.") -> List[str]:
    """One prompt per category, e.g. 'a photo of a sphere.'."""
    return [template.format(np=with_article(class_name(c))) for c in categories]


def prompt_sets(nouns: Sequence[str]) -> List[List[str]]:
    """Zero-shot prompts, one list per class: every template around each noun phrase."""
    return [[t.format(np=with_article(n)) for t in TEMPLATES] for n in nouns]


def caption(category: str, colour: str, pattern: str, material: str, temperature: float, ambient: float,
            attribute_prob: float, rng: np.random.Generator) -> str:
    """A random caption; each attribute word appears with probability ``attribute_prob``."""
    synonyms = category_spec(category).synonyms
    words = []
    if rng.random() < attribute_prob:
        if temperature - ambient > HOT_K:
            words.append("hot")
        elif ambient - temperature > COLD_K:
            words.append("cold")
    if rng.random() < attribute_prob:
        words.append(colour)
    if pattern != "plain" and rng.random() < attribute_prob:
        words.append(PATTERN_WORDS[pattern])
    if rng.random() < attribute_prob:
        words.append(material_spec(material).word)
    words.append(synonyms[int(rng.integers(len(synonyms)))])
    template = TEMPLATES[int(rng.integers(len(TEMPLATES)))]
    return template.format(np=with_article(" ".join(words)))
