"""Parameters of the sensor player (declared up front; see codebind_ros.nodes.params)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict

from codebind_ros.messaging.sensor_pose import DEFAULT_EXTRINSIC
from codebind_ros.messaging.topics import ODOMETRY
from codebind_ros.nodes.params import doc
from codebind_ros.sources.sim_scene import TRAJECTORIES, SimSceneConfig

_S = SimSceneConfig()  # the simulated scene's own defaults; the parameters that mirror it start from them


@dataclass
class PlayerParams:
    scene: str = field(default="", metadata=doc(
        "YAML list of objects (category, position: [x, y], colour, pattern, material, temperature, "
        "yaw, scale); '' = the default six-object scene (with trajectory tour: the tour's three tables)"))
    trajectory: str = field(default=_S.trajectory, metadata=doc(
        "'' = a fixed camera at camera_eye/camera_target; 'tour' = the camera visits three tables from "
        "several sides, one pose per frame, repeated"))
    move_object: int = field(default=_S.move_object, metadata=doc("index of an object that moves mid-run (-1 = none)"))
    move_to: str = field(default=str(list(_S.move_to)), metadata=doc("its new place [x, y] on the floor (m)"))
    move_at: int = field(default=_S.move_at, metadata=doc("frame (camera tick) from which it is at its new place"))
    world_frame: str = field(default="map", metadata=doc("fixed frame of the ground truth and the odometry"))
    base_frame: str = field(default="base_link", metadata=doc("child frame of the odometry (the moving body)"))
    publish_odometry: bool = field(default=True, metadata=doc(
        f"nav_msgs/Odometry of base_frame in world_frame on {ODOMETRY} (remappable) with every camera frame "
        "(same stamp)"))
    camera_extrinsic: str = field(default=str(list(DEFAULT_EXTRINSIC)), metadata=doc(
        "base_frame <- frame_id as [x, y, z, qx, qy, qz, qw]; also published on /tf_static where tf2_msgs exists"))
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
        "YAML mapping recorded topic -> published topic, only these play; '' = every topic under its "
        "recorded name (remapping rules apply to the published names too)"))
    diagnostics_period: float = field(default=1.0, metadata=doc("seconds between /diagnostics reports"))

    def retired(self) -> Dict[str, str]:
        """Former topic parameters -> the ROS arguments that replace them (see params.declare)."""
        return {"odometry_topic": f"-r {ODOMETRY}:={{value}}|-p publish_odometry:=false"}

    def validate(self) -> None:
        rates = {k: getattr(self, f"{k}_rate")
                 for k in ("camera", "depth", "thermal", "pointcloud", "audio", "tactile")}
        if any(r < 0 for r in rates.values()) or self.camera_rate <= 0:
            raise ValueError(f"rates must be >= 0 and camera_rate > 0, got {rates}")
        if self.trajectory not in TRAJECTORIES:
            raise ValueError(f"parameter trajectory must be one of {TRAJECTORIES}, got {self.trajectory!r}")
        if self.bag_rate <= 0 or self.audio_seconds <= 0 or self.audio_sample_rate < 4000:
            raise ValueError("bag_rate and audio_seconds must be > 0, audio_sample_rate >= 4000")
