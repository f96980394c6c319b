"""The memory node's QueryText service under bursts and bad requests, through real rclpy: every
request gets an answer or an explicit refusal, quickly; bad modality names and stamps are clear
errors."""
from __future__ import annotations

import time

import pytest
import torch
from ros_testing import memory_of_texts, wait_until
from builtin_interfaces.msg import Time
from rclpy.node import Node

from codebind_ros.messaging.query_server import service_qos
from codebind_ros.srv import QueryText
from codebind_ros.messaging.topics import QUERY_SERVICE

TEXTS = ["a red sphere", "a blue box", "a green torus", "a yellow cone"]


def _memory(spin, ros_context, model, topic, db, **params):
    # these tests are about the service: answers are observations (memory_of_texts: objects off)
    return spin.add(memory_of_texts(model, topic, ros_context, db, TEXTS, **params))


def _clients(helper, n: int, timeout: float = 60.0):
    """``n`` clients whose responses reach them: each has had one answer. A client's first
    request can be answered before the server has discovered the client's response reader
    (wait_for_service only sees the server); that response is lost in the middleware, so the
    first request is re-sent until one answer arrives, as any client should."""
    clients = [helper.create_client(QueryText, QUERY_SERVICE, qos_profile=service_qos(1000)) for _ in range(n)]
    assert all(c.wait_for_service(timeout_sec=20.0) for c in clients)
    deadline = time.monotonic() + timeout
    todo = list(clients)
    while todo and time.monotonic() < deadline:
        sent = [(c, c.call_async(QueryText.Request(text="warm up", top_k=1))) for c in todo]
        wait_until(lambda: all(f.done() for _, f in sent), 3.0)
        for c, f in sent:
            if not f.done():
                c.remove_pending_request(f)
        todo = [c for c, f in sent if not f.done()]
    assert not todo, f"{len(todo)} clients never got a response"
    return clients


def _burst(clients, per_client: int = 1, timeout: float = 60.0, server=None):
    """Every client sends ``per_client`` requests at once; (responses, seconds until the last one
    arrived). Fails if any request stays unanswered."""
    t0 = time.monotonic()
    futures = [c.call_async(QueryText.Request(text=TEXTS[i % len(TEXTS)], top_k=2))
               for c in clients for i in range(per_client)]
    assert wait_until(lambda: all(f.done() for f in futures), timeout, period=0.01), \
        f"{sum(not f.done() for f in futures)} of {len(futures)} requests got no reply in {timeout} s " \
        f"(server: {server.counts if server else '?'})"
    return [f.result() for f in futures], time.monotonic() - t0


def test_hundred_concurrent_clients_are_all_answered(spin, ros_context, tiny_model, topic, tmp_path):
    node = _memory(spin, ros_context, tiny_model, topic, tmp_path / "m.db")
    helper = spin.add(Node("burst_clients", namespace=topic, context=ros_context))
    clients = _clients(helper, 100)
    before = node.query_server.counts["answered"]
    responses, seconds = _burst(clients, server=node.query_server)
    assert all(r.success for r in responses), {r.message for r in responses if not r.success}
    assert all(len(r.results) == 2 for r in responses)
    assert node.query_server.counts["answered"] - before == 100
    assert seconds < 30.0
    # one client with 50 requests in flight at once: the same
    responses, _ = _burst(clients[:1], per_client=50, server=node.query_server)
    assert all(r.success for r in responses)
    print(f"100 concurrent clients answered in {seconds:.2f} s")


def test_a_burst_beyond_max_pending_is_refused_explicitly(spin, ros_context, tiny_model, topic, tmp_path):
    """While the server is stuck on one query (the memory's lock held), the next 99 are taken:
    30 wait, the rest are refused at once with 'busy'; after the stall the 30 are answered."""
    node = _memory(spin, ros_context, tiny_model, topic, tmp_path / "m.db", max_pending_queries=30)
    helper = spin.add(Node("burst_clients2", namespace=topic, context=ros_context))
    clients = _clients(helper, 100)
    before = dict(node.query_server.counts)
    with node.memory._lock:  # the answering thread blocks in the search
        first = clients[0].call_async(QueryText.Request(text="a red sphere", top_k=1))
        assert wait_until(lambda: node.query_server.pending == 0 and not first.done(), 5.0)
        time.sleep(0.5)  # the first request is taken and being answered
        t0 = time.monotonic()
        rest = [c.call_async(QueryText.Request(text="a blue box", top_k=1)) for c in clients[1:]]
        assert wait_until(lambda: sum(f.done() for f in rest) >= 69, 20.0), \
            f"refusals did not come while stuck: {sum(f.done() for f in rest)} {node.query_server.counts}"
        refused_in = time.monotonic() - t0
        refused = [f.result() for f in rest if f.done()]
        assert len(refused) == 69 and not any(r.success for r in refused)
        assert all(r.message.startswith("busy: 30 queries are waiting") for r in refused), refused[0].message
    assert wait_until(lambda: first.done() and all(f.done() for f in rest), 30.0)
    assert first.result().success and sum(f.result().success for f in rest) == 30
    delta = {k: v - before[k] for k, v in node.query_server.counts.items()}
    assert delta == {"answered": 31, "refused_busy": 69, "refused_late": 0, "failed": 0}
    print(f"69 refusals within {refused_in:.2f} s while the server was stuck")


