"""The core model: API contract, every modality, LoRA, checkpoints."""
import json
import pickle

import numpy as np
import pytest
import torch

import codebind_core as cb
from codebind_core.encoders.lora import has_lora
from codebind_core.export import example_batch

ALL_TARGETS = ("video", "audio", "depth", "thermal", "tactile", "pointcloud", "eeg")


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return cb.create_model(cb.CodeBindConfig.preset("tiny", targets=list(ALL_TARGETS))).eval()


@pytest.mark.parametrize("modality", ("image",) + ALL_TARGETS)
def test_every_modality_preprocess_and_encode(model, modality):
    rng = np.random.default_rng(0)
    raws = [cb.modalities.get(modality).example(rng) for _ in range(3)]
    if modality == "eeg":  # the tiny preset reads 16 channels, the example has a 128-channel cap
        raws = [r[: model.config.inputs.eeg_channels] for r in raws]
    x = model.preprocess(modality, raws)
    with torch.no_grad():
        emb = model.encode(modality, x)
    cfg = model.config
    m = cfg.embed_dim // cfg.quantizer.sub_dim
    assert emb.shared.shape == (3, cfg.embed_dim)
    assert emb.specific.shape == (3, cfg.specific_dim)
    assert emb.codes.shape == (3, m) and emb.codes.dtype == torch.long
    assert torch.allclose(emb.shared.norm(dim=-1), torch.ones(3), atol=1e-5)
    assert int(emb.codes.max()) < cfg.quantizer.shared_size
    # the quantized shared part is exactly the decoded codes (re-normalised)
    book = model.codebooks[emb.codebook_set]["shared"]
    assert torch.allclose(emb.shared, torch.nn.functional.normalize(book.decode(emb.codes), dim=-1), atol=1e-5)


def test_text_has_shared_only_and_similarity_shape(model):
    with torch.no_grad():
        txt = model.encode_text(["a red mug", "a chair"], codebook_set="depth")
        dep = model.encode("depth", example_batch(model, "depth", 4))
    assert txt.specific is None and txt.codebook_set == "depth"
    s = model.similarity(dep, txt)
    assert s.shape == (4, 2) and float(s.abs().max()) <= 1.0 + 1e-5


def test_similarity_refuses_embeddings_of_different_codebook_sets(model):
    with torch.no_grad():
        txt = model.encode_text(["a red mug"])  # the first target's set: video
        dep = model.encode("depth", example_batch(model, "depth", 2))
    assert txt.codebook_set == "video" and dep.codebook_set == "depth"
    with pytest.raises(ValueError, match="different codebook sets.*'depth'.*'video'"):
        model.similarity(dep, txt)
    with pytest.raises(ValueError, match="no 'camera' encoder.*the core modality is 'image'"):
        model.encode("camera", example_batch(model, "image", 1))


def test_the_codebook_set_has_one_name(model):
    with torch.no_grad(), pytest.raises(TypeError, match="path"):
        model.encode_text(["a chair"], path="depth")
    with torch.no_grad():
        txt = model.encode_text(["a chair"], codebook_set="depth")
    assert txt.codebook_set == "depth" and not hasattr(txt, "path")
    assert not hasattr(model.config, "paths") and not hasattr(model.config, "path_for")
    assert model.config.codebook_sets() == ALL_TARGETS and model.config.codebook_set_for("text", "audio") == "audio"


@pytest.mark.parametrize("modality", ("text", "image", "depth", "audio"))
def test_encode_and_the_export_graph_share_one_inference_step(model, modality):
    from codebind_core.export.onnx_graphs import EncoderGraph

    x = model.tokenize(["a red mug", "a chair"]) if modality == "text" else example_batch(model, modality, 2)
    if modality == "audio":
        x = torch.stack([x, x.flip(0)], 1)  # (B, clips, ...): the clip mean is part of the step
    with torch.no_grad():
        emb = model.encode(modality, x)
        out = EncoderGraph(model, modality, copy=True).eval()(x)
    torch.testing.assert_close(out[0], emb.shared, atol=1e-6, rtol=0)
    assert torch.equal(out[-2 if modality != "text" else -1], emb.codes)
    if modality != "text":
        torch.testing.assert_close(out[1], emb.specific, atol=1e-6, rtol=0)
        assert torch.equal(out[-1], emb.specific_codes)


