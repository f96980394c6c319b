"""FastSimpleTokenizer gives open_clip's SimpleTokenizer's ids for every text (it only keeps each
word's ids and skips ftfy / HTML unescaping where they change nothing)."""
from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from open_clip.tokenizer import SimpleTokenizer

from codebind_core.encoders.fast_bpe import FastSimpleTokenizer

REFERENCE, FAST = SimpleTokenizer(), FastSimpleTokenizer()

EDGE_CASES = [
    "", " ", "a photo of a red mug.", "  A  Photo\tof a\nRED mug  ", "where is the red mug, query 17?",
    "rock &amp; roll", "rock & roll", "&lt;b&gt;bold&lt;/b&gt;", "<b>bold</b> &amp;amp;", "don't", "it's 3.14",
    "caf\u00e9", "\u201ccurly quotes\u201d", "\ufb01ne ligature", "mojibake \u00e2\u20ac\u2122s", "\x1b[31mred\x1b[0m",
    "ctrl\x00chars\x07", "wide \uff21\uff22", "emoji \U0001f600 face", "\u2028line sep", "tab\tand\r\nnewline",
    "numbers 1234567890", "UPPER lower MiXeD", "<start_of_text> literal", "x" * 400, "word " * 80,
]


@pytest.mark.parametrize("text", EDGE_CASES)
def test_same_ids_as_open_clip(text):
    assert FAST.encode(text) == REFERENCE.encode(text)
    assert FAST.encode(text) == REFERENCE.encode(text)  # again, from the kept word ids
    assert FAST([text]).tolist() == REFERENCE([text]).tolist()  # the (1, 77) tensor, truncation included


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=60))
def test_same_ids_for_any_text(text):
    assert FAST.encode(text) == REFERENCE.encode(text)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(list("ab &;#ltgamp<>'\"\t\n\r\x0b\x1b123.,AZ") + ["&amp;", "&#39;", "\u00e9"]),
                max_size=40).map("".join))
def test_same_ids_near_the_plain_ascii_line(text):
    assert FAST.encode(text) == REFERENCE.encode(text)


def test_only_plain_ascii_skips_ftfy_and_unescaping(monkeypatch):
    tok = FastSimpleTokenizer()
    monkeypatch.setattr(tok, "clean_fn", lambda text: "<open_clip's cleaning>")
    assert tok.clean("  A Photo  of a mug, 17% off!  ") == "a photo of a mug, 17% off!"
    for text in ("rock &amp; roll", "caf\u00e9", "tab\there", "esc\x1b", "new\nline"):
        assert tok.clean(text) == "<open_clip's cleaning>", text


def test_other_clean_modes_run_open_clips_own_cleaning():
    for mode in ("whitespace", "canonicalize"):
        reference, fast = SimpleTokenizer(clean=mode), FastSimpleTokenizer(clean=mode)
        for text in EDGE_CASES:
            assert fast.encode(text) == reference.encode(text), (mode, text)
