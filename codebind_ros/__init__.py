"""codebind_ros: the ROS 2 layer over codebind_core (nodes, message conversions, interfaces).

The package's ROS interfaces are imported as ``codebind_ros.msg`` and ``codebind_ros.srv``, the
way ROS 2 names a package's generated Python code. Where they live:

* colcon / ament install: rosidl installs ``msg/``, ``srv/`` and the extension modules into the
  installed ``codebind_ros`` directory, and CMakeLists.txt merges these sources into it.
* a virtual environment (``scripts/build_interfaces.sh``): the generated package is installed to
  ``$VENV/lib/codebind_ros_interfaces/codebind_ros`` and appended to this package's ``__path__``
  below, so ``codebind_ros.msg`` resolves there while our own modules resolve here.
  ``CODEBIND_ROS_INTERFACES`` overrides that directory.

Importing this package does not import rclpy; only the node modules do.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

__all__ = ["interfaces_dir"]


def interfaces_dir() -> Path | None:
    """Directory holding the generated ``msg``/``srv`` modules, or None if not built."""
    here = Path(__file__).resolve().parent
    candidates = [here]
    override = os.environ.get("CODEBIND_ROS_INTERFACES")
    if override:
        candidates.insert(0, Path(override))
    candidates.append(Path(sys.prefix) / "lib" / "codebind_ros_interfaces" / "codebind_ros")
    for candidate in candidates:
        if (candidate / "msg" / "__init__.py").is_file():
            return candidate
    return None


def _extend_path() -> None:
    found = interfaces_dir()
    if found is not None and str(found) not in __path__:  # noqa: F821 (module global)
        __path__.append(str(found))  # noqa: F821


_extend_path()
