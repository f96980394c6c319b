"""ImageBindModel's forward: shapes, norms and scales, multi-clip averaging, the image/video rule,
text EOS pooling under the causal mask, and the maths of one block checked by hand."""
import math

import pytest
import torch
import torch.nn.functional as F
from ib_helpers import random_inputs

from codebind_core.encoders.imagebind.preprocessors import ImuPreprocessor

SCALES = {"vision": 1.0, "text": 1 / 0.07, "audio": 20.0, "depth": 5.0, "thermal": 10.0, "imu": 5.0}


def test_every_modality_gives_b_by_o_embeddings_with_the_documented_norm(small_model):
    with torch.no_grad():
        out = small_model(random_inputs(batch=3))
    assert set(out) == set(SCALES)
    for m, emb in out.items():
        assert emb.shape == (3, 32), m
        torch.testing.assert_close(emb.norm(dim=-1), torch.full((3,), SCALES[m]), rtol=1e-5, atol=1e-5)


def test_multi_clip_audio_is_the_mean_of_scaled_clip_embeddings_not_renormalised(small_model):
    x = random_inputs(batch=2, audio_clips=3)["audio"]
    with torch.no_grad():
        out = small_model({"audio": x})["audio"]
        per_clip = torch.stack([small_model.embed("audio", x[:, s]) for s in range(3)], dim=1)
    torch.testing.assert_close(out, per_clip.mean(dim=1))
    assert (out.norm(dim=-1) < 20.0).all() and (out.norm(dim=-1) > 5.0).all()


def test_logit_scale_is_capped_at_100(small_model):
    post = small_model.modality_postprocessors["text"][1]
    x = torch.randn(2, 32)
    with torch.no_grad():
        saved = post.log_logit_scale.clone()
        post.log_logit_scale.fill_(math.log(500.0))
        try:
            scaled = post(F.normalize(x, dim=-1))
        finally:
            post.log_logit_scale.copy_(saved)
    torch.testing.assert_close(scaled.norm(dim=-1), torch.full((2,), 100.0))


def test_fixed_scales_are_buffers_and_text_scale_is_a_parameter(small_model):
    post = small_model.modality_postprocessors
    assert isinstance(post["text"][1].log_logit_scale, torch.nn.Parameter)
    for m, s in (("audio", 20.0), ("depth", 5.0), ("thermal", 10.0), ("imu", 5.0)):
        assert not isinstance(post[m][1].log_logit_scale, torch.nn.Parameter)
        assert post[m][1].log_logit_scale.item() == pytest.approx(math.log(s), abs=1e-6)
    assert list(post["vision"].state_dict()) == []


def test_image_equals_two_frame_video_of_it(small_model):
    img = random_inputs(batch=2)["vision"]
    video = img.unsqueeze(2).repeat(1, 1, 2, 1, 1)  # B x 3 x 2 x H x W
    with torch.no_grad():
        a = small_model({"vision": img})["vision"]
        b = small_model.embed("vision", video)
        c = small_model({"vision": video})["vision"]  # a single clip per item
        d = small_model({"vision": video.unsqueeze(1)})["vision"]  # ImageBind's B x S x 3 x T x H x W
    for other in (b, c, d):
        torch.testing.assert_close(a, other, rtol=0, atol=1e-6)


def test_five_dim_vision_with_three_in_dim_two_is_s_images_averaged(small_model):
    imgs = random_inputs(batch=2)["vision"][:, None].repeat(1, 3, 1, 1, 1)  # B x S=3 x 3 x H x W
    imgs[:, 1] += 0.5
    with torch.no_grad():
        out = small_model({"vision": imgs})["vision"]
        ref = torch.stack([small_model.embed("vision", imgs[:, s]) for s in range(3)], 1).mean(1)
    torch.testing.assert_close(out, ref)


def test_larger_images_resize_the_positional_embedding(small_model):
    x = torch.randn(1, 3, 280, 280)  # 20 x 20 patches instead of 16 x 16
    with torch.no_grad():
        out = small_model.embed("vision", x)
    assert out.shape == (1, 32) and torch.isfinite(out).all()
    with pytest.raises(ValueError, match="square grid"):
        small_model.embed("vision", torch.randn(1, 3, 224, 280))


def test_text_pools_the_eos_token_and_ignores_everything_after_it(small_model):
    ids = random_inputs(batch=2)["text"]
    changed_after = ids.clone()
    changed_after[:, 30:] = 123  # after EOS (positions 5 and 12), smaller than EOT
    changed_before = ids.clone()
    changed_before[:, 2] = 999
    with torch.no_grad():
        base = small_model.embed("text", ids)
        after = small_model.embed("text", changed_after)
        before = small_model.embed("text", changed_before)
        tokens, extra = small_model.trunk_tokens("text", ids)
        head = small_model.modality_heads["text"]
        manual = head.proj(tokens[torch.arange(2), ids.argmax(-1)])
    torch.testing.assert_close(base, after, rtol=0, atol=1e-6)
    assert (base - before).abs().max() > 1e-3
    assert extra["eos"].tolist() == [5, 12]
    torch.testing.assert_close(small_model.project("text", ids), manual)


