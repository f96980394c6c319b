"""The official CodeBind numerics (shared/codebind-official-numerics.md), each checked against a
direct computation of the official formula on small hand-made tensors (loops over indices, not the
implementation's vectorised form), including batch 1 and identical inputs; then the model's
composition: paths, VQ calls, codebook updates per step, temperatures, gradients."""
from __future__ import annotations

import copy
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import codebind_core as cb
from codebind_core.balancer import AdaptiveBalancer
from codebind_core import losses as L
from codebind_core.decoder import ReconDecoder
from codebind_core.model import pool_clips


def _np(x):
    return x.detach().double().numpy()


def _unit_np(x):
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def _log_softmax_np(v):
    v = np.asarray(v, dtype=np.float64)
    return v - (np.log(np.sum(np.exp(v - v.max()))) + v.max())


# ---- §2 orthogonal ----------------------------------------------------------------------------
@pytest.mark.parametrize("b,t", [(3, 4), (1, 5), (2, 1)])
def test_orthogonal_official_is_the_frobenius_norm_over_all_token_pairs(b, t):
    torch.manual_seed(b * 10 + t)
    s, p = torch.randn(b, t, 6), torch.randn(b, t, 6)
    su, pu = _unit_np(_np(s)), _unit_np(_np(p))
    per_b = [math.sqrt(sum(float(su[i, n] @ pu[i, m]) ** 2 for n in range(t) for m in range(t))) for i in range(b)]
    got = L.orthogonal_loss_official(s, p)
    assert got.item() == pytest.approx(np.mean(per_b), rel=1e-5)
    if t == 1:  # |<s, p>|, not its square
        assert got.item() == pytest.approx(np.mean([abs(float(su[i, 0] @ pu[i, 0])) for i in range(b)]), rel=1e-5)


def test_orthogonal_official_identical_and_orthogonal_inputs():
    x = torch.randn(2, 3, 8)
    gram = [np.abs(_unit_np(_np(x[i])) @ _unit_np(_np(x[i])).T) for i in range(2)]
    expected = np.mean([math.sqrt(float((g ** 2).sum())) for g in gram])
    assert L.orthogonal_loss_official(x, x).item() == pytest.approx(expected, rel=1e-5)
    assert L.orthogonal_loss_official(x, x).item() >= math.sqrt(3) - 1e-5   # the diagonal alone
    e = torch.eye(8)
    s, p = e[:3].expand(2, 3, 8), e[4:7].expand(2, 3, 8)
    zero = L.orthogonal_loss_official(s.clone().requires_grad_(True), p)
    assert zero.item() < 1e-6
    with pytest.raises(ValueError):
        L.orthogonal_loss_official(torch.randn(2, 3, 8), torch.randn(2, 4, 8))


# ---- §3 uniform -------------------------------------------------------------------------------
def test_uniform_official_is_log_mean_over_distinct_pairs():
    x = torch.randn(5, 4)
    u = _unit_np(_np(x))
    pairs = [math.exp(-float(((u[i] - u[j]) ** 2).sum())) for i in range(5) for j in range(i + 1, 5)]
    assert L.uniform_loss(x).item() == pytest.approx(math.log(np.mean(pairs)), rel=1e-5)
    full = [math.exp(-float(((u[i] - u[j]) ** 2).sum())) for i in range(5) for j in range(5)]
    assert L.uniform_loss(x, printed=True).item() == pytest.approx(math.log(sum(full) / 5), rel=1e-5)


def test_uniform_batch_one_and_identical_inputs():
    assert L.uniform_loss(torch.randn(1, 4)).item() == 0.0   # no pair (the official code gives NaN)
    same = torch.ones(4, 3)
    assert abs(L.uniform_loss(same).item()) < 1e-6
    assert L.uniform_loss(same, printed=True).item() == pytest.approx(math.log(4), rel=1e-5)


# ---- §5 commitment ----------------------------------------------------------------------------
def test_commitment_official_batch_one_and_identical():
    z = F.normalize(torch.randn(1, 2, 8), dim=-1)
    e = torch.randn(1, 2, 8) * 0.3
    direct = 0.25 * sum(float((z[0, h, i] - e[0, h, i]) ** 2) for h in range(2) for i in range(8)) / 16
    assert L.commitment_loss(z, e).item() == pytest.approx(direct, rel=1e-5)
    assert L.commitment_loss(z, z).item() == 0.0


