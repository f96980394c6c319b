"""The linter as a test, as ros2 packages run ament_flake8: ``ruff check`` (settings in ruff.toml:
pyflakes and pycodestyle, 120-character lines) over every Python tree of the repository."""
import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TREES = ("codebind_core", "codebind_ros", "training", "scripts", "tests", "benchmarks")


def test_ruff_check_passes():
    if importlib.util.find_spec("ruff") is None:
        pytest.fail("ruff is not installed; it is pinned in requirements.txt (pip install -r requirements.txt)")
    trees = [t for t in TREES if (ROOT / t).is_dir()]
    proc = subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", "--config", str(ROOT / "ruff.toml"),
                           *trees], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, f"ruff check found problems:\n{proc.stdout}{proc.stderr}"
