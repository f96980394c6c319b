"""CodeBind plug-in points: target encoders (tokens, patches, LoRA, pooled init) and the bridge."""
import pytest
import torch
import torch.nn.functional as F
from ib_helpers import random_inputs

from codebind_core.encoders.imagebind import (ImageBindBridge, ImageBindTargetEncoder, build_target,
                                              tokenize)

SCALE = {"audio": 20.0, "depth": 5.0, "thermal": 10.0, "imu": 5.0}
GEOMETRY = {"audio": (228, 256), "depth": (196, 256), "thermal": (196, 256), "imu": (250, 48)}


@pytest.fixture(scope="module")
def inputs():
    return random_inputs(batch=2, seed=3)


@pytest.mark.parametrize("modality", ["audio", "depth", "thermal", "imu"])
def test_target_encoder_tokens_reproduce_imagebind_through_pooled_init(tiny_model, inputs, modality):
    enc = ImageBindTargetEncoder.from_model(tiny_model, modality)
    x = inputs[modality]
    with torch.no_grad():
        tokens = enc(x)
        pooled = F.normalize(tokens[:, 0] @ enc.pooled_init().T, dim=-1)
        reference = tiny_model.embed(modality, x) / SCALE[modality]
    assert tokens.shape == (2, 1 + enc.num_patches, enc.width) == (2, 1 + GEOMETRY[modality][0], 32)
    assert enc.pooled_init().shape == (32, 32)
    torch.testing.assert_close(pooled, reference, rtol=1e-5, atol=1e-6)
    assert tuple(x.shape[1:]) == enc.expected_shape


@pytest.mark.parametrize("modality", ["audio", "depth", "thermal"])
def test_patchify_targets_are_the_stem_receptive_fields_in_token_order(tiny_model, inputs, modality):
    enc = ImageBindTargetEncoder.from_model(tiny_model, modality)
    x = inputs[modality]
    patches = enc.patchify(x)
    assert patches.shape == (2, enc.num_patches, enc.patch_dim) == (2, *GEOMETRY[modality])
    stem = enc.preprocessor.stem
    with torch.no_grad():
        conv_tokens = stem.proj(x).flatten(2).transpose(1, 2)
    torch.testing.assert_close(patches @ stem.proj.weight.flatten(1).T, conv_tokens, rtol=1e-4, atol=1e-4)


def test_imu_patchify_is_the_window_layout(tiny_model, inputs):
    enc = ImageBindTargetEncoder.from_model(tiny_model, "imu")
    patches = enc.patchify(inputs["imu"])
    assert patches.shape == (2, 250, 48)
    torch.testing.assert_close(patches[:, 7, 2 * 8 + 3], inputs["imu"][:, 2, 7 * 8 + 3])


def test_lora_on_the_last_six_blocks_keeps_outputs_at_init_and_trains_only_adapters(tiny_model, inputs):
    import copy

    from peft import LoraConfig, inject_adapter_in_model

    enc = copy.deepcopy(ImageBindTargetEncoder.from_model(tiny_model, "depth"))
    targets = enc.lora_target_modules(6)
    assert targets == [f"trunk.blocks.{i}.attn" for i in range(6)]
    assert enc.lora_target_modules(2) == ["trunk.blocks.4.attn", "trunk.blocks.5.attn"]
    x = inputs["depth"]
    with torch.no_grad():
        before = enc(x)
    inject_adapter_in_model(LoraConfig(r=4, lora_alpha=8, target_modules=targets), enc)
    for name, p in enc.named_parameters():
        p.requires_grad_("lora_" in name)
    trainable = {n for n, p in enc.named_parameters() if p.requires_grad}
    # per block: in_proj A (4 x 32) + B (96 x 4), out_proj A (4 x 32) + B (32 x 4)
    assert sum(p.numel() for n, p in enc.named_parameters() if n in trainable) == 6 * (128 + 384 + 128 + 128)
    with torch.no_grad():
        torch.testing.assert_close(enc(x), before, rtol=0, atol=1e-6)
    frozen = {n: p.detach().clone() for n, p in enc.named_parameters() if n not in trainable}
    opt = torch.optim.SGD([p for p in enc.parameters() if p.requires_grad], lr=0.5)
    for _ in range(2):  # lora_B starts at zero: the second step moves the output
        opt.zero_grad()
        enc(x)[:, 0].pow(2).sum().backward()
        opt.step()
    for name, p in enc.named_parameters():
        if name in frozen:  # no gradient; peft's MHA merge/unmerge around forward may round by ~1 ulp
            assert p.grad is None, name
            torch.testing.assert_close(p, frozen[name], rtol=0, atol=1e-6)
        else:
            assert p.grad is not None, name
    with torch.no_grad():
        assert (enc(x) - before).abs().max() > 1e-4