# ---- §10 CMCM ---------------------------------------------------------------------------------
def _cmcm_direct(ca, cb_):
    n, m, k = ca.shape
    pa = np.array([[np.exp(_log_softmax_np(ca[i, h])) for h in range(m)] for i in range(n)])
    pb = np.array([[np.exp(_log_softmax_np(cb_[i, h])) for h in range(m)] for i in range(n)])
    total = 0.0
    for h in range(m):
        for i in range(n):
            row = [sum(pa[i, h, q] * math.log(pb[j, h, q] + 1e-10) + math.log(pa[i, h, q] + 1e-10) * pb[j, h, q]
                       for q in range(k)) for j in range(n)]
            total += -_log_softmax_np(row)[i]
    return total / (n * m)


@pytest.mark.parametrize("n", [1, 3])
def test_cmcm_official_matches_the_direct_formula(n):
    torch.manual_seed(n)
    ca, cb_ = torch.rand(n, 2, 5) * 2 - 1, torch.rand(n, 2, 5) * 2 - 1
    got = L.cmcm_loss_official(ca, cb_)
    assert got.item() == pytest.approx(_cmcm_direct(_np(ca), _np(cb_)), rel=1e-5, abs=1e-6)
    assert not got.requires_grad
    same = L.cmcm_loss_official(ca, ca)
    assert same.item() == pytest.approx(_cmcm_direct(_np(ca), _np(ca)), rel=1e-5, abs=1e-6)


