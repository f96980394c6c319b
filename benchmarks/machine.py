"""What the benchmarks (and the memory tests) read about the machine and a process: the CPU model,
and resident memory from the kernel (Linux /proc; None or False where it is missing)."""
from __future__ import annotations

import platform
from pathlib import Path
from typing import Optional, Union

Pid = Union[int, str]


def cpu_model() -> str:
    """The CPU model name from /proc/cpuinfo (platform.processor() or the machine where that is missing)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def status_kb(key: str, pid: Pid = "self") -> Optional[int]:
    """A kB field of /proc/<pid>/status (``VmRSS``, ``VmHWM`` ...); None when unreadable."""
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def rss_mb(pid: Pid = "self") -> Optional[float]:
    """Resident memory (VmRSS) in MiB."""
    kb = status_kb("VmRSS", pid)
    return None if kb is None else kb / 1024.0


def peak_rss_mb(pid: Pid = "self") -> Optional[float]:
    """Peak resident memory (VmHWM) in MiB since the process started or :func:`reset_peak_rss`."""
    kb = status_kb("VmHWM", pid)
    return None if kb is None else kb / 1024.0


def reset_peak_rss() -> bool:
    """Reset this process's peak RSS (VmHWM) to its current RSS (Linux >= 4.0: clear_refs 5)."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False
