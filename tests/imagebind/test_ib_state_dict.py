"""The state dict reproduces ImageBind's key for key: names, order, shapes, dtypes, kinds, counts."""
import pytest
import torch
from ib_helpers import read_tsv, small_facts, state_rows

from codebind_core.encoders.imagebind import (IMAGEBIND_CONFIGS, MODALITIES, ImageBindConfig, ImageBindModel,
                                              expected_entries, get_config)

HUGE_PARAMS_PER_MODALITY = {"vision": 632_829_440, "text": 354_032_641, "audio": 86_235_648,
                            "thermal": 86_211_072, "depth": 21_871_872, "imu": 19_600_384}


@pytest.fixture(scope="module")
def huge_meta():
    with torch.device("meta"):
        return ImageBindModel(get_config("imagebind_huge"))


def test_small_reproduces_every_row_of_the_tsv_in_order(small_model):
    want = read_tsv("imagebind_small_state_dict.tsv")
    got = state_rows(small_model)
    assert len(want) == len(got) == 211
    for w, g in zip(want, got):
        assert g == w


def test_huge_on_meta_reproduces_all_1311_rows_in_order(huge_meta):
    want = read_tsv("imagebind_huge_state_dict.tsv")
    got = state_rows(huge_meta)
    assert len(got) == 1311
    mismatches = [(w, g) for w, g in zip(want, got) if w != g]
    assert mismatches == []
    assert sum(kind == "buffer" for *_, kind in got) == 5


def test_huge_parameter_totals_match_the_published_counts(huge_meta):
    total = sum(p.numel() for p in huge_meta.parameters())
    buffers = sum(b.numel() for b in huge_meta.buffers())
    assert total == 1_200_781_057
    assert buffers == 5_933
    per_modality = {m: 0 for m in MODALITIES}
    for name, p in huge_meta.named_parameters():
        per_modality[name.split(".")[1]] += p.numel()
    assert per_modality == HUGE_PARAMS_PER_MODALITY


def test_small_parameter_total(small_model):
    assert sum(p.numel() for p in small_model.parameters()) == 3_981_761
    assert sum(b.numel() for b in small_model.buffers()) == 5_933


def test_no_weights_are_shared_or_tied(small_model):
    params = list(small_model.named_parameters(remove_duplicate=False))
    assert len(params) == 206
    assert len({p.data_ptr() for _, p in params}) == 206


def test_every_entry_is_float32_and_buffers_are_the_mask_and_fixed_scales(small_model):
    assert {v.dtype for v in small_model.state_dict().values()} == {torch.float32}
    assert sorted(n for n, _ in small_model.named_buffers()) == [
        "modality_postprocessors.audio.1.log_logit_scale", "modality_postprocessors.depth.1.log_logit_scale",
        "modality_postprocessors.imu.1.log_logit_scale", "modality_postprocessors.thermal.1.log_logit_scale",
        "modality_preprocessors.text.mask"]


def test_registered_configs_are_exactly_the_published_constructor_values():
    facts = small_facts()
    assert get_config("imagebind_small").to_kwargs() == facts["small_kwargs"]
    assert get_config("imagebind_huge").to_kwargs() == facts["huge_effective_kwargs"]
    assert ImageBindConfig().to_kwargs() == facts["class_defaults"]
    assert ImageBindConfig.from_kwargs(facts["huge_overrides"]) == get_config("imagebind_huge")
    assert set(IMAGEBIND_CONFIGS) == {"imagebind_huge", "imagebind_small", "imagebind_tiny"}


def test_expected_entries_matches_a_built_model(tiny_model):
    want = expected_entries("imagebind_tiny")
    assert list(want) == list(tiny_model.state_dict())
    assert all(tuple(v.shape) == want[k][0] for k, v in tiny_model.state_dict().items())


@pytest.mark.parametrize("bad, message", [
    ({"vision_embed_dim": 100, "vision_num_heads": 16}, "not divisible"),
    ({"imu_drop_path": 1.5}, "drop_path"),
    ({"no_such_argument": 1}, "unknown ImageBind constructor"),
    ({"kernel_size": [2, 14]}, "kernel_size"),
    ({"audio_kernel_size": 300}, "audio kernel"),
])
def test_invalid_configs_raise_value_error(bad, message):
    with pytest.raises(ValueError, match=message):
        ImageBindConfig.from_kwargs(bad)


def test_unknown_config_name_lists_the_choices():
    with pytest.raises(ValueError, match="imagebind_huge"):
        get_config("imagebind_giant")
