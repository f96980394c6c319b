"""Adaptive loss balancing (§3.4, App. B.2): EMA ratios, linearly growing intervals, resumption."""
from __future__ import annotations

import io
import json

import pytest
import torch

from codebind_core.balancer import AdaptiveBalancer
from codebind_core.losses import LOSS_NAMES, weights_for

NAMES = ("align", "recon", "vq", "orth")


def _losses(step: int) -> dict:
    """Deterministic, varying loss values (vq shrinks, orth grows)."""
    return {"align": torch.tensor(4.0 + 0.1 * step), "recon": torch.tensor(0.5),
            "vq": torch.tensor(0.02 / (1 + step)), "orth": torch.tensor(0.001 * (1 + step))}


def _ema_by_hand(values: list, decay: float) -> float:
    ema = values[0]
    for v in values[1:]:
        ema = decay * ema + (1 - decay) * v
    return ema


def test_weights_after_update_equal_ema_ratios():
    bal = AdaptiveBalancer(NAMES, ema=0.9, first_interval=10, interval_growth=10)
    seen = {n: [] for n in NAMES}
    for step in range(11):
        losses = _losses(step)
        for n in NAMES:
            seen[n].append(losses[n].item())
        total, used = bal(losses, step)
        if step < 10:  # before the first update: base weights (1)
            assert used == {n: 1.0 for n in NAMES}
    ema = {n: _ema_by_hand(seen[n], 0.9) for n in NAMES}
    assert used["align"] == 1.0 and used["recon"] == 1.0            # fixed (App. B.2)
    for n in ("vq", "orth"):
        assert used[n] == pytest.approx(ema["align"] / ema[n], rel=1e-6)
        assert used[n] * ema[n] == pytest.approx(ema["align"], rel=1e-6)  # rescaled to L_align
    expected_total = sum(used[n] * _losses(10)[n].item() for n in NAMES)
    assert total.item() == pytest.approx(expected_total, rel=1e-6)


def test_base_weights_multiply_the_ratio():
    bal = AdaptiveBalancer(NAMES, base_weights={"vq": 2.0, "recon": 0.5}, ema=0.0, first_interval=1)
    _, before = bal({"align": torch.tensor(3.0), "recon": torch.tensor(1.0),
                     "vq": torch.tensor(0.1), "orth": torch.tensor(1.0)}, 0)
    assert before == {"align": 1.0, "recon": 0.5, "vq": 2.0, "orth": 1.0}
    _, after = bal({"align": torch.tensor(3.0), "recon": torch.tensor(1.0),
                    "vq": torch.tensor(0.1), "orth": torch.tensor(1.5)}, 1)
    assert after["vq"] == pytest.approx(2.0 * 3.0 / 0.1)
    assert after["orth"] == pytest.approx(3.0 / 1.5)
    assert after["recon"] == 0.5                                    # fixed: keeps its base weight


def test_update_intervals_grow_linearly():
    bal = AdaptiveBalancer(NAMES, ema=0.0, first_interval=10, interval_growth=10)
    assert bal.update_steps(5) == (10, 30, 60, 100, 150)            # gaps 10, 20, 30, 40, 50
    changes = []
    for step in range(160):
        _, used = bal(_losses(step), step)  # ema=0: ratios change every step, weights only at updates
        if step == 0 or used["vq"] != previous:
            changes.append(step)
        previous = used["vq"]
    assert changes == [0, 10, 30, 60, 100, 150]
    gaps = [b - a for a, b in zip(changes[1:], changes[2:])]
    assert gaps == [20, 30, 40, 50]


def test_state_round_trip_resumes_exactly():
    a = AdaptiveBalancer(NAMES, ema=0.95, first_interval=3, interval_growth=2)
    for step in range(17):
        a(_losses(step), step)
    state = a.state_dict()
    json.dumps(state)                                               # plain python
    buf = io.BytesIO()
    torch.save(state, buf)
    buf.seek(0)
    b = AdaptiveBalancer(NAMES, ema=0.95, first_interval=3, interval_growth=2)
    b.load_state_dict(torch.load(buf, weights_only=True))
    for step in range(17, 60):
        ta, wa = a(_losses(step), step)
        tb, wb = b(_losses(step), step)
        assert wa == wb and ta.item() == tb.item()
    with pytest.raises(ValueError, match="state is for losses"):
        AdaptiveBalancer(("align", "vq")).load_state_dict(state)


def test_zero_loss_keeps_weight_and_step_none_counts_calls():
    bal = AdaptiveBalancer(("align", "cm"), ema=0.0, first_interval=2, interval_growth=0)
    for _ in range(3):                                              # steps 0, 1, 2 (update at 2)
        _, used = bal({"align": torch.tensor(1.0), "cm": torch.tensor(0.0)})
    assert used["cm"] == 1.0                                        # EMA 0: nothing to rescale
    _, used = bal({"align": torch.tensor(1.0), "cm": torch.tensor(0.25)})  # step 3: no update
    assert used["cm"] == 1.0
    _, used = bal({"align": torch.tensor(1.0), "cm": torch.tensor(0.25)})  # step 4: update
    assert used["cm"] == pytest.approx(4.0)


def test_gradient_flows_through_weighted_total():
    x = torch.tensor(2.0, requires_grad=True)
    bal = AdaptiveBalancer(("align", "vq"), ema=0.0, first_interval=1)
    bal({"align": x * 1.0, "vq": x * 0.5}, 0)
    total, used = bal({"align": x * 1.0, "vq": x * 0.5}, 1)         # w_vq = 2.0 / 1.0
    total.backward()
    assert used["vq"] == pytest.approx(2.0)
    assert x.grad.item() == pytest.approx(1.0 + 2.0 * 0.5)


def test_works_with_every_paper_loss_and_table1_base():
    bal = AdaptiveBalancer(LOSS_NAMES, base_weights=weights_for("depth"))
    _, used = bal({n: torch.tensor(1.0) for n in LOSS_NAMES}, 0)
    assert used["vq"] == 1000.0 and used["align"] == 1.0


def test_bad_input_raises_value_error():
    with pytest.raises(ValueError, match="reference"):
        AdaptiveBalancer(("vq", "orth"))
    with pytest.raises(ValueError, match="distinct"):
        AdaptiveBalancer(("align", "align"))
    with pytest.raises(ValueError, match="ema"):
        AdaptiveBalancer(NAMES, ema=1.0)
    with pytest.raises(ValueError, match="first_interval"):
        AdaptiveBalancer(NAMES, first_interval=0)
    bal = AdaptiveBalancer(NAMES)
    with pytest.raises(ValueError, match="unknown loss"):
        bal({"align": torch.tensor(1.0), "bogus": torch.tensor(1.0)}, 0)
    with pytest.raises(ValueError, match="reference loss"):
        bal({"vq": torch.tensor(1.0)}, 0)
    with pytest.raises(ValueError, match="not finite"):
        bal({"align": torch.tensor(1.0), "vq": torch.tensor(float("nan"))}, 0)
    with pytest.raises(ValueError, match="scalar"):
        bal({"align": torch.ones(2)}, 0)
    with pytest.raises(ValueError, match="step"):
        bal({"align": torch.tensor(1.0)}, -1)
