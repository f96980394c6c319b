"""The large-frames Fast DDS profile reaches the Fast DDS in use: 2.x (Jazzy's 2.14) reads only
FASTRTPS_DEFAULT_PROFILES_FILE (without it Jazzy's participants kept the default 0.5 MB
shared-memory segment and a best-effort reader lost most 640 x 480 frames: 12 of 90 at 10 Hz);
3.x (Kilted) reads FASTDDS_DEFAULT_PROFILES_FILE, and its rmw warns at every node start when the
older name is set, so only the variable of the version in use is set."""
from __future__ import annotations

import os
import subprocess
import sys
import uuid
from importlib import metadata
from pathlib import Path

import pytest

from codebind_ros.messaging.middleware import (FASTDDS_VARIABLE as FASTDDS, FASTRTPS_VARIABLE as FASTRTPS,
                                               PROFILE_VARIABLES, distro_fastdds_major, fastdds_major,
                                               large_frames_profile, profile_environment, profile_variables,
                                               use_large_frames_profile)
from launch_recorder import run_launch_file

SHIPPED = str(large_frames_profile())


def _this_distro() -> str:
    """This venv's ROS distribution, told by its rclpy wheel (not by the Fast DDS lookup)."""
    for distro in ("kilted", "jazzy"):
        try:
            metadata.version(f"ros-{distro}-rclpy")
            return distro
        except metadata.PackageNotFoundError:
            pass
    pytest.skip("rclpy is not from the ROS wheels")


@pytest.mark.parametrize("major,given,expected", [
    (3, {}, {FASTDDS: SHIPPED}),
    (2, {}, {FASTRTPS: SHIPPED}),
    (None, {}, {FASTDDS: SHIPPED, FASTRTPS: SHIPPED}),
    (3, {FASTRTPS: "/robot/jazzy.xml"}, {FASTDDS: "/robot/jazzy.xml", FASTRTPS: "/robot/jazzy.xml"}),
    (2, {FASTDDS: "/robot/mine.xml"}, {FASTDDS: "/robot/mine.xml", FASTRTPS: "/robot/mine.xml"}),
    (3, {FASTDDS: "/robot/mine.xml"}, {FASTDDS: "/robot/mine.xml"}),
    (2, {FASTDDS: "/a.xml", FASTRTPS: "/b.xml"}, {FASTDDS: "/a.xml", FASTRTPS: "/b.xml"}),
])
def test_the_variable_of_the_fast_dds_in_use_is_set_and_a_users_profile_kept(major, given, expected):
    env = dict(given)
    in_force = given.get(FASTDDS) or given.get(FASTRTPS) or SHIPPED
    assert use_large_frames_profile(env, profile_variables(major)) == in_force
    assert {k: env[k] for k in PROFILE_VARIABLES if k in env} == expected


@pytest.mark.parametrize("distro,major", [("humble", 2), ("jazzy", 2), (" Jazzy\n", 2), ("kilted", 3),
                                          ("rolling", 3), ("", None)])
def test_ros_distro_tells_the_fast_dds_version(distro, major):
    assert distro_fastdds_major(distro) == major


def test_the_fast_dds_of_this_venv_is_found():
    assert fastdds_major({}) == {"jazzy": 2, "kilted": 3}[_this_distro()]


def test_other_middlewares_are_left_alone():
    env = {"RMW_IMPLEMENTATION": "rmw_cyclonedds_cpp"}
    assert use_large_frames_profile(env) is None and env == {"RMW_IMPLEMENTATION": "rmw_cyclonedds_cpp"}


def test_the_launch_file_gives_every_node_the_variable_of_this_fast_dds(monkeypatch):
    for name in PROFILE_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    _, nodes = run_launch_file(monkeypatch)
    expected = {FASTRTPS if _this_distro() == "jazzy" else FASTDDS: SHIPPED}
    assert profile_environment(SHIPPED) == expected
    assert nodes and all(n.kwargs["additional_env"] == expected for n in nodes)


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
def test_a_participant_of_this_fast_dds_gets_the_64_mb_segment_without_a_warning(tmp_path):
    """A real participant in a child process with only the variables set has the profile's 64 MB
    shared-memory segment (beside it Fast DDS also maps a default-sized one; without the profile
    there is only that) and logs no warning. With FASTDDS_DEFAULT_PROFILES_FILE alone, Jazzy's
    has no such segment; with FASTRTPS_DEFAULT_PROFILES_FILE set, Kilted's rmw warns."""
    env = {k: v for k, v in os.environ.items() if k not in PROFILE_VARIABLES}
    use_large_frames_profile(env)
    env.update(ROS_DOMAIN_ID=str(150 + uuid.uuid4().int % 50), ROS_AUTOMATIC_DISCOVERY_RANGE="LOCALHOST",
               ROS_LOG_DIR=str(tmp_path))
    before = set(_segments())
    child = subprocess.Popen([sys.executable, "-c", PARTICIPANT], env=env, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "segments up"
        new = {p: size for p, size in _segments().items() if p not in before}
    finally:
        _, err = child.communicate(timeout=30)
    assert child.returncode == 0, err
    assert new, "the participant created no shared-memory segment"
    assert any(size >= 64 * 2 ** 20 for size in new.values()), new
    assert "WARN" not in err and "deprecated" not in err, err
