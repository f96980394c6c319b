"""`python -m codebind_core.demo` says when the model it runs is random."""
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _demo(*args: str) -> str:
    p = subprocess.run([sys.executable, "-m", "codebind_core.demo", *args], cwd=ROOT, capture_output=True,
                       text=True, timeout=300)
    assert p.returncode == 0, p.stderr[-2000:]
    return p.stdout


def test_random_model_is_announced_and_a_checkpoint_is_not():
    random_run = _demo()
    assert "RANDOMLY INITIALISED" in random_run and "--checkpoint models/demo" in random_run
    trained = _demo("--checkpoint", str(ROOT / "models" / "demo"))
    assert "RANDOMLY" not in trained and "cross-modal cosine similarity" in trained
