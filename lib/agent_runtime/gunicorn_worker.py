"""gunicorn's threaded worker, changed so that a slow client cannot hold a thread.

gunicorn's `gthread` worker gives a connection to a thread as soon as its first byte arrives, and the thread then
reads the rest of the request with blocking calls: a client that sends one byte every few seconds holds that
thread for as long as it likes, and as many such clients as there are threads stop the service for everyone.

Here the worker's event loop reads each request (head and body) without blocking, into a buffer, and hands it to a
thread only once it is whole; the thread's parser then reads from that buffer only, never from the socket:
whatever the request says, a thread never waits on the client. A request must arrive whole within
`REQUEST_READ_TIMEOUT` seconds of its first byte, a deadline a client cannot extend by trickling bytes (then it is
answered 408 and closed); a body announced larger than `MAX_BUFFERED_BODY` is answered 413 at once, a head (or a
trailer section) larger than `MAX_BUFFERED_HEAD` 431, bad framing (Content-Length, chunk sizes) 400; judging the
bytes costs the event loop only the new ones (RequestScan). An idle connection costs a file descriptor, not a
thread, as before; a new connection must send its first byte within `FIRST_BYTE_TIMEOUT` seconds. When a worker
holds `worker_connections` connections, a new one evicts the connection that has waited longest without a whole
request (never spoken, then idle kept-alive, then being read), so idle or slow connections cannot lock everyone
out.

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
import sys
import time
import uuid
from collections import deque
from functools import partial
from typing import Any

from gunicorn import util
from gunicorn.http.unreader import Unreader
from gunicorn.workers.gthread import STOP_KEEPALIVE_LINGER, TConn, ThreadWorker

from agent_runtime.errors import utc_timestamp

REQUEST_READ_TIMEOUT = float(os.environ.get("GUNICORN_REQUEST_READ_TIMEOUT", "10"))
MAX_BUFFERED_BODY = int(os.environ.get("GUNICORN_MAX_BUFFERED_BODY", str(128 * 1024)))
FIRST_BYTE_TIMEOUT = float(os.environ.get("GUNICORN_FIRST_BYTE_TIMEOUT", "5"))
MAX_BUFFERED_HEAD = 64 * 1024
_CHUNK_SIZE_LINE = 64  # a chunk-size line: hex digits and short extensions; longer is refused
# A thread's writes (and a malformed request's reads) on a handed-over connection never block longer than this.
SOCKET_TIMEOUT = 30.0
_RECV_SIZE = 64 * 1024
_LINGER_SECONDS = 2.0  # as gunicorn's graceful close
_LINGER_MAX_DRAIN = 64 * 1024
# How often the loop tells the arbiter it is alive and checks its parent. gunicorn does both (a system call each)
# on every turn of the loop, several turns per request; the arbiter's timeout is 30 s, and an idle loop turns once
# a second anyway.
_HEARTBEAT_SECONDS = 1.0


def json_error(status: int, reason: str, message: str) -> bytes:
    """A whole HTTP/1.1 error response with the JSON body of the error contract, closing the connection."""
    code = {413: "PAYLOAD_TOO_LARGE", 503: "SERVICE_UNAVAILABLE"}.get(status)
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
    """What the buffered bytes of one HTTP/1 request amount to (see RequestScan.state)."""
    return RequestScan(max_body).state(buffer)


class RequestScan:
    """Judges one request's bytes as they arrive, resuming where the previous look stopped: the work per look is
    the new bytes, never the whole buffer again (re-parsing from the start would make a body of many tiny chunks
    cost the event loop time quadratic in its size). `reason` says what was wrong with a `malformed` request."""

    def __init__(self, max_body: int) -> None:
        self.max_body = max_body
        self.reason = ""
        self._head_end = -1  # where the blank line after the headers starts, once found
        self._searched = 0  # searches for a blank line resume here
        self._content_length: int | None = None
        self._chunked = False
        self._position = 0  # chunked: where the next chunk-size line (or the trailers) starts
        self._size_total = 0
        self._in_trailers = False

    @property
    def head_seen(self) -> bool:
        return self._head_end >= 0

    def state(self, buffer: bytes | bytearray) -> str:
        """`partial` (wait for more), `whole` (head and body are there), `malformed` (refuse: `reason`),
        `too_large` (a body announced or sent beyond `max_body`), `head_too_large` (no end of the head, or of the
        trailers, within MAX_BUFFERED_HEAD)."""
        if self._head_end < 0:
            state = self._scan_head(buffer)
            if state:
                return state
        if self._chunked:
            return self._scan_chunks(buffer)
        if self._content_length is None:
            return "whole"
        if self._content_length > self.max_body:
            return "too_large"
        return "whole" if len(buffer) - self._head_end - 4 >= self._content_length else "partial"

    def _blank_line(self, buffer: bytes | bytearray, start: int) -> int:
        end = buffer.find(b"\r\n\r\n", max(start, self._searched - 3))
        self._searched = len(buffer) if end < 0 else end
        return end

    def _scan_head(self, buffer: bytes | bytearray) -> str | None:
        end = self._blank_line(buffer, 0)
        if end < 0:
            return "head_too_large" if len(buffer) > MAX_BUFFERED_HEAD else "partial"
        if end > MAX_BUFFERED_HEAD:
            return "head_too_large"
        self._head_end = end
        for line in bytes(buffer[:end]).split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                if self._content_length is not None or not value.strip().isdigit():
                    self.reason = "Content-Length is repeated or not a number"
                    return "malformed"
                self._content_length = int(value.strip())
            elif name == b"transfer-encoding":
                self._chunked = value.strip().lower().endswith(b"chunked")
        self._position = end + 4
        return None

    def _scan_chunks(self, buffer: bytes | bytearray) -> str:
        while not self._in_trailers:
            line_end = buffer.find(b"\r\n", self._position, self._position + _CHUNK_SIZE_LINE)
            if line_end < 0:
                if len(buffer) - self._position >= _CHUNK_SIZE_LINE:
                    self.reason = f"a chunk-size line is longer than {_CHUNK_SIZE_LINE} bytes"
                    return "malformed"
                return "partial"
            size_text = bytes(buffer[self._position : line_end]).split(b";", 1)[0].rstrip(b" \t")
            if not size_text or size_text.strip(b"0123456789abcdefABCDEF"):  # hex digits only, as gunicorn's parser
                self.reason = "a chunk size is not a hexadecimal number"
                return "malformed"
            size = int(size_text, 16)
            if size == 0:  # the last chunk: then trailer lines, each ending in CRLF, and an empty line
                self._position = self._searched = line_end + 2
                self._in_trailers = True
                break
            if self._size_total + size > self.max_body:
                return "too_large"
            data_end = line_end + 2 + size
            if len(buffer) < data_end + 2:
                return "partial"  # this chunk is read again from its size line when more has come
            if buffer[data_end : data_end + 2] != b"\r\n":
                self.reason = "a chunk is longer than its size says"
                return "malformed"
            self._size_total += size
            self._position = data_end + 2
        if buffer[self._position : self._position + 2] == b"\r\n" or self._blank_line(buffer, self._position) >= 0:
            return "whole"
        return "head_too_large" if len(buffer) - self._position > MAX_BUFFERED_HEAD else "partial"


class _BoundedSocket(socket.socket):
    """A client socket whose "blocking" mode is a timeout: gunicorn's threads set their connection blocking, and a
    response to a client that does not read must not hold a thread for ever."""

    def setblocking(self, flag: bool) -> None:
        super().settimeout(SOCKET_TIMEOUT if flag else 0.0)


class _BufferOnly(Unreader):
    """The parser's source once the event loop has buffered a request: what it was given, then end of input. A
    request whose framing says there is more (a malformed one) meets that end at once instead of a slow client."""

    def chunk(self, size_hint: int | None = None) -> bytes:
        return b""


class BufferedThreadWorker(ThreadWorker):
    """A gthread worker whose threads only ever get whole requests (see the module's docstring)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # gunicorn stops accepting at worker_connections; this worker keeps accepting and evicts instead (accept()),
        # so the cap is its own and gunicorn's is set out of reach.
        self.connection_cap = self.worker_connections
        self.worker_connections = sys.maxsize
        self.fresh_conns: deque[TConn] = deque()  # accepted, no byte yet; deadlines in order
        self.closing_conns: deque[TConn] = deque()  # answered, write side shut, draining before close
        self._next_notify = self._next_parent_check = 0.0
        self._parent_alive = True

    def notify(self) -> None:
        now = time.monotonic()
        if now >= self._next_notify:
            self._next_notify = now + _HEARTBEAT_SECONDS
            super().notify()

    def is_parent_alive(self) -> bool:
        now = time.monotonic()
        if now >= self._next_parent_check:
            self._next_parent_check = now + _HEARTBEAT_SECONDS
            self._parent_alive = super().is_parent_alive()
        return self._parent_alive

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
        if self.nr_conns > self.connection_cap and not self._evict_one():
            conn.sock.setblocking(False)
            self._refuse(conn, 503, "Service Unavailable", "The server is busy; try again")
            return
        # Until its first byte, a new connection waits without a thread, for FIRST_BYTE_TIMEOUT at most.
        self._park(conn, self.fresh_conns, time.monotonic() + FIRST_BYTE_TIMEOUT, self._on_first_byte)

    def _park(self, conn: TConn, waiting: deque[TConn], deadline: float, on_readable: Any) -> None:
        """Keep a connection in the event loop, no thread, in `waiting` (each queue holds one kind of wait, so its
        deadlines stay in order) until it is readable or its deadline passes."""
        if conn.sock.gettimeout() != 0.0:  # each call is a system call, even when nothing changes
            conn.sock.setblocking(False)
        conn.timeout = deadline
        waiting.append(conn)
        self.poller.register(conn.sock, selectors.EVENT_READ, partial(on_readable, conn))

    def _resume(self, conn: TConn, client: Any, waiting: deque[TConn]) -> None:
        """A waiting connection has bytes: read them now, not after one more turn of the loop. The socket stays
        registered, with a new callback (a change of callback alone is no system call)."""
        waiting.remove(conn)
        self._begin_request(conn, b"")
        conn.timeout = time.monotonic() + REQUEST_READ_TIMEOUT
        self.pending_conns.append(conn)
        self.poller.modify(client, selectors.EVENT_READ, partial(self._on_request_bytes, conn))
        self._on_request_bytes(conn, client)

    def _on_first_byte(self, conn: TConn, client: Any) -> None:
        self._resume(conn, client, self.fresh_conns)

    def _evict_one(self) -> bool:
        """Make room for a new connection: close the one that has waited longest without a whole request. False
        when every connection is being served by a thread."""
        if self.closing_conns:
            self._close_pending(self.closing_conns[0])
        elif self.fresh_conns:
            self._close_pending(self.fresh_conns[0])
        elif self.keepalived_conns:
            self._close_pending(self.keepalived_conns[0])
        elif self.pending_conns:
            self._refuse(self.pending_conns[0], 503, "Service Unavailable", "The server is busy; try again")
        else:
            return False
        return True

    def murder_keepalived(self, force: bool = False) -> None:
        super().murder_keepalived(force)
        now = time.monotonic()
        for waiting in (self.fresh_conns, self.closing_conns):
            while waiting and (force or waiting[0].timeout <= now):
                self._close_pending(waiting[0])

    def _linger(self, conn: TConn) -> None:
        """Close after the answer as RFC 9112 §9.6 asks (send FIN, drain what the client still sends, then close, so
        the kernel does not reset the answer away), but in the event loop: gunicorn's own graceful close blocks
        the loop for up to two seconds per connection, which any client could use to stall every other one."""
        try:
            conn.sock.shutdown(socket.SHUT_WR)
            conn.sock.setblocking(False)
            self.poller.register(conn.sock, selectors.EVENT_READ, partial(self._on_linger_readable, conn))
        except (OSError, ValueError):  # the client is gone already (or the thread closed the socket): just close
            self.nr_conns -= 1
            util.close(conn.sock)
            return
        conn.timeout = time.monotonic() + _LINGER_SECONDS
        conn.drained = 0
        self.closing_conns.append(conn)

    def _on_linger_readable(self, conn: TConn, client: Any) -> None:
        data = _receive(conn)
        if data is None:
            return
        conn.drained += len(data)
        if not data or conn.drained > _LINGER_MAX_DRAIN:
            self._close_pending(conn)

    def _wait_idle(self, conn: TConn, linger: float | None = None) -> None:
        deadline = time.monotonic() + self.cfg.keepalive
        if linger is not None:  # a stopping worker keeps it only briefly, as gunicorn's own does
            deadline = min(deadline, time.monotonic() + linger)
        self._park(conn, self.keepalived_conns, deadline, self.on_client_socket_readable)

    def on_client_socket_readable(self, conn: TConn, client: Any) -> None:
        self._resume(conn, client, self.keepalived_conns)

    @staticmethod
    def _begin_request(conn: TConn, already: bytes) -> None:
        conn.buffered = bytearray(already)
        conn.scan = RequestScan(MAX_BUFFERED_BODY)
        conn.continued = False

    def _start_reading(self, conn: TConn, already: bytes) -> None:
        """A connection back from a thread with the start of its next request: read the rest in the loop."""
        self._begin_request(conn, already)
        self._park(conn, self.pending_conns, time.monotonic() + REQUEST_READ_TIMEOUT, self._on_request_bytes)
        if already:
            self._judge(conn)

    def _on_request_bytes(self, conn: TConn, client: Any) -> None:
        data = _receive(conn)
        if data is None:
            return
        if not data:  # the client went away before its request was whole
            self._close_pending(conn)
            return
        conn.buffered += data
        self._judge(conn)

    def _judge(self, conn: TConn) -> None:
        state = conn.scan.state(conn.buffered)
        if state == "partial":
            if not conn.continued and conn.scan.head_seen and _expects_continue(conn.buffered):
                conn.continued = True  # the client waits for this before it sends the body
                self._send_quietly(conn, b"HTTP/1.1 100 Continue\r\n\r\n")
            return
        if state == "too_large":
            self._refuse(conn, 413, "Payload Too Large", f"Request body is larger than {MAX_BUFFERED_BODY} bytes")
            return
        if state == "head_too_large":
            self._refuse(
                conn, 431, "Request Header Fields Too Large", f"Request head is over {MAX_BUFFERED_HEAD} bytes"
            )
            return
        if state == "malformed":
            self._refuse(conn, 400, "Bad Request", f"Malformed request: {conn.scan.reason}")
            return
        self.poller.unregister(conn.sock)
        self.pending_conns.remove(conn)
        self._hand_over(conn)

    def _hand_over(self, conn: TConn) -> None:
        conn.init()
        if not isinstance(conn.parser.unreader, _BufferOnly):  # once per connection: the parser lives on it
            conn.parser.unreader = _BufferOnly()
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
                self._linger(conn)
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
        """Close a connection no thread holds (new, kept-alive or being read), wherever the event loop keeps it."""
        with contextlib.suppress(KeyError, ValueError, OSError):
            self.poller.unregister(conn.sock)
        for waiting in (self.pending_conns, self.keepalived_conns, self.fresh_conns, self.closing_conns):
            if conn in waiting:
                waiting.remove(conn)
        self.nr_conns -= 1
        with contextlib.suppress(OSError):
            conn.sock.shutdown(socket.SHUT_RDWR)
        util.close(conn.sock)


def _receive(conn: TConn) -> bytes | None:
    """What a readable, non-blocking connection holds: None when nothing after all, b"" when it is closed."""
    try:
        return conn.sock.recv(_RECV_SIZE)
    except (BlockingIOError, InterruptedError):
        return None
    except OSError:
        return b""


def _expects_continue(buffer: bytes | bytearray) -> bool:
    head = bytes(buffer[: buffer.find(b"\r\n\r\n")]).lower()
    return b"\r\nexpect:" in head and b"100-continue" in head
