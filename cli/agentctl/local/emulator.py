"""The local AWS API emulator: moto's server, plus a journal so that a restart loses nothing acknowledged.

moto keeps its state in memory. When the supervisor restarts a crashed emulator, the keys, policies and
backups that operators created would be gone, and a credential that `agentctl keys create` acknowledged
would stop working. So every successful mutating call is appended to a journal (and fsynced) before its
answer leaves, and a starting emulator replays the journal before it accepts connections.

The journal holds what the emulated Secrets Manager holds, so it is written with mode 0600 inside the
git-ignored state folder; it is the emulator's storage, not a log. Writes to the rate-limit and replay
tables are not journalled: they are short-lived counters and records that expire within minutes anyway.

Run: python -m agentctl.local.emulator --host 127.0.0.1 --port 4566 --journal PATH [--ephemeral-table NAME]...
"""

from __future__ import annotations

import argparse
import base64
import functools
import io
import json
import logging
import os
import selectors
import signal
import socket
import sys
import threading
import types
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from moto import backends as moto_backends
from moto.core import responses as moto_responses
from moto.core.common_models import BaseModel
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from werkzeug import serving as werkzeug_serving
from werkzeug.serving import make_server
from werkzeug.test import Client

log = logging.getLogger("agentctl.emulator")

_READ_PREFIXES = ("Get", "Describe", "List", "Query", "Scan", "BatchGet", "TransactGet", "Validate")


def _operation(environ: dict[str, Any]) -> str | None:
    target = environ.get("HTTP_X_AMZ_TARGET", "")
    return target.rpartition(".")[2] if target else None


def is_mutation(environ: dict[str, Any]) -> bool:
    operation = _operation(environ)
    if operation is not None:  # JSON protocols (DynamoDB, Secrets Manager, ...): the operation says
        return not operation.startswith(_READ_PREFIXES)
    # REST protocols (Lambda, ...) mutate with these methods; query protocols (POST with Action=...) are
    # narrowed down by the caller, which reads the body.
    return environ.get("REQUEST_METHOD") in ("POST", "PUT", "DELETE", "PATCH")


