"""Parameters of the memory + query node (declared up front; see codebind_ros.nodes.params)."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Type

import yaml

from codebind_core.memory.config import MemoryConfig
from codebind_core.memory.objects.config import ObjectConfig
from codebind_ros.messaging.sensor_pose import DEFAULT_EXTRINSIC, SOURCES, parse_extrinsic
from codebind_ros.messaging.topics import CAMERA_INFO, ODOMETRY, SENSOR_TOPICS
from codebind_ros.nodes.encoder_params import MODALITIES
from codebind_ros.nodes.params import doc, parse_mapping

_M = MemoryConfig()  # the memory's own defaults; the parameters that mirror it start from them
_O = ObjectConfig()  # the object memory's generic defaults; a model's own are in its memory.yaml
MODEL_SETTINGS_FILE = "memory.yaml"  # beside a model: its tuned object-memory thresholds
MODEL_SETTINGS_KEY = "object_memory"
TUNABLE = ("gate_distance", "min_similarity", "reid_similarity", "reid_min_age", "moved_similarity", "miss_limit",
           "attach_radius")


@dataclass
class MemoryParams:
    db_path: str = field(default="", metadata=doc(
        "SQLite file of the observations (re-opened on restart); '' = "
        "~/.ros/codebind/memory_<model_id>-<codebook fingerprint>.db (one per model)"))
    model_path: str = field(default="", metadata=doc("checkpoint directory (codebooks and text encoder)"))
    model_id: str = field(default="", metadata=doc("accepted Embedding model_id; '' = checkpoint name"))
    device: str = field(default="cpu", metadata=doc("torch device for the text encoder"))
    modalities: str = field(default=",".join(MODALITIES), metadata=doc(
        "comma-separated sensor modalities whose Embedding topics are stored"))
    store_proposals: bool = field(default=True, metadata=doc(
        "store the localisation node's proposals (embedding + 3-D position + box)"))
    min_period: float = field(default=0.5, metadata=doc(
        "seconds between stored whole-frame embeddings of one modality (0 = store every one)"))
    check_model_id: bool = field(default=True, metadata=doc("drop embeddings of another model_id"))
    max_observations: int = field(default=_M.max_observations, metadata=doc(
        "oldest observations are evicted beyond this"))
    # the node's own bound, below the memory's (MemoryConfig.max_top_k): answers stay short
    max_top_k: int = field(default=50, metadata=doc("a query returns at most this many results"))
    dedupe_distance: float = field(default=0.1, metadata=doc(
        "a result closer than this (m, same frame) to a better one is skipped: repeated sightings "
        "of one object count once (0 = keep all)"))
    max_text_chars: int = field(default=_M.max_text_chars, metadata=doc("longer query texts are refused"))
    text_backend: str = field(default="torch", metadata=doc(
        "runtime of the query text encoder: torch, or a backend of codebind_core.export (onnxruntime: "
        "exported once per codebook set, about 3x faster per new query text on a CPU)"))
    text_backend_options: str = field(default="", metadata=doc(
        "YAML/JSON mapping passed to the text backend (e.g. '{threads: 1}')"))
    text_cache_size: int = field(default=256, metadata=doc(
        "query texts whose embeddings are kept, least recently used out: a repeated question skips "
        "the text encoder (0 = off)"))
    synchronous: str = field(default=_M.synchronous, metadata=doc("SQLite synchronous mode: FULL or NORMAL"))
    index: str = field(default=_M.index, metadata=doc("search: exact (code-table scan) or ivf (coarse cells)"))
    ivf_nprobe: int = field(default=_M.ivf_nprobe, metadata=doc("ivf: cells scanned per query"))
    ivf_min_observations: int = field(default=_M.ivf_min_observations, metadata=doc(
        "ivf: train the cells at this size"))
    on_codebook_mismatch: str = field(default=_M.on_codebook_mismatch, metadata=doc(
        "a database of other codebooks: error, or reindex (re-quantize the stored codes)"))
    fixed_frame: str = field(default=_O.fixed_frame, metadata=doc(
        "frame objects and positioned observations are stored in (map, odom)"))
    transform_source: str = field(default="auto", metadata=doc(
        "sensor pose: tf (/tf, /tf_static; tf2_ros where importable, else tf2_msgs), "
        f"odometry ({ODOMETRY} + sensor_extrinsic), "
        "none (a fixed sensor whose frame is taken as the fixed frame), auto (tf where tf2_ros is importable, "
        "else odometry)"))
    sensor_extrinsic: str = field(default=str(list(DEFAULT_EXTRINSIC)), metadata=doc(
        "body <- sensor frame as [x, y, z, qx, qy, qz, qw] (transform_source odometry)"))
    sensor_frame: str = field(default="camera_optical_frame", metadata=doc(
        "frame_id of the sensor messages the extrinsic applies to (transform_source odometry)"))
    transform_wait: float = field(default=1.0, metadata=doc(
        "a proposal frame waits at most this long (s) for its sensor pose, then is dropped and counted"))
    transform_cache: float = field(default=30.0, metadata=doc("seconds of sensor pose history kept"))
    max_waiting_frames: int = field(default=100, metadata=doc(
        "proposal frames waiting for their pose; the oldest is dropped (counted) beyond this"))
    objects: bool = field(default=True, metadata=doc(
        "associate proposals into persistent objects (codebind_core ObjectMemory) and answer with objects"))
    seen_empty_checks: bool = field(default=True, metadata=doc(
        f"use the depth image of a proposal frame ({SENSOR_TOPICS['depth']}, {CAMERA_INFO}) to mark objects "
        "whose place it saw empty (moved/gone)"))
    gate_distance: float = field(default=_O.gate_distance, metadata=doc(
        "a proposal joins an object only within this distance (m)"))
    min_similarity: float = field(default=_O.min_similarity, metadata=doc(
        "... and only with at least this cosine to the object's embedding"))
    reid_similarity: float = field(default=_O.reid_similarity, metadata=doc(
        "a proposal elsewhere with at least this cosine re-identifies a missing / unseen object: it moved"))
    reid_min_age: float = field(default=_O.reid_min_age_ns / 1e9, metadata=doc(
        "... when that object was last seen at least this many seconds before"))
    moved_similarity: float = field(default=_O.moved_similarity, metadata=doc(
        "an object whose place was seen empty is re-identified elsewhere with at least this cosine, "
        "when it is the best match there"))
    miss_limit: int = field(default=_O.miss_limit, metadata=doc("views of an empty place that make its object gone"))
    attach_radius: float = field(default=_O.attach_radius, metadata=doc(
        "a sound or touch located by the localiser attaches to the nearest object within this (m)"))
    max_objects: int = field(default=_O.max_objects, metadata=doc("bound on stored objects (gone ones evicted first)"))
    query_min_score: float = field(default=0.2, metadata=doc(
        "object answers: leave out objects scoring below this cosine (-1 = keep all)"))
    query_margin: float = field(default=0.25, metadata=doc(
        "object answers: leave out objects scoring more than this below the best one (-1 = keep all)"))
    markers_period: float = field(default=1.0, metadata=doc(
        "seconds between MarkerArrays of the objects on codebind/memory/markers, sent when the objects or "
        "the last answer changed (0 = off)"))
    export_json: str = field(default="", metadata=doc(
        "write the object map as JSON here at shutdown and every export_period ('' = off)"))
    export_ply: str = field(default="", metadata=doc("... and as a PLY of object centres with labels"))
    export_period: float = field(default=0.0, metadata=doc(
        "seconds between exports while running (0 = at shutdown only)"))
    commit_period: float = field(default=0.2, metadata=doc("seconds between commits of pending observations"))
    input_qos_depth: int = field(default=1000, metadata=doc(
        "Embedding subscriptions: reliable, keep the last this many undelivered messages (bursts "
        "wait here; beyond it messages are lost and counted as dropped_transport)"))
    query_qos_depth: int = field(default=1000, metadata=doc(
        "QueryText service: reliable, keep the last this many requests the server has not taken "
        "yet (it takes them between two answers)"))
    max_pending_queries: int = field(default=200, metadata=doc(
        "queries waiting for their answer; one more is refused at once (success false, 'busy')"))
    query_timeout: float = field(default=10.0, metadata=doc(
        "a query that waited longer than this (s) for its turn is refused ('busy') instead of answered"))
    max_pending: int = field(default=2000, metadata=doc("observations waiting for a commit; older ones dropped"))
    diagnostics_period: float = field(default=1.0, metadata=doc("seconds between /diagnostics reports"))
    log_throttle_sec: float = field(default=5.0, metadata=doc("at most one warning per this many seconds"))

    def validate(self) -> None:
        mods = self.modality_list()
        unknown = [m for m in mods if m not in MODALITIES]
        if unknown:
            raise ValueError(f"parameter modalities has unknown {unknown}; known: {MODALITIES}")
        for name in ("max_observations", "max_top_k", "max_text_chars", "max_pending", "input_qos_depth", "ivf_nprobe",
                     "query_qos_depth", "max_pending_queries",
                     "ivf_min_observations"):
            if getattr(self, name) < 1:
                raise ValueError(f"parameter {name} must be >= 1, got {getattr(self, name)}")
        if self.commit_period <= 0 or self.diagnostics_period <= 0 or self.min_period < 0:
            raise ValueError("commit_period and diagnostics_period must be > 0, min_period >= 0")
        if self.query_timeout <= 0:
            raise ValueError(f"parameter query_timeout must be > 0, got {self.query_timeout}")
        if self.transform_source not in SOURCES:
            raise ValueError(f"parameter transform_source must be one of {SOURCES}, got {self.transform_source!r}")
        parse_extrinsic(self.sensor_extrinsic)
        self.object_config()
        if self.transform_wait < 0 or self.transform_cache <= 0 or self.max_waiting_frames < 1:
            raise ValueError("transform_wait must be >= 0, transform_cache > 0, max_waiting_frames >= 1")
        if self.markers_period < 0 or self.export_period < 0:
            raise ValueError("markers_period and export_period must be >= 0")
        from codebind_core.export import runtime  # importing codebind_core.export registers the backends

        if self.text_backend not in runtime.BACKENDS:
            raise ValueError(f"parameter text_backend must be one of {sorted(runtime.BACKENDS)}, "
                             f"got {self.text_backend!r}")
        self.text_backend_kwargs()
        if self.text_cache_size < 0:
            raise ValueError(f"parameter text_cache_size must be >= 0, got {self.text_cache_size}")
        if self.dedupe_distance < 0:
            raise ValueError(f"parameter dedupe_distance must be >= 0, got {self.dedupe_distance}")

    def text_backend_kwargs(self) -> Dict[str, Any]:
        """``text_backend_options`` as keyword arguments (ValueError when not a mapping)."""
        return parse_mapping(self.text_backend_options, "parameter text_backend_options")

    def retired(self) -> Dict[str, str]:
        """Former topic parameters -> the remapping rule that replaces them (see params.declare)."""
        return {"odometry_topic": f"-r {ODOMETRY}:={{value}}",
                "depth_topic": f"-r {SENSOR_TOPICS['depth']}:={{value}}",
                "camera_info_topic": f"-r {CAMERA_INFO}:={{value}}"}

    def object_config(self) -> ObjectConfig:
        """The :class:`ObjectConfig` these parameters describe (ValueError names a bad one)."""
        return ObjectConfig(fixed_frame=self.fixed_frame, gate_distance=self.gate_distance,
                            min_similarity=self.min_similarity, reid_similarity=self.reid_similarity,
                            reid_min_age_ns=int(self.reid_min_age * 1e9), moved_similarity=self.moved_similarity,
                            miss_limit=self.miss_limit,
                            attach_radius=self.attach_radius, huber_delta=_O.huber_delta,
                            max_fusion_weight=_O.max_fusion_weight, max_objects=self.max_objects)

    def modality_list(self):
        return [m.strip() for m in self.modalities.split(",") if m.strip()]


def model_settings(model_path: str) -> Dict[str, Any]:
    """The object-memory thresholds tuned on the model in ``model_path`` (section
    ``object_memory`` of its ``memory.yaml``; {} without the file). ValueError names an unknown
    key or a value of the wrong type."""
    file = Path(model_path) / MODEL_SETTINGS_FILE if model_path else None
    if file is None or not file.is_file():
        return {}
    try:
        doc = yaml.safe_load(file.read_text()) or {}
    except (OSError, yaml.YAMLError) as e:
        raise ValueError(f"{file}: {e}") from None
    section = doc.get(MODEL_SETTINGS_KEY) if isinstance(doc, dict) else None
    if not isinstance(section, dict):
        raise ValueError(f"{file}: needs a mapping {MODEL_SETTINGS_KEY!r}")
    unknown = sorted(set(section) - set(TUNABLE))
    if unknown:
        raise ValueError(f"{file}: unknown {MODEL_SETTINGS_KEY} keys {unknown}; known: {list(TUNABLE)}")
    kinds = {f.name: f.type for f in dataclasses.fields(MemoryParams)}
    out: Dict[str, Any] = {}
    for key, value in section.items():
        integer = kinds[key] in (int, "int")
        if isinstance(value, bool) or not isinstance(value, int if integer else (int, float)):
            raise ValueError(f"{file}: {MODEL_SETTINGS_KEY}.{key} must be {'an integer' if integer else 'a number'}, "
                             f"got {value!r}")
        out[key] = int(value) if integer else float(value)
    return out


def params_for_model(model_path: str) -> Type[MemoryParams]:
    """:class:`MemoryParams` whose defaults are the model's tuned thresholds (:func:`model_settings`):
    declared with them, a parameter given explicitly (launch, YAML, ``-p``) still wins."""
    tuned = model_settings(model_path)
    if not tuned:
        return MemoryParams
    fields = [(f.name, f.type, field(default=tuned[f.name], metadata=f.metadata))
              for f in dataclasses.fields(MemoryParams) if f.name in tuned]
    return dataclasses.make_dataclass("MemoryParams", fields, bases=(MemoryParams,))
