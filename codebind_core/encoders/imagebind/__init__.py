"""ImageBind-compatible towers (CodeBind-IB): key-for-key compatible with ``imagebind_huge.pth``.

    >>> from codebind_core.encoders import imagebind as ib
    >>> ib.convert_imagebind("imagebind_huge.pth", "ckpt/imagebind_huge")   # once
    >>> model = ib.load_imagebind("ckpt/imagebind_huge")                      # ImageBindModel
    >>> out = model({"text": ib.tokenize(["a dog"]), "vision": images})     # dict of B x 1024
    >>> cfg = ib.codebind_ib_config(["audio", "depth"], weights="ckpt/imagebind_huge")

See docs/imagebind.md.
"""
from .adapters import (ImageBindBridge, ImageBindTargetEncoder, build_bridge, build_target,
                       codebind_ib_config, imagebind_config_for)
from .config import IMAGEBIND_CONFIGS, MODALITIES, TARGET_MODALITIES, ImageBindConfig, TowerConfig, get_config
from .model import ImageBindModel, check_input
from .tokenizer import tokenize
from .weights import (check_state_dict, convert_imagebind, expected_entries, infer_config, load_converted,
                      load_imagebind, load_imagebind_checkpoint, save_converted)

__all__ = [
    "IMAGEBIND_CONFIGS", "MODALITIES", "TARGET_MODALITIES", "ImageBindBridge", "ImageBindConfig",
    "ImageBindModel", "ImageBindTargetEncoder", "TowerConfig", "build_bridge", "build_target",
    "check_input", "check_state_dict", "codebind_ib_config", "convert_imagebind", "expected_entries",
    "get_config", "imagebind_config_for", "infer_config", "load_converted", "load_imagebind",
    "load_imagebind_checkpoint", "save_converted", "tokenize",
]
