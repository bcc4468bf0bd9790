"""The circuit breaker around Axon: its states, thread safety, and that it never serialises the calls it guards."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from agent_runtime.breaker import CLOSED, HALF_OPEN, OPEN, CircuitBreaker, CircuitOpen
from agent_runtime.keys import KeyCache
from agent_runtime.sigv4 import Credential
from orbit.axon_client import AxonClient


class Failure(Exception):
    pass


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def fail(breaker: CircuitBreaker) -> None:
    with pytest.raises(Failure), breaker.guard(Failure):
        raise Failure


def test_opens_after_fail_max_consecutive_failures_and_refuses_at_once():
    clock = Clock()
    changes: list[str] = []
    breaker = CircuitBreaker(3, 10, on_state_change=changes.append, clock=clock)
    fail(breaker)
    fail(breaker)
    with breaker.guard(Failure):
        pass  # a success resets the count
    fail(breaker)
    fail(breaker)
    assert breaker.state == CLOSED
    fail(breaker)
    assert breaker.state == OPEN
    clock.now += 4
    with pytest.raises(CircuitOpen) as refused:
        breaker.before_call()
    assert refused.value.retry_after == 6
    assert changes == [OPEN]


def test_half_open_lets_one_trial_through_then_closes_or_reopens():
    clock = Clock()
    breaker = CircuitBreaker(1, 5, clock=clock)
    fail(breaker)
    clock.now += 5
    breaker.before_call()  # the trial
    assert breaker.state == HALF_OPEN
    with pytest.raises(CircuitOpen):
        breaker.before_call()  # only one trial at a time
    breaker.record_failure()
    assert breaker.state == OPEN  # the trial failed: open again, for a full reset period
    clock.now += 4.9
    with pytest.raises(CircuitOpen):
        breaker.before_call()
    clock.now += 0.2
    with breaker.guard(Failure):
        pass
    assert breaker.state == CLOSED


def test_exceptions_that_are_not_failures_do_not_count():
    breaker = CircuitBreaker(1, 5)
    with pytest.raises(ValueError, match="a bug"), breaker.guard(Failure):
        raise ValueError("a bug of ours, not Axon's failure")
    assert breaker.state == CLOSED


def test_guarded_calls_run_concurrently():
    breaker = CircuitBreaker(5, 10)
    inside = threading.Barrier(8, timeout=5)
    errors: list[BaseException] = []

    def call() -> None:
        try:
            with breaker.guard(Failure):
                inside.wait()  # every call must be inside the guard at the same time
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=call) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []


def test_concurrent_failures_are_all_counted():
    breaker = CircuitBreaker(1000, 10)
    threads = [threading.Thread(target=lambda: [breaker.record_failure() for _ in range(100)]) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert breaker._failures == 800


class _SlowAxon(BaseHTTPRequestHandler):
    def log_message(self, *args) -> None:
        return

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        time.sleep(0.5)
        body = json.dumps({"message": "ok"}).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class _FixedKeys:
    def __init__(self, credential: Credential) -> None:
        self.credential = credential

    def versions(self, confirm: bool = False) -> dict[str, tuple[str, ...]]:
        return {"orbit": ("AWSCURRENT=v1",)}

    def load_one(self, secret_id: str) -> list[Credential]:
        return [self.credential]


def test_orbit_calls_axon_in_parallel():
    """Eight dispatches to an Axon that takes 0.5 s each finish in about 0.5 s, not 4 s."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _SlowAxon)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        keys = KeyCache(_FixedKeys(Credential("AKARORBIT", "secret", "orbit")))
        client = AxonClient(
            f"http://127.0.0.1:{server.server_address[1]}",
            keys,
            "us-east-1",
            timeout_seconds=5,
            connect_timeout_seconds=1,
            fail_max=5,
            reset_seconds=10,
        )
        answers = []
        threads = [
            threading.Thread(target=lambda: answers.append(client.reason(b'{"intent": "x"}', "r", "c")))
            for _ in range(8)
        ]
        started = time.monotonic()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        elapsed = time.monotonic() - started
        assert [a.status_code for a in answers] == [200] * 8
        assert elapsed < 2.0, f"the calls were serialised: {elapsed:.1f}s"
    finally:
        server.shutdown()
        server.server_close()
