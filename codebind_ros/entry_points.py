"""Console-script entry points (``codebind-encoder`` ...) that stop quietly on Ctrl-C at any time.

pip writes each console script as ``from <module> import <function>``; an interrupt while that
import runs (rclpy and torch load for seconds) would end in a KeyboardInterrupt traceback. These
functions import the node module themselves, inside the same guard as the node's own shutdown
(:func:`codebind_ros.nodes.session.run_node`): Ctrl-C exits with status 0 and no traceback,
whether it comes while the modules load or while the node runs. An interrupt that lands while
rclpy's C extension loads comes out as an ImportError (pybind11 wraps the KeyboardInterrupt, and
rclpy adds a misleading "C extension isn't present" to it); any error raised after a SIGINT,
whatever it says, is a consequence of the interrupt and ends the same quiet way. SIGTERM (what
``ros2 launch`` sends when Ctrl-C has not ended a process in time) is handled like SIGINT when it
is the first signal, and ignored after an interrupt, so that the clean-up under way finishes. An interrupt
that lands while a module is being imported may leave a native library half-initialised, and
such a library's exit-time destructors can fail the exit (open3d's leak check ends the process
with status 1 after an interrupted import): the process then ends without native destructors,
after Python's own shutdown steps (other threads joined, ``atexit`` callbacks, garbage collected,
streams flushed). The ``ros2 run`` executables (cmake/codebind_executables.cmake) do the same.
This module imports nothing heavy.
"""
from __future__ import annotations

import atexit
import gc
import importlib
import os
import signal
import sys
import threading


# console-script function -> the node's ``module:function`` (the same as the ros2 run executables')
TARGETS = {
    "encoder": "codebind_ros.nodes.encoder_node:main",
    "localisation": "codebind_ros.nodes.localisation_node:main",
    "memory": "codebind_ros.nodes.memory_node:main",
    "sensor_player": "codebind_ros.nodes.sensor_player:main",
    "graph": "codebind_ros.tools.graph_runner:main",
    "query": "codebind_ros.tools.query_cli:main",
}


class _Interrupts:
    """SIGINT as Python's default handler does (KeyboardInterrupt), remembering that it came and
    whether it came while a module was being imported. SIGTERM the same way when it is the first
    signal (its default would kill the process while the modules load); a SIGTERM after an
    interrupt, as ``ros2 launch`` sends when the clean-up takes a while, is ignored."""

    def __init__(self):
        self.seen = False
        self.during_import = False

    def __call__(self, signum, frame):
        first = not self.seen
        if first:  # an interrupt landing in a finaliser is "ignored" with a printout: keep it quiet
            sys.unraisablehook = _quiet_after_interrupt(sys.unraisablehook)
        self.seen = True
        if signum == signal.SIGTERM and not first:
            return  # launch's SIGTERM after its SIGINT: let the clean-up that is running finish
        self.during_import = self.during_import or importing(frame)
        raise KeyboardInterrupt


def importing(frame) -> bool:
    """Whether ``frame`` runs inside an import (a frame of the import machinery is on its stack)."""
    while frame is not None:
        if frame.f_code.co_filename.startswith("<frozen importlib"):
            return True
        frame = frame.f_back
    return False


def exit_without_native_destructors(status: int) -> None:
    """End the process with ``status`` after Python's shutdown steps (threading's exit hooks, which
    tell idle thread pools to stop, and other non-daemon threads joined, ``atexit`` callbacks, a
    garbage collection, streams flushed) but without the C/C++
    exit-time destructors, which a library whose initialisation was cut short may fail.
    A second Ctrl-C while the threads are joined ends it at once."""
    try:
        threading._shutdown()  # what the interpreter's own exit calls: exit hooks (idle pools stop), joins
        atexit._run_exitfuncs()
        gc.collect()
    except KeyboardInterrupt:
        pass
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:  # a closed or broken stream: nothing left to save
            pass
    os._exit(status)


def _quiet_after_interrupt(previous):
    """An unraisable-exception hook that drops KeyboardInterrupts (the user asked to stop) and
    passes anything else to ``previous``."""
    def hook(unraisable):
        if not isinstance(unraisable.exc_value, KeyboardInterrupt):
            previous(unraisable)
    return hook


def caused_by_interrupt(exc: BaseException) -> bool:
    """Whether a KeyboardInterrupt is ``exc`` or among its causes / contexts."""
    todo, seen = [exc], set()
    while todo:
        e = todo.pop()
        if e is None or id(e) in seen:
            continue
        if isinstance(e, KeyboardInterrupt):
            return True
        seen.add(id(e))
        todo += [e.__cause__, e.__context__]
    return False


def run(target: str) -> int:
    """Import ``module:function`` and call it; KeyboardInterrupt (SIGINT, or a first SIGTERM) at
    any point -> 0, and so does an error that the signal caused (or that came after one)."""
    interrupts = _Interrupts()
    try:  # an ignored or otherwise handled signal stays so
        if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
            signal.signal(signal.SIGINT, interrupts)
        if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
            signal.signal(signal.SIGTERM, interrupts)  # rclpy.init chains its own handler to it
    except ValueError:  # not the main thread: signals are not ours to handle
        pass
    module, function = target.split(":")
    try:
        status = getattr(importlib.import_module(module), function)()
    except KeyboardInterrupt:
        status = 0
    except Exception as exc:
        if not (interrupts.seen or caused_by_interrupt(exc)):
            raise
        status = 0
    if interrupts.during_import:
        exit_without_native_destructors(status or 0)
    return status


def _entry(name: str):
    """The console-script function ``name``: :func:`run` of ``TARGETS[name]``."""
    def entry() -> int:
        return run(TARGETS[name])
    entry.__name__ = entry.__qualname__ = name
    entry.__doc__ = f"Run ``{TARGETS[name]}`` (Ctrl-C at any time exits 0)."
    return entry


encoder = _entry("encoder")
localisation = _entry("localisation")
memory = _entry("memory")
sensor_player = _entry("sensor_player")
graph = _entry("graph")
query = _entry("query")
