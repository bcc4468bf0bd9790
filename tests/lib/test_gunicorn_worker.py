"""The services' gunicorn worker reads each request whole before a thread takes it: clients that trickle bytes
hold no thread, meet a deadline they cannot extend, and everyone else keeps being served."""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from gunicorn.config import Config

from agent_runtime.gunicorn_worker import RequestScan, request_state
from tests.gunicorn import serving

THREADS = 4
READ_TIMEOUT = 3
FIRST_BYTE_TIMEOUT = 2
CONNECTIONS = 40  # per worker; more evict the longest-waiting


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
        (b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n1_0\r\n", "malformed"),
        (b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0x3\r\n", "malformed"),
        (b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3;" + b"e" * 70, "malformed"),
        (b"GET / HTTP/1.1\r\n" + b"X: " + b"a" * 70000, "head_too_large"),
        (b"GET / HTTP/1.1\r\n" + b"X: " + b"a" * 70000 + b"\r\n\r\n", "head_too_large"),
        (b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n" + b"a" * 70000, "head_too_large"),
        (b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n" + b"1\r\na\r\n" * 5000 + b"0\r\n\r\n", "whole"),
    ],
)
def test_request_state(raw: bytes, state: str):
    assert request_state(raw, max_body=64 * 1024) == state


def test_a_scan_fed_piece_by_piece_judges_as_one_given_everything():
    raw = b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n" + b"3;x=y\r\nabc\r\n" * 50 + b"0\r\nT: v\r\n\r\n"
    for step in (1, 2, 7, 64):
        scan, states = RequestScan(64 * 1024), []
        for end in range(step, len(raw) + step, step):
            states.append(scan.state(raw[:end]))
        assert states[-1] == "whole"
        assert set(states[:-1]) == {"partial"}, step


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    env = {
        "GUNICORN_THREADS": str(THREADS),
        "GUNICORN_REQUEST_READ_TIMEOUT": str(READ_TIMEOUT),
        "GUNICORN_FIRST_BYTE_TIMEOUT": str(FIRST_BYTE_TIMEOUT),
        "GUNICORN_WORKER_CONNECTIONS": str(CONNECTIONS),
    }
    with serving("tests.apps.echo:create_app()", env) as (_, url):
        yield url


def _port(url: str) -> int:
    return int(url.rsplit(":", 1)[1])


class Trickler(threading.Thread):
    """A slow client: one byte every `interval` seconds of a request that never ends, until the server closes."""

    def __init__(self, port: int, request: bytes, interval: float, burst: bytes = b"") -> None:
        super().__init__(daemon=True)
        self.port, self.request, self.interval, self.burst = port, request, interval, burst
        self.answer = b""
        self.closed_after: float | None = None

    def run(self) -> None:
        started = time.monotonic()
        with socket.create_connection(("127.0.0.1", self.port)) as sock:
            sock.settimeout(0.05)
            with contextlib.suppress(OSError):
                sock.sendall(self.burst)  # sent at once, before the trickle
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
    assert max(latencies) < 0.5, latencies
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


def _error_code(answer: bytes) -> str:
    return json.loads(answer.split(b"\r\n\r\n", 1)[1])["code"]


def _answers_stay_fast(server: str, count: int = 20) -> None:
    latencies = []
    for _ in range(count):
        started = time.monotonic()
        assert requests.post(f"{server}/echo", data=b"x" * 1000, timeout=5).json()["length"] == 1000
        latencies.append(time.monotonic() - started)
    assert max(latencies) < 0.5, latencies


@pytest.mark.parametrize(
    ("burst", "status"),
    [
        # A chunk-size line longer than any real one (an "extension"), then a trickle: malformed, and its thread
        # must not read the trickle from the socket.
        (b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5;" + b"e" * 80, b"400"),
        # The last chunk, then a trailer section that never ends: refused once over the head's limit.
        (b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n" + b"T" * 70000, b"431"),
        # A head over the buffer's limit, then a trickle: refused by the event loop, no thread involved.
        (b"GET /ping HTTP/1.1\r\nHost: x\r\n" + b"X-Pad: " + b"a" * 7000 + b"\r\n" + b"X: " * 20000, b"431"),
    ],
    ids=["long-chunk-line", "endless-trailers", "huge-head"],
)
def test_malformed_requests_that_trickle_are_answered_at_once_and_hold_no_thread(server: str, burst, status):
    tricklers = [Trickler(_port(server), b"z" * 40, 0.5, burst=burst) for _ in range(THREADS * 3)]
    for trickler in tricklers:
        trickler.start()
    time.sleep(1.0)
    _answers_stay_fast(server)
    for trickler in tricklers:
        trickler.join(timeout=READ_TIMEOUT + 5)
        assert trickler.closed_after is not None
        assert trickler.closed_after < 2.0, trickler.closed_after
        assert trickler.answer.startswith(b"HTTP/1.1 " + status), trickler.answer[:80]
        assert _error_code(trickler.answer) == "VALIDATION_ERROR"


@pytest.mark.parametrize(
    "body",
    [
        b"5\r\nabc\r\n0\r\n\r\n",  # shorter than its size says
        b"zz\r\nabc\r\n0\r\n\r\n",  # not a chunk size
        b"3\r\nabcXY0\r\n\r\n",  # chunk without its terminator
        b"5;" + b"a" * 100 + b"\r\nhello\r\n0\r\n\r\n",  # a chunk extension longer than any real one
    ],
)
def test_a_malformed_chunked_body_is_a_400_in_json_and_the_connection_closes(server: str, body: bytes):
    with socket.create_connection(("127.0.0.1", _port(server)), timeout=5) as sock:
        sock.sendall(b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" + body)
        answer = b""
        while chunk := sock.recv(4096):  # the server closes after answering
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 400"), answer[:200]
    assert _error_code(answer) == "VALIDATION_ERROR"


def test_idle_connections_cannot_lock_the_server_out(server: str):
    idle = [socket.create_connection(("127.0.0.1", _port(server)), timeout=5) for _ in range(CONNECTIONS * 3)]
    try:
        time.sleep(0.5)
        _answers_stay_fast(server)  # each new connection evicted the longest-silent one
        time.sleep(FIRST_BYTE_TIMEOUT + 1.5)
        for sock in idle:  # a connection that never speaks is closed after the first-byte deadline, or evicted
            sock.settimeout(0.5)
            assert sock.recv(10) == b""
    finally:
        for sock in idle:
            sock.close()


def test_many_clients_at_once_keep_being_served(server: str):
    def client(_: int) -> list[int]:
        with requests.Session() as session:
            return [session.post(f"{server}/echo", data=b"y" * 3000, timeout=10).status_code for _ in range(10)]

    with ThreadPoolExecutor(max_workers=CONNECTIONS) as pool:
        statuses = [status for result in pool.map(client, range(CONNECTIONS)) for status in result]
    assert statuses.count(200) == len(statuses), sorted(set(statuses))


def test_clients_that_keep_a_closed_connection_open_do_not_stall_the_others(server: str):
    """After a `Connection: close` answer the server lingers for the client's FIN (RFC 9112 §9.6); gunicorn's own
    linger blocks its event loop up to 2 s per connection, so a few such clients would stall everyone."""
    held = []
    try:
        for _ in range(6):
            sock = socket.create_connection(("127.0.0.1", _port(server)), timeout=5)
            sock.sendall(b"GET /ping HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            held.append(sock)  # never closed by the client, never read
        time.sleep(0.2)
        _answers_stay_fast(server, count=10)
        for sock in held:  # each got its answer, then the server's FIN
            answer = b""
            while chunk := sock.recv(4096):
                answer += chunk
            assert answer.startswith(b"HTTP/1.1 200"), answer[:80]
    finally:
        for sock in held:
            sock.close()


def test_a_body_of_many_tiny_chunks_costs_the_event_loop_only_its_new_bytes(server: str):
    """Each look at a request judges only what arrived since the last one: re-parsing the whole buffer would make
    a body of 100,000 one-byte chunks, topped up every few milliseconds, stall the event loop for everyone."""
    stop = threading.Event()

    def attacker() -> None:
        with socket.create_connection(("127.0.0.1", _port(server)), timeout=5) as sock:
            sock.sendall(
                b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" + b"1\r\nA\r\n" * 100_000
            )
            while not stop.is_set():
                try:
                    sock.send(b"1\r\nA\r\n")
                except OSError:
                    return
                time.sleep(0.002)

    thread = threading.Thread(target=attacker, daemon=True)
    thread.start()
    try:
        time.sleep(0.5)
        _answers_stay_fast(server)
    finally:
        stop.set()
        thread.join(timeout=READ_TIMEOUT + 5)


def test_at_capacity_the_slowest_request_being_read_makes_room_and_is_told_why(server: str):
    slow = b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n" + b"s" * 99
    tricklers = [Trickler(_port(server), slow, 0.3) for _ in range(CONNECTIONS + 5)]
    for trickler in tricklers:  # in order: the first ones are the longest-waiting
        trickler.start()
        time.sleep(0.01)
    time.sleep(0.5)
    _answers_stay_fast(server, count=5)  # every connection is being read: each new one evicts the oldest
    for trickler in tricklers:
        trickler.join(timeout=READ_TIMEOUT + 5)
    evicted = [t for t in tricklers if t.answer.startswith(b"HTTP/1.1 503")]
    # Five to make room for the last tricklers, one at least for the answered requests (a later one may evict the
    # idle kept-alive connection an earlier one left: an idle connection goes before one being read).
    assert len(evicted) >= 5 + 1, [t.answer[:12] for t in tricklers]
    assert all(_error_code(t.answer) == "SERVICE_UNAVAILABLE" for t in evicted)
    assert tricklers[0] in evicted  # the longest-waiting went first
    assert {t.answer[:12] for t in tricklers} <= {b"HTTP/1.1 503", b"HTTP/1.1 408"}


def test_the_services_requests_are_parsed_by_gunicorns_c_parser():
    """gunicorn_h1c is in the locks for its speed (docs/performance.md), but gunicorn falls back to its Python
    parser, silently, when the package is missing or a setting is incompatible with it: this says which is used."""
    from gunicorn.app.wsgiapp import WSGIApplication
    from gunicorn.http import message

    app = WSGIApplication.__new__(WSGIApplication)  # only its config loader: no argument parsing, no app
    app.cfg = Config()
    app.load_config_from_module_name_or_filename("python:agent_runtime.gunicorn_conf")
    assert app.cfg.worker_class_str == "agent_runtime.gunicorn_worker.BufferedThreadWorker"  # the config was read
    assert message._check_fast_parser(app.cfg), "gunicorn would parse requests with its pure-Python parser"
