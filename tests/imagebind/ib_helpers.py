"""Helpers for the ImageBind tests: the published facts (TSVs, small config) and random inputs."""
import json
from pathlib import Path

import torch

DATA = Path(__file__).parent / "data"


def read_tsv(name: str):
    """-> list of (name, shape tuple, dtype name, kind) rows of a state-dict TSV."""
    lines = (DATA / name).read_text().splitlines()
    assert lines[0].split("\t") == ["name", "shape", "dtype", "kind"]
    rows = []
    for line in lines[1:]:
        key, shape, dtype, kind = line.split("\t")
        dims = () if shape == "scalar" else tuple(int(d) for d in shape.split("x"))
        rows.append((key, dims, dtype, kind))
    return rows


def state_rows(model: torch.nn.Module):
    """The same rows for a model: name, shape, dtype, parameter/buffer, in state_dict order."""
    params = {n for n, _ in model.named_parameters()}
    return [(k, tuple(v.shape), str(v.dtype).removeprefix("torch."), "parameter" if k in params else "buffer")
            for k, v in model.state_dict().items()]


def randomize(model: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    """Perturb every weight (LayerNorm affine and biases included) so no zero/one init hides a bug."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "log_logit_scale" not in name:
                p.add_(0.05 * torch.randn(p.shape, generator=g))
    return model.eval()


def random_inputs(batch: int = 2, seed: int = 0, audio_clips: int = 0):
    """One valid batch for every modality (text: SOT, random ids, EOT, zero padding)."""
    g = torch.Generator().manual_seed(seed)
    text = torch.randint(1, 49406, (batch, 77), generator=g)
    text[:, 0] = 49406
    for b in range(batch):
        end = 5 + 7 * b
        text[b, end] = 49407
        text[b, end + 1:] = 0
    audio_shape = (batch, audio_clips, 1, 128, 204) if audio_clips else (batch, 1, 128, 204)
    return {
        "vision": torch.randn(batch, 3, 224, 224, generator=g),
        "text": text,
        "audio": torch.randn(*audio_shape, generator=g),
        "depth": torch.randn(batch, 1, 224, 224, generator=g),
        "thermal": torch.randn(batch, 1, 224, 224, generator=g),
        "imu": torch.randn(batch, 6, 2000, generator=g),
    }


def small_facts():
    return json.loads((DATA / "imagebind_small_config.json").read_text())
