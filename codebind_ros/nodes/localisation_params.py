"""Parameters of the localisation node (declared up front; see codebind_ros.nodes.params)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, Tuple

from codebind_ros.messaging.topics import CAMERA_INFO, SENSOR_TOPICS
from codebind_ros.nodes.encoder_params import MODALITIES
from codebind_ros.perception.localiser import CROP_MARGIN, MAX_PROPOSALS, WINDOW_MODES
from codebind_ros.nodes.params import doc
from codebind_ros.perception.proposals import ProposalConfig

_P = ProposalConfig()


@dataclass
class LocalisationParams:
    model_path: str = field(default="", metadata=doc("checkpoint directory"))
    model_id: str = field(default="", metadata=doc("id put in proposal embeddings; '' = checkpoint name"))
    device: str = field(default="cpu", metadata=doc("torch device"))
    use_cloud: bool = field(default=False, metadata=doc(
        "cluster the PointCloud2 topic (camera frame) instead of the back-projected depth image"))
    sync_slop: float = field(default=0.05, metadata=doc("largest stamp difference of a synchronised set (s)"))
    sync_queue: int = field(default=10, metadata=doc("messages kept per input by the synchroniser"))
    query_text: str = field(default="", metadata=doc("standing text query at start-up ('' = none)"))
    query_modalities: str = field(default="audio,depth,thermal,tactile,pointcloud", metadata=doc(
        "comma-separated modalities whose latest Embedding is a standing query"))
    query_max_age: float = field(default=10.0, metadata=doc("embedding queries older than this (s) are ignored"))
    top_k: int = field(default=5, metadata=doc("results per query"))
    windows: str = field(default="auto", metadata=doc(f"image-window proposals: {WINDOW_MODES}"))
    window_scales: str = field(default=",".join(f"{s:g}" for s in _P.window_scales), metadata=doc(
        "window sides as fractions of the shorter image side"))
    window_stride: float = field(default=_P.window_stride, metadata=doc("window step as a fraction of its side"))
    voxel_size: float = field(default=_P.voxel_size, metadata=doc("cloud downsampling grid (m)"))
    plane_distance: float = field(default=_P.plane_distance, metadata=doc("RANSAC inlier distance of the plane (m)"))
    cluster_eps: float = field(default=_P.cluster_eps, metadata=doc("DBSCAN radius (m)"))
    cluster_min_points: int = field(default=_P.cluster_min_points, metadata=doc("DBSCAN core points"))
    min_cluster_points: int = field(default=_P.min_cluster_points, metadata=doc("smaller clusters are noise"))
    max_proposals: int = field(default=MAX_PROPOSALS, metadata=doc("most crops embedded per frame"))
    crop_margin: float = field(default=CROP_MARGIN, metadata=doc(
        "crop = proposal box widened by this fraction of its side per side (0.5: object at half the crop)"))
    publish_proposals: bool = field(default=True, metadata=doc(
        "publish cloud proposals (embeddings + geometry) for the memory node"))
    queue_size: int = field(default=1, metadata=doc("synchronised frames waiting; older ones are dropped"))
    max_message_bytes: int = field(default=64 << 20, metadata=doc("larger messages are dropped unread"))
    diagnostics_period: float = field(default=1.0, metadata=doc("seconds between /diagnostics reports"))
    log_throttle_sec: float = field(default=5.0, metadata=doc("at most one warning per this many seconds"))

    def validate(self) -> None:
        unknown = [m for m in self.query_modality_list() if m not in MODALITIES]
        if unknown:
            raise ValueError(f"parameter query_modalities has unknown {unknown}; known: {MODALITIES}")
        if self.windows not in WINDOW_MODES:
            raise ValueError(f"parameter windows must be one of {WINDOW_MODES}, got {self.windows!r}")
        for name in ("sync_queue", "top_k", "max_proposals", "queue_size", "max_message_bytes"):
            if getattr(self, name) < 1:
                raise ValueError(f"parameter {name} must be >= 1, got {getattr(self, name)}")
        if not 0 <= self.crop_margin <= 4:
            raise ValueError(f"parameter crop_margin must be in [0, 4], got {self.crop_margin}")
        if self.sync_slop < 0 or self.query_max_age <= 0 or self.diagnostics_period <= 0:
            raise ValueError("sync_slop must be >= 0, query_max_age and diagnostics_period > 0")
        self.proposal_config()  # validates the proposal settings

    def retired(self) -> Dict[str, str]:
        """Former topic parameters -> the remapping rule that replaces them (see params.declare)."""
        return {f"{name}_topic": f"-r {topic}:={{value}}" for name, topic in (
            ("camera", SENSOR_TOPICS["camera"]), ("depth", SENSOR_TOPICS["depth"]),
            ("cloud", SENSOR_TOPICS["pointcloud"]), ("camera_info", CAMERA_INFO))}

    def query_modality_list(self):
        return [m.strip() for m in self.query_modalities.split(",") if m.strip()]

    def scales(self) -> Tuple[float, ...]:
        try:
            return tuple(float(s) for s in self.window_scales.split(",") if s.strip())
        except ValueError:
            raise ValueError("parameter window_scales must be comma-separated numbers, "
                             f"got {self.window_scales!r}") from None

    def proposal_config(self) -> ProposalConfig:
        return ProposalConfig(voxel_size=self.voxel_size, plane_distance=self.plane_distance,
                              cluster_eps=self.cluster_eps, cluster_min_points=self.cluster_min_points,
                              min_cluster_points=self.min_cluster_points, window_scales=self.scales(),
                              window_stride=self.window_stride)
