"""Stage-0 holdout scores: the image->caption and zero-shot accuracies of a bridge."""
import open_clip
import torch
import torch.nn.functional as F

from codebind_core.config import BRIDGE_ARCHS
from codebind_core.training.bridge_pretrain import holdout_scores


def test_holdout_scores_equal_a_direct_computation():
    torch.manual_seed(0)
    model = open_clip.CLIP(**BRIDGE_ARCHS["tiny"]).eval()
    tok = open_clip.tokenizer.SimpleTokenizer(context_length=77)
    images = torch.randn(12, 3, 64, 64)
    captions = [f"a photo of a {w}." for w in ["box", "ball", "cone", "ring"] * 3]
    prompts = [["a box.", "a photo of a box."], ["a ball.", "a photo of a ball."], ["a cone.", "a cone here."]]
    labels = [0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 1, 2]
    got = holdout_scores(model, images, captions, tok, {"shape": (prompts, labels)})

    with torch.no_grad():
        fi = F.normalize(model.encode_image(images), dim=-1)
        ft = F.normalize(model.encode_text(tok(captions)), dim=-1)
        i2t = ((fi @ ft.T).argmax(1) == torch.arange(12)).float().mean().item()
        cls = torch.stack([F.normalize(model.encode_text(tok(p)), dim=-1).mean(0) for p in prompts])
        zs = ((fi @ F.normalize(cls, dim=-1).T).argmax(1) == torch.tensor(labels)).float().mean().item()
    assert got["holdout_size"] == 12
    assert abs(got["holdout_i2t_acc"] - i2t) < 1e-6 and abs(got["holdout_shape_zero_shot"] - zs) < 1e-6
    assert set(got) == {"holdout_size", "holdout_i2t_acc", "holdout_shape_zero_shot"}
