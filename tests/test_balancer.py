"""Adaptive loss balancing (§3.4, App. B.2) as the official balancer computes it: target ratios
to L_align, weights set at call 1, a sparse 0.9-EMA at calls 1, 11, 21, ..., a sine interval ramp,
one weight for ctr + cuni, the vq cap, resumption."""
from __future__ import annotations

import io
import json
import math

import pytest
import torch

from codebind_core.balancer import OFFICIAL_RATIOS, AdaptiveBalancer, interval_at
from codebind_core.losses import LOSS_NAMES

RATIO = {"vq": 0.01, "cm": 0.1, "ctr": 0.1, "cuni": 0.1, "orth": 0.1, "uni": 1.0}


def _losses(t: int) -> dict:
    """Deterministic, varying loss values at call t (1-based)."""
    return {"align": torch.tensor(4.0 + 0.1 * t), "recon": torch.tensor(0.5), "vq": torch.tensor(0.02 / t),
            "cm": torch.tensor(3.0), "ctr": torch.tensor(2.0 + 0.01 * t), "cuni": torch.tensor(-1.5),
            "orth": torch.tensor(0.001 * t), "uni": torch.tensor(-2.0 - 0.01 * t)}


def _by_hand(calls: int):
    """The official rule written out for calls 1..calls: (update calls, weights after the last)."""
    r, w, updates, last = {}, {}, [], None
    for t in range(1, calls + 1):
        v = {k: float(x) for k, x in _losses(t).items()}
        mags = {"align": v["align"], "vq": abs(v["vq"]), "cm": abs(v["cm"]), "reg": abs(v["ctr"] + v["cuni"]),
                "orth": abs(v["orth"]), "uni": abs(v["uni"])}
        if t == 1:
            r = dict(mags)
        elif t - last >= int(10 + 90 * math.sin(math.pi / 2 * min(1.0, last / 40000))):
            r = {k: 0.9 * r[k] + 0.1 * mags[k] for k in r}
        else:
            continue
        last = t
        updates.append(t)
        ratios = {"vq": 0.01, "cm": 0.1, "reg": 0.1, "orth": 0.1, "uni": 1.0}
        w = {g: r["align"] * s / (r[g] + 1e-8) for g, s in ratios.items()}
        w["vq"] = min(w["vq"], 1e4)
    return updates, w


def test_weights_follow_the_official_rule_by_hand():
    bal = AdaptiveBalancer(LOSS_NAMES)
    for t in range(1, 36):
        _, used = bal(_losses(t))
    updates, w = _by_hand(35)
    assert updates == [1, 11, 21, 31]
    for name in ("vq", "cm", "orth", "uni"):
        assert used[name] == pytest.approx(w[name], rel=1e-6)
    assert used["ctr"] == used["cuni"] == pytest.approx(w["reg"], rel=1e-6)   # one weight for both
    assert used["align"] == used["recon"] == 1.0


def test_first_call_sets_each_term_to_its_ratio_of_align():
    bal = AdaptiveBalancer(LOSS_NAMES)
    losses = _losses(1)
    total, used = bal(losses, 0)
    align = float(losses["align"])
    for name in ("vq", "cm", "orth", "uni"):   # w·|L| = s·L_align·|L|/(|L| + 1e-8); uni is negative
        assert abs(used[name] * float(losses[name])) == pytest.approx(RATIO[name] * align, rel=1e-4)
    reg = used["ctr"] * float(losses["ctr"] + losses["cuni"])
    assert reg == pytest.approx(0.1 * align, rel=1e-6)
    expected = sum(used[n] * float(losses[n]) for n in LOSS_NAMES)
    assert float(total) == pytest.approx(expected, rel=1e-6)


def test_interval_ramps_from_10_to_100_by_a_sine():
    assert interval_at(1) == 10 and interval_at(282) == 10 and interval_at(283) == 11
    assert interval_at(20000) == int(10 + 90 * math.sin(math.pi / 4)) == 73
    assert interval_at(40000) == interval_at(10 ** 6) == 100


