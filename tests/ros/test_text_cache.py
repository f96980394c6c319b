"""The memory's query-text cache: a repeated question skips the text encoder, gets the same
embedding and the same answer; the cache keeps at most ``text_cache_size`` texts, least recently
used out, and 0 turns it off. The text encoder on ONNX Runtime (``text_backend``) gives the
torch tower's embedding and answers."""
from __future__ import annotations

import numpy as np
import pytest
from ros_testing import memory_of_texts

from codebind_ros.perception.memory_search import TextEncoder, TextQueryCache, text_queries

TEXTS = ["a red sphere", "a blue box", "a green torus", "a yellow cone"]


class CountingModel:
    """The model with its text tower's calls counted."""

    def __init__(self, model):
        self.model, self.calls = model, 0

    def encode_sets(self, *args, **kwargs):
        self.calls += 1
        return self.model.encode_sets(*args, **kwargs)


def test_repeats_skip_the_encoder_and_give_the_same_embedding(tiny_model):
    counting = CountingModel(tiny_model)
    cache = TextQueryCache(TextEncoder(counting))
    first = cache.get("a red sphere", ["depth"], size=2)
    again = cache.get("a red sphere", ["depth"], size=2)
    assert counting.calls == 1 and (cache.hits, cache.misses) == (1, 1)
    assert again is first and not first["depth"].flags.writeable
    np.testing.assert_array_equal(first["depth"], text_queries(tiny_model, "a red sphere", ["depth"])["depth"])
    cache.get("a red sphere", ["depth", "thermal"], size=2)  # other sets: another entry
    assert counting.calls == 2 and len(cache) == 2


def test_least_recently_used_goes_and_zero_turns_it_off(tiny_model):
    counting = CountingModel(tiny_model)
    cache = TextQueryCache(TextEncoder(counting))
    for text in ("a", "b", "a", "c"):  # "a" was used after "b": "b" goes when "c" comes
        cache.get(text, ["depth"], size=2)
    assert counting.calls == 3 and len(cache) == 2
    cache.get("a", ["depth"], size=2)
    assert counting.calls == 3
    cache.get("b", ["depth"], size=2)
    assert counting.calls == 4
    cache.get("a", ["depth"], size=0)  # off: encodes every time and empties the cache
    cache.get("a", ["depth"], size=0)
    assert counting.calls == 6 and len(cache) == 0


def _node(spin, ros_context, model, topic, db, size, **params):
    return spin.add(memory_of_texts(model, topic, ros_context, db, TEXTS, text_cache_size=size, **params))


@pytest.mark.parametrize("size", [0, 16])
def test_the_node_answers_a_repeated_query_alike_and_reports_the_cache(spin, ros_context, tiny_model, topic,
                                                                       tmp_path, size):
    node = _node(spin, ros_context, tiny_model, topic, tmp_path / "m.db", size)
    cache = node.answers.text_cache
    before = cache.misses
    answers = [[(h.id, round(h.score, 6)) for h in node.search(t, 3)] for t in TEXTS * 2]
    assert answers[:4] == answers[4:]
    assert answers[0][0][0] == 1  # "a red sphere" finds its own observation first
    assert cache.misses - before == (4 if size else 8)
    assert cache.hits == (4 if size else 0)
    extra = node._extra()
    assert extra["text_cache_hits"] == str(cache.hits) and extra["text_cache_misses"] == str(cache.misses)


def test_a_negative_size_is_refused(spin, ros_context, tiny_model, topic, tmp_path):
    with pytest.raises(Exception, match="text_cache_size must be >= 0"):
        _node(spin, ros_context, tiny_model, topic, tmp_path / "m.db", -1)


def test_the_onnx_runtime_text_encoder_gives_the_torch_towers_embedding(tiny_model, tmp_path):
    torch_encoder = TextEncoder(tiny_model)
    ort_encoder = TextEncoder(tiny_model, "onnxruntime", export_dir=str(tmp_path), threads=1)
    for text in TEXTS:
        a, b = torch_encoder(text, ["depth", "thermal"]), ort_encoder(text, ["depth", "thermal"])
        assert a.keys() == b.keys()
        for s in a:  # unit vectors of float32 codevectors: equal up to float32 rounding
            assert a[s].shape == b[s].shape and np.abs(a[s] - b[s]).max() < 1e-5
    assert sorted(ort_encoder._embedders) == ["depth", "thermal"]  # noqa: SLF001 - one graph per set, built once
    with pytest.raises(ValueError, match="unknown text backend 'onnx'"):
        TextEncoder(tiny_model, "onnx")


def test_the_node_on_the_onnx_runtime_text_backend_answers_as_on_torch(spin, ros_context, tiny_model, topic,
                                                                      tmp_path):
    node = _node(spin, ros_context, tiny_model, topic, tmp_path / "m.db", 0, text_backend="onnxruntime",
                 text_backend_options=f"{{export_dir: '{tmp_path / 'exports'}'}}")
    reference = TextEncoder(tiny_model)
    for text in TEXTS:
        hits = node.search(text, 4)
        ranked = node.memory.search(reference(text, ["depth"]), top_k=4)
        assert [h.id for h in hits] == [h.id for h in ranked]
        assert np.allclose([h.score for h in hits], [h.score for h in ranked], atol=1e-5)


@pytest.mark.parametrize("params,match", [({"text_backend": "onnx"}, "text_backend must be one of"),
                                          ({"text_backend_options": "[1, 2]"}, "text_backend_options must be")])
def test_a_bad_text_backend_is_refused(spin, ros_context, tiny_model, topic, tmp_path, params, match):
    with pytest.raises(Exception, match=match):
        _node(spin, ros_context, tiny_model, topic, tmp_path / "m.db", 16, **params)
