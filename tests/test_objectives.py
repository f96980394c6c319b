"""The training objectives at model level: reconstruction, orthogonality and uniformity
recomputed by hand from the network's outputs (CodeBind.features), for both numerics, and the
factory that picks the objective from ``loss.numerics``."""
import copy

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import codebind_core as cb
from codebind_core.objectives import OfficialObjective, PaperObjective, create_loss


@pytest.fixture(scope="module")
def tiny():
    torch.manual_seed(0)
    return cb.create_model(cb.CodeBindConfig.preset("tiny", targets=["depth"])).eval()


@pytest.fixture(scope="module")
def batch(tiny):
    rng = np.random.default_rng(3)
    n = 5
    return {"text": tiny.tokenize([f"thing {i}" for i in range(n)]),
            "image": tiny.preprocess("image", [cb.modalities.get("image").example(rng) for _ in range(n)]),
            "depth": tiny.preprocess("depth", [cb.modalities.get("depth").example(rng) for _ in range(n)])}


def _with_numerics(model, numerics):
    m = copy.deepcopy(model)
    m.config.loss.numerics = numerics
    return m


def _by_hand(model, batch):
    """recon, orth, uni of both numerics from the quantized tokens of features() (float64)."""
    with torch.no_grad():
        f = model.features(batch)
    recon, orth_off, orth_pap, uni_off, uni_pap = [], [], [], [], []
    for m in ("depth", "image"):
        q = f.modalities[m].vq
        sh = F.normalize(q.shared.quantized.double(), dim=-1)      # (B, T, D)
        sp = F.normalize(q.specific.quantized.double(), dim=-1)    # (B, T, Ds)
        # Eq. 2: the patches of the input against the decoder's output on [shared; specific]
        patches = model.bridge.patchify_image(batch[m]) if m == "image" else model.encoders[m].patchify(batch[m])
        with torch.no_grad():
            tokens = F.normalize(torch.cat([q.shared.quantized, q.specific.quantized], -1), dim=-1)
            pred = model.decoders[m](tokens, f.modalities[m].tokens.trunk)
        recon.append(((patches.double() - pred.double()) ** 2).mean())
        # Eq. 3: official = Frobenius norm of each sample's token Gram matrix; paper = squared CLS cosine
        d = min(sh.shape[-1], sp.shape[-1])
        gram = F.normalize(sh, dim=-1)[..., :d] @ F.normalize(sp, dim=-1)[..., :d].transpose(1, 2)
        orth_off.append(torch.stack([torch.linalg.matrix_norm(g) for g in gram]).mean())
        orth_pap.append((gram[:, 0, 0] ** 2).mean())
        # Eq. 4 on the specific [CLS]: official over distinct pairs, paper with the diagonal
        cls = sp[:, 0]
        n = cls.shape[0]
        k = torch.exp(-torch.cdist(cls, cls) ** 2)
        off = ~torch.eye(n, dtype=torch.bool)
        uni_off.append(torch.log(k[off].mean()))
        uni_pap.append(torch.log(k.sum() / n))
    mean = lambda xs: float(torch.stack(xs).mean())  # noqa: E731
    return {"official": {"recon": float(sum(recon)), "orth": mean(orth_off), "uni": mean(uni_off)},
            "paper": {"recon": mean(recon), "orth": mean(orth_pap), "uni": mean(uni_pap)}}


def test_the_tiny_model_reconstructs_two_modalities_with_distinct_terms(tiny, batch):
    # the checks below separate sum from mean and one form from the other only if these differ
    with torch.no_grad():
        f = tiny.features(batch)
    assert [m for m, mf in f.modalities.items() if mf.recon is not None] == ["depth", "image"]
    hand = _by_hand(tiny, batch)
    for name in ("recon", "orth", "uni"):
        assert hand["official"][name] != pytest.approx(hand["paper"][name], rel=1e-2), name


@pytest.mark.parametrize("numerics", ["official", "paper"])
@pytest.mark.parametrize("name", ["recon", "orth", "uni"])
def test_model_losses_equal_the_terms_recomputed_from_its_outputs(tiny, batch, numerics, name):
    model = _with_numerics(tiny, numerics)
    with torch.no_grad():
        out = model(batch)
    expected = _by_hand(model, batch)[numerics][name]
    # float32 sums over a few thousand elements against a float64 recomputation
    assert out[name].item() == pytest.approx(expected, rel=1e-4, abs=1e-6)


def test_forward_is_the_objective_of_the_features(tiny, batch):
    with torch.no_grad():
        direct = tiny(batch)
        composed = create_loss(tiny.config.loss)(tiny.features(batch))
    assert list(direct) == list(composed)
    for k in direct:
        assert direct[k].item() == composed[k].item(), k


def test_create_loss_picks_one_class_per_numerics_and_refuses_others(tiny):
    cfg = copy.deepcopy(tiny.config.loss)
    assert type(create_loss(cfg)) is OfficialObjective
    cfg.numerics = "paper"
    assert type(create_loss(cfg)) is PaperObjective
    cfg.numerics = "printed"
    with pytest.raises(ValueError, match="loss.numerics must be one of \\['official', 'paper'\\], got 'printed'"):
        create_loss(cfg)
