"""HTTP/1.1 requests on kept-alive connections, one per thread, with a fraction of the CPU of `requests` or
`http.client`.

The calls on every request (Orbit to Governance and to Axon, Governance to DynamoDB) go to a few known servers
and answer small JSON bodies; `requests` spends a few hundred microseconds of CPU on one (sessions, adapters,
case-insensitive header dicts, URL parsing, urllib3's pool), and `http.client` parses every answer's head with
the email package. Here a request is one `sendall` and the answer is read from the socket with a small parser:
a status line, `name: value` lines, then a body framed by Content-Length or chunked encoding (or, without either,
until the server closes). Informational answers (1xx) are skipped.

Failures are OSErrors: `ConnectFailed` (nothing was sent; its cause says why, a TimeoutError for a connect
timeout), `StaleConnection` (a kept-alive connection the server had closed before any answer; the request was not
processed), `TimeoutError` (no answer in time), `ProtocolError` (an answer this client cannot read) or another
OSError. The connection is then dropped, and the caller decides.
"""

from __future__ import annotations

import select
import socket
import ssl
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

_MAX_HEAD = 64 * 1024
_RECV = 64 * 1024


class ProtocolError(OSError):
    """The server's answer is not HTTP/1.1 as this client reads it."""


class ConnectFailed(ConnectionError):
    """No connection could be made (refused, unreachable, timed out: the cause says which); nothing was sent."""


class StaleConnection(ConnectionError):
    """A kept-alive connection was closed by the server before any byte of the answer."""


@dataclass
class Response:
    status: int
    headers: dict[str, str] = field(default_factory=dict)  # lowercase names; a repeated header's last value
    data: bytes = b""

    def getheader(self, name: str, default: str | None = None) -> str | None:
        return self.headers.get(name.lower(), default)


