"""Default topic and service names of the graph (relative, so a namespace applies to all).

Every node takes its names from parameters whose defaults come from here, so the nodes connect
out of the box and a launch file or params YAML can remap any of them.
"""
from __future__ import annotations

from typing import Dict

# Sensor inputs, by ROS modality name.
SENSOR_TOPICS: Dict[str, str] = {
    "camera": "camera/image_raw",
    "depth": "camera/depth/image_raw",
    "thermal": "thermal/image_raw",
    "tactile": "tactile/image_raw",
    "pointcloud": "camera/points",
    "audio": "audio/audio",
}
CAMERA_INFO = "camera/camera_info"

EMBEDDING_PREFIX = "codebind/embeddings"  # + "/<modality>"
LOCALISATIONS = "codebind/localisations"
MARKERS = "codebind/markers"
ANNOTATED_IMAGE = "codebind/annotated_image"
TEXT_QUERY = "codebind/query_text"          # std_msgs/String: a standing text query
QUERY_SERVICE = "codebind/query"            # codebind_ros/srv/QueryText


def embedding_topic(modality: str) -> str:
    """Where the encoder for ``modality`` publishes its Embedding messages."""
    return f"{EMBEDDING_PREFIX}/{modality}"
