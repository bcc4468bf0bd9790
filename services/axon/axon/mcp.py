"""POST /mcp on Axon: its reasoning as the tool `reason` of the built-in target `axon`.

Only Orbit calls it (SigV4 with Orbit's key, service `axon`), and only with Governance's receipt for this very tool
call: the same two proofs as POST /reason. Stateless, like Orbit's endpoint.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from flask import Blueprint, Response, current_app, request

from agent_runtime import mcp, receipts, tracing
from agent_runtime.tools import AXON_REASON_TOOL, BUILTIN_TARGET
from axon.engines import EngineError, EngineRejected
from axon.proofs import check_receipt, verify_orbit

log = logging.getLogger("axon.mcp")
bp = Blueprint("mcp", __name__)

SERVER_NAME = "agent-runtime-axon"
INSTRUCTIONS = "Axon's reasoning, called through agent-runtime's Orbit gateway only."


def _json(body: dict[str, Any], status: int = 200) -> Response:
    return Response(json.dumps(body, ensure_ascii=False, separators=(",", ":")), status, mimetype="application/json")


@bp.post("/mcp")
def mcp_endpoint() -> Response:
    services = current_app.extensions["axon"]
    _, body = verify_orbit()
    try:
        message = mcp.parse_message(body, request.headers)
    except mcp.JsonRpcError as exc:
        error, status = mcp.error_response(exc, None)
        return _json(error, status)
    if message.is_notification:
        return Response(status=202)
    try:
        result = _handle(services, message)
    except mcp.JsonRpcError as exc:
        error, status = mcp.error_response(exc, message)
        return _json(error, status)
    return _json(mcp.response(message, mcp.modern_result(message, result, SERVER_NAME)))


def _handle(services: Any, message: mcp.Message) -> dict[str, Any]:
    if message.method == "initialize":
        return mcp.initialize_result(message, SERVER_NAME, INSTRUCTIONS)
    if message.method == "server/discover":
        return mcp.discover_result(SERVER_NAME, INSTRUCTIONS)
    if message.method == "ping":
        return {}
    if message.method == "tools/list":
        listed = AXON_REASON_TOOL.listing()
        return {"tools": [{**listed, "name": AXON_REASON_TOOL.name}]}
    if message.method != "tools/call":
        raise mcp.JsonRpcError(mcp.METHOD_NOT_FOUND, f"Method not found: {message.method[:64]}")
    if message.params.get("name") != AXON_REASON_TOOL.name:
        raise mcp.JsonRpcError(mcp.INVALID_PARAMS, f"Unknown tool: {str(message.params.get('name'))[:64]}")
    arguments = message.params.get("arguments") or {}
    prompt, intent = arguments.get("prompt"), arguments.get("intent", "call_reasoning")
    if not isinstance(prompt, str) or not prompt or not isinstance(intent, str):
        raise mcp.JsonRpcError(mcp.INVALID_PARAMS, "Invalid arguments: prompt (a string) is required")
    check_receipt(
        lambda token, keys, guard, limit: receipts.verify_tool_call(
            token,
            keys,
            target=BUILTIN_TARGET,
            tool=AXON_REASON_TOOL.name,
            arguments=arguments,
            replay_guard=guard,
            max_lifetime_seconds=limit,
        )
    )
    try:
        with tracing.span("engine.reason", attributes={"agent_runtime.engine": services.engine.name}):
            text = services.engine.reason(intent, {"prompt": prompt})
    except EngineRejected as exc:
        return mcp.tool_error(f"The reasoning engine rejected the prompt: {exc}")
    except EngineError as exc:
        log.error("engine failed: %s", exc, extra={"event": "engine_error"})
        return mcp.tool_error("The reasoning engine is unavailable; try again later.")
    return {"content": [{"type": "text", "text": text}], "isError": False}