class _Reader:
    """The answer's bytes, read from the socket as needed."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buffer = bytearray()
        self.received = 0

    def more(self) -> None:
        chunk = self.sock.recv(_RECV)
        if not chunk:
            if self.received == 0:
                raise StaleConnection("the server closed the connection before answering")
            raise ProtocolError("the server closed the connection in the middle of its answer")
        self.received += len(chunk)
        self.buffer += chunk

    def until(self, marker: bytes, limit: int = _MAX_HEAD) -> bytes:
        """The bytes up to `marker` (consumed with it)."""
        while True:
            end = self.buffer.find(marker)
            if end >= 0:
                data = bytes(self.buffer[:end])
                del self.buffer[: end + len(marker)]
                return data
            if len(self.buffer) > limit:
                raise ProtocolError("an answer's head or chunk line is too long")
            self.more()

    def exactly(self, size: int) -> bytes:
        while len(self.buffer) < size:
            self.more()
        data = bytes(self.buffer[:size])
        del self.buffer[:size]
        return data

    def rest(self) -> bytes:
        """Everything until the server closes."""
        while chunk := self.sock.recv(_RECV):
            self.buffer += chunk
        data = bytes(self.buffer)
        self.buffer.clear()
        return data


def read_response(reader: _Reader, method: str) -> tuple[Response, bool]:
    """One answer, and whether the connection can carry another request."""
    while True:
        head = reader.until(b"\r\n\r\n").decode("latin-1")
        status_line, _, header_block = head.partition("\r\n")
        version, _, rest = status_line.partition(" ")
        code = rest[:3]
        if not version.startswith("HTTP/1.") or len(code) != 3 or not code.isdigit():
            raise ProtocolError(f"not an HTTP/1 status line: {status_line[:80]!r}")
        headers: dict[str, str] = {}
        for line in header_block.split("\r\n") if header_block else ():
            name, sep, value = line.partition(":")
            if not sep:
                raise ProtocolError(f"a malformed header line: {line[:80]!r}")
            headers[name.strip().lower()] = value.strip()
        status = int(code)
        if not 100 <= status < 200:
            break  # 1xx: an interim answer, the real one follows
    keep = headers.get("connection", "").lower() != "close" and version != "HTTP/1.0"
    if method == "HEAD" or status in (204, 304):
        return Response(status, headers), keep
    if "chunked" in headers.get("transfer-encoding", "").lower():
        return Response(status, headers, _chunked(reader)), keep
    length = headers.get("content-length")
    if length is not None:
        if not length.isdigit():
            raise ProtocolError(f"a malformed Content-Length: {length[:40]!r}")
        return Response(status, headers, reader.exactly(int(length))), keep
    return Response(status, headers, reader.rest()), False


def _chunked(reader: _Reader) -> bytes:
    parts = []
    while True:
        size_line = reader.until(b"\r\n").split(b";", 1)[0].strip()
        try:
            size = int(size_line, 16)
        except ValueError:
            raise ProtocolError(f"a malformed chunk size: {size_line[:40]!r}") from None
        if size == 0:
            while reader.until(b"\r\n"):  # trailers, up to the empty line
                pass
            return b"".join(parts)
        parts.append(reader.exactly(size))
        if reader.exactly(2) != b"\r\n":
            raise ProtocolError("a chunk is not followed by CRLF")


class KeptAlive:
    """Requests to one origin (`http://host:port` or `https://...`), on one kept-alive connection per thread."""

    def __init__(self, url: str, connect_timeout: float, read_timeout: float) -> None:
        parts = urlsplit(url)
        self.https = parts.scheme == "https"
        self.host = parts.hostname or ""
        self.port = parts.port or (443 if self.https else 80)
        self.netloc = parts.netloc
        self.base_path = parts.path.rstrip("/")  # the callers' paths go under it
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self._context = ssl.create_default_context() if self.https else None
        self._local = threading.local()

    def request(
        self, method: str, target: str, headers: Mapping[str, str], body: bytes = b"", *, retry_stale: bool
    ) -> Response:
        """Send one request (Host and Content-Length added) and read its answer. A kept-alive connection found
        closed before any answer is replaced and, if `retry_stale`, the request sent once more on the new one."""
        lines = [f"{method} {target} HTTP/1.1", f"Host: {self.netloc}"]
        lines += [f"{name}: {value}" for name, value in headers.items() if name.lower() != "host"]
        if body or method not in ("GET", "HEAD", "DELETE", "OPTIONS"):
            lines.append(f"Content-Length: {len(body)}")
        message = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body
        try:
            sock, reused = self._connection()
        except OSError as exc:
            raise ConnectFailed(f"could not connect to {self.netloc}: {exc}") from exc
        try:
            sock.sendall(message)
            response, keep = read_response(_Reader(sock), method)
        except (StaleConnection, BrokenPipeError, ConnectionResetError) as exc:
            self.drop()
            if reused and retry_stale:
                return self.request(method, target, headers, body, retry_stale=False)
            if reused:
                raise StaleConnection(str(exc)) from exc
            raise
        except BaseException:
            self.drop()
            raise
        if not keep:
            self.drop()
        return response

    def _connection(self) -> tuple[socket.socket, bool]:
        sock: socket.socket | None = getattr(self._local, "sock", None)
        # As urllib3 does before reusing a connection: an idle one that is readable was closed by the server.
        if sock is not None and not select.select([sock], [], [], 0)[0]:
            return sock, True
        self.drop()
        sock = socket.create_connection((self.host, self.port), timeout=self.connect_timeout)
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if self._context is not None:
                sock = self._context.wrap_socket(sock, server_hostname=self.host)
            sock.settimeout(self.read_timeout)
        except BaseException:
            sock.close()
            raise
        self._local.sock = sock
        return sock, False

    def drop(self) -> None:
        """Close this thread's connection (the next request opens a new one)."""
        sock = getattr(self._local, "sock", None)
        self._local.sock = None
        if sock is not None:
            sock.close()
