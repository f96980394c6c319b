"""The sensor player: a SynthBind scene (objects at known positions) on all six sensor topics plus
CameraInfo, or the replay of a rosbag2 / MCAP / rosbag1 recording, so the whole graph runs
without a robot.

    ros2 run codebind_ros sensor_player                                     # the default scene
    ros2 run codebind_ros sensor_player --ros-args -p bag_path:=/data/run1  # replay a recording

The scene goes out on the relative names of :mod:`codebind_ros.messaging.topics` (remap them with
``-r camera/image_raw:=...``; a namespace applies to all).

Image streams (camera, depth, thermal, point cloud, CameraInfo) are published on one frame
clock at ``camera_rate``: each of them every n-th frame, n = max(1, round(camera_rate / its rate)), so
streams that are published together share their stamp (what a synchroniser matches). Audio
(impact sounds) and tactile patches have their own timers and cycle through the objects unless
``audio_object`` / ``tactile_object`` pick one. The ground truth (every object's centre in the
world frame, and for a fixed camera in the camera frame with its box) is published latched, as
JSON on ``sensor_player/ground_truth``, again when ``move_object`` moves.

With ``trajectory: tour`` the camera moves (one pose per frame through three tables, repeated).
Every camera frame comes with the body's pose as nav_msgs/Odometry on ``odom`` (same
stamp; ``world_frame`` <- ``base_frame``, where base <- camera is ``camera_extrinsic``) and,
where tf2_msgs is installed (a ROS 2 installation), on /tf and /tf_static too.
"""
from __future__ import annotations

import importlib.util
import json
import sys
from typing import Dict, List, Optional

from codebind_core.geometry import RigidTransform

from rclpy.node import Node
from sensor_msgs.msg import CameraInfo, Image, PointCloud2
from std_msgs.msg import Header, String

from codebind_ros.sources.bag_replay import BagReplayer
from codebind_ros.conversions.audio import array_to_audio
from codebind_ros.conversions.camera_info import to_camera_info
from codebind_ros.conversions.image import array_to_image
from codebind_ros.conversions.pointcloud2 import xyz_to_cloud
from codebind_ros.nodes.diagnostics import DiagnosticsReporter, NodeStats
from codebind_ros.msg import AudioData
from codebind_ros.nodes.params import declare, parse_mapping
from codebind_ros.nodes.sensor_player_params import PlayerParams
from codebind_ros.messaging.qos import latched_qos, results_qos, sensor_qos
from codebind_ros.conversions.transforms import transform_to_msg, transform_to_pose
from codebind_ros.messaging.sensor_pose import parse_extrinsic
from codebind_ros.nodes.node_kinds import NODE_KINDS
from codebind_ros.nodes.session import context_ok, run_node
from codebind_ros.sources.sim_scene import TOUR_OBJECTS, SimScene, SimSceneConfig, parse_objects, parse_vector
from codebind_ros.messaging.spatial_topics import GROUND_TRUTH
from codebind_ros.messaging.topics import CAMERA_INFO, ODOMETRY, SENSOR_TOPICS

IMAGE_STREAMS = ("camera", "depth", "thermal", "pointcloud")


