"""The Model Context Protocol as Orbit and Axon serve it: JSON-RPC messages over Streamable HTTP, both eras.

- 2026-07-28 (stateless): no handshake; every request carries its protocol version in `params._meta` and in the
  `MCP-Protocol-Version` header, with `Mcp-Method` (and `Mcp-Name` for tools/call) mirrored in headers, which must
  agree with the body (else HTTP 400, -32020 header mismatch); `server/discover` describes the server.
- 2025-11-25 and 2025-06-18 (what most clients speak today, mcp-proxy-for-aws among them): `initialize` is answered
  without keeping any state, and no `Mcp-Session-Id` is issued, so any replica answers any request.

Why hand-written rather than the official SDK's server: the SDK serves ASGI with its own event loop and session
manager; here each request is one stateless JSON exchange inside a Flask view that has already checked SigV4, and
the protocol surface is four methods. The SDK is what the tests use as clients and upstream servers.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass, field
from typing import Any

import agent_runtime

MODERN = "2026-07-28"
LEGACY = ("2025-11-25", "2025-06-18")
SUPPORTED = (MODERN, *LEGACY)

META_PROTOCOL = "io.modelcontextprotocol/protocolVersion"
META_CAPABILITIES = "io.modelcontextprotocol/clientCapabilities"
META_CLIENT_INFO = "io.modelcontextprotocol/clientInfo"
META_SERVER_INFO = "io.modelcontextprotocol/serverInfo"

HEADER_VERSION = "MCP-Protocol-Version"
HEADER_METHOD = "Mcp-Method"
HEADER_NAME = "Mcp-Name"

PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603
HEADER_MISMATCH = -32020
UNSUPPORTED_VERSION = -32022

# The HTTP status of an error answer in the 2026-07-28 era; the earlier ones answer 200 with the error in the body.
_MODERN_STATUS = {
    PARSE_ERROR: 400,
    INVALID_REQUEST: 400,
    INVALID_PARAMS: 400,
    HEADER_MISMATCH: 400,
    UNSUPPORTED_VERSION: 400,
    METHOD_NOT_FOUND: 404,
}


class JsonRpcError(Exception):
    """An error answered as a JSON-RPC error object."""

    def __init__(
        self,
        code: int,
        message: str,
        data: Any = None,
        *,
        http_status: int | None = None,
        request_id: str | int | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.data = data
        self.http_status = http_status
        self.request_id = request_id

    def to_error(self) -> dict[str, Any]:
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.data is not None:
            error["data"] = self.data
        return error


@dataclass(frozen=True)
class Message:
    """One JSON-RPC request (`id` set) or notification, and the protocol era it speaks."""

    method: str
    params: dict[str, Any]
    id: str | int | None
    version: str = LEGACY[0]
    raw: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def is_notification(self) -> bool:
        return "id" not in self.raw

    @property
    def modern(self) -> bool:
        return self.version == MODERN

    @property
    def meta(self) -> dict[str, Any]:
        meta = self.params.get("_meta")
        return meta if isinstance(meta, dict) else {}


def decode_header_value(value: str) -> str:
    """Header values the client could not send as plain ASCII come as `=?base64?<UTF-8 in base64>?=`."""
    if value.startswith("=?base64?") and value.endswith("?="):
        try:
            return base64.b64decode(value[9:-2], validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            raise JsonRpcError(HEADER_MISMATCH, "Header mismatch: a header value is not valid base64 UTF-8") from None
    return value


def parse_message(body: bytes, headers: Any) -> Message:
    """The JSON-RPC message of a POST, checked against the headers that mirror it.

    `headers` is a case-insensitive mapping (Flask's request.headers). Raises JsonRpcError for anything that is not
    one valid request or notification of a supported protocol revision.
    """
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise JsonRpcError(PARSE_ERROR, "Parse error: the body is not JSON", http_status=400) from None
    if isinstance(data, list):
        raise JsonRpcError(
            INVALID_REQUEST, "Batches are not supported: send one JSON-RPC message per POST", http_status=400
        )
    if not isinstance(data, dict) or data.get("jsonrpc") != "2.0" or not isinstance(data.get("method"), str):
        raise JsonRpcError(INVALID_REQUEST, "Invalid request: expected a JSON-RPC 2.0 request object", http_status=400)
    request_id = data.get("id")
    if "id" in data and (isinstance(request_id, bool) or not isinstance(request_id, (str, int))):
        raise JsonRpcError(INVALID_REQUEST, "Invalid request: id must be a string or an integer", http_status=400)
    params = data.get("params", {})
    if params is None:
        params = {}
    if not isinstance(params, dict):
        raise JsonRpcError(
            INVALID_REQUEST, "Invalid request: params must be an object", http_status=400, request_id=request_id
        )
    try:
        message = Message(data["method"], params, request_id, _version(data["method"], params, headers), data)
        _check_mirrored_headers(message, headers)
    except JsonRpcError as exc:
        exc.request_id = request_id
        raise
    return message


def _version(method: str, params: dict[str, Any], headers: Any) -> str:
    header = headers.get(HEADER_VERSION)
    meta = params.get("_meta") if isinstance(params.get("_meta"), dict) else {}
    declared = meta.get(META_PROTOCOL)
    if method == "initialize":
        return LEGACY[0]
    if header is None and declared is None:
        return LEGACY[0]  # an early client that sends no version: answered as the earlier era
    requested = header if header is not None else declared
    if requested not in SUPPORTED:
        raise JsonRpcError(
            UNSUPPORTED_VERSION,
            "Unsupported protocol version",
            {"supported": list(SUPPORTED), "requested": str(requested)[:64]},
            http_status=400,
        )
    if requested == MODERN and (header != MODERN or declared != MODERN):
        raise JsonRpcError(
            HEADER_MISMATCH,
            f"Header mismatch: {HEADER_VERSION} and params._meta[{META_PROTOCOL!r}] must both say {MODERN}",
            http_status=400,
        )
    return requested


def _check_mirrored_headers(message: Message, headers: Any) -> None:
    """Mcp-Method and Mcp-Name must agree with the body when sent (and are required in the 2026-07-28 era): a
    load balancer or a policy that looked at the headers must not be shown another request than the one served."""
    method = headers.get(HEADER_METHOD)
    if method is None and message.modern:
        raise JsonRpcError(HEADER_MISMATCH, f"Header mismatch: {HEADER_METHOD} is required", http_status=400)
    if method is not None and decode_header_value(method) != message.method:
        raise JsonRpcError(
            HEADER_MISMATCH, f"Header mismatch: {HEADER_METHOD} does not match the body's method", http_status=400
        )
    if message.method != "tools/call":
        return
    name = headers.get(HEADER_NAME)
    if name is None and message.modern:
        raise JsonRpcError(HEADER_MISMATCH, f"Header mismatch: {HEADER_NAME} is required", http_status=400)
    if name is not None and decode_header_value(name) != message.params.get("name"):
        raise JsonRpcError(
            HEADER_MISMATCH, f"Header mismatch: {HEADER_NAME} does not match the body's params.name", http_status=400
        )


def server_info(name: str) -> dict[str, str]:
    return {"name": name, "version": agent_runtime.__version__}


def initialize_result(message: Message, name: str, instructions: str) -> dict[str, Any]:
    """The answer to `initialize`: the client's revision when we speak it, else our latest of that era. Nothing is
    remembered, and no session id is issued."""
    requested = message.params.get("protocolVersion")
    return {
        "protocolVersion": requested if requested in LEGACY else LEGACY[0],
        "capabilities": {"tools": {"listChanged": False}},
        "serverInfo": server_info(name),
        "instructions": instructions,
    }


def discover_result(name: str, instructions: str) -> dict[str, Any]:
    return {
        "supportedVersions": list(SUPPORTED),
        "capabilities": {"tools": {"listChanged": False}},
        "instructions": instructions,
        "resultType": "complete",
        "ttlMs": 0,
        "cacheScope": "public",
        "_meta": {META_SERVER_INFO: server_info(name)},
    }


def modern_result(message: Message, result: dict[str, Any], name: str) -> dict[str, Any]:
    """A result as the message's era expects it (2026-07-28: `resultType`, and the server's identity)."""
    if not message.modern:
        return result
    meta = {**(result.get("_meta") or {}), META_SERVER_INFO: server_info(name)}
    return {"resultType": "complete", **result, "_meta": meta}


def response(message: Message, result: dict[str, Any]) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": message.id, "result": result}


def error_response(error: JsonRpcError, message: Message | None) -> tuple[dict[str, Any], int]:
    """The JSON-RPC error object and its HTTP status."""
    request_id = message.id if message is not None else error.request_id
    status = error.http_status
    if status is None:
        status = _MODERN_STATUS.get(error.code, 200) if message is not None and message.modern else 200
    body = {"jsonrpc": "2.0", "id": request_id, "error": error.to_error()}
    return body, status


def tool_error(text: str, meta: dict[str, Any] | None = None) -> dict[str, Any]:
    """A tool result that tells the model what went wrong (a refused or unavailable call), as MCP asks for errors
    the model can act on."""
    result: dict[str, Any] = {"content": [{"type": "text", "text": text}], "isError": True}
    if meta:
        result["_meta"] = meta
    return result