def test_causal_mask_is_zero_on_and_below_the_diagonal(small_model):
    mask = small_model.modality_preprocessors["text"].mask
    assert mask.shape == (77, 77)
    assert (mask.tril() == 0).all()
    assert torch.isneginf(mask[torch.triu(torch.ones(77, 77, dtype=torch.bool), 1)]).all()


def _manual_block(block, x):
    """One block by hand from its weights: x is L x B x D (bias_k/bias_v appended as a key slot)."""
    attn = block.attn
    L, B, D = x.shape
    h_heads = attn.num_heads
    hd = D // h_heads
    y = F.layer_norm(x, (D,), block.norm_1.weight, block.norm_1.bias, eps=1e-6)
    q, k, v = (y @ attn.in_proj_weight.T + attn.in_proj_bias).chunk(3, dim=-1)
    if attn.bias_k is not None:
        k = torch.cat([k, attn.bias_k.expand(1, B, D)])
        v = torch.cat([v, attn.bias_v.expand(1, B, D)])
    split = lambda t: t.reshape(t.shape[0], B, h_heads, hd).permute(1, 2, 0, 3)  # noqa: E731
    w = torch.softmax(split(q) @ split(k).transpose(-1, -2) / math.sqrt(hd), dim=-1)
    a = (w @ split(v)).permute(2, 0, 1, 3).reshape(L, B, D)
    x = x + a @ attn.out_proj.weight.T + attn.out_proj.bias
    y = F.layer_norm(x, (D,), block.norm_2.weight, block.norm_2.bias, eps=1e-6)
    hidden = F.gelu(y @ block.mlp.fc1.weight.T + block.mlp.fc1.bias)  # exact erf GELU
    return x + hidden @ block.mlp.fc2.weight.T + block.mlp.fc2.bias


@pytest.mark.parametrize("modality, bias_kv", [("audio", True), ("vision", False)])
def test_block_maths_matches_a_hand_computation(small_model, modality, bias_kv):
    block = small_model.modality_trunks[modality].blocks[1]
    assert (block.attn.bias_k is not None) == bias_kv
    x = torch.randn(9, 2, 64)
    with torch.no_grad():
        torch.testing.assert_close(block(x), _manual_block(block, x), rtol=1e-5, atol=1e-5)


def test_imu_windows_index_channel_times_8_plus_sample():
    c = torch.arange(6).view(1, 6, 1) * 10000.0
    t = torch.arange(2000).view(1, 1, 2000).float()
    w = ImuPreprocessor.windows(c + t)
    assert w.shape == (1, 250, 48)
    for window, ch, s in ((0, 0, 0), (3, 2, 5), (249, 5, 7)):
        assert w[0, window, ch * 8 + s].item() == ch * 10000 + window * 8 + s


def test_audio_stem_overlapping_patches_flattened_mel_major(small_model):
    pre = small_model.modality_preprocessors["audio"]
    x = torch.randn(1, 1, 128, 204)
    with torch.no_grad():
        conv = pre.rgbt_stem.proj(x)
    assert conv.shape[-2:] == (12, 19)
    patches = F.unfold(x, 16, stride=10).transpose(1, 2)  # row-major over (mel, time)
    torch.testing.assert_close(patches @ pre.rgbt_stem.proj.weight.flatten(1).T,
                               conv.flatten(2).transpose(1, 2), rtol=1e-4, atol=1e-4)


def test_eval_is_deterministic_and_train_mode_applies_drop_path(small_model):
    x = random_inputs(batch=2)["imu"]
    with torch.no_grad():
        a, b = small_model.embed("imu", x), small_model.embed("imu", x)
        small_model.train()
        try:
            torch.manual_seed(0)
            c = small_model.embed("imu", x)
        finally:
            small_model.eval()
    torch.testing.assert_close(a, b, rtol=0, atol=0)
    assert (a - c).abs().max() > 1e-4  # dropout 0.5 in the head and drop path up to 0.7


@pytest.mark.parametrize("inputs, message", [
    ({"smell": torch.randn(2, 3)}, "unknown ImageBind modality"),
    ({"audio": torch.randn(2, 1, 128, 200)}, "audio input must be"),
    ({"text": torch.randn(2, 77)}, "integer"),
    ({"text": torch.full((2, 77), 49408)}, r"\[0, 49408\)"),
    ({"text": torch.zeros(2, 20, dtype=torch.long)}, "B x 77"),
    ({"depth": torch.full((1, 1, 224, 224), float("nan"))}, "NaN"),
    ({"depth": torch.randn(2, 3, 224, 224)}, "B x 1 x H x W"),
    ({"imu": torch.randn(2, 2000, 6)}, "imu input must be"),
    ({"vision": [[1.0]]}, "torch.Tensor"),
    ({"vision": torch.randn(0, 3, 224, 224)}, "empty"),
    ({"thermal": torch.randn(1, 1, 8, 8)}, "smaller than one 16-pixel patch"),
])
def test_bad_input_raises_a_clear_value_error(small_model, inputs, message):
    with pytest.raises(ValueError, match=message):
        small_model(inputs)


def test_audio_of_another_length_cannot_resize_its_12x19_grid(small_model):
    # ImageBind fails here too: the audio positional embedding is not square
    with pytest.raises(ValueError):
        small_model.embed("audio", torch.randn(1, 1, 128, 250))