def test_vq_weight_is_capped_at_1e4():
    bal = AdaptiveBalancer(("align", "vq"))
    _, used = bal({"align": torch.tensor(5.0), "vq": torch.tensor(1e-9)}, 0)
    assert used["vq"] == 1e4


def test_between_updates_the_weights_stay_and_the_ema_does_not_move():
    bal = AdaptiveBalancer(("align", "vq"))
    bal({"align": torch.tensor(2.0), "vq": torch.tensor(0.5)}, 0)
    before = bal.magnitudes
    for step in range(1, 10):   # calls 2..10: no update
        _, used = bal({"align": torch.tensor(100.0), "vq": torch.tensor(100.0)}, step)
        assert used["vq"] == pytest.approx(2.0 * 0.01 / 0.5)
    assert bal.magnitudes == before
    _, used = bal({"align": torch.tensor(100.0), "vq": torch.tensor(100.0)}, 10)  # call 11
    ra, rv = 0.9 * 2.0 + 0.1 * 100.0, 0.9 * 0.5 + 0.1 * 100.0
    assert used["vq"] == pytest.approx(ra * 0.01 / (rv + 1e-8), rel=1e-6)


def test_disabled_losses_get_weight_zero_and_batch_one_values_work():
    bal = AdaptiveBalancer(LOSS_NAMES, enabled=[n for n in LOSS_NAMES if n != "cm"])
    _, used = bal({n: torch.tensor(1.0) for n in LOSS_NAMES}, 0)
    assert used["cm"] == 0.0 and used["vq"] == pytest.approx(0.01, rel=1e-6)
    bal = AdaptiveBalancer(("align", "uni"))
    _, used = bal({"align": torch.tensor(1.0), "uni": torch.tensor(0.0)}, 0)   # B = 1: uni is 0
    assert math.isfinite(used["uni"])


def test_state_round_trip_resumes_exactly():
    a = AdaptiveBalancer(LOSS_NAMES)
    for step in range(17):
        a(_losses(step + 1), step)
    state = json.loads(json.dumps(a.state_dict()))
    buf = io.BytesIO()
    torch.save(a.state_dict(), buf)
    buf.seek(0)
    assert torch.load(buf, weights_only=True) == a.state_dict()
    b = AdaptiveBalancer(LOSS_NAMES)
    b.load_state_dict(state)
    for step in range(17, 40):
        assert a(_losses(step + 1), step)[1] == b(_losses(step + 1), step)[1]
    with pytest.raises(ValueError, match="losses"):
        AdaptiveBalancer(("align", "vq")).load_state_dict(state)


def test_gradient_flows_through_weighted_total_not_the_weights():
    x = torch.tensor(2.0, requires_grad=True)
    bal = AdaptiveBalancer(("align", "vq"))
    total, used = bal({"align": x * 1.0, "vq": x * 0.5}, 0)   # w_vq = 2 · 0.01 / 1
    total.backward()
    assert used["vq"] == pytest.approx(0.02, rel=1e-6)
    assert x.grad.item() == pytest.approx(1.0 + 0.02 * 0.5, rel=1e-6)


def test_official_ratios():
    assert OFFICIAL_RATIOS == {"vq": 0.01, "cm": 0.1, "reg": 0.1, "orth": 0.1, "uni": 1.0}


def test_bad_input_raises_value_error():
    with pytest.raises(ValueError, match="reference"):
        AdaptiveBalancer(("vq", "orth"))
    with pytest.raises(ValueError, match="distinct"):
        AdaptiveBalancer(("align", "align"))
    with pytest.raises(ValueError, match="momentum"):
        AdaptiveBalancer(LOSS_NAMES, momentum=1.0)
    with pytest.raises(ValueError, match="ratio"):
        AdaptiveBalancer(LOSS_NAMES, ratios={"vq": -1.0})
    bal = AdaptiveBalancer(LOSS_NAMES)
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
