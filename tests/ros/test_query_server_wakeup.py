"""QueryServer is event-driven: while no request comes its taking thread sleeps (no polling),
a request wakes it and is answered, and stopping an idle server returns at once. Real rclpy."""
from __future__ import annotations

import threading
import time

from ros_testing import wait_until
from rclpy.node import Node

from codebind_ros.messaging.query_server import QueryServer, service_qos
from codebind_ros.srv import QueryText


def _answer(request, response):
    response.success = True
    response.message = f"echo {request.text}"
    return response


def _server(spin, ros_context, topic, **kwargs):
    node = spin.add(Node("wakeup_server", namespace=topic, context=ros_context))
    return node, QueryServer(node, QueryText, "query", _answer, **kwargs)


def _client(spin, ros_context, topic):
    helper = spin.add(Node("wakeup_client", namespace=topic, context=ros_context))
    client = helper.create_client(QueryText, "query", qos_profile=service_qos(100))
    assert client.wait_for_service(timeout_sec=20.0)
    return client


def _call(client, text: str, timeout: float = 20.0):
    """One answered request (re-sent while the first response can be lost before discovery)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        future = client.call_async(QueryText.Request(text=text, top_k=1))
        if wait_until(future.done, 3.0, period=0.005):
            return future.result()
        client.remove_pending_request(future)
    raise AssertionError(f"no answer to {text!r} in {timeout} s")


def test_idle_server_sleeps_and_a_request_wakes_it(spin, ros_context, topic):
    _, server = _server(spin, ros_context, topic)
    try:
        client = _client(spin, ros_context, topic)
        assert _call(client, "first").message == "echo first"
        # idle: a polling server (every 5 ms) wakes about 100 times in 0.5 s; this one not at all
        time.sleep(0.2)
        woken = server.wakeups
        time.sleep(0.5)
        assert server.wakeups == woken  # asleep in its wait
        response = _call(client, "q0")
        assert response.success and response.message == "echo q0"
        assert server.wakeups > woken  # the request itself woke the taking thread
        for i in range(1, 5):
            response = _call(client, f"q{i}")
            assert response.success and response.message == f"echo q{i}"
        time.sleep(0.5)
        woken = server.wakeups
        time.sleep(0.5)
        assert server.wakeups == woken and server.counts["answered"] >= 6
    finally:
        server.stop()


def test_stopping_an_idle_server_returns_promptly(spin, ros_context, topic):
    _, server = _server(spin, ros_context, topic)
    time.sleep(0.5)  # both threads asleep: nothing to take or answer
    assert all(t.is_alive() for t in server._threads)
    t0 = time.monotonic()
    stopper = threading.Thread(target=server.stop)
    stopper.start()
    stopper.join(5.0)  # the threads block without a timeout: only the wake-up can end them
    assert not stopper.is_alive() and not any(t.is_alive() for t in server._threads)
    print(f"idle server stopped in {1e3 * (time.monotonic() - t0):.1f} ms")
    server.stop()  # a second stop is harmless


def test_a_waiting_request_is_refused_when_due_without_polling(spin, ros_context, topic):
    """With the handler stuck, the taking thread wakes for the waiting request's deadline
    (max_wait_s) and refuses it then: the only timed wake-up it has."""
    release = threading.Event()

    def stuck(request, response):
        if request.text == "stuck":
            release.wait(30.0)
        return _answer(request, response)

    node = spin.add(Node("wakeup_server", namespace=topic, context=ros_context))
    server = QueryServer(node, QueryText, "query", stuck, max_wait_s=1.0)
    try:
        client = _client(spin, ros_context, topic)
        assert _call(client, "warm up").success
        first = client.call_async(QueryText.Request(text="stuck", top_k=1))
        assert wait_until(lambda: server.pending == 0 and server.wakeups > 0, 5.0)
        time.sleep(0.3)
        t0 = time.monotonic()
        late = client.call_async(QueryText.Request(text="late", top_k=1))
        assert wait_until(late.done, 10.0)
        waited = time.monotonic() - t0
        assert 1.0 <= waited < 8.0, waited
        assert not late.result().success and "query_timeout 1 s" in late.result().message
        assert server.counts["refused_late"] == 1 and not first.done()
        release.set()
        assert wait_until(first.done, 10.0) and first.result().message == "echo stuck"
    finally:
        release.set()
        server.stop()
