"""Encoder registries: bridges by ``bridge.kind``, target trunks by bridge family."""
from __future__ import annotations

from typing import Callable, Dict

from torch import nn

from ..config import CodeBindConfig
from ..weights import load_state_dict
from .base import Bridge, TargetEncoder
from .bridge import OpenCLIPBridge
from .trunk import ViTTrunk


def _imagebind_bridge(cfg: CodeBindConfig) -> Bridge:
    from .imagebind.adapters import build_bridge as build

    return build(cfg)


def _imagebind_target(modality: str, cfg: CodeBindConfig, bridge: Bridge) -> TargetEncoder:
    from .imagebind.adapters import build_target as build

    return build(modality, cfg, bridge)


def _vit_target(modality: str, cfg: CodeBindConfig, bridge: Bridge) -> TargetEncoder:
    trunk_cfg = cfg.trunk_for(modality)
    enc = ViTTrunk(modality, trunk_cfg, cfg.inputs)
    if trunk_cfg.init:
        enc.load_state_dict(load_state_dict(trunk_cfg.init), strict=True)
        enc.pretrained = True
    return enc


BRIDGES: Dict[str, Callable[[CodeBindConfig], Bridge]] = {
    "openclip": lambda cfg: OpenCLIPBridge(cfg.bridge),
    "imagebind": _imagebind_bridge,
}
TARGET_ENCODERS: Dict[str, Callable[[str, CodeBindConfig, Bridge], TargetEncoder]] = {
    "openclip": _vit_target,
    "imagebind": _imagebind_target,
}


def build_bridge(cfg: CodeBindConfig) -> Bridge:
    return BRIDGES[cfg.bridge.kind](cfg)


def build_target_encoder(modality: str, cfg: CodeBindConfig, bridge: Bridge) -> nn.Module:
    return TARGET_ENCODERS[cfg.bridge.kind](modality, cfg, bridge)


__all__ = ["Bridge", "TargetEncoder", "OpenCLIPBridge", "ViTTrunk", "build_bridge",
           "build_target_encoder", "BRIDGES", "TARGET_ENCODERS"]
