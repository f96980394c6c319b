"""CodeBind-IB: ImageBind trunks behind the CodeBind encoder contracts (paper §4, App. B.2).

* :class:`ImageBindTargetEncoder` (audio, depth, thermal, imu): preprocessor + trunk, then the
  ImageBind head's LayerNorm on every token -> (B, 1 + P, width). The head's projection is not
  applied; :meth:`~ImageBindTargetEncoder.pooled_init` hands its weight to CodeBind's shared head so
  that step 0 reproduces ImageBind's embedding direction. LoRA goes on the ``nn.MultiheadAttention``
  of the last k blocks (peft wraps its packed q/k/v and out projections).
* :class:`ImageBindBridge`: the frozen text and vision towers with their heads.
* :func:`build_bridge` / :func:`build_target`: the factories ``codebind_core.encoders`` calls for
  ``bridge.kind == "imagebind"``; :func:`codebind_ib_config` gives the paper's CodeBind-IB defaults.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import nn

from ..base import Bridge, TargetEncoder
from .config import (CONTEXT_LENGTH, IMAGE_SIZE, IMAGEBIND_CONFIGS, IMU_CHANNELS, IMU_LENGTH, IMU_WINDOW,
                     TARGET_MODALITIES, ImageBindConfig, get_config)
from .heads import build_head, build_postprocessor, head_norm, head_projection
from .model import ImageBindModel, build_trunk, check_input
from .preprocessors import ImuPreprocessor, build_preprocessor, stem_geometry
from .tokenizer import tokenize as bpe_tokenize
from .weights import load_imagebind

BRIDGE_MODALITIES = ("vision", "text")


class ImageBindTargetEncoder(TargetEncoder):
    """One ImageBind target tower (audio, depth, thermal or imu) as a CodeBind target encoder."""

    def __init__(self, modality: str, config: ImageBindConfig, preprocessor: Optional[nn.Module] = None,
                 trunk: Optional[nn.Module] = None, head: Optional[nn.Module] = None):
        super().__init__()
        if modality not in TARGET_MODALITIES:
            raise ValueError(f"ImageBind has no target trunk for {modality!r}; it has {TARGET_MODALITIES}")
        self.modality = modality
        self.config = config
        self.preprocessor = preprocessor if preprocessor is not None else build_preprocessor(modality, config)
        self.trunk = trunk if trunk is not None else build_trunk(modality, config)
        head = head if head is not None else build_head(modality, config)
        self.norm = head_norm(head)
        # kept only to initialise CodeBind's shared head; not trained, not saved
        self.register_buffer("projection", head_projection(head).weight.detach().clone(), persistent=False)
        self.width = config.tower(modality).width
        self.num_patches = config.num_patches(modality)
        if modality == "imu":
            self.patch_dim = IMU_CHANNELS * IMU_WINDOW
        else:
            self.patch_dim = stem_geometry(modality, config)[0] ** 2
        self.pretrained = False  # set when the weights come from an ImageBind checkpoint

    @classmethod
    def from_model(cls, model: ImageBindModel, modality: str) -> "ImageBindTargetEncoder":
        """Take (not copy) ``modality``'s preprocessor, trunk and head from ``model``."""
        return cls(modality, model.config, model.modality_preprocessors[modality],
                   model.modality_trunks[modality], model.modality_heads[modality])

    @property
    def expected_shape(self) -> Tuple[int, ...]:
        """Per-sample input shape; a batch with one more axis (B, clips, ...) holds several clips."""
        cfg = self.config
        table = {"audio": (1, cfg.audio_num_mel_bins, cfg.audio_target_len), "depth": (1, IMAGE_SIZE, IMAGE_SIZE),
                 "thermal": (1, IMAGE_SIZE, IMAGE_SIZE), "imu": (IMU_CHANNELS, IMU_LENGTH)}
        return table[self.modality]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, *expected_shape) -> (B, 1 + P, width): trunk tokens after the head LayerNorm, cls first."""
        check_input(self.modality, x, self.config)
        tokens, _ = self.preprocessor(x)
        return self.norm(self.trunk(tokens))

    def patchify(self, x: torch.Tensor) -> torch.Tensor:
        """(B, P, patch_dim) reconstruction targets, one per patch token, in token order: the
        stem's receptive fields (audio: 16 x 16 with stride 10, so they overlap; depth/thermal:
        16 x 16 tiles; imu: the 48 values of each 8-sample window)."""
        check_input(self.modality, x, self.config)
        if self.modality == "imu":
            return ImuPreprocessor.windows(x)
        kernel, stride = stem_geometry(self.modality, self.config)
        return F.unfold(x, kernel_size=kernel, stride=stride).transpose(1, 2)

    def lora_target_modules(self, last_k: int) -> List[str]:
        """``trunk.blocks.<i>.attn`` (nn.MultiheadAttention) of the last ``last_k`` blocks."""
        if last_k <= 0:
            raise ValueError(f"last_k must be positive, got {last_k}")
        n = len(self.trunk.blocks)
        return [f"trunk.blocks.{i}.attn" for i in range(max(0, n - last_k), n)]

    def pooled_init(self) -> torch.Tensor:
        """(out_embed_dim, width): ImageBind's head projection of the cls token."""
        return self.projection

    def imagebind_embedding(self, x: torch.Tensor) -> torch.Tensor:
        """ImageBind's own unit-norm embedding of ``x`` (before its logit scale)."""
        return F.normalize(self(x)[:, 0] @ self.projection.T, dim=-1)


