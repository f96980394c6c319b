"""The Fast DDS profile for full-size frames on one host (``config/fastdds_large_frames.xml``).

A best-effort reader receives a large frame from another process only when the publisher's
shared-memory segment holds it; the profile gives every participant a 64 MB segment. Fast DDS 2.x
(Jazzy's 2.14) reads the profile only from ``FASTRTPS_DEFAULT_PROFILES_FILE``; Fast DDS 3.x
(Kilted) from ``FASTDDS_DEFAULT_PROFILES_FILE``, and its rmw warns that the older name is
deprecated at every node start. So the variable of the Fast DDS in use is set (both when its
version cannot be told). The graph's own processes (launch file, ``codebind-graph``/``make demo``)
use the profile unless the user set one; the drivers' processes need it too (docs/ros.md).
"""
from __future__ import annotations

import os
from importlib import metadata
from pathlib import Path
from typing import Dict, MutableMapping, Optional, Tuple

from codebind_ros.share import config_file

PROFILE_NAME = "fastdds_large_frames.xml"
FASTDDS_VARIABLE = "FASTDDS_DEFAULT_PROFILES_FILE"  # Fast DDS 3.x
FASTRTPS_VARIABLE = "FASTRTPS_DEFAULT_PROFILES_FILE"  # Fast DDS 2.x
PROFILE_VARIABLES = (FASTDDS_VARIABLE, FASTRTPS_VARIABLE)
# ROS 2 distributions whose default middleware is Fast DDS 2.x
FASTDDS_2_DISTROS = ("humble", "iron", "jazzy")


def large_frames_profile() -> Path:
    """The profile next to the sources (checkout) or in the installed share directory."""
    return config_file(PROFILE_NAME)


def fastdds_major(environ: MutableMapping[str, str] = os.environ) -> Optional[int]:
    """Fast DDS's major version: from the installed ROS wheels (``ros-fastdds`` 3.x,
    ``ros-fastrtps`` 2.x), else from ``ROS_DISTRO`` (a sourced ROS install); None if neither tells."""
    for dist in ("ros-fastdds", "ros-fastrtps"):
        try:
            return int(metadata.version(dist).split(".")[0])
        except (metadata.PackageNotFoundError, ValueError):
            pass
    return distro_fastdds_major(environ.get("ROS_DISTRO", ""))


def distro_fastdds_major(distro: str) -> Optional[int]:
    """The Fast DDS major version ROS 2 ``distro`` ships (None for an empty name)."""
    distro = distro.strip().lower()
    if not distro:
        return None
    return 2 if distro in FASTDDS_2_DISTROS else 3


def profile_variables(major: Optional[int]) -> Tuple[str, ...]:
    """The variables Fast DDS ``major`` reads the profile from (both when unknown)."""
    return {2: (FASTRTPS_VARIABLE,), 3: (FASTDDS_VARIABLE,)}.get(major, PROFILE_VARIABLES)


def profile_environment(profile, variables: Optional[Tuple[str, ...]] = None) -> Dict[str, str]:
    """The environment that makes Fast DDS load ``profile``: ``variables`` (default: those the
    Fast DDS in use reads) set to it."""
    return {name: str(profile) for name in variables or profile_variables(fastdds_major())}


def uses_fastdds(environ: MutableMapping[str, str] = os.environ) -> bool:
    """Whether the middleware is Fast DDS (the ROS 2 default when RMW_IMPLEMENTATION is unset)."""
    return environ.get("RMW_IMPLEMENTATION", "rmw_fastrtps_cpp").startswith("rmw_fastrtps")


def use_large_frames_profile(environ: MutableMapping[str, str] = os.environ,
                             variables: Optional[Tuple[str, ...]] = None) -> Optional[str]:
    """Point ``environ`` at the profile unless the middleware is not Fast DDS; call before
    ``rclpy.init``. A profile the user already set in either variable is kept and given to the
    ``variables`` (default: those the Fast DDS in use reads) that are unset. Returns the profile in
    force (None: not Fast DDS)."""
    if not uses_fastdds(environ):
        return None
    profile = next((environ[v] for v in PROFILE_VARIABLES if environ.get(v)), None) or str(large_frames_profile())
    for name in variables or profile_variables(fastdds_major(environ)):
        if not environ.get(name):
            environ[name] = profile
    return profile
