"""A finished benchmark run is reused only when its whole configuration matches (its fingerprint),
and another data draw gets its own output folder and report."""
from __future__ import annotations

import json


from codebind_core.experiments.config import BenchmarkConfig

SMALL = dict(finetune_targets=["depth"], ablation_targets=["depth"], ablation_variants=[], scratch_targets=["depth"],
             tsne_targets=["depth"], seeds=[0])


def _by_stem(cfg):
    return {r["name"].rsplit("-", 1)[0]: r for r in cfg.run_names()}


def test_every_setting_that_changes_a_run_changes_its_fingerprint_and_name():
    base = _by_stem(BenchmarkConfig(**SMALL))
    changes = {"synth": {"seed": 7, "num_samples": 3000, "pose": "upright"}, "finetune_steps": 800,
               "finetune_lr": 1e-4, "batch_size": 16, "init_batches": 4, "select_every": 50,
               "target_fraction": {"depth": 0.1},
               "model": {"preset": "tiny", "targets": ["depth"], "overrides": {"quantizer": {"shared_size": 1024}}}}
    for key, value in changes.items():
        other = _by_stem(BenchmarkConfig.from_dict({**SMALL, key: value}))
        stem = "finetune-codebind-depth-s0"
        assert other[stem]["fingerprint"] != base[stem]["fingerprint"], key
        assert other[stem]["name"] != base[stem]["name"], key
    # the aligned start's steps reach every finetune run that starts from it
    longer_start = _by_stem(BenchmarkConfig(**{**SMALL, "align_steps": 900}))
    assert longer_start["finetune-hard_align-depth-s0"]["fingerprint"] != base["finetune-hard_align-depth-s0"][
        "fingerprint"]
    # what does not change a run (report, workers, out_dir, target lists) keeps it
    same = _by_stem(BenchmarkConfig(**{**SMALL, "parallel_runs": 1, "report": "x.md", "out_dir": "elsewhere",
                                       "finetune_variants": ["codebind", "hard_align"]}))
    for stem in same:
        assert same[stem]["fingerprint"] == base[stem]["fingerprint"], stem


def test_another_data_seed_gets_its_own_folder_and_report():
    default = BenchmarkConfig(**SMALL)
    seven = BenchmarkConfig(**{**SMALL, "synth": {"seed": 7, "num_samples": 3000, "pose": "upright"}})
    assert (default.out_dir, default.report) == ("runs/benchmark", "docs/results.md")
    assert (seven.out_dir, seven.report) == ("runs/benchmark-data7", "docs/results-data7.md")
    explicit = BenchmarkConfig(**{**SMALL, "synth": {"seed": 7}, "out_dir": "a", "report": "b.md"})
    assert (explicit.out_dir, explicit.report) == ("a", "b.md")


def test_a_record_is_reused_only_with_its_own_fingerprint(tmp_path):
    from codebind_core.experiments.runner import aligned_dir, finished_runs, record_path

    cfg = BenchmarkConfig(**{**SMALL, "out_dir": str(tmp_path)})
    runs = cfg.run_names()
    align, run = runs[0], next(r for r in runs if r["setting"] == "finetune")
    record_path(cfg, run).parent.mkdir(parents=True)
    record_path(cfg, run).write_text(json.dumps({"run": {**run, "fingerprint": "0" * 16}}))  # another config
    record_path(cfg, align).write_text(json.dumps({"run": align}))
    assert finished_runs(cfg, runs) == {}  # stale record refused; align record without its trunk refused
    record_path(cfg, run).write_text(json.dumps({"run": run, "metrics": {}}))
    (aligned_dir(cfg, "depth")).mkdir(parents=True)
    (aligned_dir(cfg, "depth") / "heads.safetensors").write_bytes(b"x")
    assert sorted(finished_runs(cfg, runs)) == sorted([align["name"], run["name"]])
    record_path(cfg, run).write_text("{not json")  # a torn record is trained again, not a crash
    assert sorted(finished_runs(cfg, runs)) == [align["name"]]
    # another seed of the data: other fingerprints, so nothing of this folder is reused
    seven = BenchmarkConfig(**{**SMALL, "out_dir": str(tmp_path), "synth": {"seed": 7}})
    assert finished_runs(seven, seven.run_names()) == {}
