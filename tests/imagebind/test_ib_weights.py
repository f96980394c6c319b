"""Weights: .pth -> strict load, .pth -> converted safetensors -> load, identical outputs; refusals
of pickles, tampered files and mismatched state dicts with clear errors."""
import json
import pickle

import pytest
import torch
from ib_helpers import random_inputs

from codebind_core.encoders.imagebind import (convert_imagebind, get_config, infer_config, load_converted,
                                              load_imagebind, load_imagebind_checkpoint)
from codebind_core.encoders.imagebind.weights import CONFIG_FILE, WEIGHTS_FILE


@pytest.fixture(scope="module")
def small_pth(tmp_path_factory, small_model):
    path = tmp_path_factory.mktemp("ib") / "imagebind_small.pth"
    torch.save(small_model.state_dict(), path)
    return path


@pytest.fixture(scope="module")
def reference_out(small_model):
    with torch.no_grad():
        return small_model(random_inputs(batch=1, audio_clips=2))


def _same_outputs(model, reference_out):
    with torch.no_grad():
        out = model(random_inputs(batch=1, audio_clips=2))
    for m, emb in reference_out.items():
        assert torch.equal(out[m], emb), m


def _same_state(model, reference):
    got, want = model.state_dict(), reference.state_dict()
    assert list(got) == list(want)
    for key, value in want.items():
        assert torch.equal(got[key], value), key


def test_pth_loads_strictly_with_identical_outputs(small_pth, reference_out):
    model = load_imagebind_checkpoint(small_pth, "imagebind_small")
    assert not model.training
    assert all(p.requires_grad for p in model.parameters())
    _same_outputs(model, reference_out)


def test_convert_then_load_gives_identical_outputs(small_pth, tmp_path, reference_out, small_model):
    out_dir = convert_imagebind(small_pth, tmp_path / "converted", config=None)  # architecture inferred
    assert (out_dir / WEIGHTS_FILE).is_file() and (out_dir / CONFIG_FILE).is_file()
    assert json.loads((out_dir / CONFIG_FILE).read_text())["imagebind"]["vision_embed_dim"] == 64
    model = load_converted(out_dir)
    assert model.config == get_config("imagebind_small")
    _same_outputs(model, reference_out)
    _same_state(model, small_model)


def test_load_imagebind_accepts_directory_safetensors_and_pth(small_pth, tmp_path, small_model):
    out_dir = convert_imagebind(small_pth, tmp_path / "c", config="imagebind_small")
    for source in (out_dir, out_dir / WEIGHTS_FILE, small_pth):
        _same_state(load_imagebind(source), small_model)
    with pytest.raises(ValueError, match="not the requested config"):
        load_imagebind(out_dir, config="imagebind_tiny")


def test_infer_config_recognises_registered_architectures(small_model, tiny_model):
    assert infer_config(small_model.state_dict()) == get_config("imagebind_small")
    assert infer_config(tiny_model.state_dict()) == get_config("imagebind_tiny")


class _Payload:
    """Any object whose unpickling would run code: weights_only refuses to build it."""

    def __reduce__(self):
        return (print, ("this must never run",))


def test_pickled_objects_are_refused(tmp_path, capsys):
    path = tmp_path / "evil.pth"
    torch.save({"weight": torch.zeros(2), "payload": _Payload()}, path)
    with pytest.raises(ValueError, match="weights_only"):
        load_imagebind_checkpoint(path)
    plain = tmp_path / "evil.pkl"
    plain.write_bytes(pickle.dumps(_Payload()))
    with pytest.raises(ValueError, match="weights_only"):
        load_imagebind_checkpoint(plain)
    assert "must never run" not in capsys.readouterr().out


def test_a_pickle_disguised_as_safetensors_fails_clearly(small_pth, tmp_path):
    out_dir = convert_imagebind(small_pth, tmp_path / "c", config="imagebind_small")
    (out_dir / WEIGHTS_FILE).write_bytes(pickle.dumps(_Payload()))
    with pytest.raises(ValueError, match="not a valid safetensors file"):
        load_converted(out_dir)


