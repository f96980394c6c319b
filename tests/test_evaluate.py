"""Evaluation metrics on hand-made embeddings with known answers, the benchmark config, the
modality-unique factor labels and the report's aggregation."""
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from codebind_core.experiments.config import BenchmarkConfig
from codebind_core.evaluation.factors import unique_factor
from codebind_core.evaluation.metrics import (codebook_perplexity, codebook_usage, cosine_scores,
                                              intra_modal_retrieval, linear_probe, retrieval_recall,
                                              topk_accuracy, zero_shot_accuracy)
from codebind_core.experiments.report import Results, write_report
from codebind_core.evaluation.suite import modality_gap


def test_topk_accuracy_counts_hits():
    scores = torch.tensor([[0.9, 0.1, 0.0], [0.2, 0.3, 0.5], [0.6, 0.3, 0.1], [0.1, 0.2, 0.7]])
    labels = [0, 1, 1, 2]   # hit, 2nd, 2nd, hit
    got = topk_accuracy(scores, labels, ks=(1, 2, 5))
    assert got == {"acc@1": 0.5, "acc@2": 1.0, "acc@5": 1.0}


def test_zero_shot_uses_cosine_not_dot_product():
    classes = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    x = torch.tensor([[10.0, 9.0], [0.1, 0.2], [3.0, -1.0]])  # large norms must not matter
    assert zero_shot_accuracy(x, classes, [0, 1, 0], ks=(1,))["acc@1"] == 1.0
    assert torch.allclose(cosine_scores(x, classes)[0], torch.tensor([10, 9]) / math.hypot(10, 9))


def test_retrieval_recall_both_directions():
    a = torch.eye(4)
    b = torch.eye(4)[[0, 1, 3, 2]]  # rows 2 and 3 swapped: a->b hits for 0, 1 only
    r = retrieval_recall(a, b, ks=(1, 4), names=("depth", "text"))
    assert r["depth2text_r@1"] == 0.5 and r["text2depth_r@1"] == 0.5
    assert r["depth2text_r@4"] == 1.0 and r["text2depth_r@4"] == 1.0
    b2 = torch.eye(4)[[1, 2, 3, 0]]
    r2 = retrieval_recall(a, b2, ks=(1,))
    assert r2["a2b_r@1"] == 0.0 and r2["b2a_r@1"] == 0.0


def test_intra_modal_retrieval_excludes_the_query():
    x = torch.tensor([[1.0, 0.0], [0.99, 0.1], [0.0, 1.0], [0.1, 0.99]])
    assert intra_modal_retrieval(x, [0, 0, 1, 1], k=1) == {"r@1": 1.0, "p@1": 1.0}
    got = intra_modal_retrieval(x, [0, 1, 0, 1], k=3)
    assert got["r@1"] == 0.0 and got["p@3"] == pytest.approx(1 / 3)


def test_linear_probe_separates_separable_and_not_noise():
    g = np.random.default_rng(0)
    y = g.integers(0, 3, 300)
    informative = np.eye(3)[y] * 3 + 0.3 * g.standard_normal((300, 3))
    noise = g.standard_normal((300, 3))
    assert linear_probe(informative[:200], y[:200], informative[200:], y[200:]) > 0.95
    assert linear_probe(noise[:200], y[:200], noise[200:], y[200:]) < 0.55


def test_codebook_usage_and_perplexity():
    assert codebook_usage([0, 1, 2, 3], 8) == 0.5
    assert codebook_perplexity([0, 1, 2, 3] * 5, 8) == pytest.approx(4.0)
    assert codebook_perplexity([5] * 10, 8) == pytest.approx(1.0)
    p = np.array([0.5, 0.25, 0.25])
    codes = [0, 0, 1, 2]
    assert codebook_perplexity(codes, 3) == pytest.approx(float(np.exp(-(p * np.log(p)).sum())))


def test_modality_gap_is_zero_for_identical_clouds():
    x = torch.randn(50, 8)
    assert modality_gap(x, x) == pytest.approx(0.0, abs=1e-6)
    assert modality_gap(torch.ones(5, 2) * torch.tensor([1.0, 0]), torch.ones(5, 2) * torch.tensor([0, 1.0])) \
        == pytest.approx(math.sqrt(2))