def test_a_query_that_waits_too_long_is_refused_on_time(spin, ros_context, tiny_model, topic, tmp_path):
    node = _memory(spin, ros_context, tiny_model, topic, tmp_path / "m.db", query_timeout=1.0)
    helper = spin.add(Node("late_clients", namespace=topic, context=ros_context))
    clients = _clients(helper, 5)
    with node.memory._lock:
        first = clients[0].call_async(QueryText.Request(text="a red sphere", top_k=1))
        time.sleep(0.5)
        t0 = time.monotonic()
        rest = [c.call_async(QueryText.Request(text="a blue box", top_k=1)) for c in clients[1:]]
        assert wait_until(lambda: all(f.done() for f in rest), 10.0)
        waited = time.monotonic() - t0
        assert 1.0 <= waited < 5.0 and not first.done()
        assert all(not f.result().success and "query_timeout 1 s" in f.result().message for f in rest)
    assert wait_until(first.done, 10.0) and first.result().success
    assert node.query_server.counts["refused_late"] == 4


@pytest.mark.parametrize("request_kwargs, error", [
    ({"modality": "nonsense"}, "unknown modality 'nonsense'"),
    ({"since": Time(sec=1, nanosec=4_000_000_000)}, "since.nanosec must be in [0, 1e9)"),
    ({"until": Time(sec=-5, nanosec=0)}, "until.sec must be >= 0"),
    ({"since": Time(sec=9), "until": Time(sec=3)}, "is after until"),
    ({"text": " "}, "query text is empty"),
    ({"text": "x" * 10_000}, "10000 characters"),
])
def test_bad_requests_are_clear_errors(spin, ros_context, tiny_model, topic, tmp_path, request_kwargs, error):
    _memory(spin, ros_context, tiny_model, topic, tmp_path / "m.db")
    helper = spin.add(Node("bad_requests", namespace=topic, context=ros_context))
    request = QueryText.Request(**{"text": "a red sphere", "top_k": 3, **request_kwargs})
    client, = _clients(helper, 1)
    future = client.call_async(request)
    assert wait_until(future.done, 20.0)
    res = future.result()
    assert not res.success and res.results == [] and error in res.message and res.message
    # a good request right after is answered, and a known modality without observations is no error
    future = client.call_async(QueryText.Request(text="a red sphere", top_k=3, modality="depth"))
    assert wait_until(future.done, 20.0) and future.result().success and future.result().results == []


def test_a_failing_constructor_shows_its_own_error(tiny_model, tmp_path):
    """A non-ValueError in a node's constructor (a real checkpoint loaded onto a CUDA device this
    machine's torch cannot use) reaches the user as itself: the context's shutdown destroys the
    half-built node without an AttributeError taking the error's place."""
    import subprocess
    import sys

    import codebind_core as cb

    if torch.cuda.is_available():
        pytest.skip("needs a machine without CUDA")
    cb.save(tiny_model, tmp_path / "ckpt")
    for module in ("codebind_ros.nodes.memory_node", "codebind_ros.nodes.encoder_node"):
        out = subprocess.run([sys.executable, "-m", module, "--ros-args", "-p", f"model_path:={tmp_path / 'ckpt'}",
                              "-p", "device:=cuda", "-p", "modality:=depth", "-p", f"db_path:={tmp_path / 'm.db'}"],
                             capture_output=True, text=True, timeout=300)
        assert out.returncode != 0
        tail = out.stderr.strip().splitlines()[-1]
        assert "CUDA" in tail and "AttributeError" not in out.stderr, out.stderr[-2000:]
