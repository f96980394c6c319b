"""Damaged checkpoints: load refuses each with a ValueError naming the problem; intact ones round-trip."""
import json
import re
import time

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import save_file

import codebind_core as cb
from codebind_core.checkpoint_checks import MAX_PARAMETERS, estimate_parameters
from codebind_core.checkpoint_format import DIGEST_KEY, tensors_digest


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return cb.create_model(cb.CodeBindConfig.preset("tiny", targets=["depth"])).eval()


@pytest.fixture
def ck(model, tmp_path):
    model.save(tmp_path / "ck")
    return tmp_path / "ck"


def _edit_config(ck, change):
    raw = json.loads((ck / "config.json").read_text())
    change(raw)
    (ck / "config.json").write_text(json.dumps(raw))


def _read(ck):
    with safe_open(str(ck / "model.safetensors"), "pt") as f:
        return dict(f.metadata() or {}), {k: f.get_tensor(k) for k in f.keys()}


def _rewrite(ck, change, digest=True):
    """Change the tensors; ``digest=True`` records their new digest (as save() would for a model
    that really holds them), else the file has no digest (an older checkpoint)."""
    meta, state = _read(ck)
    change(state)
    meta.pop(DIGEST_KEY, None)
    if digest:
        meta[DIGEST_KEY] = tensors_digest(state)
    save_file(state, str(ck / "model.safetensors"), metadata=meta)


def _refused(ck, match):
    t0 = time.perf_counter()
    with pytest.raises(ValueError, match=match):
        cb.load(ck)
    assert time.perf_counter() - t0 < 20, "refused only after allocating or building"


# ---- intact --------------------------------------------------------------------------------
def test_intact_checkpoint_round_trips_exactly_with_a_digest(model, ck):
    meta, state = _read(ck)
    assert meta[DIGEST_KEY] == tensors_digest(model.state_dict())
    loaded = cb.load(ck)
    assert loaded.config.to_dict() == json.loads((ck / "config.json").read_text())
    ref, got = model.state_dict(), loaded.state_dict()
    assert list(ref) == list(got)
    for k in ref:
        assert ref[k].dtype == got[k].dtype and torch.equal(ref[k], got[k]), k


def test_checkpoint_without_digest_still_loads(model, ck):
    _rewrite(ck, lambda state: None, digest=False)
    assert DIGEST_KEY not in _read(ck)[0]
    loaded = cb.load(ck)
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), loaded.state_dict().values()))


# ---- config --------------------------------------------------------------------------------
@pytest.mark.parametrize("value", [None, [1, 2], "x"])
def test_quantizer_not_a_mapping(ck, value):
    _edit_config(ck, lambda raw: raw.update(quantizer=value))
    _refused(ck, "config section 'quantizer' must be a mapping")


def test_sub_dim_zero(ck):
    _edit_config(ck, lambda raw: raw["quantizer"].update(sub_dim=0))
    _refused(ck, r"quantizer\.sub_dim must be > 0")


@pytest.mark.parametrize("section,key,value,match", [
    (None, "embed_dim", "64", r"embed_dim must be an int, got '64'"),
    (None, "embed_dim", 64.5, r"embed_dim must be an int"),
    (None, "decouple", 1, r"decouple must be a bool"),
    (None, "targets", "depth", r"targets must be a list of strings"),
    ("lora", "merged", "no", r"lora\.merged must be a bool"),
    ("quantizer", "decay", "0.99", r"quantizer\.decay must be a finite number"),
    ("trunk", "depth", True, r"trunk\.depth must be an int"),
    ("inputs", "patch_size", 0, r"inputs\.patch_size must be > 0"),
    ("bridge", "kind", 3, r"bridge\.kind must be a string"),
])
def test_config_value_of_the_wrong_type(ck, section, key, value, match):
    _edit_config(ck, lambda raw: (raw if section is None else raw[section]).update({key: value}))
    _refused(ck, match)


def test_config_missing_keys_named(ck):
    def drop(raw):
        del raw["quantizer"]["shared_size"], raw["unified"]
    _edit_config(ck, drop)
    _refused(ck, r"misses keys .*'unified'.*'quantizer\.shared_size'")


@pytest.mark.parametrize("section,values,match", [
    ("trunk", {"depth": 10 ** 6}, "parameters"),
    ("trunk", {"depth": 20_000, "width": 2, "heads": 2}, r"\d+ transformer blocks, above the limit of 10000"),
    ("trunk", {"width": 2 ** 20}, "parameters"),
    ("quantizer", {"shared_size": 10 ** 12}, "parameters"),
    ("inputs", {"image_size": 8 * 2 ** 16}, "parameters"),
    (None, {"embed_dim": 2 ** 30, "specific_dim": 2 ** 30}, "parameters"),
])
def test_absurd_sizes_refused_before_allocating(ck, section, values, match):
    _edit_config(ck, lambda raw: (raw if section is None else raw[section]).update(values))
    _refused(ck, match)


def test_size_estimate_is_close_and_the_limit_is_named(model, ck):
    actual = sum(t.numel() for t in model.state_dict().values())
    assert abs(estimate_parameters(model.config)["parameters"] - actual) < 0.05 * actual
    _edit_config(ck, lambda raw: raw["trunk"].update(width=2 ** 16, heads=2))
    _refused(ck, r"about \S+ parameters, above the limit of " + re.escape(f"{MAX_PARAMETERS:.3g}"))


# ---- weights -------------------------------------------------------------------------------
def test_tensor_of_the_wrong_shape(ck):
    name = "heads.depth.shared.weight"
    _rewrite(ck, lambda s: s.update({name: torch.zeros(s[name].shape[0], s[name].shape[1] + 1)}))
    _refused(ck, rf"tensor '{name}' has shape \(64, 65\) but the config gives \(64, 64\)")


def test_nan_weights_named(ck):
    name = "encoders.depth.transformer.blocks.0.attn.qkv.weight"

    def poison(s):
        assert name in s
        s[name][0, 0] = float("nan")
    _rewrite(ck, poison)
    _refused(ck, rf"tensor '{name}' holds 1 NaN or infinite")


def test_nan_codebook_named(ck):
    def poison(s):
        s["codebooks.depth.shared.embed"][3] = float("inf")
    _rewrite(ck, poison)
    _refused(ck, r"tensor 'codebooks\.depth\.shared\.embed' holds 8 NaN or infinite")


def test_nan_weights_refused_without_a_digest_too(ck):
    _rewrite(ck, lambda s: s["heads.image.specific.bias"].fill_(float("nan")), digest=False)
    _refused(ck, r"'heads\.image\.specific\.bias' holds 64 NaN")


def test_int_weights_refused(ck):
    _rewrite(ck, lambda s: s.update({k: v.to(torch.int32) for k, v in s.items() if v.is_floating_point()}))
    _refused(ck, r"tensor '.+' is stored as torch\.int32 but the model expects a floating tensor")


def test_garbage_in_tensor_bytes_fails_the_digest(ck):
    path = ck / "model.safetensors"
    data = bytearray(path.read_bytes())
    start = 8 + int.from_bytes(data[:8], "little")  # the tensor bytes follow the JSON header
    data[start + 100_000: start + 100_000 + 4096] = torch.randint(0, 256, (4096,), dtype=torch.uint8).numpy().tobytes()
    path.write_bytes(bytes(data))
    _refused(ck, "do not match the sha256 recorded when they were saved")
