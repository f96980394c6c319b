"""Parameters of the encoder node (declared up front; see codebind_ros.nodes.params)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict

from codebind_ros.conversions.sensors import SENSORS, Limits
from codebind_ros.messaging.topics import CAMERA_INFO, SENSOR_TOPICS, embedding_topic
from codebind_ros.nodes.params import doc

MODALITIES = tuple(SENSORS)  # the one list of sensor types (conversions.sensors)
_L = Limits()  # the per-message bounds' own defaults


@dataclass
class EncoderParams:
    modality: str = field(default="camera", metadata=doc(f"sensor to encode: one of {MODALITIES}"))
    use_camera_info: bool = field(default=False, metadata=doc(
        f"depth only: K of the CameraInfo on {CAMERA_INFO} (remappable) sets the focal length of the disparity"))
    model_path: str = field(default="", metadata=doc("checkpoint directory (config.json + model.safetensors)"))
    model_id: str = field(default="", metadata=doc("id put in each Embedding; '' = checkpoint name"))
    backend: str = field(default="torch", metadata=doc("runtime backend of codebind_core.export"))
    backend_options: str = field(default="", metadata=doc("YAML/JSON mapping passed to the backend"))
    device: str = field(default="cpu", metadata=doc("torch device for the model"))
    publish_specific: bool = field(default=True, metadata=doc("also compute and publish the specific part"))
    preprocess_options: str = field(default="", metadata=doc(
        "YAML/JSON mapping of core preprocess options, e.g. '{resample: true}' for audio"))
    audio_window_seconds: float = field(default=0.0, metadata=doc(
        "audio only: embed this many seconds of the stream at a time (0 = each message on its own)"))
    audio_hop_seconds: float = field(default=0.0, metadata=doc(
        "audio only: seconds between windows (0 = the window length)"))
    batch_size: int = field(default=1, metadata=doc("most messages encoded together"))
    queue_size: int = field(default=2, metadata=doc("pending messages kept; older ones are dropped"))
    stream_timeout: float = field(default=5.0, metadata=doc(
        "warn in /diagnostics when a publisher is matched but no message arrived for this many "
        "seconds (0 = never)"))
    max_message_bytes: int = field(default=64 << 20, metadata=doc(
        "messages with more serialized bytes are refused before they are deserialised"))
    max_pixels: int = field(default=_L.max_pixels, metadata=doc(
        "images with more pixels are dropped before decoding"))
    max_points: int = field(default=_L.max_points, metadata=doc(
        "point clouds with more points are dropped before decoding"))
    max_audio_seconds: float = field(default=_L.max_audio_seconds, metadata=doc(
        "audio messages longer than this are dropped before decoding"))
    warmup: bool = field(default=True, metadata=doc("run the model once at start-up"))
    diagnostics_period: float = field(default=1.0, metadata=doc("seconds between /diagnostics reports"))
    log_throttle_sec: float = field(default=5.0, metadata=doc("at most one warning per this many seconds"))

    def validate(self) -> None:
        if self.modality not in MODALITIES:
            raise ValueError(f"parameter modality must be one of {MODALITIES}, got {self.modality!r}")
        if self.use_camera_info and self.modality != "depth":
            raise ValueError("parameter use_camera_info is only used with modality 'depth'")
        for name in ("batch_size", "queue_size", "max_message_bytes", "max_pixels",
                     "max_points"):
            if getattr(self, name) < 1:
                raise ValueError(f"parameter {name} must be >= 1, got {getattr(self, name)}")
        if self.queue_size < self.batch_size:
            raise ValueError(f"parameter queue_size ({self.queue_size}) must be >= batch_size "
                             f"({self.batch_size})")
        if (self.audio_window_seconds or self.audio_hop_seconds) and self.modality != "audio":
            raise ValueError("parameters audio_window_seconds/audio_hop_seconds need modality 'audio'")
        if self.audio_window_seconds < 0 or self.audio_hop_seconds < 0:
            raise ValueError("audio_window_seconds and audio_hop_seconds must be >= 0")
        if self.audio_hop_seconds > self.audio_window_seconds > 0:
            raise ValueError("audio_hop_seconds must not exceed audio_window_seconds")
        if not self.max_audio_seconds > 0:
            raise ValueError(f"parameter max_audio_seconds must be > 0, got {self.max_audio_seconds}")
        if self.stream_timeout < 0:
            raise ValueError(f"parameter stream_timeout must be >= 0, got {self.stream_timeout}")
        if self.diagnostics_period <= 0 or self.log_throttle_sec < 0:
            raise ValueError("diagnostics_period must be > 0 and log_throttle_sec >= 0")

    def retired(self) -> Dict[str, str]:
        """Former topic parameters -> the remapping rule that replaces them (see params.declare)."""
        return {"input_topic": f"-r {SENSOR_TOPICS.get(self.modality, 'camera/image_raw')}:={{value}}",
                "output_topic": f"-r {embedding_topic(self.modality)}:={{value}}",
                "camera_info_topic": f"-p use_camera_info:=true -r {CAMERA_INFO}:={{value}}"}
