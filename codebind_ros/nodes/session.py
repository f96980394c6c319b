"""``ros_session``: rclpy.init ... rclpy.shutdown as a ``with`` block, on every ROS 2 distribution.

``with rclpy.init(...)`` needs rclpy 7.4 or later (Kilted); on Jazzy (rclpy 7.1) ``rclpy.init``
returns None. Every executable of the package starts ROS through this helper instead::

    with ros_session(args=args):
        node = MemoryNode()
        ...

The context is shut down on the way out unless it is already down (rclpy's SIGINT/SIGTERM
handler shuts it down before the node's clean-up runs).
"""
from __future__ import annotations

import contextlib
import gc
import sys
from typing import Callable, Iterator, List, Optional

import rclpy
from rclpy.context import Context


@contextlib.contextmanager
def ros_session(args: Optional[List[str]] = None, *, context: Optional[Context] = None,
                domain_id: Optional[int] = None) -> Iterator[Context]:
    """Initialise ``context`` (default: the global one), yield it, shut it down at the end.

    Works whatever ``rclpy.init`` returns (a context manager from rclpy 7.4, None before)."""
    rclpy.init(args=args, context=context, domain_id=domain_id)
    try:
        yield context if context is not None else rclpy.get_default_context()
    except BaseException:
        # The shutdown destroys the context's nodes, a node whose constructor failed half-way
        # among them: an error there must not replace the one already on its way out.
        try:
            rclpy.try_shutdown(context=context)
        except Exception as cleanup:
            # A context already down was shut down by rclpy's SIGINT/SIGTERM handler, racing this
            # call (rclpy 7.1: "rcl_shutdown already called"): nothing is left to report.
            if (context or rclpy.get_default_context()).ok():
                print(f"[codebind] while shutting down after an error: {type(cleanup).__name__}: {cleanup}",
                      file=sys.stderr)
        raise
    # None for the default context: rclpy then also replaces it and removes its signal
    # handlers, as `with rclpy.init()` does; a no-op for a context already shut down.
    rclpy.try_shutdown(context=context)


def context_ok(node) -> bool:
    """Whether ``node``'s context is still up (publishing after shutdown raises)."""
    try:
        return bool(node.context.ok())
    except Exception:  # a destroyed context
        return False


def freeze_start_up_objects() -> int:
    """Collect once, then move every object alive now (modules, the model, the node) out of the
    garbage collector's reach (``gc.freeze``). A full collection otherwise walks all of them,
    about 190 ms in an encoder process with the demo model, and stalled a 30 Hz camera stream
    for several frames about a second into its run; after this it walks only what the node
    allocated since. Returns the number of frozen objects."""
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()


def run_node(make_node: Callable[[], object], logger_name: str, args: Optional[List[str]] = None,
             multi_threaded: bool = False) -> int:
    """The whole ``main()`` of a node executable: start ROS, build the node, spin until SIGINT /
    SIGTERM, destroy the node, shut down. Returns the exit status:

    - 0 after a signal, also when the signal lands during start-up or while the executor is
      between waits (rclpy then raises from a context that is already down);
    - 1 when the node refuses its parameters (a ValueError, logged as FATAL);
    - any other error is raised, unless the context was already shut down by a signal."""
    from rclpy.executors import ExternalShutdownException, MultiThreadedExecutor, SingleThreadedExecutor

    try:
        with ros_session(args=args) as context:
            try:
                node = make_node()
            except ValueError as exc:
                if not context.ok():
                    return 0  # SIGINT/SIGTERM during start-up
                rclpy.logging.get_logger(logger_name).fatal(str(exc))
                return 1
            except Exception:
                if not context.ok():
                    return 0  # SIGINT/SIGTERM during start-up: what failed after it does not matter
                raise
            kind = MultiThreadedExecutor if multi_threaded else SingleThreadedExecutor
            executor = kind(context=context)
            executor.add_node(node)
            freeze_start_up_objects()
            try:
                executor.spin()
            except Exception:
                if context.ok():
                    raise  # a real error, not the race with the signal handler's shutdown
            finally:
                node.destroy_node()
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    return 0
