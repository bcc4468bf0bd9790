"""The services' gunicorn worker reads each request whole before a thread takes it: clients that trickle bytes
hold no thread, meet a deadline they cannot extend, and everyone else keeps being served."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from agent_runtime.gunicorn_worker import request_state
from agentctl.local.processes import free_ports
from tests.conftest import ROOT

THREADS = 4
READ_TIMEOUT = 3


@pytest.mark.parametrize(
    ("raw", "state"),
    [
        (b"GET / HTTP/1.1\r\nHost: x\r\n", "partial"),
        (b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", "whole"),
        (b"POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\nabc", "partial"),
        (b"POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\nabcde", "whole"),
        (b"POST / HTTP/1.1\r\ncontent-length: 999999\r\n\r\n", "too_large"),
        (b"POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n", "malformed"),
        (b"POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n", "malformed"),
        (b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n", "partial"),
        (b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3;x=y\r\nabc\r\n0\r\n\r\n", "whole"),
        (b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\nT: v\r\n", "partial"),
        (b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\nT: v\r\n\r\n", "whole"),
        (b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", "malformed"),
        (b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n" + b"ffff\r\n" + b"a" * 10, "partial"),
        (
            b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nffff\r\n" + b"a" * 65535 + b"\r\n2\r\n",
            "too_large",
        ),
        (b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcXY0\r\n\r\n", "malformed"),
        (b"GET / HTTP/1.1\r\n" + b"X: " + b"a" * 70000, "malformed"),
    ],
)
def test_request_state(raw: bytes, state: str):
    assert request_state(raw, max_body=64 * 1024) == state


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    (port,) = free_ports(1)
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "GUNICORN_THREADS": str(THREADS),
        "GUNICORN_REQUEST_READ_TIMEOUT": str(READ_TIMEOUT),
    }
    process = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "gunicorn"),
            "--config",
            "python:agent_runtime.gunicorn_conf",
            "--bind",
            f"127.0.0.1:{port}",
            "tests.apps.echo:create_app()",
        ],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        with contextlib.suppress(requests.ConnectionError, requests.Timeout):
            if requests.get(f"{url}/ping", timeout=5).ok:
                break
        assert time.monotonic() < deadline, "gunicorn did not start"
        time.sleep(0.1)
    try:
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)


def _port(url: str) -> int:
    return int(url.rsplit(":", 1)[1])


class Trickler(threading.Thread):
    """A slow client: one byte every `interval` seconds of a request that never ends, until the server closes."""

    def __init__(self, port: int, request: bytes, interval: float) -> None:
        super().__init__(daemon=True)
        self.port, self.request, self.interval = port, request, interval
        self.answer = b""
        self.closed_after: float | None = None

    def run(self) -> None:
        started = time.monotonic()
        with socket.create_connection(("127.0.0.1", self.port)) as sock:
            sock.settimeout(0.05)
            for byte in self.request:
                try:
                    sock.sendall(bytes([byte]))
                except OSError:
                    break
                with contextlib.suppress(TimeoutError):
                    chunk = sock.recv(4096)
                    self.answer += chunk
                    if not chunk:
                        break
                time.sleep(self.interval)
            self.closed_after = time.monotonic() - started


def test_slow_clients_hold_no_thread_and_meet_a_deadline(server: str):
    slow_head = b"GET /ping HTTP/1.1\r\nHost: x\r\nX-Padding: " + b"a" * 200
    slow_body = b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n" + b"b" * 99
    tricklers = [Trickler(_port(server), slow_head if i % 2 else slow_body, 0.5) for i in range(THREADS * 3)]
    for trickler in tricklers:
        trickler.start()
    time.sleep(1.0)  # every slow client has started; with plain gthread they would now hold every thread
    latencies = []
    for _ in range(20):
        started = time.monotonic()
        assert requests.post(f"{server}/echo", data=b"x" * 1000, timeout=5).json()["length"] == 1000
        latencies.append(time.monotonic() - started)
    assert max(latencies) < 1.0, latencies
    for trickler in tricklers:
        trickler.join(timeout=READ_TIMEOUT + 5)
    for trickler in tricklers:
        assert trickler.closed_after is not None
        assert trickler.closed_after < READ_TIMEOUT + 2, "a trickle of bytes extended the read deadline"
        assert trickler.answer.startswith(b"HTTP/1.1 408"), trickler.answer[:80]


def test_keep_alive_pipelining_chunked_and_expect_continue(server: str):
    with requests.Session() as session:  # one connection, reused
        for size in (0, 10, 60_000):
            assert session.post(f"{server}/echo", data=b"z" * size, timeout=5).json()["length"] == size

    def chunks():
        yield b"first-"
        yield b"second"

    assert requests.post(f"{server}/echo", data=chunks(), timeout=5).json() == {"length": 12, "head": "first-second"}
    with socket.create_connection(("127.0.0.1", _port(server)), timeout=5) as sock:
        two = b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabcGET /ping HTTP/1.1\r\nHost: x\r\n\r\n"
        sock.sendall(two)
        received = b""
        while b'{"ok":true}' not in received:  # both answers, in order
            chunk = sock.recv(4096)
            assert chunk, received
            received += chunk
        assert received.index(b'"length":3') < received.index(b'{"ok":true}')
        sock.sendall(b"POST /echo HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n")
        assert sock.recv(4096).startswith(b"HTTP/1.1 100 Continue")
        sock.sendall(b"wxyz")
        deadline = time.monotonic() + 5
        answer = b""
        while b'"length":4' not in answer and time.monotonic() < deadline:
            answer += sock.recv(4096)
        assert b'"length":4' in answer


def test_bodies_over_the_buffer_limit_are_refused_at_once(server: str):
    with socket.create_connection(("127.0.0.1", _port(server)), timeout=5) as sock:
        sock.sendall(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 10000000\r\n\r\n")
        answer = sock.recv(4096)
    assert answer.startswith(b"HTTP/1.1 413"), answer
    assert b'"code": "PAYLOAD_TOO_LARGE"' in answer
    response = requests.post(f"{server}/echo", data=iter([b"a" * 40_000, b"b" * 40_000]), timeout=5)
    assert response.status_code == 413  # chunked, over the app's 64 KiB: refused by the app, never cut
