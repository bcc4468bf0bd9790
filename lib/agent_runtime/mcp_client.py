"""Orbit as an MCP client of an upstream tool server, over Streamable HTTP, from Orbit's request threads.

An upstream speaks the 2026-07-28 revision (stateless) or an earlier one (an `initialize` handshake, maybe an
`Mcp-Session-Id`); the first use finds out which (`server/discover` first, then `initialize`), and a legacy session is
kept per process and upstream: that state is Orbit's, not its clients'. Answers may come as JSON or as a
server-sent-event stream; the response with the request's id is taken from either. Orbit numbers its own requests
upstream, so that the ids of different clients never collide in a shared session.

Why hand-written rather than the official SDK's client: the SDK's client is asynchronous and per-connection, and
Orbit serves each tool call from a thread of a WSGI server; running an event loop per call would cost more than the
call. What is implemented is the part of the transport a gateway needs: requests, JSON or SSE answers, sessions.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import requests

from agent_runtime.mcp import (
    HEADER_METHOD,
    HEADER_NAME,
    HEADER_VERSION,
    LEGACY,
    META_CAPABILITIES,
    META_PROTOCOL,
    MODERN,
)

#: Signs or authenticates an upstream request: (method, url, body, headers) -> the headers to send.
Authenticator = Callable[[str, str, bytes, dict[str, str]], dict[str, str]]

SESSION_HEADER = "Mcp-Session-Id"
_CLIENT_INFO = {"name": "agent-runtime-orbit", "version": "1"}


class UpstreamUnavailable(Exception):
    """The upstream could not answer (connection, timeout, a 5xx, an answer that is not MCP): counts against its
    circuit breaker."""


class UpstreamRpcError(Exception):
    """The upstream answered with a JSON-RPC error: passed back to the client as it is."""

    def __init__(self, error: dict[str, Any]) -> None:
        super().__init__(str(error.get("message", "")))
        self.error = error


class _SessionGone(Exception):
    pass


class McpUpstream:
    def __init__(
        self,
        url: str,
        *,
        http: requests.Session,
        timeout_seconds: float,
        authenticate: Authenticator | None = None,
        connect_timeout_seconds: float = 2.0,
    ) -> None:
        self.url = url
        self._http = http
        self._timeout = timeout_seconds
        self._connect_timeout = connect_timeout_seconds
        self._authenticate = authenticate
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self.protocol: str | None = None  # MODERN or the negotiated earlier revision, once known
        self._session_id: str | None = None

    # --- public -------------------------------------------------------------------------------------------

    def call(self, method: str, params: dict[str, Any], headers: dict[str, str] | None = None) -> dict[str, Any]:
        """The result of one request; UpstreamRpcError for a JSON-RPC error, UpstreamUnavailable otherwise."""
        deadline = time.monotonic() + self._timeout
        self._connect(deadline)
        try:
            return self._request(method, params, headers or {}, deadline)
        except _SessionGone:
            with self._lock:
                self.protocol, self._session_id = None, None
            self._connect(deadline)
            try:
                return self._request(method, params, headers or {}, deadline)
            except _SessionGone as exc:
                raise UpstreamUnavailable("the upstream dropped its session again") from exc

    def list_tools(self) -> list[dict[str, Any]]:
        """Every tool of the upstream (following its pagination)."""
        tools: list[dict[str, Any]] = []
        cursor = None
        for _ in range(100):
            result = self.call("tools/list", {"cursor": cursor} if cursor else {})
            tools.extend(t for t in result.get("tools", []) if isinstance(t, dict))
            cursor = result.get("nextCursor")
            if not cursor:
                return tools
        raise UpstreamUnavailable("the upstream's tool list does not end")

    # --- connection ---------------------------------------------------------------------------------------

    def _connect(self, deadline: float) -> None:
        with self._lock:
            if self.protocol is not None:
                return
            try:
                result = self._exchange("server/discover", {}, {}, deadline, protocol=MODERN)
                if MODERN in (result.get("supportedVersions") or []):
                    self.protocol = MODERN
                    return
            except (UpstreamRpcError, UpstreamUnavailable, _SessionGone):
                pass  # an earlier-era server: shake hands
            result = self._exchange(
                "initialize",
                {"protocolVersion": LEGACY[0], "capabilities": {}, "clientInfo": _CLIENT_INFO},
                {},
                deadline,
                protocol=None,
            )
            version = result.get("protocolVersion")
            if version not in LEGACY:
                raise UpstreamUnavailable(f"the upstream speaks no revision we do ({str(version)[:32]})")
            self.protocol = version
            self._notify("notifications/initialized", deadline)

    # --- exchanges ----------------------------------------------------------------------------------------

    def _request(self, method: str, params: dict[str, Any], headers: dict[str, str], deadline: float) -> dict[str, Any]:
        return self._exchange(method, params, headers, deadline, protocol=self.protocol)

    def _headers(self, method: str, params: dict[str, Any], protocol: str | None) -> dict[str, str]:
        headers = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream"}
        if protocol is not None:
            headers[HEADER_VERSION] = protocol
        if protocol == MODERN:
            headers[HEADER_METHOD] = method
            if method == "tools/call":
                headers[HEADER_NAME] = str(params.get("name", ""))
        if self._session_id and protocol != MODERN:
            headers[SESSION_HEADER] = self._session_id
        return headers

    def _post(self, body: dict[str, Any], headers: dict[str, str], deadline: float) -> requests.Response:
        data = json.dumps(body, separators=(",", ":")).encode()
        if self._authenticate is not None:
            headers = self._authenticate("POST", self.url, data, headers)
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise UpstreamUnavailable("the upstream did not answer in time")
        try:
            return self._http.post(
                self.url,
                data=data,
                headers=headers,
                timeout=(min(self._connect_timeout, remaining), remaining),
                stream=True,
            )
        except requests.RequestException as exc:
            raise UpstreamUnavailable(type(exc).__name__) from exc

    def _notify(self, method: str, deadline: float) -> None:
        message = {"jsonrpc": "2.0", "method": method}
        response = self._post(message, self._headers(method, {}, self.protocol), deadline)
        response.close()

    def _exchange(
        self, method: str, params: dict[str, Any], extra: dict[str, str], deadline: float, *, protocol: str | None
    ) -> dict[str, Any]:
        request_id = next(self._ids)
        if protocol == MODERN:
            meta = params.get("_meta") if isinstance(params.get("_meta"), dict) else {}
            params = {**params, "_meta": {**meta, META_PROTOCOL: MODERN, META_CAPABILITIES: {}}}
        message = {"jsonrpc": "2.0", "id": request_id, "method": method, "params": params}
        response = self._post(message, {**self._headers(method, params, protocol), **extra}, deadline)
        try:
            if method == "initialize" and response.headers.get(SESSION_HEADER):
                self._session_id = response.headers[SESSION_HEADER]
            if response.status_code == 404 and self._session_id and protocol != MODERN:
                raise _SessionGone()
            if response.status_code >= 500:
                raise UpstreamUnavailable(f"HTTP {response.status_code}")
            answer = self._answer(response, request_id, deadline)
        finally:
            response.close()
        if answer is None:
            raise UpstreamUnavailable(f"HTTP {response.status_code} without a JSON-RPC answer")
        if isinstance(answer.get("error"), dict):
            raise UpstreamRpcError(answer["error"])
        result = answer.get("result")
        if not isinstance(result, dict):
            raise UpstreamUnavailable("a JSON-RPC answer without a result object")
        return result

    def _answer(self, response: requests.Response, request_id: int, deadline: float) -> dict[str, Any] | None:
        content_type = response.headers.get("Content-Type", "").split(";")[0].strip().lower()
        try:
            if content_type == "text/event-stream":
                for message in _sse_messages(response, deadline):
                    if message.get("id") == request_id and ("result" in message or "error" in message):
                        return message
                return None
            if content_type == "application/json":
                data = json.loads(response.content)
                return data if isinstance(data, dict) and data.get("id") in (request_id, None) else None
        except (ValueError, requests.RequestException) as exc:
            raise UpstreamUnavailable(f"an unreadable answer ({type(exc).__name__})") from exc
        return None


def _sse_messages(response: requests.Response, deadline: float) -> Iterator[dict[str, Any]]:
    """The JSON-RPC messages of a server-sent-event stream (comments, priming events and ids skipped)."""
    data: list[str] = []
    for raw in response.iter_lines(decode_unicode=False):
        if time.monotonic() > deadline:
            raise UpstreamUnavailable("the upstream did not answer in time")
        line = raw.decode("utf-8").rstrip("\r")
        if not line:
            if data:
                text = "\n".join(data)
                data = []
                if text.strip():
                    message = json.loads(text)
                    if isinstance(message, dict):
                        yield message
            continue
        if line.startswith(":"):
            continue
        name, _, value = line.partition(":")
        if name == "data":
            data.append(value[1:] if value.startswith(" ") else value)
    if data and "\n".join(data).strip():
        message = json.loads("\n".join(data))
        if isinstance(message, dict):
            yield message
