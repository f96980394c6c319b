"""ImageBind's text tokenizer: CLIP byte-pair encoding, 77 ids, start 49406, end 49407, pad 0.

open_clip ships the same BPE vocabulary and the same truncation rule as ImageBind (at its commit
53680b0): ``[SOT] + ids`` cut to 76 with EOT always placed last; shorter texts are zero-padded.

Special-token strings in the text (``special_tokens``):
- ``"imagebind"`` (default): as ImageBind's tokenizer, the literal strings ``<|startoftext|>`` and
  ``<|endoftext|>`` (any case) become ids 49406 and 49407; open_clip's own names
  ``<start_of_text>`` / ``<end_of_text>`` are ordinary text.
- ``"none"``: no string is special; every text is BPE-encoded as written.
"""
from __future__ import annotations

from functools import lru_cache
from typing import Sequence

import torch

from .config import CONTEXT_LENGTH, EOT_TOKEN, SOT_TOKEN


SPECIAL_TOKEN_MODES = ("imagebind", "none")
IMAGEBIND_SPECIAL = {"<|startoftext|>": SOT_TOKEN, "<|endoftext|>": EOT_TOKEN}
_WORDS = r"""'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+"""  # CLIP's pre-tokenizer


@lru_cache(maxsize=2)
def _bpe(special_tokens: str = "imagebind"):
    import regex  # open_clip's own dependency (its pre-tokenizer uses it)

    from ..fast_bpe import FastSimpleTokenizer

    if special_tokens not in SPECIAL_TOKEN_MODES:
        raise ValueError(f"special_tokens must be one of {SPECIAL_TOKEN_MODES}, got {special_tokens!r}")
    tok = FastSimpleTokenizer(context_length=CONTEXT_LENGTH)  # open_clip's BPE, same ids, faster
    if tok.sot_token_id != SOT_TOKEN or tok.eot_token_id != EOT_TOKEN:  # guards a changed vocabulary
        raise RuntimeError("open_clip's BPE vocabulary differs from ImageBind's (SOT/EOT ids)")
    # Rename open_clip's special entries to ImageBind's, and recognise them in text only in
    # "imagebind" mode (a cached token is looked up whole instead of being merged by BPE).
    for name in [k for k, v in tok.encoder.items() if v in (SOT_TOKEN, EOT_TOKEN)]:
        del tok.encoder[name]
    for name, idx in IMAGEBIND_SPECIAL.items():
        tok.encoder[name], tok.decoder[idx] = idx, name
    specials = list(IMAGEBIND_SPECIAL) if special_tokens == "imagebind" else []
    tok.cache = {t: t for t in specials}
    tok.pat = regex.compile("".join(regex.escape(t) + "|" for t in specials) + _WORDS, regex.IGNORECASE)
    return tok


def encode(text: str, special_tokens: str = "imagebind") -> list:
    """BPE ids of one text without start/end tokens (ftfy + whitespace clean + lower case)."""
    return _bpe(special_tokens).encode(text)


def tokenize(texts: Sequence[str], special_tokens: str = "imagebind") -> torch.Tensor:
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
        ids = ([SOT_TOKEN] + encode(text, special_tokens))[:CONTEXT_LENGTH - 1] + [EOT_TOKEN]
        out[i, :len(ids)] = torch.tensor(ids, dtype=torch.long)
    return out
