"""A sensor driver in its own process: full-size frames on a given QoS, for QoS tests/benchmarks.

    python tests/ros/sensor_publisher.py --prefix /t1 --reliability best_effort --frames 5 \
        --streams camera_vga,camera_hd,depth_vga,cloud_300k --stream-frames camera_vga=60

Each stream publishes on ``<prefix>/<stream>`` after a subscription has appeared on it (or
``--wait`` seconds), ``--frames`` messages at the stream's usual rate, streams one after the
other; then it prints one JSON line ``{"<stream>": sent, ..., "failed": {"<stream>": n}}``
(``failed``: publish() calls that raised, e.g. a reliable writer blocked past its limit; those
frames are not in ``sent``) and exits. A separate process
matters: within one process the middleware hands messages over without the network transport
that loses large best-effort samples. ROS_DOMAIN_ID and the discovery range come from the
environment.
"""
from __future__ import annotations

import argparse
import json
import time

import numpy as np

# stream -> (usual rate in Hz, builder of one message)
STREAMS = {
    "camera_vga": (30.0, lambda rng: _image(rng.integers(0, 256, (480, 640, 3), dtype=np.uint8), "rgb8")),
    "camera_hd": (30.0, lambda rng: _image(rng.integers(0, 256, (720, 1280, 3), dtype=np.uint8), "rgb8")),
    "depth_vga": (30.0, lambda rng: _image(rng.integers(300, 5000, (480, 640), dtype=np.uint16), "16UC1")),
    "cloud_300k": (10.0, lambda rng: _cloud(rng, 300_000)),
}
MESSAGE_TYPES = {"camera_vga": "Image", "camera_hd": "Image", "depth_vga": "Image", "cloud_300k": "PointCloud2"}


def _image(array, encoding):
    from codebind_ros.conversions.image import array_to_image

    return array_to_image(array, encoding)


def _cloud(rng, n):
    from codebind_ros.conversions.pointcloud2 import xyz_to_cloud

    pts = np.concatenate([rng.uniform(-2, 2, (n, 3)), rng.integers(0, 256, (n, 3)) / 255.0], axis=1)
    return xyz_to_cloud(pts.astype(np.float32))


def message_type(stream: str):
    from sensor_msgs.msg import Image, PointCloud2

    return {"Image": Image, "PointCloud2": PointCloud2}[MESSAGE_TYPES[stream]]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--prefix", required=True)
    parser.add_argument("--reliability", default="reliable")
    parser.add_argument("--depth", type=int, default=5)
    parser.add_argument("--frames", type=int, default=5)
    parser.add_argument("--stream-frames", default="",
                        help="per-stream counts overriding --frames, e.g. camera_vga=60,camera_hd=60")
    parser.add_argument("--streams", default=",".join(STREAMS))
    parser.add_argument("--rate", type=float, default=0.0, help="frames per second (0: each stream's usual rate)")
    parser.add_argument("--wait", type=float, default=15.0, help="seconds to wait for a subscriber")
    parser.add_argument("--linger", type=float, default=0.0,
                        help="seconds each publisher stays after its last frame")
    parser.add_argument("--lead-pause", type=float, default=0.0,
                        help="seconds between a stream's first frame and the rest (the first frame then "
                             "surely arrives, and a subscriber counts any later loss from its sequence)")
    args = parser.parse_args()

    import rclpy
    from rclpy.node import Node

    from codebind_ros.messaging.qos import sensor_qos

    frames = {stream: args.frames for stream in STREAMS}
    frames.update({k: int(v) for k, v in (item.split("=") for item in args.stream_frames.split(",") if item)})
    rng = np.random.default_rng(0)
    sent, failed = {}, {}
    rclpy.init()
    try:
        node = Node("codebind_test_sensor_publisher")
        for stream in args.streams.split(","):
            rate, build = STREAMS[stream]
            rate = args.rate or rate
            pub = node.create_publisher(message_type(stream), f"{args.prefix}/{stream}",
                                        sensor_qos(args.depth, args.reliability))
            deadline = time.monotonic() + args.wait
            while pub.get_subscription_count() < 1 and time.monotonic() < deadline:
                time.sleep(0.05)
            time.sleep(0.5)  # let the match settle on both sides
            msg = build(rng)
            due = time.monotonic()
            sent[stream] = failed[stream] = 0
            for i in range(frames[stream]):
                msg.header.stamp.sec, msg.header.stamp.nanosec = divmod(time.time_ns(), 1_000_000_000)
                try:
                    pub.publish(msg)
                    sent[stream] += 1
                except Exception:  # rclpy's RCLError "cannot publish data": the driver's frame is gone
                    failed[stream] += 1
                due += 1.0 / rate + (args.lead_pause if i == 0 else 0.0)  # paced by a clock: the
                # stream keeps its rate whatever a publish costs
                time.sleep(max(0.0, due - time.monotonic()))
            time.sleep(1.0 + args.linger)  # reliable delivery may still be repairing the last frame
            node.destroy_publisher(pub)
        node.destroy_node()
    finally:
        rclpy.shutdown()
    print(json.dumps({**sent, "failed": failed}), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