class JournalMiddleware:
    """Appends every successful mutation to the journal before the answer is returned."""

    def __init__(self, app: Callable[..., Any], journal: Path, ephemeral_tables: Iterable[str]) -> None:
        self.app = app
        self.journal = journal
        self.ephemeral = set(ephemeral_tables)
        self._lock = threading.Lock()

    def _should_record(self, environ: dict[str, Any], body: bytes) -> bool:
        if environ.get("PATH_INFO", "").startswith("/moto-api"):
            return False
        if not is_mutation(environ):
            return False
        if environ.get("REQUEST_METHOD") == "POST" and _operation(environ) is None:
            action = next((p.split(b"=", 1)[1] for p in body.split(b"&") if p.startswith(b"Action=")), b"")
            if action.decode(errors="replace").startswith(_READ_PREFIXES):
                return False
        if _operation(environ) in ("PutItem", "UpdateItem", "DeleteItem") and self.ephemeral:
            try:
                if json.loads(body).get("TableName") in self.ephemeral:
                    return False
            except ValueError:
                return True
        return True

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        environ["wsgi.input"] = io.BytesIO(body)
        record = self._should_record(environ, body)
        captured: dict[str, Any] = {}

        def capture(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            captured["status"] = int(status.split()[0])
            return start_response(status, headers, exc_info)

        # Materialise the answer before deciding: only what succeeded is recorded.
        result = b"".join(self.app(environ, capture))
        if record and 200 <= captured.get("status", 500) < 300:
            self._append(environ, body)
        return [result]

    def _append(self, environ: dict[str, Any], body: bytes) -> None:
        headers = {
            key[5:].replace("_", "-").title(): value for key, value in environ.items() if key.startswith("HTTP_")
        }
        if environ.get("CONTENT_TYPE"):
            headers["Content-Type"] = environ["CONTENT_TYPE"]
        entry = {
            "method": environ["REQUEST_METHOD"],
            "path": environ.get("RAW_URI") or environ.get("PATH_INFO", "/"),
            "query": environ.get("QUERY_STRING", ""),
            "headers": headers,
            "body": base64.b64encode(body).decode("ascii"),
        }
        line = json.dumps(entry, separators=(",", ":")) + "\n"
        with self._lock:
            fd = os.open(self.journal, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                os.write(fd, line.encode())
                os.fsync(fd)
            finally:
                os.close(fd)


def replay(app: Callable[..., Any], journal: Path) -> int:
    """Send every journalled request to `app` again, in order. Returns how many were replayed."""
    if not journal.exists():
        return 0
    client = Client(app)
    count = 0
    with journal.open(encoding="utf-8") as lines:
        for line in lines:
            if not line.strip():
                continue
            try:
                entry = json.loads(line)
            except ValueError:
                log.warning("skipping a torn journal line (the emulator died while writing it)")
                continue
            path = entry["path"].split("?", 1)[0]
            response = client.open(
                path,
                method=entry["method"],
                query_string=entry["query"],
                headers=entry["headers"],
                data=base64.b64decode(entry["body"]),
            )
            if response.status_code >= 300:
                log.warning("replayed request answered %s: %s %s", response.status_code, entry["method"], path)
            count += 1
    return count


def make_moto_lean() -> None:
    """Two costs of moto's server that a long-running emulator should not pay (measured by `make bench`):

    - every model object moto creates is appended to a class-level list for its /moto-api dashboard and never
      released: about 1 KiB kept per DynamoDB call, hundreds of MiB per hour under load. Objects are no longer
      tracked (the dashboard, which nothing here uses, shows nothing).
    - per request, moto lists its own package folder (about 200 stat calls under a global lock) and inspects the
      response class's members: both answers never change, so they are computed once.
    """

    def untracked_new(cls: type, *args: Any, **kwargs: Any) -> Any:
        return super(BaseModel, cls).__new__(cls)

    BaseModel.__new__ = untracked_new  # type: ignore[method-assign]
    modules = tuple(moto_backends.list_of_moto_modules())
    moto_backends.list_of_moto_modules = lambda: modules  # type: ignore[assignment]
    moto_responses.method_names_from_class = functools.cache(moto_responses.method_names_from_class)


def serve(host: str, port: int, journal: Path, ephemeral_tables: list[str]) -> None:
    make_moto_lean()
    werkzeug_serving.selectors = types.SimpleNamespace(  # type: ignore[assignment]
        DefaultSelector=_NoDrainOnKeepAlive, EVENT_READ=selectors.EVENT_READ
    )
    moto_app = DomainDispatcherApplication(create_backend_app)
    journal.parent.mkdir(parents=True, exist_ok=True)
    replayed = replay(moto_app, journal)
    print(json.dumps({"event": "emulator_ready", "replayed": replayed, "port": port}), flush=True)
    app = JournalMiddleware(moto_app, journal, ephemeral_tables)
    server = make_server(host, port, app, threaded=True, request_handler=_QuietHandler)

    def stop(*_: Any) -> None:
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    server.serve_forever()


_kept_alive = threading.local()


class _NoDrainOnKeepAlive(selectors.DefaultSelector):  # type: ignore[misc,valid-type]
    """werkzeug, after each answer, reads whatever the client sent past the request (it assumes the connection
    closes). On a kept-alive connection that would be the next request: nothing is left to drain there."""

    def select(self, timeout: float | None = None) -> list[Any]:
        if getattr(_kept_alive, "active", False):
            return []
        return super().select(timeout)


class _QuietHandler(MotoRequestHandler):
    """No line per request: the emulator's log would otherwise grow with every rate-limit count."""

    protocol_version = "HTTP/1.1"  # keep-alive: the services reuse their connections

    def send_header(self, keyword: str, value: str) -> None:
        """werkzeug's server closes every connection ("Connection: close"), because http.server cannot drain an
        unread body before the next request; JournalMiddleware always reads the whole body of a request that
        declares its length, so such a connection is kept (a new TCP connection per AWS call cost both sides
        more CPU than the call's own work). A chunked request body is not read through: that connection closes."""
        if keyword.lower() == "connection" and value.lower() == "close" and self._drained():
            _kept_alive.active = True  # tells the drain after the answer not to read the next request
            return
        super().send_header(keyword, value)

    def setup(self) -> None:
        super().setup()
        # The headers and the body are two writes: without this, Nagle's algorithm holds the body back until the
        # client's delayed ACK of the headers (40 ms) on a kept-alive connection.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def handle_one_request(self) -> None:
        _kept_alive.active = False
        super().handle_one_request()

    def _drained(self) -> bool:
        headers = self.headers
        return (
            headers is not None
            and "chunked" not in headers.get("Transfer-Encoding", "").lower()
            and headers.get("Connection", "").lower() != "close"
            and self.request_version == "HTTP/1.1"
        )

    def log_request(self, code: Any = "-", size: Any = "-") -> None:
        return


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=4566)
    parser.add_argument("--journal", type=Path, required=True)
    parser.add_argument("--ephemeral-table", action="append", default=[])
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stdout)
    serve(args.host, args.port, args.journal, args.ephemeral_table)


if __name__ == "__main__":
    main()
