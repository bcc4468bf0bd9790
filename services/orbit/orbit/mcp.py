"""POST /mcp: Orbit as an MCP gateway. Every tool call is Think (verify, validate), Govern, Act, like /dispatch.

SigV4 first (an unauthenticated request gets the HTTP 401 of the error contract, before any JSON-RPC handling),
then the JSON-RPC message. `tools/list` shows only the tools the caller could be allowed to call. `tools/call`
checks the arguments against the tool's input schema, asks Governance (the tool as the action, its arguments as
`context.input`), and only on an allow calls the upstream with Governance's receipt. A refused, rate-limited or
unavailable call is a tool result with `isError: true` that says why and what to do, so that the model can act on
it; protocol and argument errors stay JSON-RPC errors.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from typing import Any

from flask import Blueprint, Response, current_app, request
from jsonschema.exceptions import best_match

from agent_runtime import mcp, mcp_client, tracing
from agent_runtime.breaker import CircuitOpen
from agent_runtime.errors import ApiError, service_unavailable
from agent_runtime.metrics import counter
from agent_runtime.receipts import RECEIPT_HEADER, jwk, tool_call_digest
from agent_runtime.tools import ArgumentError, Target, Tool, cedar_input
from agent_runtime.web import CORRELATION_HEADER, authenticate, correlation_id, log_fields, read_body, spend
from orbit.dispatch import auth_failures_total, rate_limit_headers
from orbit.governance_client import GovernanceDecision, GovernanceUnavailable

log = logging.getLogger("orbit.mcp")
bp = Blueprint("mcp", __name__)

SERVER_NAME = "agent-runtime-orbit"
INSTRUCTIONS = (
    "Tools of agent-runtime's MCP gateway: each call is authorized by policy, rate-limited and audited before it "
    "reaches the tool. A refused call returns isError with the reason and the policy; do not retry it unchanged."
)
_USER_META = "agent-runtime/user_id"
_RETRY_AFTER_OUTAGE = 5

tool_calls_total = counter("orbit_mcp_tool_calls_total", "MCP tool calls, by outcome", ("outcome",))


def _json(body: dict[str, Any], status: int = 200, headers: dict[str, str] | None = None) -> Response:
    response = Response(
        json.dumps(body, ensure_ascii=False, separators=(",", ":")), status, mimetype="application/json"
    )
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def _error(error: mcp.JsonRpcError, message: mcp.Message | None, headers: dict[str, str] | None = None) -> Response:
    body, status = mcp.error_response(error, message)
    return _json(body, status, headers)


@bp.post("/mcp")
def mcp_endpoint() -> Response:
    services = current_app.extensions["orbit"]
    body = read_body(services.settings.max_body_bytes)
    # MCP clients send requests that do not act (initialize, tools/list, notifications) byte for byte alike, often
    # in the same second: only a tool call spends its signature, as every dispatch does.
    verified = authenticate(services.verifier, body, auth_failures_total, record=False)
    try:
        message = mcp.parse_message(body, request.headers)
    except mcp.JsonRpcError as exc:
        return _error(exc, None)
    if message.method == "tools/call":
        spend(services.verifier, verified, auth_failures_total)
    if message.is_notification:
        return Response(status=202)  # nothing to do for a client's notification; nothing is kept
    headers: dict[str, str] = {}
    try:
        result = _handle(services, verified.principal, message, headers)
    except mcp.JsonRpcError as exc:
        return _error(exc, message, headers)
    return _json(mcp.response(message, mcp.modern_result(message, result, SERVER_NAME)), 200, headers)


@bp.route("/mcp", methods=["GET", "DELETE"])
def mcp_other_methods() -> Response:
    """No server-sent event stream and no session to delete: the gateway is stateless (405, as MCP allows)."""
    raise ApiError(405, "METHOD_NOT_ALLOWED", "Only POST is served at /mcp", headers={"Allow": "POST"})


@bp.get("/.well-known/agent-runtime/receipt-keys")
def receipt_keys() -> Response:
    """Governance's current and previous receipt public keys (a JWK set), for upstream servers that check that a
    call was allowed (agent_runtime.receipts.verify_tool_call). Public keys: no authentication."""
    services = current_app.extensions["orbit"]
    try:
        public_keys = services.receipt_keys.keys()  # a cache of keys, not a dict
    except Exception as exc:
        log.exception("receipt keys unreadable", extra={"event": "receipt_keys_unavailable"})
        raise service_unavailable("Governance's receipt keys cannot be read now; try again later", 30) from exc
    response = _json({"keys": [jwk(key) for key in public_keys]})
    response.headers["Cache-Control"] = "public, max-age=60"
    return response


def _handle(services: Any, principal: str, message: mcp.Message, headers: dict[str, str]) -> dict[str, Any]:
    method = message.method
    if method == "initialize" and not message.modern:
        return mcp.initialize_result(message, SERVER_NAME, INSTRUCTIONS)
    if method == "server/discover":
        return mcp.discover_result(SERVER_NAME, INSTRUCTIONS)
    if method == "ping":
        return {}
    if method == "tools/list":
        return _list_tools(services, principal, message)
    if method == "tools/call":
        return _call_tool(services, principal, message, headers)
    raise mcp.JsonRpcError(mcp.METHOD_NOT_FOUND, f"Method not found: {method[:64]}", method[:64])


def _list_tools(services: Any, principal: str, message: mcp.Message) -> dict[str, Any]:
    tools = {tool.action: tool for tool in services.catalog.tools()}
    try:
        visible = services.governance.list_tools(
            {
                "kind": "list_tools",
                "principal": principal,
                "tools": sorted(tools),
                "correlation_id": correlation_id(),
            }
        )
    except GovernanceUnavailable as exc:
        log.error("tool listing unavailable: %s", exc, extra={"event": "governance_unavailable"})
        visible = []  # fail closed: show nothing; a call is still decided in full
    result: dict[str, Any] = {"tools": [tools[name].listing() for name in sorted(visible) if name in tools]}
    if message.modern:
        result.update(ttlMs=0, cacheScope="private")  # the list depends on who asks
    return result


def _call_tool(services: Any, principal: str, message: mcp.Message, headers: dict[str, str]) -> dict[str, Any]:
    name, arguments = message.params.get("name"), message.params.get("arguments")
    arguments = {} if arguments is None else arguments
    resolved = services.catalog.resolve(name)
    if resolved is None:
        raise mcp.JsonRpcError(mcp.INVALID_PARAMS, f"Unknown tool: {str(name)[:160]}")
    target, tool = resolved
    if not isinstance(arguments, dict):
        raise mcp.JsonRpcError(mcp.INVALID_PARAMS, "Invalid arguments: arguments must be an object", {"path": ""})
    typed = _checked_arguments(services, target, tool, arguments)

    event = {
        "kind": "tool_call",
        "principal": principal,
        "target": target.name,
        "tool": tool.name,
        "input": typed,
        "arguments_sha256": hashlib.sha256(_canonical(arguments)).hexdigest(),
        "request_digest": tool_call_digest(tool.name, arguments),
        "user_id": str(message.meta.get(_USER_META, ""))[:256],
        "request_id": str(message.id)[:256],
        "source_ip": request.remote_addr or "0.0.0.0",  # noqa: S104  # nosec B104 - the "unknown" bucket, not a bind
        "correlation_id": correlation_id(),
    }
    if target.record_arguments:
        event["arguments"] = arguments
    try:
        decision = services.governance.decide(event)
    except GovernanceUnavailable as exc:
        log.error("governance unavailable: %s", exc, extra={"event": "governance_unavailable"})
        return _refused(tool, "SERVICE_UNAVAILABLE", None, retry_after=_RETRY_AFTER_OUTAGE)
    headers.update(rate_limit_headers(decision))
    tracing.annotate({**tracing.decision_attributes(decision, principal), "gen_ai.tool.name": tool.action})
    log_fields(
        decision_id=decision.decision_id,
        principal=principal,
        intent=tool.action,
        target=target.name,
        tool=tool.name,
        outcome=decision.outcome,
        policy_ids=decision.policy_ids,
    )
    if not decision.allowed:
        return _denied(tool, decision, headers)
    tool_calls_total.labels("allowed").inc()
    return _forward(services, target, tool, arguments, decision)


def _checked_arguments(services: Any, target: Target, tool: Tool, arguments: dict[str, Any]) -> dict[str, Any]:
    """The arguments as Cedar values, once they are valid against the tool's input schema; invalid ones never
    reach Governance or the upstream (-32602 with the failing path)."""
    validator = services.catalog.validator(tool, target.generation)
    error = _best_error(validator, arguments)
    if error is not None:
        path = "/" + "/".join(str(part) for part in error.absolute_path)
        raise mcp.JsonRpcError(
            mcp.INVALID_PARAMS, f"Invalid arguments for {tool.action} at {path}: {error.message[:300]}", {"path": path}
        )
    try:
        return cedar_input(tool, arguments)
    except ArgumentError as exc:
        path = "/" + exc.path.removeprefix("input").lstrip(".").replace(".", "/")
        raise mcp.JsonRpcError(
            mcp.INVALID_PARAMS, f"Invalid arguments for {tool.action} at {path}: {exc.reason}", {"path": path}
        ) from exc


def _best_error(validator: Any, arguments: dict[str, Any]) -> Any:
    return best_match(validator.iter_errors(arguments))


def _canonical(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def _refused(
    tool: Tool,
    code: str,
    decision: GovernanceDecision | None,
    *,
    retry_after: int | None = None,
    text: str | None = None,
) -> dict[str, Any]:
    tool_calls_total.labels(code.lower()).inc()
    meta: dict[str, Any] = {"agent-runtime/code": code}
    if decision is not None:
        meta["agent-runtime/decision_id"] = decision.decision_id
        meta["agent-runtime/policy_ids"] = decision.policy_ids
    if retry_after is not None:
        meta["agent-runtime/retry_after"] = retry_after
    if text is None:
        text = (
            f"The call of {tool.action} was not made: the governance service cannot decide now. "
            f"Nothing was executed; try again in {retry_after} s."
        )
    return mcp.tool_error(text, meta)


def _denied(tool: Tool, decision: GovernanceDecision, headers: dict[str, str]) -> dict[str, Any]:
    if decision.outcome == "rate_limited":
        reset = (decision.rate_limit or {}).get("reset", int(time.time()) + 60)
        retry_after = max(1, int(reset - time.time() + 0.999))
        headers["Retry-After"] = str(retry_after)
        scope = (decision.rate_limit or {}).get("scope", "")
        return _refused(
            tool,
            "RATE_LIMIT_EXCEEDED",
            decision,
            retry_after=retry_after,
            text=f"The call of {tool.action} was refused: rate limit exceeded ({scope or 'a'} limit per minute). "
            f"Nothing was executed; try again in {retry_after} s.",
        )
    if decision.outcome == "error":
        return _refused(tool, "SERVICE_UNAVAILABLE", decision, retry_after=_RETRY_AFTER_OUTAGE)
    if not decision.policy_ids:
        # No policy permits it: to this caller the tool does not exist (it is not listed either). Audited all the
        # same, by Governance.
        tool_calls_total.labels("hidden").inc()
        raise mcp.JsonRpcError(mcp.INVALID_PARAMS, f"Unknown tool: {tool.action}")
    policies = ", ".join(decision.policy_ids)
    return _refused(
        tool,
        "GOVERNANCE_DENIED",
        decision,
        text=f"The call of {tool.action} was refused by policy {policies}: {decision.reason}. Nothing was executed. "
        f"Do not retry it unchanged; if this call is needed, ask an operator to review policy {policies} "
        f"(decision {decision.decision_id}).",
    )


def _forward(services: Any, target: Target, tool: Tool, arguments: dict[str, Any], decision: Any) -> dict[str, Any]:
    upstream = services.catalog.upstream(target)
    params = {"name": tool.name, "arguments": arguments}
    attributes = {
        "gen_ai.operation.name": "execute_tool",
        "gen_ai.tool.name": tool.name,
        "rpc.system": "jsonrpc",
        "rpc.method": "tools/call",
        "agent_runtime.target": target.name,
    }
    try:
        with (
            tracing.span(f"mcp.upstream {target.name}", tracing.CLIENT, attributes),
            upstream.breaker.guard(_UpstreamDown),
        ):
            headers = tracing.inject({RECEIPT_HEADER: decision.receipt or "", CORRELATION_HEADER: correlation_id()})
            try:
                return upstream.client.call("tools/call", params, headers)
            except mcp_client.UpstreamUnavailable as exc:
                raise _UpstreamDown(str(exc)) from exc
    except mcp_client.UpstreamRpcError as exc:
        tool_calls_total.labels("upstream_error").inc()
        error = exc.error
        raise mcp.JsonRpcError(
            int(error.get("code", mcp.INTERNAL_ERROR)), str(error.get("message", "")), error.get("data")
        ) from exc
    except (CircuitOpen, _UpstreamDown) as exc:
        opened = isinstance(exc, CircuitOpen)
        retry_after = exc.retry_after if opened else _RETRY_AFTER_OUTAGE
        log.error("upstream %s unavailable: %s", target.name, exc, extra={"event": "upstream_unavailable"})
        why = "its recent calls failed, so it is not called for now" if opened else "it did not answer"
        return _refused(
            tool,
            "SERVICE_UNAVAILABLE",
            decision,
            retry_after=retry_after,
            text=f"The call of {tool.action} was allowed but its server ({target.name}) is unavailable ({why}); "
            f"it was not executed. Try again in {retry_after} s.",
        )


class _UpstreamDown(Exception):
    """An upstream failure that counts against the target's circuit breaker."""