@pytest.mark.parametrize("modality,sets", [("text", ("depth", "audio", "thermal")), ("image", ("video", "eeg")),
                                            ("depth", ("depth",))])
def test_encode_sets_equals_one_encode_per_set(model, modality, sets):
    x = ["a red mug", "a chair"] if modality == "text" else example_batch(model, modality, 2)
    with torch.no_grad():
        together = model.encode_sets(modality, x, sets)
        apart = {s: model.encode(modality, x, codebook_set=s) for s in sets}
    assert list(together) == list(sets)
    for s in sets:
        assert together[s].codebook_set == apart[s].codebook_set == s
        torch.testing.assert_close(together[s].shared, apart[s].shared, atol=1e-6, rtol=0)
        assert torch.equal(together[s].codes, apart[s].codes)
    if modality == "text":  # the sets differ: each quantizes with its own shared codebook
        assert not torch.equal(together["depth"].codes, together["audio"].codes)
    with pytest.raises(ValueError, match="unknown codebook set 'lidar'"):
        model.encode_sets(modality, x, ["lidar"])


def test_unknown_modality_and_bad_batch_raise(model):
    with pytest.raises(ValueError, match="no 'imu' encoder"):
        model.encode("imu", torch.zeros(1, 3))
    with pytest.raises(ValueError, match="exactly one target"):
        model({"text": ["a"], "depth": torch.zeros(1, 1, 64, 64), "audio": torch.zeros(1, 1, 128, 204)})


def test_config_validation_names_the_problem():
    with pytest.raises(ValueError, match="unknown target modality 'smell'"):
        cb.CodeBindConfig.preset("tiny", targets=["smell"])
    with pytest.raises(ValueError, match="not divisible by sub_dim"):
        cb.CodeBindConfig.preset("tiny", embed_dim=60)
    with pytest.raises(ValueError, match=r"unknown keys in model config: \['colour'\]; allowed"):
        cb.CodeBindConfig.from_dict({"targets": ["depth"], "colour": 1})


def test_config_yaml_round_trip(tmp_path):
    import yaml

    cfg = cb.CodeBindConfig.preset("tiny", targets=["audio", "depth"], unified=True)
    (tmp_path / "m.yaml").write_text(yaml.safe_dump(cfg.to_dict()))
    assert cb.CodeBindConfig.from_file(tmp_path / "m.yaml").to_dict() == cfg.to_dict()


def test_unified_uses_one_shared_codebook():
    m = cb.create_model(cb.CodeBindConfig.preset("tiny", targets=["depth", "audio"], unified=True))
    assert list(m.codebooks) == ["unified"]
    assert sorted(m.codebooks["unified"]) == ["audio", "depth", "image", "shared"]
    per_path = cb.create_model(cb.CodeBindConfig.preset("tiny", targets=["depth", "audio"]))
    assert sorted(per_path.codebooks) == ["audio", "depth"]
    assert sorted(per_path.codebooks["depth"]) == ["depth", "image", "shared"]


# ---- LoRA ------------------------------------------------------------------------------------
@pytest.fixture()
def lora_model():
    cfg = cb.CodeBindConfig.preset("tiny", targets=["depth"])
    cfg.lora.mode = "on"
    return cb.create_model(cfg)


def test_lora_only_adapters_heads_and_codebook_params_train(lora_model):
    trainable = {n for n, p in lora_model.named_parameters() if p.requires_grad}
    assert any("lora_A" in n for n in trainable)
    for n in trainable:
        assert n.startswith(("heads.", "decoders.", "logit_scale")) or "lora_" in n, n
    assert not any(n.startswith("bridge.") for n in trainable)
    enc = lora_model.encoders["depth"]
    n_blocks = len(enc.transformer.blocks)
    wrapped = {n.split(".lora_A")[0] for n, _ in enc.named_parameters() if "lora_A" in n}
    expected = {f"transformer.blocks.{i}.attn.{k}"
                for i in range(max(0, n_blocks - 2), n_blocks) for k in ("qkv", "proj")}
    assert wrapped == expected


