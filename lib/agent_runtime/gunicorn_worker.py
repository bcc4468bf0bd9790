"""gunicorn's threaded worker, changed so that a slow client cannot hold a thread.

gunicorn's `gthread` worker gives a connection to a thread as soon as its first byte arrives, and the thread then
reads the rest of the request with blocking calls: a client that sends one byte every few seconds holds that
thread for as long as it likes, and as many such clients as there are threads stop the service for everyone.

Here the worker's event loop reads each request (head and body) without blocking, into a buffer, and hands it to a
thread only once it is whole; the thread's parser then reads from that buffer, never waiting on the client. A
request must arrive whole within `REQUEST_READ_TIMEOUT` seconds of its first byte, a deadline a client cannot
extend by trickling bytes (then it is answered 408 and closed); a body announced larger than
`MAX_BUFFERED_BODY` is answered 413 at once. An idle connection costs a file descriptor, not a thread, as before.

Written here because no WSGI server in reach buffers requests (nginx or a load balancer in front does that
elsewhere); it relies on gunicorn 27's ThreadWorker internals, pinned in requirements, and tests/lib covers it.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import selectors
import socket
import time
import uuid
from functools import partial
from typing import Any

from gunicorn import util
from gunicorn.workers.gthread import STOP_KEEPALIVE_LINGER, TConn, ThreadWorker

from agent_runtime.errors import utc_timestamp

REQUEST_READ_TIMEOUT = float(os.environ.get("GUNICORN_REQUEST_READ_TIMEOUT", "10"))
MAX_BUFFERED_BODY = int(os.environ.get("GUNICORN_MAX_BUFFERED_BODY", str(128 * 1024)))
# A head longer than this is handed to gunicorn's parser, which refuses it by its own line and field limits.
MAX_BUFFERED_HEAD = 64 * 1024
# A thread's writes (and a malformed request's reads) on a handed-over connection never block longer than this.
SOCKET_TIMEOUT = 30.0
_RECV_SIZE = 64 * 1024


def json_error(status: int, reason: str, message: str) -> bytes:
    """A whole HTTP/1.1 error response with the JSON body of the error contract, closing the connection."""
    code = {408: "VALIDATION_ERROR", 413: "PAYLOAD_TOO_LARGE"}.get(status)
    if code is None:
        code = "INTERNAL_ERROR" if status >= 500 and status != 501 else "VALIDATION_ERROR"
    body = json.dumps(
        {"error": message[:300], "code": code, "correlation_id": str(uuid.uuid4()), "timestamp": utc_timestamp()}
    ).encode()
    head = (
        f"HTTP/1.1 {status} {reason}\r\nConnection: close\r\nContent-Type: application/json\r\n"
        f"Cache-Control: no-store\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode("latin-1")
    return head + body


def request_state(buffer: bytes | bytearray, max_body: int) -> str:
    """What the buffered bytes of one HTTP/1 request amount to:
    `partial` (wait for more), `whole` (head and body are there), `malformed` (gunicorn's parser must answer),
    `too_large` (a body announced or sent beyond `max_body`)."""
    end = buffer.find(b"\r\n\r\n")
    if end < 0:
        return "malformed" if len(buffer) > MAX_BUFFERED_HEAD else "partial"
    content_length: int | None = None
    chunked = False
    for line in bytes(buffer[:end]).split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            if content_length is not None or not value.strip().isdigit():
                return "malformed"
            content_length = int(value.strip())
        elif name == b"transfer-encoding":
            chunked = value.strip().lower().endswith(b"chunked")
    body = memoryview(buffer)[end + 4 :]
    if chunked:
        return _chunked_state(body, max_body)
    if content_length is None:
        return "whole"
    if content_length > max_body:
        return "too_large"
    return "whole" if len(body) >= content_length else "partial"


def _chunked_state(body: memoryview, max_body: int) -> str:
    position, size_total = 0, 0
    while True:
        line_end = bytes(body[position : position + 64]).find(b"\r\n")
        if line_end < 0:
            return "malformed" if len(body) - position >= 64 else "partial"
        size_text = bytes(body[position : position + line_end]).split(b";", 1)[0].strip()
        try:
            size = int(size_text, 16)
        except ValueError:
            return "malformed"
        position += line_end + 2
        if size == 0:  # the last chunk: then trailer lines, each ending in CRLF, and an empty line
            rest = bytes(body[position:])
            return "whole" if rest.startswith(b"\r\n") or b"\r\n\r\n" in rest else "partial"
        size_total += size
        if size_total > max_body:
            return "too_large"
        if len(body) < position + size + 2:
            return "partial"
        if body[position + size : position + size + 2] != b"\r\n":
            return "malformed"
        position += size + 2


class _BoundedSocket(socket.socket):
    """A client socket whose "blocking" mode is a timeout: gunicorn's threads set their connection blocking, and a
    response to a client that does not read must not hold a thread for ever."""

    def setblocking(self, flag: bool) -> None:
        super().settimeout(SOCKET_TIMEOUT if flag else 0.0)


class BufferedThreadWorker(ThreadWorker):
    """A gthread worker whose threads only ever get whole requests (see the module's docstring)."""

    def accept(self, listener: Any) -> None:
        try:
            client_sock, client_addr = listener.accept()
        except OSError as e:
            if e.errno not in (errno.EAGAIN, errno.ECONNABORTED, errno.EWOULDBLOCK):
                raise
            return
        bounded = _BoundedSocket(client_sock.family, client_sock.type, client_sock.proto, client_sock.detach())
        self.nr_conns += 1
        conn = TConn(self.cfg, bounded, client_addr, listener.getsockname())
        # Until its first byte, a new connection waits like a kept-alive one: no thread, the keep-alive timeout.
        self._wait_idle(conn)

    def _wait_idle(self, conn: TConn, linger: float | None = None) -> None:
        conn.sock.setblocking(False)
        conn.set_timeout()
        if linger is not None:  # a stopping worker keeps it only briefly, as gunicorn's own does
            conn.timeout = min(conn.timeout, time.monotonic() + linger)
        self.keepalived_conns.append(conn)
        self.poller.register(conn.sock, selectors.EVENT_READ, partial(self.on_client_socket_readable, conn))

    def on_client_socket_readable(self, conn: TConn, client: Any) -> None:
        self.poller.unregister(client)
        self.keepalived_conns.remove(conn)
        self._start_reading(conn, b"")

    def _start_reading(self, conn: TConn, already: bytes) -> None:
        conn.buffered = bytearray(already)
        conn.continued = False
        conn.timeout = time.monotonic() + REQUEST_READ_TIMEOUT
        self.pending_conns.append(conn)  # ordered: every entry's deadline is now + the same timeout
        conn.sock.setblocking(False)
        self.poller.register(conn.sock, selectors.EVENT_READ, partial(self._on_request_bytes, conn))
        if already:
            self._judge(conn)

    def _on_request_bytes(self, conn: TConn, client: Any) -> None:
        try:
            data = conn.sock.recv(_RECV_SIZE)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:  # the client went away before its request was whole
            self._close_pending(conn)
            return
        conn.buffered += data
        self._judge(conn)

    def _judge(self, conn: TConn) -> None:
        state = request_state(conn.buffered, MAX_BUFFERED_BODY)
        if state == "partial":
            if not conn.continued and b"\r\n\r\n" in conn.buffered and _expects_continue(conn.buffered):
                conn.continued = True  # the client waits for this before it sends the body
                self._send_quietly(conn, b"HTTP/1.1 100 Continue\r\n\r\n")
            return
        if state == "too_large":
            self._refuse(conn, 413, "Payload Too Large", f"Request body is larger than {MAX_BUFFERED_BODY} bytes")
            return
        self.poller.unregister(conn.sock)
        self.pending_conns.remove(conn)
        self._hand_over(conn)

    def _hand_over(self, conn: TConn) -> None:
        conn.init()
        conn.parser.unreader.unread(bytes(conn.buffered))
        conn.buffered = bytearray()
        conn.data_ready = True
        self.enqueue_req(conn)

    def finish_request(self, conn: TConn, fs: Any) -> None:
        """As gunicorn's, except that a kept-alive connection goes back to the event loop, and bytes of a next
        request already read are buffered there too instead of being handed to a thread half-read."""
        try:
            result = fs.result() if not fs.cancelled() else False
            if result:
                leftover = conn.parser.unreader.take_buffered()
                if leftover:
                    self._start_reading(conn, leftover)
                else:
                    self._wait_idle(conn, linger=None if self.alive else STOP_KEEPALIVE_LINGER)
            else:
                self.nr_conns -= 1
                conn.close(graceful=True)
        except Exception:
            self.nr_conns -= 1
            conn.close()

    def murder_pending(self) -> None:
        """Requests that did not arrive whole within the read deadline: 408, and the connection is closed."""
        now = time.monotonic()
        while self.pending_conns and self.pending_conns[0].timeout <= now:
            self._refuse(self.pending_conns[0], 408, "Request Timeout", "The request did not arrive in time")

    def _refuse(self, conn: TConn, status: int, reason: str, message: str) -> None:
        self._send_quietly(conn, json_error(status, reason, message))
        self._close_pending(conn)

    def _send_quietly(self, conn: TConn, data: bytes) -> None:
        with contextlib.suppress(OSError):  # non-blocking, best effort: a client that does not read gets no more
            conn.sock.send(data)

    def _close_pending(self, conn: TConn) -> None:
        with contextlib.suppress(KeyError, ValueError, OSError):
            self.poller.unregister(conn.sock)
        if conn in self.pending_conns:
            self.pending_conns.remove(conn)
        self.nr_conns -= 1
        with contextlib.suppress(OSError):
            conn.sock.shutdown(socket.SHUT_RDWR)
        util.close(conn.sock)


def _expects_continue(buffer: bytes | bytearray) -> bool:
    head = bytes(buffer[: buffer.find(b"\r\n\r\n")]).lower()
    return b"\r\nexpect:" in head and b"100-continue" in head
