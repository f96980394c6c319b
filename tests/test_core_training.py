"""A short training loop on a toy paired dataset lowers the loss and makes retrieval work."""
import torch

import codebind_core as cb

N_CLASSES = 8


def _toy(n: int, templates: torch.Tensor, gen: torch.Generator):
    """Depth-like maps: a class template + per-sample noise; captions name the class."""
    labels = torch.randint(0, N_CLASSES, (n,), generator=gen)
    x = templates[labels] + 0.3 * torch.randn(n, 1, 64, 64, generator=gen)
    return x, labels


def _recall_at_1(model, x, labels, prompts):
    with torch.no_grad():
        txt = model.encode_text(prompts, codebook_set="depth")
        emb = model.encode("depth", x)
    pred = model.similarity(emb, txt).argmax(dim=1)
    return float((pred == labels).float().mean())


def _setup(cfg, gen: torch.Generator):
    """The model, class templates, prompts, their tokens and a 256-sample test split."""
    model = cb.create_model(cfg)
    templates = torch.randn(N_CLASSES, 1, 64, 64, generator=gen)
    names = ["box", "sphere", "cone", "torus", "arrow", "cylinder", "mobius", "octahedron"]
    prompts = [f"a depth map of a {n}" for n in names]
    return model, templates, prompts, model.tokenize(prompts), _toy(256, templates, gen)


def _train(model, tokens, templates, gen: torch.Generator, steps: int) -> list:
    """``steps`` AdamW steps (lr 2e-3, batch 32) in training mode; the total loss of each."""
    model.train()
    opt = torch.optim.AdamW(model.trainable_parameters(), lr=2e-3)
    totals = []
    for step in range(steps):
        x, y = _toy(32, templates, gen)
        out = model({"text": tokens[y], "depth": x}, step=step)
        opt.zero_grad()
        out["total"].backward()
        opt.step()
        totals.append(float(out["total"].detach()))
    return totals


def test_training_lowers_loss_and_raises_recall():
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(0)
    cfg = cb.CodeBindConfig.preset("tiny", targets=["depth"])
    cfg.loss.weights = {"align": 1.0, "recon": 1.0, "orth": 0.1, "uni": 0.1, "vq": 1.0,
                        "cm": 0.1, "ctr": 0.01, "cuni": 0.01}
    model, templates, prompts, tokens, (x_test, y_test) = _setup(cfg, gen)

    model.eval()
    r1_before = _recall_at_1(model, x_test, y_test, prompts)
    x0, y0 = _toy(64, templates, gen)
    model.init_codebooks([{"text": tokens[y0], "depth": x0}])
    model.train()
    totals = _train(model, tokens, templates, gen, 60)
    model.eval()
    r1_after = _recall_at_1(model, x_test, y_test, prompts)
    first, last = sum(totals[:5]) / 5, sum(totals[-5:]) / 5
    assert last < 0.75 * first, (first, last)
    assert r1_after >= 0.45, (r1_before, r1_after)  # chance is 1/8
    assert r1_after > r1_before + 0.25


def test_table1_weights_with_reconstruction_train_from_scratch():
    """App. B.2 Table 1's depth weights (λ_vq = 1000, reconstruction on) on the official numerics:
    150 steps from random encoders reach well above chance (measured: 0.66 and 1.0 for seeds 0
    and 1; the printed forms of the losses stay near chance, 0.11 at 60 steps)."""
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(0)
    cfg = cb.CodeBindConfig.preset("tiny", targets=["depth"])
    assert cfg.loss.weights == "preset" and cfg.loss.recon and cfg.loss.numerics == "official"
    model, templates, prompts, tokens, (x_test, y_test) = _setup(cfg, gen)
    model.train()
    _train(model, tokens, templates, gen, 150)
    model.eval()
    assert _recall_at_1(model, x_test, y_test, prompts) >= 0.4  # chance is 1/8
