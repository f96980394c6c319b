"""The large-frames Fast DDS profile reaches every Fast DDS version: 3.x (Kilted) reads
FASTDDS_DEFAULT_PROFILES_FILE, 2.x (Jazzy's 2.14) only FASTRTPS_DEFAULT_PROFILES_FILE. Without the
second, Jazzy's participants kept the default 0.5 MB shared-memory segment and a best-effort
reader lost most 640 x 480 frames (12 of 90 arrived at 10 Hz)."""
from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from codebind_ros.messaging.middleware import (PROFILE_VARIABLES, large_frames_profile, profile_environment,
                                               use_large_frames_profile)
from launch_recorder import run_launch_file

SHIPPED = str(large_frames_profile())
FASTDDS, FASTRTPS = PROFILE_VARIABLES


@pytest.mark.parametrize("given,expected", [
    ({}, {FASTDDS: SHIPPED, FASTRTPS: SHIPPED}),
    ({FASTDDS: "/robot/mine.xml"}, {FASTDDS: "/robot/mine.xml", FASTRTPS: "/robot/mine.xml"}),
    ({FASTRTPS: "/robot/jazzy.xml"}, {FASTDDS: "/robot/jazzy.xml", FASTRTPS: "/robot/jazzy.xml"}),
    ({FASTDDS: "/a.xml", FASTRTPS: "/b.xml"}, {FASTDDS: "/a.xml", FASTRTPS: "/b.xml"}),
])
def test_both_variables_are_set_and_a_users_profile_is_kept(given, expected):
    env = dict(given)
    assert use_large_frames_profile(env) == expected[FASTDDS if FASTDDS in given or not given else FASTRTPS]
    assert {k: env[k] for k in PROFILE_VARIABLES} == expected


def test_other_middlewares_are_left_alone():
    env = {"RMW_IMPLEMENTATION": "rmw_cyclonedds_cpp"}
    assert use_large_frames_profile(env) is None and env == {"RMW_IMPLEMENTATION": "rmw_cyclonedds_cpp"}


def test_the_launch_file_gives_every_node_both_variables(monkeypatch):
    for name in PROFILE_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    _, nodes = run_launch_file(monkeypatch)
    assert nodes and all(n.kwargs["additional_env"] == profile_environment(SHIPPED) for n in nodes)


PARTICIPANT = """
import rclpy, time
rclpy.init()
node = rclpy.create_node("profile_probe")
time.sleep(0.5)
print("segments up")
time.sleep(2.0)
"""


def _segments():
    shm = Path("/dev/shm")
    return {p: p.stat().st_size for p in shm.iterdir() if p.name.startswith(("fastdds_", "fastrtps_"))
            and not p.name.endswith("_el") and "port" not in p.name} if shm.is_dir() else {}


@pytest.mark.skipif(not Path("/dev/shm").is_dir(), reason="no /dev/shm")
def test_a_participant_of_this_fast_dds_gets_the_64_mb_segment(tmp_path):
    """A real participant in a child process with only the variables set has the profile's 64 MB
    shared-memory segment (beside it Fast DDS also maps a default-sized one; without the profile
    there is only that). With FASTDDS_DEFAULT_PROFILES_FILE alone, Jazzy's has none."""
    env = {k: v for k, v in os.environ.items() if k not in PROFILE_VARIABLES}
    use_large_frames_profile(env)
    env.update(ROS_DOMAIN_ID=str(150 + uuid.uuid4().int % 50), ROS_AUTOMATIC_DISCOVERY_RANGE="LOCALHOST",
               ROS_LOG_DIR=str(tmp_path))
    before = set(_segments())
    child = subprocess.Popen([sys.executable, "-c", PARTICIPANT], env=env, stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "segments up"
        new = {p: size for p, size in _segments().items() if p not in before}
    finally:
        child.wait(timeout=30)
    assert new, "the participant created no shared-memory segment"
    assert any(size >= 64 * 2 ** 20 for size in new.values()), new
