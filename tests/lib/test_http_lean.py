"""agent_runtime.http_lean: one kept-alive connection per thread, answers read by its own parser."""

from __future__ import annotations

import select
import socket
import threading
from collections.abc import Iterator

import pytest

from agent_runtime.http_lean import ConnectFailed, KeptAlive, ProtocolError, StaleConnection
from agentctl.local.processes import free_ports


class ScriptedServer:
    """Answers each request it reads with the next canned answer; `close_after` closes after that many answers on
    a connection. Counts connections and keeps every request's raw bytes."""

    def __init__(self, answers: list[bytes], close_after: int | None = None) -> None:
        self.answers = list(answers)
        self.close_after = close_after
        self.connections = 0
        self.requests: list[bytes] = []
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                sock, _ = self.listener.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._connection, args=(sock,), daemon=True).start()

    def _connection(self, sock: socket.socket) -> None:
        served, buffer = 0, b""
        with sock:
            while True:
                while b"\r\n\r\n" not in buffer or not self.answers:  # no answer left: read, answer nothing
                    chunk = sock.recv(65536)
                    if not chunk:
                        return
                    buffer += chunk
                head, _, buffer = buffer.partition(b"\r\n\r\n")
                length = next(
                    (
                        int(line.split(b":")[1])
                        for line in head.split(b"\r\n")
                        if line.lower().startswith(b"content-length")
                    ),
                    0,
                )
                while len(buffer) < length:
                    buffer += sock.recv(65536)
                self.requests.append(head + b"\r\n\r\n" + buffer[:length])
                buffer = buffer[length:]
                sock.sendall(self.answers.pop(0))
                served += 1
                if self.close_after is not None and served >= self.close_after:
                    return


@pytest.fixture
def serve() -> Iterator:
    made: list[tuple[ScriptedServer, KeptAlive]] = []

    def start(answers: list[bytes], close_after: int | None = None) -> tuple[ScriptedServer, KeptAlive]:
        server = ScriptedServer(answers, close_after)
        made.append((server, KeptAlive(f"http://127.0.0.1:{server.port}", 2.0, 2.0)))
        return made[-1]

    yield start
    for server, http in made:
        http.drop()
        server.listener.close()


OK = b'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 11\r\n\r\n{"ok":true}'


def test_requests_share_one_kept_alive_connection(serve):
    server, http = serve([OK, OK, OK])
    for _ in range(3):
        answer = http.request("POST", "/reason", {"X-Test": "1"}, b"{}", retry_stale=False)
        assert (answer.status, answer.data, answer.getheader("Content-Type")) == (
            200,
            b'{"ok":true}',
            "application/json",
        )
    assert server.connections == 1
    assert server.requests[0].startswith(b"POST /reason HTTP/1.1\r\nHost: 127.0.0.1:")
    assert b"\r\nX-Test: 1\r\nContent-Length: 2\r\n\r\n{}" in server.requests[0]


@pytest.mark.parametrize(
    ("answer", "body"),
    [
        (
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3;x=y\r\nabc\r\n2\r\nde\r\n0\r\nT: v\r\n\r\n",
            b"abcde",
        ),
        (b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nhi", b"hi"),
        (b"HTTP/1.1 204 No Content\r\n\r\n", b""),
    ],
)
def test_answers_are_framed_as_http_1_1_says(serve, answer, body):
    server, http = serve([answer, OK])
    assert http.request("GET", "/", {}, retry_stale=False).data == body
    assert http.request("GET", "/", {}, retry_stale=False).data == b'{"ok":true}'  # the framing left nothing behind
    assert server.connections == 1


def test_an_answer_without_length_is_read_until_the_server_closes(serve):
    server, http = serve([b"HTTP/1.1 200 OK\r\n\r\nall of it", OK], close_after=1)
    assert http.request("GET", "/", {}, retry_stale=False).data == b"all of it"
    assert http.request("GET", "/", {}, retry_stale=False).status == 200
    assert server.connections == 2


def test_connection_close_is_honoured(serve):
    server, http = serve([b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n", OK], close_after=1)
    http.request("GET", "/", {}, retry_stale=False)
    assert http.request("GET", "/", {}, retry_stale=False).status == 200
    assert server.connections == 2


def test_a_connection_closed_while_idle_is_replaced(serve):
    server, http = serve([OK, OK], close_after=1)  # the server closes after each answer, without saying so
    http.request("POST", "/", {}, b"x", retry_stale=False)
    select.select([http._local.sock], [], [], 5)  # idle until the server's close has arrived
    assert http.request("POST", "/", {}, b"x", retry_stale=False).status == 200  # seen closed before sending
    assert server.connections == 2


def test_a_stale_connection_is_retried_only_when_asked(serve, monkeypatch):
    _server, http = serve([OK, OK, OK])
    http.request("GET", "/", {}, retry_stale=False)
    # The race the idle check cannot see: the server closes as the request goes out.
    monkeypatch.setattr("agent_runtime.http_lean.select.select", lambda *a: ([], [], []))
    http._local.sock.shutdown(socket.SHUT_RDWR)
    with pytest.raises(StaleConnection):
        http.request("GET", "/", {}, retry_stale=False)
    http.request("GET", "/", {}, retry_stale=False)
    http._local.sock.shutdown(socket.SHUT_RDWR)
    assert http.request("GET", "/", {}, retry_stale=True).status == 200


def test_nothing_listening_is_a_connect_failure():
    (port,) = free_ports(1)
    with pytest.raises(ConnectFailed):
        KeptAlive(f"http://127.0.0.1:{port}", 1.0, 1.0).request("GET", "/", {}, retry_stale=True)


def test_no_answer_in_time_is_a_timeout(serve):
    _server, http = serve([])  # reads, never answers
    http.read_timeout = 0.2
    with pytest.raises(TimeoutError):
        http.request("GET", "/", {}, retry_stale=False)


@pytest.mark.parametrize(
    "answer",
    [
        b"SMTP ready\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nno colon here\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: -3\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    ],
)
def test_an_answer_that_is_not_http_is_a_protocol_error(serve, answer):
    _server, http = serve([answer])
    with pytest.raises(ProtocolError):
        http.request("GET", "/", {}, retry_stale=False)
    assert http._local.sock is None  # dropped: never reused after a bad answer
