"""The sensors the encoder node understands: ROS message type, conversion, core modality.

A registry, not an if-chain: ``SENSORS[name]`` says how a message of that sensor becomes the raw
numpy input of ``codebind_core.modalities.<core>.preprocess`` and which per-message options
(e.g. the audio sample rate) go with it.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Optional

import numpy as np
from sensor_msgs.msg import Image, PointCloud2

from codebind_ros.conversions import audio as audio_conv
from codebind_ros.conversions import image as image_conv
from codebind_ros.conversions import pointcloud2 as cloud_conv
from codebind_ros.msg import AudioData
from codebind_ros.messaging.topics import SENSOR_TOPICS


@dataclass
class SensorContext:
    """Side information a conversion may use (filled by the node from other topics)."""

    camera_k: Optional[np.ndarray] = None  # 3 x 3 K of the latest CameraInfo, if subscribed


def _no_options(msg, context: SensorContext) -> Dict[str, Any]:
    return {}


def _depth_options(msg, context: SensorContext) -> Dict[str, Any]:
    return {} if context.camera_k is None else {"intrinsics": context.camera_k}


def _audio_options(msg, context: SensorContext) -> Dict[str, Any]:
    return {"sample_rate": int(msg.sample_rate)}


@dataclass(frozen=True)
class Sensor:
    """How one ROS sensor maps onto the core.

    Attributes:
        name: ROS-side modality name (parameter ``modality`` of the encoder node).
        core: codebind_core modality that encodes it.
        message: ROS message class of the input topic.
        convert: message -> raw numpy input of the core preprocess (ValueError when malformed).
        options: (message, context) -> per-message preprocess options.
        default_topic: the encoder's input topic (relative; users remap it).
    """

    name: str
    core: str
    message: type
    convert: Callable[[Any], np.ndarray]
    options: Callable[[Any, SensorContext], Dict[str, Any]] = field(default=_no_options)
    default_topic: str = ""


def _cloud(msg: PointCloud2) -> np.ndarray:
    points = cloud_conv.to_xyz(msg, colour=True, drop_invalid=True)
    if points.shape[0] == 0:
        raise ValueError("point cloud has no finite point")
    return points


SENSORS: Dict[str, Sensor] = {
    s.name: s for s in (
        Sensor("camera", "image", Image, image_conv.to_rgb, default_topic=SENSOR_TOPICS["camera"]),
        Sensor("depth", "depth", Image, image_conv.to_depth, _depth_options, SENSOR_TOPICS["depth"]),
        Sensor("thermal", "thermal", Image, image_conv.to_single, default_topic=SENSOR_TOPICS["thermal"]),
        Sensor("tactile", "tactile", Image, image_conv.to_rgb, default_topic=SENSOR_TOPICS["tactile"]),
        Sensor("pointcloud", "pointcloud", PointCloud2, _cloud, default_topic=SENSOR_TOPICS["pointcloud"]),
        Sensor("audio", "audio", AudioData, audio_conv.audio_to_array, _audio_options,
               SENSOR_TOPICS["audio"]),
    )
}


def get(name: str) -> Sensor:
    """The sensor called ``name``; ValueError listing the known ones otherwise."""
    if name not in SENSORS:
        raise ValueError(f"unknown modality {name!r}; choose from {sorted(SENSORS)}")
    return SENSORS[name]


def message_bytes(msg) -> int:
    """Payload size of a sensor message (all sensor types carry a ``data`` byte array)."""
    return len(msg.data)


@dataclass(frozen=True)
class Limits:
    """Bounds on the work one message may cause, checked from its header fields before any
    decoding (``check_limits``); each is a ValueError naming the limit, i.e. a dropped message."""

    max_pixels: int = 4096 * 4096         # 16.8 Mpx: a 12 Mpx camera passes, 8000 x 8000 does not
    max_points: int = 4_000_000           # a 5 Mpx structured-light cloud passes
    max_audio_seconds: float = 60.0       # per message


def check_limits(msg, limits: Limits) -> None:
    """Raise ValueError when ``msg`` would decode to more than ``limits`` allow."""
    if isinstance(msg, Image):
        pixels = int(msg.height) * int(msg.width)
        if pixels > limits.max_pixels:
            raise ValueError(f"image of {msg.width} x {msg.height} = {pixels} pixels exceeds "
                             f"max_pixels {limits.max_pixels}")
    elif isinstance(msg, PointCloud2):
        points = int(msg.height) * int(msg.width)
        if points > limits.max_points:
            raise ValueError(f"point cloud of {points} points exceeds max_points {limits.max_points}")
    elif isinstance(msg, AudioData):
        fmt = audio_conv.FORMATS.get(msg.sample_format)
        if fmt is None or msg.channels < 1 or msg.sample_rate < 1:
            return  # malformed: the conversion names the problem
        seconds = len(msg.data) / (fmt[0].itemsize * msg.channels) / msg.sample_rate
        if seconds > limits.max_audio_seconds:
            raise ValueError(f"audio message of {seconds:.1f} s exceeds max_audio_seconds "
                             f"{limits.max_audio_seconds:g}")
