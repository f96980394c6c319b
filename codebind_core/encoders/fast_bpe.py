"""open_clip's CLIP byte-pair tokenizer with the same ids, faster on a query's path.

A memory query's text is tokenized in Python before the text tower runs; in the memory node that
took 0.13 ms of a 1.4 ms round trip (docs/benchmarks.md, "Where a new question's time goes").
:class:`FastSimpleTokenizer` changes two things and no id:

- each word's ids are kept (open_clip keeps the merged byte-pair string and redoes the byte
  mapping, the split and the vocabulary lookups every time);
- a text of printable ASCII without ``&`` skips ``ftfy.fix_text`` and ``html.unescape``: every
  fix they make needs a non-ASCII or control character or an HTML entity, so they return such a
  text unchanged.
"""
from __future__ import annotations

import re
from typing import Dict, List, Tuple

from open_clip import tokenizer as oc_tokenizer

# printable ASCII (space to '~') without '&'
_PLAIN = re.compile(r"[ -%'-~]*")
MAX_WORDS = 200_000  # words whose ids are kept (a few MB)


class FastSimpleTokenizer(oc_tokenizer.SimpleTokenizer):
    """``open_clip.tokenizer.SimpleTokenizer`` (same arguments, same ids), faster ``encode``.
    Only the default ``clean="lower"`` is sped up; other modes run open_clip's own code."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._word_ids: Dict[str, Tuple[int, ...]] = {}
        self._lower = self.clean_fn is oc_tokenizer._clean_lower

    def clean(self, text: str) -> str:
        """``self.clean_fn(text)``: open_clip's ``_clean_lower`` without ftfy and HTML unescaping
        for plain ASCII text, which they leave as it is."""
        if self._lower and text.isascii() and _PLAIN.fullmatch(text):
            return " ".join(text.split()).lower()
        return self.clean_fn(text)

    def word_ids(self, word: str) -> Tuple[int, ...]:
        """The byte-pair ids of one pre-tokenized word (kept for the next time)."""
        ids = self._word_ids.get(word)
        if ids is None:
            merged = self.bpe("".join(self.byte_encoder[b] for b in word.encode("utf-8")))
            ids = tuple(self.encoder[piece] for piece in merged.split(" "))
            if len(self._word_ids) < MAX_WORDS:
                self._word_ids[word] = ids
        return ids

    def encode(self, text: str) -> List[int]:
        out: List[int] = []
        for word in self.pat.findall(self.clean(text)):
            out.extend(self.word_ids(word))
        return out
