"""Cross-modal localisation on one camera frame (no rclpy): proposals, crop embeddings, ranking.

A frame's proposals (:mod:`codebind_ros.perception.proposals`) are cropped from the camera image (or the
depth image when the query is a depth embedding), embedded with the model on the query's codebook
set, and ranked by cosine similarity of the shared parts with the query (paper Eq. 1 aligns
quantized shared embeddings). A query is any shared embedding: a text, or the latest embedding of
audio, depth, thermal, tactile or point cloud.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple

import numpy as np
import torch

from codebind_core.geometry import Pinhole
from codebind_ros.perception.crops import crop, masked_crop, square_box
from codebind_ros.perception.proposals import (Proposal, ProposalConfig, cloud_proposals, depth_to_points,
                                               window_proposals)

# query modality -> the modality its proposals are cropped from (anything else: the camera image)
CROP_MODALITY: Dict[str, str] = {"depth": "depth"}
WINDOW_MODES = ("auto", "always", "never")
MAX_PROPOSALS = 48       # crops embedded per frame (the node's default too)
CROP_MARGIN = 0.5        # crop = box widened by this fraction of its side per side


@dataclass
class Query:
    """What to look for: a shared embedding on a codebook set."""

    modality: str            # "text" or a ROS sensor modality
    codebook_set: str        # codebook set the vector was quantized with
    vector: np.ndarray       # (D,) shared embedding
    text: str = ""
    stamp_ns: int = 0        # stamp of the source message (0 for text)


@dataclass
class Frame:
    """One synchronised camera frame with its proposals and (lazily) their embeddings."""

    rgb: np.ndarray
    camera: Pinhole
    stamp_ns: int
    frame_id: str
    proposals: List[Proposal]
    depth: Optional[np.ndarray] = None
    embeddings: Dict[Tuple[str, str], object] = field(default_factory=dict)  # (crop modality, set) -> Embedding


@dataclass
class Match:
    score: float
    index: int               # into Frame.proposals
    proposal: Proposal


class Localiser:
    """Proposals + embeddings + ranking for one model.

    Args:
        model: a ``codebind_core`` CodeBind model (eval mode).
        proposal_config: cloud clustering and window settings.
        windows: "auto" (image windows only when the cloud gives no proposal), "always", "never".
        max_proposals: bound on the crops embedded per frame.
        batch_size: crops per model call.
        mask_background: camera crops of cloud proposals keep only the cluster's own pixels
            (dilated by ``mask_dilation`` px); the rest takes the crop's median colour.
        crop_margin: each crop is the proposal's square box widened by this fraction of its side
            on every side; 0.5 frames an object at half the crop's width, as the training images do.
    """

    def __init__(self, model, proposal_config: Optional[ProposalConfig] = None, windows: str = "auto",
                 max_proposals: int = MAX_PROPOSALS, batch_size: int = 32, mask_background: bool = True,
                 mask_dilation: int = 3, crop_margin: float = CROP_MARGIN):
        if windows not in WINDOW_MODES:
            raise ValueError(f"windows must be one of {WINDOW_MODES}, got {windows!r}")
        if max_proposals < 1 or batch_size < 1 or mask_dilation < 0 or not 0 <= crop_margin <= 4:
            raise ValueError("max_proposals and batch_size must be >= 1, mask_dilation >= 0, "
                             f"0 <= crop_margin <= 4 (got {crop_margin})")
        self.mask_background, self.mask_dilation = mask_background, mask_dilation
        self.crop_margin = float(crop_margin)
        self.model = model
        self.cfg = proposal_config or ProposalConfig()
        self.windows, self.max_proposals, self.batch_size = windows, max_proposals, batch_size
        self.default_codebook_set = model.config.codebook_set_for("image")

    # ---- frames ------------------------------------------------------------------------------
    def frame(self, rgb: np.ndarray, camera: Pinhole, stamp_ns: int = 0, frame_id: str = "",
              depth: Optional[np.ndarray] = None, cloud: Optional[np.ndarray] = None) -> Frame:
        """Proposals for one frame: clusters of ``cloud`` (or of ``depth`` back-projected), image
        windows per ``windows``. Raises ValueError for inconsistent inputs."""
        if rgb.ndim != 3 or rgb.shape[2] != 3:
            raise ValueError(f"camera image must be (H, W, 3), got {rgb.shape}")
        if rgb.shape[:2] != (camera.height, camera.width):
            raise ValueError(f"camera image is {rgb.shape[1]}x{rgb.shape[0]} but CameraInfo is "
                             f"{camera.width}x{camera.height}")
        if depth is not None and depth.shape != rgb.shape[:2]:
            raise ValueError(f"depth image {depth.shape} does not match the camera image {rgb.shape[:2]}")
        points = cloud if cloud is not None else (depth_to_points(depth, camera) if depth is not None else None)
        proposals = cloud_proposals(points, camera, self.cfg) if points is not None else []
        if self.windows == "always" or (self.windows == "auto" and not proposals):
            proposals += window_proposals(camera.width, camera.height, self.cfg, depth, camera)
        return Frame(rgb, camera, int(stamp_ns), frame_id, proposals[: self.max_proposals], depth)

    def crop_modality(self, query: Query, frame: Frame) -> str:
        wanted = CROP_MODALITY.get(query.modality, "image")
        return "image" if wanted == "depth" and frame.depth is None else wanted

    def embeddings(self, frame: Frame, crop_modality: str, codebook_set: str):
        """The proposals' embeddings (cached per frame, crop modality and codebook set)."""
        key = (crop_modality, codebook_set)
        if key not in frame.embeddings:
            frame.embeddings[key] = self._embed(frame, crop_modality, codebook_set)
        return frame.embeddings[key]

    def _embed(self, frame: Frame, crop_modality: str, codebook_set: str):
        source = frame.rgb if crop_modality == "image" else frame.depth
        options = {}
        if crop_modality == "depth":
            options["intrinsics"] = frame.camera.K
        boxes = [square_box(p.box, frame.camera.width, frame.camera.height, self.crop_margin)
                 for p in frame.proposals]
        mask = self.mask_background and crop_modality == "image"
        crops = [masked_crop(source, b, p.pixels, self.mask_dilation) if mask and p.pixels is not None
                 else crop(source, b) for b, p in zip(boxes, frame.proposals)]
        parts = []
        with torch.no_grad():
            for a in range(0, len(crops), self.batch_size):
                batch_crops = crops[a: a + self.batch_size]
                batch = self.model.preprocess(crop_modality, batch_crops, **options)
                parts.append(self.model.encode(crop_modality, batch, codebook_set=codebook_set, specific=False))
        if not parts:
            return None
        first = parts[0]
        cat = lambda name: None if getattr(first, name) is None else torch.cat([getattr(p, name) for p in parts])  # noqa: E731
        return type(first)(cat("shared"), None, cat("codes"), None, first.modality, first.codebook_set)

    # ---- queries -----------------------------------------------------------------------------
    def text_query(self, text: str, codebook_set: Optional[str] = None) -> Query:
        if not text.strip():
            raise ValueError("query text is empty")
        codebook_set = codebook_set or self.default_codebook_set
        with torch.no_grad():
            vec = self.model.encode_text([text], codebook_set=codebook_set).shared[0].float().numpy()
        return Query("text", codebook_set, vec, text=text)

    def rank(self, frame: Frame, query: Query, top_k: int = 5) -> List[Match]:
        """The ``top_k`` proposals most similar to ``query``, best first."""
        if top_k < 1:
            raise ValueError(f"top_k must be >= 1, got {top_k}")
        if not frame.proposals:
            return []
        q = np.asarray(query.vector, dtype=np.float32).reshape(-1)
        norm = float(np.linalg.norm(q))
        if not np.isfinite(q).all() or norm == 0.0:
            raise ValueError("query embedding is zero or not finite")
        known = query.codebook_set in self.model.config.codebook_sets()
        emb = self.embeddings(frame, self.crop_modality(query, frame),
                              query.codebook_set if known else self.default_codebook_set)
        shared = emb.shared.float().numpy()
        if shared.shape[1] != q.size:
            raise ValueError(f"query has {q.size} dims, the model's shared space has {shared.shape[1]}")
        scores = shared @ q / (np.linalg.norm(shared, axis=1) * norm)
        order = np.argsort(-scores, kind="stable")[:top_k]
        return [Match(float(scores[i]), int(i), frame.proposals[i]) for i in order]
