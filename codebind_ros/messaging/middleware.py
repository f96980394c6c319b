"""The Fast DDS profile for full-size frames on one host (``config/fastdds_large_frames.xml``).

A best-effort reader receives a large frame from another process only when the publisher's
shared-memory segment holds it; the profile gives every participant a 64 MB segment. The graph's
own processes (launch file, ``codebind-graph``/``make demo``) use it unless
``FASTDDS_DEFAULT_PROFILES_FILE`` is already set; the drivers' processes need it too (docs/ros.md).
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import MutableMapping, Optional

from codebind_ros.share import config_file

PROFILE_NAME = "fastdds_large_frames.xml"
PROFILE_VARIABLE = "FASTDDS_DEFAULT_PROFILES_FILE"


def large_frames_profile() -> Path:
    """The profile next to the sources (checkout) or in the installed share directory."""
    return config_file(PROFILE_NAME)


def uses_fastdds(environ: MutableMapping[str, str] = os.environ) -> bool:
    """Whether the middleware is Fast DDS (the ROS 2 default when RMW_IMPLEMENTATION is unset)."""
    return environ.get("RMW_IMPLEMENTATION", "rmw_fastrtps_cpp").startswith("rmw_fastrtps")


def use_large_frames_profile(environ: MutableMapping[str, str] = os.environ) -> Optional[str]:
    """Point ``environ`` at the profile unless a profile is already set or the middleware is not
    Fast DDS; call before ``rclpy.init``. Returns the profile in force (None: not Fast DDS)."""
    if not uses_fastdds(environ):
        return None
    if not environ.get(PROFILE_VARIABLE):
        environ[PROFILE_VARIABLE] = str(large_frames_profile())
    return environ[PROFILE_VARIABLE]
