"""Per-step training logs: a CSV file (always) and TensorBoard event files (optional).

On resume the CSV is cut back to the checkpoint's step, so a run killed after its last checkpoint
and resumed ends with exactly one row per step, as if it had never stopped.
"""
from __future__ import annotations

import csv
from pathlib import Path
from typing import Dict, List, Optional

LOG_BACKENDS = ("csv", "tensorboard", "both")


class RunLog:
    """Append step rows ({name: float}) to ``<dir>/log.csv`` and, if asked, to TensorBoard."""

    def __init__(self, out_dir: str | Path, backend: str = "csv", resume_step: int = 0):
        if backend not in LOG_BACKENDS:
            raise ValueError(f"unknown log backend {backend!r}; choose from {LOG_BACKENDS}")
        self.path = Path(out_dir) / "log.csv"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fields: Optional[List[str]] = None
        self._truncate(resume_step)
        self._tb = None
        if backend in ("tensorboard", "both"):
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError as e:
                raise ValueError("log backend 'tensorboard' needs the tensorboard package "
                                 "(pip install tensorboard -c constraints.txt)") from e
            self._tb = SummaryWriter(str(Path(out_dir) / "tensorboard"), purge_step=resume_step + 1)

    def _truncate(self, resume_step: int) -> None:
        if not self.path.is_file():
            return
        with self.path.open(newline="") as f:
            rows = list(csv.DictReader(f))
            fields = rows[0].keys() if rows else None
        keep = [r for r in rows if int(r["step"]) <= resume_step]
        if fields is None or resume_step == 0:
            self.path.unlink()
            return
        self._fields = list(fields)
        with self.path.open("w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=self._fields)
            w.writeheader()
            w.writerows(keep)

    def write(self, step: int, values: Dict[str, float]) -> None:
        row = {"step": step, **{k: f"{v:.9g}" for k, v in values.items()}}
        new = not self.path.is_file()
        if self._fields is None:
            self._fields = list(row)
        with self.path.open("a", newline="") as f:
            w = csv.DictWriter(f, fieldnames=self._fields, extrasaction="ignore")
            if new:
                w.writeheader()
            w.writerow(row)
        if self._tb is not None:
            for k, v in values.items():
                self._tb.add_scalar(k, v, step)

    def close(self) -> None:
        if self._tb is not None:
            self._tb.close()


def read_log(path: str | Path) -> List[Dict[str, float]]:
    """Rows of a log.csv as dicts of floats (``step`` as int)."""
    with Path(path).open(newline="") as f:
        return [{k: (int(v) if k == "step" else float(v)) for k, v in r.items()} for r in csv.DictReader(f)]