def test_lora_target_modules_rejects_non_positive_k(tiny_model):
    with pytest.raises(ValueError, match="last_k"):
        ImageBindTargetEncoder.from_model(tiny_model, "audio").lora_target_modules(0)


@pytest.fixture(scope="module")
def bridge(tiny_model):
    import copy

    return ImageBindBridge(tiny_model.config, copy.deepcopy(tiny_model))


def test_bridge_embeddings_equal_imagebind_before_normalisation(bridge, tiny_model, inputs):
    with torch.no_grad():
        text = bridge.encode_text(inputs["text"])
        image = bridge.encode_image(inputs["vision"])
        tokens = bridge.image_tokens(inputs["vision"])
        vision_tokens = bridge.vision_tokens(inputs["vision"])
        torch.testing.assert_close(text, tiny_model.project("text", inputs["text"]))
        torch.testing.assert_close(image, tiny_model.project("vision", inputs["vision"]))
    assert tokens.shape == (2, 257, bridge.embed_dim) and vision_tokens.shape == (2, 257, 32)
    torch.testing.assert_close(tokens[:, 0], image)
    assert bridge.patchify_image(inputs["vision"]).shape == (2, 256, 588)
    assert (bridge.image_num_patches, bridge.image_patch_dim) == (256, 588)


def test_bridge_is_frozen_and_stays_in_eval_mode(bridge):
    assert not any(p.requires_grad for p in bridge.parameters())
    bridge.train()
    assert not any(m.training for m in bridge.modules())


def test_bridge_state_dict_keeps_imagebind_names(bridge):
    keys = list(bridge.state_dict())
    assert "modality_preprocessors.vision.rgbt_stem.proj.1.weight" in keys
    assert "modality_postprocessors.text.1.log_logit_scale" in keys
    assert not any(".audio." in k or ".depth." in k for k in keys)


def test_tokenizer_matches_open_clip_and_forces_eot_last():
    import open_clip

    texts = ["a photo of a dog", "  A  Photo of a DOG ", "word " * 100, ""]
    ids = tokenize(texts)
    assert ids.dtype == torch.long and ids.shape == (4, 77)
    assert torch.equal(ids, open_clip.tokenizer.SimpleTokenizer(context_length=77)(texts))
    assert ids[0, :7].tolist() == [49406, 320, 1125, 539, 320, 1929, 49407]
    assert torch.equal(ids[0], ids[1])  # cleaned and lower-cased
    assert ids[2, 0] == 49406 and ids[2, 76] == 49407 and (ids[2] == 49407).sum() == 1
    assert ids[3, :2].tolist() == [49406, 49407] and ids[3, 2:].eq(0).all()
    with pytest.raises(ValueError, match="strings"):
        tokenize(["ok", 3])


def test_build_target_refuses_modalities_imagebind_lacks(bridge):
    with pytest.raises(ValueError, match="no trunk for target 'tactile'"):
        build_target("tactile", None, bridge)
    enc = build_target("thermal", None, bridge)  # nothing held: a fresh tower of the same config
    assert isinstance(enc, ImageBindTargetEncoder) and enc.width == 32 and not enc.pretrained
