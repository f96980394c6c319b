"""``codebind-query``: ask a running robot's memory node where something is.

    codebind-query "the red sphere"
    codebind-query "a cone" --top-k 3 --modality camera --since 60 --json
    codebind-query "the red sphere" --ros-args -r __ns:=/robot1     # a namespaced robot's memory

Calls the memory node's QueryText service (``codebind/query``, or ``--service``; a relative name
resolves in the namespace given with the standard ``--ros-args -r __ns:=...``, and ``--ros-args
-r codebind/query:=...`` remaps it like any ROS name) and prints the
objects that match, best first: where each is (fixed frame), when it was last seen, how many views
and which sensors saw it, whether it moved. ``--observations`` prints the ranked raw observations
instead (score, modality, 3-D position and frame, image box, time); ``--gone`` includes objects whose
place was seen empty. ``--since`` / ``--until`` are seconds before now. Exit status: 0 with
results, 1 with none, 2 on error.
"""
from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from typing import List, Optional

from codebind_ros.messaging.topics import QUERY_SERVICE
from codebind_ros.tools.answer_format import OBJECT, format_answer


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="codebind-query", description=__doc__.split("\n\n")[0])
    ap.add_argument("text", help="what to look for, e.g. 'the red sphere'")
    ap.add_argument("--top-k", type=int, default=5, help="results wanted (the server clamps it)")
    ap.add_argument("--modality", default="", help="only observations of this sensor modality")
    ap.add_argument("--since", type=float, default=None, help="only observations of the last SINCE seconds")
    ap.add_argument("--until", type=float, default=None, help="only observations older than UNTIL seconds")
    ap.add_argument("--observations", action="store_true", help="raw observations instead of objects")
    ap.add_argument("--gone", action="store_true", help="also objects whose place was seen empty")
    ap.add_argument("--service", default=QUERY_SERVICE, help=f"QueryText service (default {QUERY_SERVICE})")
    ap.add_argument("--timeout", type=float, default=15.0, help="seconds to wait for the service")
    ap.add_argument("--json", action="store_true", help="print the results as JSON")
    args = ap.parse_args(argv)
    if not args.text.strip():
        ap.error("the query text is empty")
    if args.top_k < 1 or args.timeout <= 0:
        ap.error("--top-k must be >= 1 and --timeout > 0")
    for name in ("since", "until"):
        if getattr(args, name) is not None and getattr(args, name) < 0:
            ap.error(f"--{name} must be >= 0 seconds")
    return args


def call(node, executor, request, service: str, timeout: float):
    """Call QueryText, spinning ``executor`` in this thread (None: ``node`` is spun by another
    thread, the answer is waited for); the request is re-sent every few seconds until ``timeout``
    (a request sent before discovery has matched the server, or answered before the server has
    matched this client's response reader, is lost)."""
    from codebind_ros.messaging.query_server import service_qos
    from codebind_ros.srv import QueryText

    # deep: the middleware delivers every client's responses to every client of the service, and a
    # burst of other clients' responses would evict this one from a 10-deep history
    client = node.create_client(QueryText, service, qos_profile=service_qos(1000))
    try:
        service = node.resolve_service_name(service)  # namespace and remappings applied
    except Exception:  # noqa: BLE001 - only for the messages below
        pass
    try:
        deadline = time.monotonic() + timeout
        if not client.wait_for_service(timeout_sec=timeout):
            raise TimeoutError(f"service '{service}' is not available (is the memory node running?)")
        while time.monotonic() < deadline:
            future = client.call_async(request)
            wait = max(0.0, min(deadline, time.monotonic() + 5.0) - time.monotonic())
            if executor is not None:
                executor.spin_until_future_complete(future, timeout_sec=wait)
            else:
                _wait(future, wait)
            if future.done():
                return future.result()
            client.remove_pending_request(future)
        raise TimeoutError(f"no answer from '{service}' within {timeout} s")
    finally:
        node.destroy_client(client)


def _wait(future, seconds: float) -> None:
    """Until ``future`` is done (another thread's executor completes it) or ``seconds`` pass;
    blocked, not polling: many waiting callers must not starve that executor."""
    done = threading.Event()
    future.add_done_callback(lambda _: done.set())
    if not future.done():
        done.wait(seconds)


def _stamp(t) -> float:
    return t.sec + t.nanosec * 1e-9


def results_as_dicts(response) -> List[dict]:
    out = []
    for r in response.results:
        d = {"score": r.score, "observation_id": r.observation_id, "modality": r.modality,
             "stamp": _stamp(r.stamp), "frame_id": r.frame_id,
             "position": [r.position.x, r.position.y, r.position.z] if r.has_position else None,
             "box": [r.box.x_offset, r.box.y_offset, r.box.width, r.box.height] if r.has_box else None}
        if r.kind == OBJECT:
            d.update(kind="object", object_id=r.object_id, last_seen=_stamp(r.stamp), first_seen=_stamp(r.first_seen),
                     views=r.views, modalities=list(r.modalities), status=r.status, moves=r.moves,
                     extent=[r.extent.x, r.extent.y, r.extent.z],
                     previous_position=[r.previous_position.x, r.previous_position.y, r.previous_position.z]
                     if r.has_previous_position else None)
        else:
            d["kind"] = "observation"
        out.append(d)
    return out


def main(argv: Optional[List[str]] = None) -> int:
    """``argv`` without the program name; ROS arguments (``--ros-args ... [--]``) go to rclpy."""
    argv = list(argv if argv is not None else sys.argv[1:])
    own = argv
    if "--ros-args" in argv:
        from rclpy.utilities import remove_ros_args

        own = remove_ros_args(["codebind-query", *argv])[1:]
    args = parse_args(own)
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.node import Node

    from codebind_ros.conversions.results import ns_to_stamp
    from codebind_ros.nodes.session import ros_session
    from codebind_ros.srv import QueryText

    with ros_session(args=["codebind-query", *argv]):
        node = Node("codebind_query")
        executor = SingleThreadedExecutor()
        executor.add_node(node)
        try:
            now = node.get_clock().now().nanoseconds
            request = QueryText.Request(text=args.text, top_k=args.top_k, modality=args.modality,
                                        observations=args.observations, include_gone=args.gone)
            if args.since is not None:
                request.since = ns_to_stamp(max(0, now - int(args.since * 1e9)))
            if args.until is not None:
                request.until = ns_to_stamp(max(0, now - int(args.until * 1e9)))
            try:
                response = call(node, executor, request, args.service, args.timeout)
            except TimeoutError as exc:
                print(f"codebind-query: {exc}", file=sys.stderr)
                return 2
        finally:
            executor.shutdown()
            node.destroy_node()
    if not response.success:
        print(f"codebind-query: {response.message}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps({"query": args.text, "message": response.message,
                          "results": results_as_dicts(response)}, indent=2))
    else:
        print(format_answer(args.text, response, now, observations=args.observations))
    return 0 if response.results else 1


if __name__ == "__main__":
    sys.exit(main())
