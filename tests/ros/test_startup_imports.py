"""What a Python process of the venv pays at start-up: not torch.

scripts/bootstrap.sh installs a start-up hook (scripts/torchvision_cpu_ops.py, through a ``.pth``
line) that lets PyPI's CUDA torchvision wheel import on the CPU torch. Every process of the venv
runs it (``ros2`` commands, colcon's scripts, codebind-query), so it must not import torch itself:
the op schemas are defined when torchvision is first imported. Run in fresh interpreters of the
venv under test (``make test``: .venv, ``make test-ros-jazzy``: .venv-jazzy)."""
from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
HOOK = Path(sysconfig.get_paths()["purelib"]) / "_codebind_torchvision_cpu_ops.py"
HEAVY = ("torch", "torchvision", "codebind_core")


def _python(code: str, timeout: float = 300.0) -> subprocess.CompletedProcess:
    env = dict(os.environ, ROS_DOMAIN_ID="0")
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                          timeout=timeout, cwd=ROOT)


def _loaded_after(code: str):
    done = _python(code + "\nimport sys\nprint(sorted(m for m in %r if m in sys.modules))" % (HEAVY,))
    assert done.returncode in (0, 1, 2), done.stderr[-2000:]
    return done.stdout.strip().splitlines()[-1]


def test_the_installed_hook_is_the_current_one():
    """A venv set up before the hook changed gets it when bootstrap re-runs (its stamp covers
    scripts/*.py); a stale copy here means bootstrap has not re-run."""
    if not HOOK.is_file():
        pytest.skip("no start-up hook in this environment (not a bootstrap venv)")
    assert HOOK.read_text() == (ROOT / "scripts" / "torchvision_cpu_ops.py").read_text(), \
        f"{HOOK} is stale: run scripts/bootstrap.sh"
    pth = HOOK.parent / "codebind-torchvision-cpu-ops.pth"
    assert pth.read_text().strip() == "import _codebind_torchvision_cpu_ops"


def test_a_fresh_interpreter_imports_no_torch():
    assert _loaded_after("pass") == "[]"
    assert _loaded_after("import numpy, sys\nassert 'numpy' in sys.modules") == "[]"


def test_the_query_client_imports_no_torch():
    """codebind-query, run against a graph that is not there, loads rclpy and the messages (numpy)
    only."""
    code = ("from codebind_ros.tools.query_cli import main\n"
            "rc = main(['the red sphere', '--timeout', '0.2'])\nassert rc == 2, rc")
    assert _loaded_after(code) == "[]"


def test_torchvision_imports_with_its_op_schemas():
    done = _python("import torchvision, torch, sys\n"
                   "from torchvision.transforms import functional\n"
                   "print(torchvision.__version__, torch.ops.torchvision.nms.default.name())")
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.split()[-1] == "torchvision::nms", done.stdout


def test_torchvision_imports_from_threads_at_once():
    """The schemas are defined once, before any thread's torchvision import runs."""
    code = ("import threading, sys\nerrors = []\n"
            "def load():\n    try:\n        import torchvision\n    except BaseException as e:\n"
            "        errors.append(repr(e))\n"
            "threads = [threading.Thread(target=load) for _ in range(4)]\n"
            "[t.start() for t in threads]; [t.join() for t in threads]\n"
            "print(errors, 'torchvision' in sys.modules)")
    done = _python(code)
    assert done.returncode == 0 and done.stdout.split()[-2:] == ["[]", "True"], done.stdout + done.stderr[-3000:]
