"""Parameters of the sensor player (declared up front; see codebind_ros.nodes.params)."""
from __future__ import annotations

from dataclasses import dataclass, field

from codebind_ros.nodes.params import doc
from codebind_ros.tools.sim_scene import SimSceneConfig

_S = SimSceneConfig()  # the simulated scene's own defaults; the parameters that mirror it start from them


@dataclass
class PlayerParams:
    scene: str = field(default="", metadata=doc(
        "YAML list of objects (category, position: [x, y], colour, pattern, material, temperature, "
        "yaw, scale); '' = the default six-object scene"))
    seed: int = field(default=_S.seed, metadata=doc("scene seed (sensor noise, sounds, touches)"))
    width: int = field(default=_S.width, metadata=doc("image width (px)"))
    height: int = field(default=_S.height, metadata=doc("image height (px)"))
    fov_deg: float = field(default=_S.fov_deg, metadata=doc("horizontal field of view"))
    camera_eye: str = field(default=str(list(_S.eye)), metadata=doc("camera position in the world (m)"))
    camera_target: str = field(default=str(list(_S.target)), metadata=doc("point the camera looks at (m)"))
    frame_id: str = field(default="camera_optical_frame", metadata=doc("frame of every published message"))
    noise_frames: int = field(default=_S.noise_frames, metadata=doc("pre-rendered noise draws per stream (cycled)"))
    camera_rate: float = field(default=5.0, metadata=doc("frame clock (Hz) of the image streams"))
    depth_rate: float = field(default=5.0, metadata=doc("Hz (0 = off); camera_rate / n, at most camera_rate"))
    thermal_rate: float = field(default=5.0, metadata=doc("Hz (0 = off); camera_rate / n, at most camera_rate"))
    pointcloud_rate: float = field(default=1.0, metadata=doc("Hz (0 = off); camera_rate / n, at most camera_rate"))
    audio_rate: float = field(default=1.0, metadata=doc("impact sounds per second (0 = off)"))
    audio_object: int = field(default=-1, metadata=doc("object that sounds; -1 = cycle through all"))
    audio_seconds: float = field(default=_S.audio_seconds, metadata=doc("length of one sound"))
    audio_sample_rate: int = field(default=_S.audio_sample_rate, metadata=doc("audio sample rate (Hz)"))
    audio_format: str = field(default="S16LE", metadata=doc("AudioData sample format"))
    tactile_rate: float = field(default=1.0, metadata=doc("tactile patches per second (0 = off)"))
    tactile_object: int = field(default=-1, metadata=doc("object touched; -1 = cycle through all"))
    bag_path: str = field(default="", metadata=doc("replay this recording instead of the scene"))
    bag_rate: float = field(default=1.0, metadata=doc("replay speed factor"))
    bag_loop: bool = field(default=False, metadata=doc("replay again at the end"))
    bag_topics: str = field(default="", metadata=doc(
        "YAML mapping recorded topic -> published topic; '' = every topic under its recorded name"))
    diagnostics_period: float = field(default=1.0, metadata=doc("seconds between /diagnostics reports"))

    def validate(self) -> None:
        rates = {k: getattr(self, f"{k}_rate")
                 for k in ("camera", "depth", "thermal", "pointcloud", "audio", "tactile")}
        if any(r < 0 for r in rates.values()) or self.camera_rate <= 0:
            raise ValueError(f"rates must be >= 0 and camera_rate > 0, got {rates}")
        if self.bag_rate <= 0 or self.audio_seconds <= 0 or self.audio_sample_rate < 4000:
            raise ValueError("bag_rate and audio_seconds must be > 0, audio_sample_rate >= 4000")
