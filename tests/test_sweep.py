"""The regime sweep: its parts are valid configs sharing the default benchmark's runs, its verdict
rule decides with passing and failing inputs, and report blocks of other commands survive."""
from __future__ import annotations

from pathlib import Path

import pytest

from codebind_core.experiments.doc_blocks import carry_blocks, replace_block
from codebind_core.experiments.sweep import load_sweep, verdict

SWEEP = Path(__file__).parents[1] / "training" / "configs" / "sweep.yaml"


def test_sweep_parts_are_valid_and_share_runs_with_the_default_benchmark():
    from codebind_core.experiments.config import BenchmarkConfig

    parts = {p.name: p.config for p in load_sweep(SWEEP)}
    assert {"base", "capacity", "scarce", "init4", "steps800", "steps2000"} <= set(parts)
    default = BenchmarkConfig.from_file(SWEEP.parent / "benchmark.yaml")
    assert all(c.out_dir == default.out_dir for c in parts.values())        # one runs folder
    assert all(c.report.startswith("runs/sweep/") for c in parts.values())  # never docs/results.md itself
    # the sweep's default-regime runs are the default benchmark's own (same fingerprints): no run twice
    mine = {r["fingerprint"] for r in default.run_names()}
    base = {r["fingerprint"] for r in parts["base"].run_names()}
    assert base <= mine
    # capacity and length points differ from the default only where they should
    assert {r["fingerprint"] for r in parts["capacity"].run_names() if r["variant"] in ("codebind", "hard_align")} \
        <= mine
    assert not {r["fingerprint"] for r in parts["steps2000"].run_names() if r["setting"] == "finetune"} & mine
    assert parts["scarce"].target_fraction == {"thermal": 0.1}
    # the wide part: a 256-d shared space with a bridge of that width, none of its runs shared
    wide = parts["wide256"].model.build()
    assert wide.embed_dim == 256 and wide.bridge.openclip_cfg()["embed_dim"] == 256
    assert parts["capacity"].model.build().bridge.openclip_cfg()["embed_dim"] == 64
    assert not {r["fingerprint"] for r in parts["wide256"].run_names()} & mine
    # the paper's shape: 1024-d, 128 sub-vectors of 8 against 1024 shared codes
    paper = parts["wide1024"].model.build()
    assert paper.embed_dim == 1024 and paper.bridge.openclip_cfg()["embed_dim"] == 1024
    assert not {r["fingerprint"] for r in parts["wide1024"].run_names()} & \
        {r["fingerprint"] for r in parts["wide256"].run_names()}
    with pytest.raises(ValueError, match="unknown sweep parts"):
        load_sweep(SWEEP, ["nope"])


@pytest.mark.parametrize("ours, theirs, expected", [
    ([0.40, 0.41, 0.42], [0.30, 0.31, 0.32], "ahead"),
    ([0.30, 0.31, 0.32], [0.40, 0.41, 0.42], "behind"),
    ([0.30, 0.45, 0.60], [0.35, 0.40, 0.45], "no clear difference"),   # 1.7 points, SE 9.1 points
    ([0.400, 0.401, 0.402], [0.395, 0.396, 0.397], "no clear difference"),  # 0.5 points: below 1 point
    ([0.6], [0.4], "ahead (exploratory: 1 seed)"),
    ([0.6, 0.6], [0.4, 0.4, 0.4], "ahead (exploratory: 2 seeds)"),
    ([], [0.4], "not run"),
])
def test_verdict_needs_three_seeds_and_two_standard_errors(ours, theirs, expected):
    assert verdict(ours, theirs) == expected


def test_report_blocks_of_other_commands_are_carried_over():
    old = replace_block(replace_block("# Results\nold tables\n", "sweep", "sweep tables"), "robot", "robot table")
    new = carry_blocks(old, "# Results\nnew tables\n")
    assert "new tables" in new and "old tables" not in new
    assert "sweep tables" in new and "robot table" in new
    again = replace_block(new, "sweep", "newer sweep")
    assert again.count("<!-- sweep:begin -->") == 1 and "newer sweep" in again and "sweep tables" not in again
    assert carry_blocks(again, again) == again  # blocks already present are not duplicated


def test_localisation_block_reports_shares_and_a_verdict_per_query_kind():
    import importlib.util

    spec = importlib.util.spec_from_file_location("sweep_localisation", SWEEP.parents[2] / "scripts" /
                                                  "sweep_localisation.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)

    def row(variant, seed, sound):
        return {"variant": variant, "seed": seed, "text_found": 6, "text_total": 6, "text+colour_found": 6,
                "text+colour_total": 6, "audio_found": sound, "audio_total": 18}

    rows = [row("codebind", s, f) for s, f in enumerate((6, 7, 8))] + \
        [row("hard_align", s, f) for s, f in enumerate((12, 12, 11))]
    text = mod.render(rows, "scarce", "audio", "cmd")
    assert "| CodeBind | 100.0 ± 0.0 (3) | 100.0 ± 0.0 (3) | 38.9 ± 5.6 (3) |" in text
    assert "| impact sound | behind |" in text and "| category prompt | no clear difference |" in text
    # one seed each: exploratory, never a verdict
    assert "(exploratory: 1 seed)" in mod.render(rows[:1] + rows[3:4], "scarce", "audio", "cmd")


def test_capacity_plot_draws_every_width_and_its_baselines(tmp_path):
    """The capacity curve: one line per shared width through its points, baselines as horizontal
    lines; a width without finished runs is skipped, not drawn at zero."""
    import matplotlib.image

    from codebind_core.experiments.sweep import plot_capacity
    series = {
        ("depth", 64): {"points": [(64, [0.33, 0.35, 0.34]), (320, [0.35, 0.34, 0.36])],
                        "hard": [0.35, 0.35, 0.36], "free": [0.36, 0.36, 0.37]},
        ("depth", 1024): {"points": [(5120, [0.33, 0.35, 0.36]), (1024, [0.31])], "hard": [0.33], "free": []},
        ("thermal", 64): {"points": [], "hard": [0.39], "free": [0.37]},
    }
    out = plot_capacity(series, tmp_path / "fig" / "capacity.png")
    img = matplotlib.image.imread(out)
    assert img.shape[0] > 200 and img.shape[1] > 2 * img.shape[0]  # two panels side by side
    assert img[..., :3].std() > 0.05  # something is drawn
