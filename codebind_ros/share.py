"""Files of the package's share directory (``config/``): next to the sources in a checkout, else in
the installed ``share/codebind_ros`` (CMakeLists.txt installs launch/ and config/ there)."""
from __future__ import annotations

from pathlib import Path


def config_file(name: str) -> Path:
    """``config/<name>`` of the checkout, or of the installed share directory."""
    here = Path(__file__).resolve().parents[1] / "config" / name
    if here.is_file():
        return here
    from ament_index_python.packages import get_package_share_directory

    return Path(get_package_share_directory("codebind_ros")) / "config" / name
