"""ImageBind's text tokenizer: CLIP byte-pair encoding, 77 ids, start 49406, end 49407, pad 0.

open_clip ships the same BPE vocabulary and the same truncation rule as ImageBind (at its commit
53680b0): ``[SOT] + ids`` cut to 76 with EOT always placed last; shorter texts are zero-padded.
"""
from __future__ import annotations

from functools import lru_cache
from typing import Sequence

import torch

from .config import CONTEXT_LENGTH, EOT_TOKEN, SOT_TOKEN


@lru_cache(maxsize=1)
def _bpe():
    from open_clip.tokenizer import SimpleTokenizer

    tok = SimpleTokenizer(context_length=CONTEXT_LENGTH)
    if tok.sot_token_id != SOT_TOKEN or tok.eot_token_id != EOT_TOKEN:  # guards a changed vocabulary
        raise RuntimeError("open_clip's BPE vocabulary differs from ImageBind's (SOT/EOT ids)")
    return tok


def encode(text: str) -> list:
    """BPE ids of one text without start/end tokens (ftfy + whitespace clean + lower case)."""
    return _bpe().encode(text)


def tokenize(texts: Sequence[str]) -> torch.Tensor:
    """texts -> B x 77 int64 ids, exactly as ImageBind's ``load_and_transform_text``."""
    if isinstance(texts, str):
        texts = [texts]
    texts = list(texts)
    if not texts:
        raise ValueError("tokenize needs at least one text")
    bad = [type(t).__name__ for t in texts if not isinstance(t, str)]
    if bad:
        raise ValueError(f"tokenize expects strings, got {bad[:3]}")
    out = torch.zeros(len(texts), CONTEXT_LENGTH, dtype=torch.long)
    for i, text in enumerate(texts):
        ids = ([SOT_TOKEN] + encode(text))[:CONTEXT_LENGTH - 1] + [EOT_TOKEN]
        out[i, :len(ids)] = torch.tensor(ids, dtype=torch.long)
    return out
