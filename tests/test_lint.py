"""The linter as a test, as ros2 packages run ament_flake8: ``ruff check .`` (settings in ruff.toml:
pyflakes and pycodestyle, 120-character lines) over the whole repository, launch files included,
with no per-file exemptions."""
import importlib.util
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _ruff(*args: str) -> subprocess.CompletedProcess:
    if importlib.util.find_spec("ruff") is None:
        pytest.fail("ruff is not installed; it is pinned in requirements.txt (pip install -r requirements.txt)")
    return subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", "--config", str(ROOT / "ruff.toml"),
                           *args], cwd=ROOT, capture_output=True, text=True, timeout=300)


def test_ruff_check_passes():
    proc = _ruff(".")
    assert proc.returncode == 0, f"ruff check found problems:\n{proc.stdout}{proc.stderr}"


def test_every_tracked_python_file_is_linted():
    tracked = subprocess.run(["git", "ls-files", "*.py"], cwd=ROOT, capture_output=True, text=True)
    if tracked.returncode != 0:
        pytest.skip("not a git checkout")
    linted = {str(Path(p).resolve().relative_to(ROOT)) for p in _ruff("--show-files", ".").stdout.split()
              if p.endswith(".py")}
    missing = sorted(set(tracked.stdout.split()) - linted)
    assert not missing, f"not linted: {missing}"
    assert "launch/perception.launch.py" in linted


def test_no_per_file_exemptions():
    settings = tomllib.loads((ROOT / "ruff.toml").read_text(encoding="utf-8"))
    exempt = set(settings.get("lint", {}).get("per-file-ignores", {}))
    assert not exempt, f"per-file exemptions in ruff.toml: {sorted(exempt)}"