def test_truncated_safetensors_fails_clearly(small_pth, tmp_path):
    out_dir = convert_imagebind(small_pth, tmp_path / "c", config="imagebind_small")
    data = (out_dir / WEIGHTS_FILE).read_bytes()
    (out_dir / WEIGHTS_FILE).write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="not a valid safetensors file"):
        load_converted(out_dir)


def test_tampered_tensor_shape_in_safetensors_is_reported(small_model, tmp_path):
    from safetensors.torch import save_file

    from codebind_core.encoders.imagebind import save_converted

    out_dir = save_converted(small_model, tmp_path / "c")
    state = {k: v.contiguous() for k, v in small_model.state_dict().items()}
    state["modality_heads.depth.2.weight"] = torch.zeros(32, 65)
    save_file(state, str(out_dir / WEIGHTS_FILE), metadata={"format": "codebind-imagebind"})
    with pytest.raises(ValueError, match=r"wrong shape/dtype .*modality_heads\.depth\.2\.weight"):
        load_converted(out_dir)


def test_tampered_config_is_refused(small_pth, tmp_path):
    out_dir = convert_imagebind(small_pth, tmp_path / "c", config="imagebind_small")
    (out_dir / CONFIG_FILE).write_text(json.dumps({"format": "something-else"}))
    with pytest.raises(ValueError, match="not a codebind-imagebind config"):
        load_converted(out_dir)


def test_missing_unexpected_and_misshaped_keys_are_listed(small_model, tmp_path):
    state = dict(small_model.state_dict())
    del state["modality_trunks.imu.blocks.1.attn.bias_k"]
    state["modality_heads.vision.3.weight"] = torch.zeros(1)
    state["modality_preprocessors.text.pos_embed"] = torch.zeros(1, 76, 64)
    path = tmp_path / "broken.pth"
    torch.save(state, path)
    with pytest.raises(ValueError) as err:
        load_imagebind_checkpoint(path, "imagebind_small")
    text = str(err.value)
    assert "1 missing" in text and "bias_k" in text
    assert "1 unexpected" in text and "modality_heads.vision.3.weight" in text
    assert "1 wrong shape/dtype" in text and "text.pos_embed" in text


def test_huge_checkpoint_of_a_small_model_is_refused(small_pth):
    with pytest.raises(ValueError, match="does not match the ImageBind architecture"):
        load_imagebind_checkpoint(small_pth)  # default config: imagebind_huge


@pytest.mark.parametrize("obj, message", [
    ([torch.zeros(1)], "flat dict of tensors"),
    ({"a": {"b": torch.zeros(1)}}, "not, e.g."),
])
def test_non_flat_or_non_tensor_checkpoints_are_refused(tmp_path, obj, message):
    path = tmp_path / "odd.pth"
    torch.save(obj, path)
    with pytest.raises(ValueError, match=message):
        load_imagebind_checkpoint(path)


def test_missing_files_are_reported(tmp_path):
    with pytest.raises(ValueError, match="not found"):
        load_imagebind_checkpoint(tmp_path / "nope.pth")
    with pytest.raises(ValueError, match="config.json is missing"):
        load_converted(tmp_path)


def test_convert_command_line(small_pth, tmp_path, capsys, small_model):
    from codebind_core.encoders.imagebind.convert import main

    assert main([str(small_pth), str(tmp_path / "out"), "--config", "auto"]) == 0
    assert "wrote" in capsys.readouterr().out
    _same_state(load_converted(tmp_path / "out"), small_model)
    assert main([str(small_pth), str(tmp_path / "bad")]) == 2  # default config is huge: refused
    assert "does not match the ImageBind architecture" in capsys.readouterr().err
    assert not (tmp_path / "bad" / WEIGHTS_FILE).exists()