class SensorPlayerNode(Node):
    """Publish the simulated scene (or a recording) on the sensor topics."""

    def __init__(self, node_name: str = "codebind_sensor_player", **node_kwargs):
        super().__init__(node_name, **node_kwargs)
        self._stopping = False  # set by destroy_node: a timer callback still running publishes nothing
        self.params = p = declare(self, PlayerParams)
        self.stats = NodeStats()
        self.published: Dict[str, int] = {}
        self.replayer: Optional[BagReplayer] = None
        self.sim: Optional[SimScene] = None
        if p.bag_path:
            self.replayer = BagReplayer(self, p.bag_path, p.bag_rate, p.bag_loop,
                                        parse_mapping(p.bag_topics, "parameter bag_topics"),
                                        sensor_qos(10, "reliable"), self._count).start()
            self.get_logger().info(f"replaying {p.bag_path}: {sorted(self.replayer.publishers)}")
        else:
            self._start_scene(p)
        self.diagnostics = DiagnosticsReporter(self, self.stats, hardware_id="sensor_player",
                                               period_s=p.diagnostics_period, extra=self._extra)

    def _start_scene(self, p: PlayerParams) -> None:
        objects = parse_objects(p.scene, TOUR_OBJECTS if p.trajectory == "tour" else None)
        cfg = SimSceneConfig(objects, p.seed, p.width, p.height, p.fov_deg,
                             parse_vector(p.camera_eye, "camera_eye"), parse_vector(p.camera_target, "camera_target"),
                             p.noise_frames, p.audio_seconds, p.audio_sample_rate, trajectory=p.trajectory,
                             move_object=p.move_object, move_to=tuple(parse_vector(p.move_to, "move_to", 2)),
                             move_at=p.move_at)
        self.extrinsic = parse_extrinsic(p.camera_extrinsic)
        for name, index in (("audio_object", p.audio_object), ("tactile_object", p.tactile_object)):
            if not -1 <= index < len(cfg.objects):
                raise ValueError(f"parameter {name} must be -1 or an object index < {len(cfg.objects)}, got {index}")
        self.sim = SimScene(cfg)
        driver = sensor_qos(reliability="reliable")  # as camera drivers publish by default
        self.pubs = {
            "camera": self.create_publisher(Image, SENSOR_TOPICS["camera"], driver),
            "depth": self.create_publisher(Image, SENSOR_TOPICS["depth"], driver),
            "thermal": self.create_publisher(Image, SENSOR_TOPICS["thermal"], driver),
            "pointcloud": self.create_publisher(PointCloud2, SENSOR_TOPICS["pointcloud"], driver),
            "camera_info": self.create_publisher(CameraInfo, CAMERA_INFO, driver),
            "audio": self.create_publisher(AudioData, SENSOR_TOPICS["audio"], driver),
            "tactile": self.create_publisher(Image, SENSOR_TOPICS["tactile"], driver),
        }
        self.every = {k: (0 if getattr(p, f"{k}_rate") == 0 else max(1, round(p.camera_rate / getattr(p, f"{k}_rate"))))
                      for k in IMAGE_STREAMS}
        self.ticks = {"frame": 0, "audio": 0, "tactile": 0}
        self._truth_publisher = self.create_publisher(String, GROUND_TRUTH, latched_qos())
        self._publish_truth(0)
        self._start_poses(p)
        self.create_timer(1.0 / p.camera_rate, self._on_frame)
        if p.audio_rate > 0:
            self.create_timer(1.0 / p.audio_rate, self._on_audio)
        if p.tactile_rate > 0:
            self.create_timer(1.0 / p.tactile_rate, self._on_tactile)
        self.get_logger().info(f"playing a scene of {len(self.sim)} objects at {p.camera_rate} Hz")

    def _publish_truth(self, tick: int) -> None:
        p = self.params
        msg = String(data=json.dumps({
            **self.sim.ground_truth(tick), "frame_id": p.frame_id, "world_frame": p.world_frame,
            "audio_object": p.audio_object, "tactile_object": p.tactile_object}))
        if self._stopping:
            return
        try:
            self._truth_publisher.publish(msg)
        except Exception:
            if not self._stopping and context_ok(self):
                raise

    def _start_poses(self, p: PlayerParams) -> None:
        """Odometry publisher; /tf and /tf_static where tf2_msgs exists (not on PyPI)."""
        self.odometry_pub = self.tf_pub = None
        if p.publish_odometry:
            from nav_msgs.msg import Odometry

            self._odometry_type = Odometry
            self.odometry_pub = self.create_publisher(Odometry, ODOMETRY, results_qos(100))
        if importlib.util.find_spec("tf2_msgs") is not None:
            from geometry_msgs.msg import TransformStamped
            from tf2_msgs.msg import TFMessage

            self._tf_types = (TFMessage, TransformStamped)
            self.tf_pub = self.create_publisher(TFMessage, "/tf", results_qos(100))
            static = self.create_publisher(TFMessage, "/tf_static", latched_qos())
            static.publish(TFMessage(transforms=[self._stamped(self.extrinsic, Header(frame_id=p.base_frame),
                                                               p.frame_id)]))
            self._tf_static_publisher = static

    def _stamped(self, transform: RigidTransform, header: Header, child: str):
        _, stamped_type = self._tf_types
        t = stamped_type(header=header, child_frame_id=child)
        transform_to_msg(transform, t.transform)
        return t

    def _publish_pose(self, tick: int, stamp) -> None:
        """The body pose at this frame: world <- base = (world <- camera) * (base <- camera)^-1."""
        p = self.params
        body = RigidTransform.from_matrix(self.sim.pose(tick)) * self.extrinsic.inverse()
        header = Header(stamp=stamp, frame_id=p.world_frame)
        if self.odometry_pub is not None:
            msg = self._odometry_type(header=header, child_frame_id=p.base_frame)
            transform_to_pose(body, msg.pose.pose)
            self._send_to(self.odometry_pub, "odometry", msg)
        if self.tf_pub is not None:
            self._send_to(self.tf_pub, "tf", self._tf_types[0](transforms=[self._stamped(body, header, p.base_frame)]))

    def _send_to(self, publisher, stream: str, msg) -> None:
        """Publish and count; nothing once the node is being destroyed (an executor thread may still
        be in a timer callback then: its publishers' handles are going away, and the error would
        come out of the executor's spin, stopping it for every other node it runs)."""
        if self._stopping:
            return
        try:
            publisher.publish(msg)
        except Exception:
            if self._stopping or not context_ok(self):
                return
            raise
        self._count(stream)

    def _header(self) -> Header:
        return Header(stamp=self.get_clock().now().to_msg(), frame_id=self.params.frame_id)

    def _count(self, stream: str) -> None:
        self.published[stream] = self.published.get(stream, 0) + 1
        self.stats.on_received()
        self.stats.on_processed(0.0)

    def _send(self, stream: str, msg) -> None:
        self._send_to(self.pubs[stream], stream, msg)

    def _on_frame(self) -> None:
        tick = self.ticks["frame"]
        self.ticks["frame"] += 1
        due = [s for s in IMAGE_STREAMS if self.every[s] and tick % self.every[s] == 0]
        if not due:
            return
        if self.sim.moved(tick) and not self.sim.moved(tick - 1):
            self._publish_truth(tick)
            self.get_logger().info(f"object {self.params.move_object} moved to {self.params.move_to}")
        frame, header = self.sim.frame(tick), self._header()
        self._publish_pose(tick, header.stamp)  # before the frame: the pose is there when the frame is
        builders = {
            "camera": lambda: array_to_image(frame.rgb, "rgb8", header),
            "depth": lambda: array_to_image(frame.depth, "32FC1", header),
            "thermal": lambda: array_to_image(frame.thermal, "32FC1", header),
            "pointcloud": lambda: xyz_to_cloud(frame.points, header),
        }
        self._send("camera_info", to_camera_info(self.sim.pinhole, header))
        for stream in due:
            self._send(stream, builders[stream]())

    def _object(self, fixed: int, tick: int) -> int:
        return fixed if fixed >= 0 else tick % len(self.sim)

    def _on_audio(self) -> None:
        tick = self.ticks["audio"]
        self.ticks["audio"] += 1
        wave = self.sim.sound(self._object(self.params.audio_object, tick), tick)
        self._send("audio", array_to_audio(wave, self.params.audio_sample_rate, self.params.audio_format,
                                           self._header()))

    def _on_tactile(self) -> None:
        tick = self.ticks["tactile"]
        self.ticks["tactile"] += 1
        patch = self.sim.touch(self._object(self.params.tactile_object, tick), tick)
        self._send("tactile", array_to_image(patch, "rgb8", self._header()))

    def _extra(self):
        return {f"published_{k}": str(v) for k, v in sorted(self.published.items())}

    def destroy_node(self) -> None:
        self._stopping = True
        if getattr(self, "replayer", None) is not None:
            self.replayer.stop()
        super().destroy_node()


def main(args: Optional[List[str]] = None) -> int:
    """``sensor_player`` executable."""
    return run_node(SensorPlayerNode, "codebind_sensor_player", args,
                    multi_threaded=NODE_KINDS["sensor_player"].multi_threaded)


if __name__ == "__main__":
    sys.exit(main())
