"""An oversized message is refused before it is deserialised: its bytes are checked first, so a
200 MB image never becomes a ROS message object in the node (real rclpy, the driver in its own
process, peak resident memory of this process measured by the kernel)."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from ros_testing import Collector, wait_until
from rclpy.node import Node

from machine import reset_peak_rss, status_kb

from codebind_ros.messaging.middleware import large_frames_profile, profile_environment
from codebind_ros.msg import Embedding
from ros_testing import make_encoder

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
MB = 1 << 20


def test_a_200_mb_message_is_refused_before_it_is_deserialised(spin, ros_context, tiny_model, topic):
    if not reset_peak_rss():
        pytest.skip("the kernel does not let a process reset its peak RSS")
    # reliable, so that the whole message reaches the node (a best-effort reader, the default,
    # only ever sees it complete when the driver's shared-memory segment holds it)
    encoder = spin.add(make_encoder(tiny_model, "camera", topic, ros_context, **{
        f"qos_overrides.{topic}/in.subscription.reliability": "reliable"}))
    helper = spin.add(Node("oversized_helper", context=ros_context))
    out = Collector(helper, Embedding, f"{topic}/out")
    env = dict(os.environ, ROS_DOMAIN_ID=str(ros_context.get_domain_id()),
               ROS_AUTOMATIC_DISCOVERY_RANGE="LOCALHOST", **profile_environment(large_frames_profile()),
               PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    try:
        reset_peak_rss()
        before = status_kb("VmRSS")
        done = subprocess.run([sys.executable, str(HERE / "big_publisher.py"), "--topic", f"{topic}/in"],
                              env=env, cwd=ROOT, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr[-2000:]
        size = int(done.stdout.strip().splitlines()[-1])
        assert size > 200_000_000  # 200 MB
        # refused (counted invalid, named in the detail), and the next frame is embedded as usual
        assert wait_until(lambda: encoder.stats.dropped["invalid"] == 1 and encoder.stats.processed == 1, 30.0), \
            encoder.stats.snapshot()
        assert "refused before deserialising" in encoder.stats.snapshot().last_error or \
            encoder.sensor_subscription.refused_oversize == 1
        assert len(out.wait_for(1, 10.0)) == 1
        growth = (status_kb("VmHWM") - before) * 1024
        print(f"peak RSS growth {growth / MB:.0f} MB for a message of {size / MB:.0f} MB")
        # What is left: the middleware's copy of the sample, rcl's serialized copy and the Python
        # bytes of rclpy's raw take (3 x its size). Deserialising it as well costs a further copy
        # into the C message and one into the Python message: 4 x and more.
        assert growth < 3.5 * size, f"{growth / MB:.0f} MB peak growth for {size / MB:.0f} MB"
    finally:
        spin.remove(encoder)
        spin.remove(helper)