def _fresh_towers(config: ImageBindConfig, modalities: Sequence[str]) -> nn.Module:
    """Randomly initialised towers of ``modalities`` under ImageBind's four ModuleDict names."""
    towers = nn.Module()
    towers.modality_preprocessors = nn.ModuleDict({m: build_preprocessor(m, config) for m in modalities})
    towers.modality_trunks = nn.ModuleDict({m: build_trunk(m, config) for m in modalities})
    towers.modality_heads = nn.ModuleDict({m: build_head(m, config) for m in modalities})
    towers.modality_postprocessors = nn.ModuleDict({m: build_postprocessor(m) for m in modalities})
    return towers


class ImageBindBridge(Bridge):
    """Frozen ImageBind text + vision towers. State-dict names are ImageBind's (vision/text keys)."""

    def __init__(self, config: ImageBindConfig, model: Optional[ImageBindModel] = None):
        super().__init__()
        self.imagebind_config = config
        source = model if model is not None else _fresh_towers(config, BRIDGE_MODALITIES)
        for part in ("modality_preprocessors", "modality_trunks", "modality_heads", "modality_postprocessors"):
            setattr(self, part, nn.ModuleDict({m: getattr(source, part)[m] for m in BRIDGE_MODALITIES}))
        self.embed_dim = config.out_embed_dim
        self.context_length = CONTEXT_LENGTH
        self.image_size = IMAGE_SIZE
        self.patch_hw = tuple(config.kernel_size[1:])
        self.pretrained = False
        self._targets: Dict[str, ImageBindTargetEncoder] = {}
        self.requires_grad_(False)
        self.eval()

    def train(self, mode: bool = True) -> "ImageBindBridge":  # frozen: always in eval mode
        return super().train(False)

    # ---- text ----------------------------------------------------------------------------------
    def tokenize(self, texts: Sequence[str]) -> torch.Tensor:
        return bpe_tokenize(texts)

    def encode_text(self, tokens: torch.Tensor) -> torch.Tensor:
        """(B, 77) ids -> (B, D) ImageBind text embedding before normalisation."""
        check_input("text", tokens, self.imagebind_config)
        x, extra = self.modality_preprocessors["text"](tokens)
        x = self.modality_trunks["text"](x, attn_mask=extra["attn_mask"])
        return self.modality_heads["text"](x, extra["eos"])

    # ---- vision --------------------------------------------------------------------------------
    def vision_tokens(self, images: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) or (B, 3, T, H, W) -> (B, 1 + P, width) vision tokens after the head LN."""
        check_input("vision", images, self.imagebind_config)
        x, _ = self.modality_preprocessors["vision"](images)
        return head_norm(self.modality_heads["vision"])(self.modality_trunks["vision"](x))

    def image_tokens(self, images: torch.Tensor) -> torch.Tensor:
        """(B, 1 + P, D): every vision token through the head's projection; token 0 is
        :meth:`encode_image`, the others are the projected patch tokens."""
        return head_projection(self.modality_heads["vision"])(self.vision_tokens(images))

    def encode_image(self, images: torch.Tensor) -> torch.Tensor:
        """(B, D) ImageBind image embedding before normalisation."""
        return self.image_tokens(images)[:, 0]

    def patchify_image(self, images: torch.Tensor) -> torch.Tensor:
        """(B, P, 3 * 14 * 14) image patches, matching the vision patch tokens."""
        if images.ndim != 4:
            raise ValueError(f"patchify_image expects B x 3 x H x W images, got {tuple(images.shape)}")
        return F.unfold(images, kernel_size=self.patch_hw, stride=self.patch_hw).transpose(1, 2)

    @property
    def image_patch_dim(self) -> int:
        return 3 * self.patch_hw[0] * self.patch_hw[1]

    @property
    def image_num_patches(self) -> int:
        return (IMAGE_SIZE // self.patch_hw[0]) * (IMAGE_SIZE // self.patch_hw[1])

    # ---- target towers loaded with the bridge --------------------------------------------------
    def hold_targets(self, encoders: Dict[str, ImageBindTargetEncoder]) -> None:
        """Keep target encoders loaded from the same checkpoint until :meth:`take_target`."""
        self._targets.update(encoders)

    def take_target(self, modality: str) -> Optional[ImageBindTargetEncoder]:
        return self._targets.pop(modality, None)


# ---- factories used by codebind_core.encoders ---------------------------------------------------
def imagebind_config_for(bridge_cfg: Any) -> ImageBindConfig:
    """The ImageBind architecture of a CodeBind ``BridgeConfig``: ``model_cfg`` (ImageBind
    constructor kwargs) if given, else ``arch`` as a registered name."""
    if getattr(bridge_cfg, "model_cfg", None):
        return ImageBindConfig.from_kwargs(bridge_cfg.model_cfg)
    arch = getattr(bridge_cfg, "arch", None)
    if arch not in IMAGEBIND_CONFIGS:
        raise ValueError(f"bridge.kind='imagebind' needs bridge.arch in {sorted(IMAGEBIND_CONFIGS)} or "
                         f"bridge.model_cfg with ImageBind constructor arguments; got arch={arch!r}")
    return get_config(arch)


def build_bridge(cfg: Any) -> ImageBindBridge:
    """Bridge for a CodeBindConfig. With ``bridge.weights`` (a ``.pth``, a ``.safetensors`` or a
    converted directory) the whole checkpoint is loaded once: the bridge keeps text + vision and
    holds the towers of ``cfg.targets`` for :func:`build_target`. Without weights all is random."""
    ib_cfg = imagebind_config_for(cfg.bridge)
    weights = getattr(cfg.bridge, "weights", None)
    model = load_imagebind(weights, ib_cfg) if weights else ImageBindModel(ib_cfg)
    bridge = ImageBindBridge(ib_cfg, model)
    bridge.pretrained = bool(weights)
    targets = {t: ImageBindTargetEncoder.from_model(model, t) for t in getattr(cfg, "targets", ())
               if t in TARGET_MODALITIES}
    for enc in targets.values():
        enc.pretrained = bool(weights)
    bridge.hold_targets(targets)
    return bridge


def build_target(modality: str, cfg: Any, bridge: Bridge) -> ImageBindTargetEncoder:
    """The ImageBind tower of ``modality`` (from the bridge's checkpoint when it has one)."""
    if not isinstance(bridge, ImageBindBridge):
        raise ValueError("ImageBind target encoders need the ImageBind bridge (bridge.kind='imagebind')")
    if modality not in TARGET_MODALITIES:
        raise ValueError(f"ImageBind has no trunk for target {modality!r}; CodeBind-IB supports "
                         f"{TARGET_MODALITIES} (image and video use the frozen vision bridge)")
    enc = bridge.take_target(modality)
    return enc if enc is not None else ImageBindTargetEncoder(modality, bridge.imagebind_config)


def codebind_ib_config(targets: Sequence[str] = ("audio", "depth", "thermal"), weights: Optional[str] = None,
                       arch: str = "imagebind_huge", **overrides: Any):
    """A CodeBindConfig with the paper's CodeBind-IB defaults (App. B.2): ImageBind bridges, its
    target towers, shared and specific parts of ``out_embed_dim`` (1024 for huge), compositional VQ
    with a 1024 x 8 shared and 256 x 8 specific codebooks, LoRA rank 4 on the last 6 blocks."""
    from ...config import BridgeConfig, CodeBindConfig, LoRAConfig, QuantizerConfig

    ib = get_config(arch)
    if weights is not None and not Path(weights).exists():
        raise ValueError(f"ImageBind weights not found: {weights}")
    base = CodeBindConfig(
        name=f"codebind-ib-{arch.removeprefix('imagebind_')}", targets=tuple(targets),
        embed_dim=ib.out_embed_dim, specific_dim=ib.out_embed_dim,
        bridge=BridgeConfig(kind="imagebind", arch=arch, weights=weights),
        quantizer=QuantizerConfig(sub_dim=8, shared_size=1024, specific_size=256),
        lora=LoRAConfig(rank=4, last_k=6),
    ).to_dict()
    base.update(overrides)
    return CodeBindConfig.from_dict(base)