@pytest.mark.parametrize("call, message", [
    (lambda: topk_accuracy(torch.rand(3, 4), [0, 1, 4]), "labels must lie"),
    (lambda: topk_accuracy(torch.rand(3, 4), [0, 1]), "entries"),
    (lambda: cosine_scores(torch.rand(3, 4), torch.rand(2, 5)), "dimension mismatch"),
    (lambda: cosine_scores(torch.full((2, 3), float("nan")), torch.rand(2, 3)), "NaN"),
    (lambda: retrieval_recall(torch.rand(3, 4), torch.rand(2, 4)), "paired"),
    (lambda: codebook_usage([0, 9], 8), "codes must lie"),
    (lambda: codebook_usage([], 8), "empty"),
    (lambda: linear_probe(np.ones((4, 2)), [0, 0, 0, 0], np.ones((2, 2)), [0, 1]), "2 classes"),
    (lambda: intra_modal_retrieval(torch.rand(1, 3), [0]), "at least 2"),
])
def test_bad_inputs_raise_clear_errors(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_unique_factor_binning_uses_training_quantiles():
    train = {"wall_distance": np.linspace(1.0, 4.0, 101)}
    uf = unique_factor("depth")
    edges = uf.edges(train)
    assert np.allclose(edges, [1.75, 2.5, 3.25])
    assert uf.labels({"wall_distance": np.array([1.0, 2.0, 3.0, 4.0])}, edges).tolist() == [0, 1, 2, 3]
    assert unique_factor("tactile").labels({"material": np.array([2, 5])}, None).tolist() == [2, 5]
    with pytest.raises(ValueError, match="no modality-unique factor"):
        unique_factor("text")


def test_benchmark_config_runs_and_validation():
    cfg = BenchmarkConfig(seeds=[0, 1], finetune_targets=["depth", "thermal", "audio"],
                          ablation_targets=["depth", "thermal"], ablation_variants=["no_recon", "unified"],
                          scratch_targets=["depth"], tsne_targets=["audio"])
    runs = cfg.run_names()
    names = [r["name"].rsplit("-", 1)[0] for r in runs]  # without the fingerprint suffix
    # 3 aligned starts, then per seed: 3 finetune variants x 3 targets, no_recon on 2, unified once, 2 scratch
    assert len(runs) == 3 + 2 * (3 * 3 + 2 + 1 + 2)
    assert names[:3] == ["align-depth", "align-thermal", "align-audio"]
    assert all(r["seed"] == 0 and r["variant"] == "hard_align" for r in runs[:3])
    assert "finetune-unified-depth+thermal-s1" in names and "finetune-no_recon-thermal-s0" in names
    assert "scratch-hard_align-depth-s1" in names and "finetune-codebind_full-audio-s0" in names
    assert len(set(names)) == len(names) and all(r["name"].endswith(r["fingerprint"][:10]) for r in runs)
    assert cfg.steps_for("align") == cfg.align_steps and cfg.lr_for("finetune") == cfg.finetune_lr
    for bad, msg in (({"finetune_targets": ["smell"]}, "unknown target"),
                     ({"finetune_variants": ["hard_align"]}, "codebind"),
                     ({"seeds": [1, 1]}, "distinct"), ({"ablation_variants": ["magic"]}, "unknown variant"),
                     ({"ablation_targets": ["eeg"], "finetune_targets": ["depth"]}, "among finetune_targets"),
                     ({"scratch_variants": ["unified", "codebind"]}, "joint"),
                     ({"min_bridge_zero_shot": 1.5}, "min_bridge_zero_shot")):
        with pytest.raises(ValueError, match=msg):
            BenchmarkConfig(**bad)
    with pytest.raises(ValueError, match="unknown keys"):
        BenchmarkConfig.from_dict({"stepz": 3})
    default = BenchmarkConfig.from_file(Path(__file__).parents[1] / "training" / "configs" / "benchmark.yaml")
    assert default.min_bridge_zero_shot == 0.70 and {"depth", "thermal", "audio"} <= set(default.ablation_targets)
    assert len(default.seeds) == 3


def test_results_aggregate_mean_and_std_over_seeds():
    recs = [{"run": {"variant": "codebind", "targets": ["depth"], "seed": s},
             "metrics": {"depth": {"zero_shot": {"acc@1": v}}}} for s, v in enumerate([0.5, 0.7, 0.6])]
    R = Results(recs)
    get = lambda m: m["zero_shot"]["acc@1"]  # noqa: E731
    assert R.mean("codebind", "depth", get) == pytest.approx(0.6)
    assert R.cell("codebind", "depth", get) == "60.0 ± 10.0"
    assert R.cell("hard_align", "depth", get) == "–"


def _record(variant, target, seed, zs1, usage, specific, shared, setting="finetune"):
    metrics = {"zero_shot": {"acc@1": zs1, "acc@5": 0.9}, "zero_shot_unseen": {"acc@1": 0.1},
               "codebook": {"shared_usage": usage, "shared_perplexity": 100.0},
               "probe_unique": {"specific": specific, "shared": shared}}
    return {"run": {"setting": setting, "variant": variant, "targets": [target], "seed": seed},
            "metrics": {target: metrics}, "train_seconds": 60.0, "eval_seconds": 6.0}


def _claim_rows(text):
    claims = text.split("## The paper's claims, measured")[1].split("##")[0]
    return [r for r in claims.splitlines() if r.startswith("| ") and not r.startswith("| claim")]


def test_report_claims_table_from_declared_claims(tmp_path):
    cfg = BenchmarkConfig(seeds=[0, 1], finetune_targets=["depth", "thermal"], ablation_targets=["depth"],
                          ablation_variants=["no_recon", "no_codebook"], scratch_targets=["depth"],
                          tsne_targets=["depth"], toc_fractions=[], report=str(tmp_path / "docs" / "results.md"))
    recs = [_record("codebind", t, s, zs, 1.0, 0.6, 0.4)
            for s in (0, 1) for t, zs in (("depth", 0.5), ("thermal", 0.2))]
    recs += [_record("hard_align", t, s, 0.3, 0.5, 0.5, 0.5) for s in (0, 1) for t in ("depth", "thermal")]
    recs += [_record("hard_align", t, 0, 0.25, 0.5, 0.5, 0.5, setting="align") for t in ("depth", "thermal")]
    recs += [_record("no_codebook", "depth", s, 0.7, 0.5, 0.5, 0.5) for s in (0, 1)]
    # scratch runs never enter the claims: a scratch CodeBind at 90 % must not change a verdict
    recs += [_record("codebind", "depth", s, 0.9, 1.0, 0.6, 0.4, setting="scratch") for s in (0, 1)]
    stage0 = {"holdout_category_zero_shot": 0.75, "holdout_i2t_acc": 0.5, "holdout_size": 10}
    text = write_report(cfg, recs, stage0, {"no_recon": "skipped here"}, "cmd", 60.0).read_text()
    rows = _claim_rows(text)
    assert len(rows) == 5  # vs hard, vs start, codebook vs no codebook, usage, specific vs shared
    assert "| **not reproduced** | better on 1/2: depth 50.0 vs 30.0, thermal 20.0 vs 30.0 |" in rows[0]
    assert "| **not reproduced** | better on 1/2: depth 50.0 vs 25.0, thermal 20.0 vs 25.0 |" in rows[1]
    assert "| **not reproduced** | depth 50.0 vs 70.0 |" in rows[2]
    assert "| **reproduced** | min 100.0 %, mean 100.0 % over targets and seeds |" in rows[3]
    assert "| **reproduced** | better on 2/2: depth 60.0 vs 40.0, thermal 60.0 vs 40.0 |" in rows[4]
    assert "| Without reconstruction | Tab. 6 row 4 | not run: skipped here |" in text
    # the diagnosis names the component whose removal helps: the codebook on depth (+20 points)
    assert "| depth | -20.0 | +20.0 |" in text
    assert "## Zero-shot classification, trained from scratch" in text
    assert "| depth | 30.0 ± 0.0 | 90.0 ± 0.0 |" not in text and "| depth | – | 90.0 ± 0.0 |" in text
    # a bridge below the required category zero-shot makes every zero-shot verdict inconclusive
    low = write_report(cfg, recs, {**stage0, "holdout_category_zero_shot": 0.5}, {}, "cmd", 60.0).read_text()
    rows = _claim_rows(low)
    assert "inconclusive: the bridge's own category zero-shot is 50.0 %, below the 70 %" in rows[0]
    assert "inconclusive" not in rows[3]  # codebook usage does not depend on the bridge


def test_variants_build_the_intended_models():
    import codebind_core as cb
    from codebind_core.experiments.variants import VARIANTS
    from codebind_core.training.config import ModelSpec, deep_merge

    base = cb.CodeBindConfig.preset("tiny", targets=["depth"])

    def build(v):
        return cb.create_model(ModelSpec("tiny", ["depth"], deep_merge({}, VARIANTS[v].overrides(base))).build())
    assert not build("hard_align").codebooks and build("hard_align").config.decouple is False
    conv = build("conventional_vq").codebooks["depth"]["shared"]
    assert conv.sub_dim == base.embed_dim and conv.num_sub == 1
    fine = build("fine_subvectors").codebooks["depth"]["shared"]
    assert fine.sub_dim == base.quantizer.sub_dim // 2 and fine.num_sub == 2 * base.embed_dim // base.quantizer.sub_dim
    assert sorted(build("separate_codebooks").codebooks["depth"]) == ["depth", "image", "shared_depth",
                                                                      "shared_image", "shared_text"]
    assert not build("no_recon").decoders and not build("no_codebook").codebooks
    assert build("adaptive").balancer is not None
    assert all(v.available(base) for v in VARIANTS.values())


def test_finetune_runs_start_from_the_cached_hard_aligned_trunk(tmp_path):
    """The paper's setting: every finetune variant starts from the same hard-aligned trunk and
    shared heads; CodeBind (LoRA) trains only adapters in the trunk, the full variant every weight."""
    from codebind_core.experiments.runner import build_model, save_aligned

    cfg = BenchmarkConfig(finetune_targets=["depth"], ablation_targets=["depth"], scratch_targets=["depth"],
                          tsne_targets=["depth"], out_dir=str(tmp_path))
    start = build_model(cfg, {"setting": "align", "variant": "hard_align", "targets": ["depth"], "seed": 7}, None)
    with torch.no_grad():  # make the start distinguishable from any fresh initialisation
        for p in start.parameters():
            p.add_(0.01 * torch.randn_like(p))
    save_aligned(start, cfg, "depth")
    ref = start.encoders["depth"].state_dict()
    for variant, lora in (("codebind", True), ("codebind_full", False), ("hard_align", False)):
        model = build_model(cfg, {"setting": "finetune", "variant": variant, "targets": ["depth"], "seed": 1}, None)
        enc = model.encoders["depth"]
        own = {k.replace(".base_layer.", "."): v for k, v in enc.state_dict().items() if "lora_" not in k}
        assert set(own) == set(ref), variant
        assert all(torch.equal(own[k], ref[k]) for k in ref), variant
        for m in ("depth", "image", "text"):
            assert torch.equal(model.heads[m].shared.weight, start.heads[m].shared.weight), (variant, m)
        trainable = [n for n, p in enc.named_parameters() if p.requires_grad]
        assert trainable and all("lora_" in n for n in trainable) == lora, variant


def test_quick_benchmark_config_is_valid_and_writes_elsewhere():
    import yaml

    cfgs = Path(__file__).parents[1] / "training" / "configs"
    raw = yaml.safe_load((cfgs / "benchmark.yaml").read_text())
    default = BenchmarkConfig.from_dict(raw)
    quick = BenchmarkConfig.from_dict({**raw, **yaml.safe_load((cfgs / "benchmark_quick.yaml").read_text())})
    assert quick.report != default.report and quick.out_dir != default.out_dir  # never overwrites docs/results.md
    assert default.report == "docs/results.md" and default.out_dir == "runs/benchmark"
    assert quick.bridge_pretrain == default.bridge_pretrain and quick.synth == default.synth  # shares the bridge
    assert {"depth", "thermal", "audio"} <= set(quick.ablation_targets)
    assert len(quick.run_names()) < len(default.run_names()) / 3