def test_lora_merged_equals_unmerged(lora_model, tmp_path):
    # make the adapters non-trivial (lora_B starts at zero)
    with torch.no_grad():
        for n, p in lora_model.named_parameters():
            if "lora_B" in n:
                p.normal_(0, 0.05)
    lora_model.eval()
    x = example_batch(lora_model, "depth", 3)
    with torch.no_grad():
        before = lora_model.encode("depth", x)
    lora_model.save(tmp_path / "merged", merge_lora=True)
    merged = cb.load(tmp_path / "merged")
    assert not has_lora(merged.encoders["depth"])
    assert json.loads((tmp_path / "merged" / "config.json").read_text())["lora"]["merged"] is True
    with torch.no_grad():
        after = merged.encode("depth", x)
    assert torch.allclose(before.shared, after.shared, atol=1e-5)
    assert torch.equal(before.codes, after.codes)
    # the unmerged save keeps the adapters apart and reloads them
    lora_model.save(tmp_path / "apart")
    apart = cb.load(tmp_path / "apart")
    assert has_lora(apart.encoders["depth"])
    with torch.no_grad():
        assert torch.equal(apart.encode("depth", x).shared, before.shared)


# ---- checkpoints -----------------------------------------------------------------------------
def test_save_load_round_trip_identical(model, tmp_path):
    model.save(tmp_path / "ck")
    loaded = cb.load(tmp_path / "ck")
    for modality in ("image", "audio", "pointcloud"):
        x = example_batch(model, modality, 2)
        with torch.no_grad():
            a, b = model.encode(modality, x), loaded.encode(modality, x)
        assert torch.equal(a.shared, b.shared) and torch.equal(a.specific, b.specific)
        assert torch.equal(a.codes, b.codes)
    with torch.no_grad():
        assert torch.equal(model.encode_text(["a mug"]).shared, loaded.encode_text(["a mug"]).shared)


def test_pickled_or_tampered_weights_fail_clearly(model, tmp_path):
    ck = tmp_path / "ck"
    model.save(ck)
    with open(ck / "model.safetensors", "wb") as f:
        pickle.dump({"x": torch.zeros(1)}, f)
    with pytest.raises(ValueError, match="not a valid safetensors file"):
        cb.load(ck)
    model.save(ck)
    data = bytearray((ck / "model.safetensors").read_bytes())
    data[:8] = (10 ** 12).to_bytes(8, "little")  # corrupt the header length
    (ck / "model.safetensors").write_bytes(bytes(data))
    with pytest.raises(ValueError, match="not a valid safetensors file"):
        cb.load(ck)
    (ck / "model.safetensors").unlink()
    with pytest.raises(ValueError, match="missing"):
        cb.load(ck)


def test_torch_weights_loader_refuses_pickled_objects(tmp_path):
    from codebind_core.weights import load_state_dict

    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    torch.save({"w": torch.zeros(2), "evil": Evil()}, tmp_path / "bad.pt")
    with pytest.raises(ValueError, match="refused to load"):
        load_state_dict(tmp_path / "bad.pt")
    torch.save({"module.w": torch.ones(2)}, tmp_path / "ok.pt")
    assert torch.equal(load_state_dict(tmp_path / "ok.pt")["w"], torch.ones(2))


def test_preset_overrides_merge_in_depth():
    cfg = cb.CodeBindConfig.preset("tiny", quantizer={"sub_dim": 4})
    tiny = cb.CodeBindConfig.preset("tiny")
    assert cfg.quantizer.sub_dim == 4
    assert cfg.quantizer.shared_size == tiny.quantizer.shared_size == 256
    assert cfg.quantizer.specific_size == tiny.quantizer.specific_size


def test_separate_shared_codebooks_are_named_and_refused_by_the_memory():
    from codebind_core.memory.codebooks import CodebookSet
    from codebind_core.quantize import shared_book

    torch.manual_seed(0)
    m = cb.create_model(cb.CodeBindConfig.preset("tiny", targets=["depth"], quantizer={"shared_codebook": False}))
    books = m.codebooks["depth"]
    assert shared_book(books, "image") is books["shared_image"]
    with pytest.raises(ValueError, match="no shared codebook for 'camera'"):  # ROS names stay in ROS
        shared_book(books, "camera")
    with pytest.raises(ValueError, match="no shared codebook for 'audio'"):
        shared_book(books, "audio")
    with pytest.raises(ValueError, match="shared_codebook: false"):
        CodebookSet.from_model(m)
