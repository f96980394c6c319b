"""Publish one large rgb8 image (``--side`` x ``--side`` pixels) and then one 64 x 48 frame on
``--topic``, reliable, from its own process; prints the serialized size of the large one."""
from __future__ import annotations

import argparse
import time

import numpy as np


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--topic", required=True)
    parser.add_argument("--side", type=int, default=8192)
    args = parser.parse_args()

    import rclpy
    from rclpy.node import Node
    from rclpy.serialization import serialize_message
    from sensor_msgs.msg import Image

    from codebind_ros.messaging.qos import sensor_qos

    rclpy.init()
    try:
        node = Node("codebind_test_big_publisher")
        pub = node.create_publisher(Image, args.topic, sensor_qos(1, "reliable"))
        deadline = time.monotonic() + 30.0
        while pub.get_subscription_count() < 1 and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.5)
        side = args.side
        big = Image(height=side, width=side, encoding="rgb8", step=3 * side,
                    data=np.full(side * side * 3, 7, np.uint8).tobytes())
        size = len(serialize_message(big))
        pub.publish(big)
        del big
        time.sleep(3.0)  # reliable delivery of 200 MB takes a moment
        small = Image(height=48, width=64, encoding="rgb8", step=192, data=bytes(64 * 48 * 3))
        pub.publish(small)
        time.sleep(2.0)
        node.destroy_node()
    finally:
        rclpy.shutdown()
    print(size, flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