# ---- §11 codevector contrastive and uniform --------------------------------------------------
def _ctr_direct(sub, book):
    k = book.shape[0]
    rows = []
    for z in sub.reshape(-1, sub.shape[-1]):
        d = np.sort(book @ z)                        # ascending cosines
        pos = np.mean(d[len(d) - k // 10:])
        rows.append([pos] + list(d[:k // 2]))
    logits = np.array(rows)
    if (logits >= 0).all():
        logits = np.sqrt(logits)
    probs = np.array([np.exp(_log_softmax_np(r)) for r in logits])
    return float(np.mean([-_log_softmax_np(p)[0] for p in probs]))


def test_codevector_contrastive_official_matches_the_direct_formula():
    torch.manual_seed(0)
    book = F.normalize(torch.randn(20, 4), dim=-1)
    sub = F.normalize(torch.randn(3, 2, 4), dim=-1)
    got = L.codevector_contrastive_official(sub, book)
    assert got.item() == pytest.approx(_ctr_direct(_np(sub), _np(book)), rel=1e-5)
    assert not got.requires_grad
    # the value sits near log(1 + K/2): CE over probabilities
    assert abs(got.item() - math.log(1 + 20 // 2)) < 0.2


def test_codevector_contrastive_official_nonnegative_branch_and_batch_one():
    book = F.normalize(torch.rand(10, 3) + 0.1, dim=-1)      # positive orthant: every cosine >= 0
    sub = F.normalize(torch.rand(1, 1, 3) + 0.1, dim=-1)
    got = L.codevector_contrastive_official(sub, book)
    assert got.item() == pytest.approx(_ctr_direct(_np(sub), _np(book)), rel=1e-5)
    same = L.codevector_contrastive_official(book[:1].view(1, 1, 3), book)
    assert same.item() == pytest.approx(_ctr_direct(_np(book[:1].view(1, 1, 3)), _np(book)), rel=1e-5)


def test_codevector_uniform_is_log_mean_over_code_pairs():
    book = F.normalize(torch.randn(6, 3), dim=-1)
    b = _np(book)
    pairs = [math.exp(-float(((b[i] - b[j]) ** 2).sum())) for i in range(6) for j in range(i + 1, 6)]
    assert L.codevector_uniform_loss(book).item() == pytest.approx(math.log(np.mean(pairs)), rel=1e-5)


# ---- clip pooling and the decoder shortcut ----------------------------------------------------
def test_pool_clips_normalises_the_concatenation_then_averages():
    sh, sp = torch.randn(6, 3, 4), torch.randn(6, 3, 2)
    a, b = pool_clips(sh, sp, clips=3)
    cat = _unit_np(np.concatenate([_np(sh), _np(sp)], -1)).reshape(2, 3, 3, 6).mean(1)
    np.testing.assert_allclose(_np(a), cat[..., :4], atol=1e-6)
    np.testing.assert_allclose(_np(b), cat[..., 4:], atol=1e-6)


def test_decoder_input_projection_adds_the_normalised_trunk_tokens():
    torch.manual_seed(0)
    dec = ReconDecoder(in_dim=6, num_tokens=3, patch_dim=5, width=8, depth=1, heads=2, trunk_dim=4)
    q, trunk = torch.randn(2, 3, 6), torch.randn(2, 3, 4, requires_grad=True)
    captured = {}
    dec.embed.register_forward_hook(lambda mod, inp, out: captured.update(x=inp[0].detach()))
    out = dec(q, trunk)
    assert out.shape == (2, 2, 5)
    ln = dec.input_norm
    expected = ln(dec.input_projection(q)) + ln(trunk)     # one LayerNorm (eps 1e-6) for both
    torch.testing.assert_close(captured["x"], expected.detach())
    assert ln.eps == 1e-6
    out.sum().backward()
    assert trunk.grad.abs().sum() > 0                      # the trunk is trained directly
    with pytest.raises(ValueError, match="trunk"):
        dec(q)


# ---- the model --------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def tiny():
    torch.manual_seed(0)
    cfg = cb.CodeBindConfig.preset("tiny", targets=["depth", "audio"])
    return cb.create_model(cfg)


def _batch(model, target, n=4, seed=0):
    rng = np.random.default_rng(seed)
    img = model.preprocess("image", [cb.modalities.get("image").example(rng) for _ in range(n)])
    tgt = model.preprocess(target, [cb.modalities.get(target).example(rng) for _ in range(n)])
    txt = model.tokenize([f"caption {i}" for i in range(n)])
    return {"text": txt, "image": img, target: tgt}


def _by_hand(model, batch, target):
    """Align (mean over 3 paths) and commitment (sum over 5 calls) recomputed from the parts,
    with read-only codebooks (eval mode: no update between the calls)."""
    books = model.codebooks[target]
    cls, commits = {}, []
    for m in ("text", target, "image"):
        t = model._tokens(m, batch[m])
        sh, sp = pool_clips(t.shared, t.specific, t.clips)
        if m == "text":
            sh = sh[:, 0]
        for z, vq in ((sh, books["shared"]), (sp, books[m] if sp is not None else None)):
            if vq is None:
                continue
            sub = F.normalize(z.unflatten(-1, (-1, vq.sub_dim)), dim=-1)
            codes = (sub @ F.normalize(vq.embed, dim=-1).T).argmax(-1)
            e = vq.embed[codes]
            commits.append(0.25 * ((e - sub) ** 2).mean())
            if vq is books["shared"]:
                q = F.normalize(e.flatten(-2), dim=-1)
                cls[m] = q if m == "text" else q[:, 0]
    tau = L.official_temperature(target)
    paths = []
    for a, b in ((target, "text"), (target, "image"), ("image", "text")):
        logits = cls[a] @ cls[b].T / tau
        y = torch.arange(len(logits))
        paths.append(F.cross_entropy(logits, y) + F.cross_entropy(logits.T, y))
    return sum(paths) / 3, sum(commits), len(commits)


@pytest.mark.parametrize("target", ["depth", "audio"])
def test_model_align_is_the_mean_of_three_paths_and_vq_the_sum_of_five_calls(tiny, target):
    model = tiny.eval()
    batch = _batch(model, target)
    with torch.no_grad():
        out = model(batch)
        align, vq, calls = _by_hand(model, batch, target)
    assert calls == 5
    assert out["align"].item() == pytest.approx(align.item(), rel=1e-4)
    assert out["vq"].item() == pytest.approx(vq.item(), rel=1e-4)
    assert model.temperature_for(target).item() == pytest.approx({"depth": 0.07, "audio": 0.05}[target])
    w = L.weights_for(target)    # Table 1 preset
    assert out["total"].item() == pytest.approx(sum(getattr(w, k) * out[k].item() for k in L.LOSS_NAMES), rel=1e-4)


def test_training_step_updates_the_shared_codebook_once_per_modality_in_order(tiny):
    model = copy.deepcopy(tiny).train()
    batch = _batch(model, "audio", n=3)
    book = model.codebooks["audio"]["shared"]
    book.initialized = False
    model(batch)
    g, m = book.decay, book.num_sub
    n_text = 3 * m                                              # one pooled vector per caption
    n_audio = 3 * (1 + model.encoders["audio"].num_patches) * m  # all tokens
    n_image = 3 * (1 + model.bridge.image_num_patches) * m
    # k-means on the first call's [CLS] sub-vectors = the text (N^0 sums to 3·m), then three
    # EMA updates in the order text, audio, image
    expected = g ** 3 * n_text + (1 - g) * (g ** 2 * n_text + g * n_audio + n_image)
    assert float(book.ema_count.sum()) == pytest.approx(expected, rel=1e-5)
    spec = model.codebooks["audio"]["audio"]
    assert float(spec.ema_count.sum()) == pytest.approx(g * 3 * m + (1 - g) * n_audio, rel=1e-5)


def test_official_codebook_losses_carry_no_gradient_and_paper_ones_do(tiny):
    model = copy.deepcopy(tiny).train()
    out = model(_batch(model, "depth"))
    assert not out["cm"].requires_grad and not out["ctr"].requires_grad and not out["cuni"].requires_grad
    for name in ("align", "vq", "orth", "uni", "recon"):
        assert out[name].requires_grad, name
    paper = copy.deepcopy(tiny).train()
    paper.config.loss.numerics = "paper"
    out = paper(_batch(paper, "depth"))
    assert out["cm"].requires_grad and out["ctr"].requires_grad


def test_unreported_steps_skip_the_gradient_free_losses_with_identical_gradients(tiny):
    batch = _batch(tiny, "depth")
    grads = {}
    for report in (True, False):
        model = copy.deepcopy(tiny).eval()  # eval: codebooks read-only, so both passes see the same state
        out = model(batch, report=report)
        out["total"].backward()
        grads[report] = [p.grad.clone() for p in model.trainable_parameters() if p.grad is not None]
        if report:
            assert out["ctr"].item() > 0 and out["cuni"].item() != 0
        else:
            assert out["cm"].item() == out["ctr"].item() == out["cuni"].item() == 0.0
    assert len(grads[True]) == len(grads[False]) > 0
    for a, b in zip(grads[True], grads[False]):
        assert torch.equal(a, b)
    # the adaptive balancer still sees every loss at the steps where it sets its weights
    adaptive = copy.deepcopy(tiny).eval()
    adaptive.balancer = AdaptiveBalancer(L.LOSS_NAMES)
    assert adaptive(batch, step=0, report=False)["ctr"].item() > 0       # call 1 sets the weights
    assert adaptive(batch, step=1, report=False)["ctr"].item() == 0.0    # call 2 does not
    assert adaptive(batch, step=10, report=False)["ctr"].item() > 0      # call 11 updates them


def test_paper_numerics_sum_paths_and_sum_commitment_over_the_sub_vector():
    model = copy.deepcopy
    torch.manual_seed(0)
    cfg = cb.CodeBindConfig.preset("tiny", targets=["depth"])
    official = cb.create_model(cfg).eval()
    paper = model(official)
    paper.config = copy.deepcopy(official.config)
    paper.config.loss.numerics = "paper"
    batch = _batch(official, "depth")
    with torch.no_grad():
        o, p = official(batch), paper(batch)
    assert p["align"].item() == pytest.approx(3 * o["align"].item(), rel=1e-5)
    assert p["vq"].item() == pytest.approx(official.config.quantizer.sub_dim * o["vq"].item(), rel=1e-5)


def test_loss_weights_are_validated_at_construction():
    with pytest.raises(ValueError, match="unknown loss.weights"):
        cb.CodeBindConfig.preset("tiny", loss={"weights": {"vq": 1.0, "bogus": 2.0}})
    with pytest.raises(ValueError, match="misses"):
        cb.CodeBindConfig.preset("tiny", loss={"weights": {"vq": 1.0}})
    with pytest.raises(ValueError, match="numerics"):
        cb.CodeBindConfig.preset("tiny", loss={"numerics": "approximate"})


def test_official_presets_differ_from_table1_where_the_configs_do():
    assert L.official_weights_for("tactile").orth == 0.1 and L.weights_for("tactile").orth == 0.05
    assert L.official_weights_for("tactile").uni == 1.0 and L.weights_for("tactile").uni == 0.1
    assert L.official_weights_for("thermal_llvip").vq == 100
    for m in ("image", "video", "depth", "audio", "thermal", "eeg"):
        assert L.official_weights_for(m) == L.weights_for(m), m
    assert (L.official_temperature("audio"), L.official_temperature("thermal"),
            L.official_temperature("depth")) == (0.05, 0.1, 0.07)
