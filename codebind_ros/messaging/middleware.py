"""The Fast DDS profile for full-size frames on one host (``config/fastdds_large_frames.xml``).

A best-effort reader receives a large frame from another process only when the publisher's
shared-memory segment holds it; the profile gives every participant a 64 MB segment. Fast DDS 3.x
(Kilted) reads the profile from ``FASTDDS_DEFAULT_PROFILES_FILE``, Fast DDS 2.x (Jazzy's 2.14)
only from ``FASTRTPS_DEFAULT_PROFILES_FILE``: both are set. The graph's own processes (launch
file, ``codebind-graph``/``make demo``) use the profile unless one of the two is already set; the
drivers' processes need it too (docs/ros.md).
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Dict, MutableMapping, Optional

from codebind_ros.share import config_file

PROFILE_NAME = "fastdds_large_frames.xml"
# Fast DDS 3.x's variable, then 2.x's (Jazzy): each version reads only its own
PROFILE_VARIABLES = ("FASTDDS_DEFAULT_PROFILES_FILE", "FASTRTPS_DEFAULT_PROFILES_FILE")


def large_frames_profile() -> Path:
    """The profile next to the sources (checkout) or in the installed share directory."""
    return config_file(PROFILE_NAME)


def profile_environment(profile) -> Dict[str, str]:
    """The environment variables that make every Fast DDS version load ``profile``."""
    return {name: str(profile) for name in PROFILE_VARIABLES}


def uses_fastdds(environ: MutableMapping[str, str] = os.environ) -> bool:
    """Whether the middleware is Fast DDS (the ROS 2 default when RMW_IMPLEMENTATION is unset)."""
    return environ.get("RMW_IMPLEMENTATION", "rmw_fastrtps_cpp").startswith("rmw_fastrtps")


def use_large_frames_profile(environ: MutableMapping[str, str] = os.environ) -> Optional[str]:
    """Point ``environ`` at the profile unless the middleware is not Fast DDS; call before
    ``rclpy.init``. A profile the user already set in either variable is kept and given to the
    other one too (so it holds on Jazzy and Kilted alike). Returns the profile in force (None:
    not Fast DDS)."""
    if not uses_fastdds(environ):
        return None
    profile = next((environ[v] for v in PROFILE_VARIABLES if environ.get(v)), None) or str(large_frames_profile())
    for name in PROFILE_VARIABLES:
        if not environ.get(name):
            environ[name] = profile
    return profile
