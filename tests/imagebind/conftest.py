"""Fixtures: randomly weighted small and tiny ImageBind models (built once per session)."""
import pytest
import torch
from ib_helpers import randomize

from codebind_core.encoders.imagebind import ImageBindModel, get_config


@pytest.fixture(scope="session")
def small_model():
    torch.manual_seed(0)
    return randomize(ImageBindModel(get_config("imagebind_small")))


@pytest.fixture(scope="session")
def tiny_model():
    torch.manual_seed(1)
    return randomize(ImageBindModel(get_config("imagebind_tiny")), seed=1)
