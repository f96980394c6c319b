"""Topic and service names of the graph (relative, so a namespace applies to all).

Every node subscribes and publishes under exactly these names, so the nodes connect out of the
box; a user points a node at other topics with ROS remapping rules, as image_pipeline's nodes
are (``--ros-args -r camera/image_raw:=/my_driver/image``, launch ``remappings=[...]``).
"""
from __future__ import annotations

from typing import Dict, List

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
ODOMETRY = "odom"                           # nav_msgs/Odometry of the robot body

EMBEDDING_PREFIX = "codebind/embeddings"  # + "/<modality>"
LOCALISATIONS = "codebind/localisations"
MARKERS = "codebind/markers"
ANNOTATED_IMAGE = "codebind/annotated_image"
TEXT_QUERY = "codebind/query_text"          # std_msgs/String: a standing text query
QUERY_SERVICE = "codebind/query"            # codebind_ros/srv/QueryText


def embedding_topic(modality: str) -> str:
    """Where the encoder for ``modality`` publishes its Embedding messages."""
    return f"{EMBEDDING_PREFIX}/{modality}"


def encoder_remaps(modality: str, source: str, target: str) -> List[str]:
    """ROS arguments (after ``--ros-args``) pointing an encoder of ``modality`` at ``source`` and
    its Embeddings at ``target``."""
    return ["-r", f"{SENSOR_TOPICS[modality]}:={source}", "-r", f"{embedding_topic(modality)}:={target}"]
