"""CodeBind-IB end to end: a CodeBind model built on converted ImageBind weights starts from
ImageBind's embeddings, LoRA-tunes only its target trunks, and round-trips through a checkpoint."""
import pytest
import torch
import torch.nn.functional as F
from ib_helpers import random_inputs

import codebind_core as cb
from codebind_core.encoders.imagebind import (ImageBindBridge, ImageBindTargetEncoder, codebind_ib_config,
                                              save_converted)

SMALL_HEADS = {"loss": {"decoder_depth": 1, "decoder_width": 32, "decoder_heads": 2},
               "quantizer": {"shared_size": 64, "specific_size": 16}}


def test_paper_defaults_for_codebind_ib_huge():
    cfg = codebind_ib_config(["audio", "depth", "thermal"])
    assert (cfg.embed_dim, cfg.specific_dim) == (1024, 1024)
    assert (cfg.quantizer.shared_size, cfg.quantizer.specific_size, cfg.quantizer.sub_dim) == (1024, 256, 8)
    assert (cfg.lora.rank, cfg.lora.last_k) == (4, 6)
    assert (cfg.bridge.kind, cfg.bridge.arch) == ("imagebind", "imagebind_huge")


def test_codebind_ib_config_refuses_a_missing_weights_path(tmp_path):
    with pytest.raises(ValueError, match="not found"):
        codebind_ib_config(["depth"], weights=str(tmp_path / "missing"))


@pytest.fixture(scope="module")
def built(tiny_model, tmp_path_factory):
    ckpt = save_converted(tiny_model, tmp_path_factory.mktemp("ib") / "imagebind_tiny")
    cfg = codebind_ib_config(["audio", "depth"], weights=str(ckpt), arch="imagebind_tiny", **SMALL_HEADS)
    torch.manual_seed(0)
    return cb.create_model(cfg).eval(), tmp_path_factory.mktemp("cb")


def test_model_uses_imagebind_towers_with_lora_on_the_targets_only(built):
    model, _ = built
    assert isinstance(model.bridge, ImageBindBridge)
    assert all(isinstance(e, ImageBindTargetEncoder) and e.pretrained for e in model.encoders.values())
    trainable = [n for n, p in model.encoders.named_parameters() if p.requires_grad]
    assert trainable and all("lora_" in n for n in trainable)
    assert {n.split(".")[3] for n in trainable} == {str(i) for i in range(6)}  # blocks 0-5 of 6
    assert not any(p.requires_grad for p in model.bridge.parameters())


def test_step_zero_reproduces_imagebind_embeddings(built, tiny_model):
    model, _ = built
    x = random_inputs(batch=2, seed=5)
    with torch.no_grad():
        for modality, scale in (("depth", 5.0), ("audio", 20.0)):
            shared, _ = model.heads[modality](model.encoders[modality](x[modality]))
            torch.testing.assert_close(F.normalize(shared[:, 0], dim=-1),
                                       tiny_model.embed(modality, x[modality]) / scale, rtol=1e-5, atol=1e-6)
        text, _ = model.heads["text"](model.bridge.encode_text(x["text"]))
        torch.testing.assert_close(F.normalize(text, dim=-1), tiny_model.embed("text", x["text"]) / (1 / 0.07),
                                   rtol=1e-5, atol=1e-6)


def test_checkpoint_round_trip_gives_identical_embeddings(built):
    model, directory = built
    x = random_inputs(batch=2, seed=6)
    cb.save(model, directory)
    loaded = cb.load(directory)
    with torch.no_grad():
        for modality in ("depth", "audio"):
            torch.testing.assert_close(loaded.encode(modality, x[modality]).shared,
                                       model.encode(modality, x[modality]).shared, rtol=0, atol=0)
        torch.testing.assert_close(loaded.encode_text(["a red mug"]).shared,
                                   model.encode_text(["a red mug"]).shared, rtol=0, atol=0)


def test_merged_lora_checkpoint_matches_the_adapters(built, tmp_path):
    model, _ = built
    with torch.no_grad():  # non-trivial adapters (lora_B starts at zero)
        for n, p in model.named_parameters():
            if "lora_B" in n:
                p.normal_(0, 0.02)
    x = random_inputs(batch=2, seed=7)
    with torch.no_grad():
        before = {m: model.encode(m, x[m]) for m in ("depth", "audio")}
    cb.save(model, tmp_path / "merged", merge_lora=True)
    merged = cb.load(tmp_path / "merged")
    assert not any("lora_" in n for n, _ in merged.named_parameters())
    with torch.no_grad():
        for m, e in before.items():
            after = merged.encode(m, x[m])
            torch.testing.assert_close(after.shared, e.shared, rtol=0, atol=1e-5)
            assert torch.equal(after.codes, e.codes)
