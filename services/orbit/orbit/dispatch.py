"""POST /dispatch: Think (verify and validate), then Govern (ask Governance), then Act (call Axon)."""

from __future__ import annotations

import json
import logging
import time
from typing import Any

from flask import Blueprint, current_app, jsonify, request
from flask.typing import ResponseReturnValue

from agent_runtime import tracing
from agent_runtime.errors import ApiError, payload_too_large, service_unavailable, utc_timestamp, validation_error
from agent_runtime.metrics import counter, histogram
from agent_runtime.names import INTENT_RE
from agent_runtime.receipts import request_digest
from agent_runtime.web import authenticate, correlation_id, json_object, log_fields, read_body
from orbit.axon_client import AxonUnavailable
from orbit.governance_client import GovernanceDecision, GovernanceUnavailable

log = logging.getLogger("orbit.dispatch")
bp = Blueprint("dispatch", __name__)

_MAX_CONTEXT_KEYS = 32
_MAX_TEXT = 256

decisions_total = counter("orbit_governance_decisions_total", "Governance decisions made", ("decision",))
governance_seconds = histogram("orbit_governance_duration_seconds", "Governance call latency in seconds")
axon_failures_total = counter("orbit_axon_failures_total", "Axon calls that failed", ("reason",))
rate_limit_rejections_total = counter("orbit_rate_limit_rejections_total", "Dispatches refused by a rate limit")
auth_failures_total = counter("orbit_auth_failures_total", "Requests refused by authentication", ("code",))


def parse_dispatch(body: bytes) -> tuple[str, dict[str, Any]]:
    """The request body: {"intent": name, "context": {...}}; anything else is a 400 naming the field."""
    data = json_object(body)
    unknown = sorted(set(data) - {"intent", "context"})
    if unknown:
        raise validation_error(f"Unknown field {unknown[0]!r}", unknown[0], "unknown field")
    intent = data.get("intent")
    if intent is None:
        raise validation_error("intent is required", "intent", "required field missing")
    if not isinstance(intent, str) or not INTENT_RE.match(intent):
        raise validation_error(
            "intent must be a name of 1-64 letters, digits, '_', '.', ':' or '-' starting with a letter",
            "intent",
            "invalid value",
        )
    context = data.get("context", {})
    if not isinstance(context, dict):
        raise validation_error("context must be a JSON object", "context", "not an object")
    if len(context) > _MAX_CONTEXT_KEYS:
        raise validation_error(f"context has more than {_MAX_CONTEXT_KEYS} keys", "context", "too many keys")
    for name in ("user_id", "request_id"):
        if name in context and (not isinstance(context[name], str) or len(context[name]) > _MAX_TEXT):
            raise validation_error(
                f"context.{name} must be a string of at most {_MAX_TEXT} characters",
                f"context.{name}",
                "invalid value",
            )
    return intent, context


def axon_body(intent: str, context: dict[str, Any], principal: str, limit: int) -> bytes:
    """The exact bytes Orbit will send to Axon, built before Governance is asked: a request that could not reach
    Axon (text that is not valid Unicode, a body over Axon's limit) is refused now, never after an allow."""
    try:
        body = json.dumps(
            {"intent": intent, "context": context, "principal": principal},
            ensure_ascii=False,  # UTF-8 text stays its own size (escaping could triple it past Axon's limit)
            separators=(",", ":"),
            allow_nan=False,
        ).encode("utf-8")
    except UnicodeEncodeError:
        raise validation_error(
            "context holds text that is not valid Unicode (a lone surrogate such as \\ud800)", "context", "invalid text"
        ) from None
    if len(body) > limit:
        raise payload_too_large(limit)
    return body


def rate_limit_headers(decision: GovernanceDecision) -> dict[str, str]:
    if not decision.rate_limit:
        return {}
    limit = decision.rate_limit
    return {
        "X-RateLimit-Limit": str(limit["limit"]),
        "X-RateLimit-Remaining": str(limit["remaining"]),
        "X-RateLimit-Reset": str(limit["reset"]),
    }


def _governance_block(decision: GovernanceDecision) -> dict[str, Any]:
    block: dict[str, Any] = {
        "allowed": decision.allowed,
        "reason": decision.reason,
        "decision_time_ms": decision.decision_time_ms,
        "decision_id": decision.decision_id,
        "policy_set_version": decision.policy_set_version,
    }
    if not decision.allowed:
        block["policy_ids"] = decision.policy_ids
    return block


@bp.post("/dispatch")
def dispatch() -> ResponseReturnValue:
    services = current_app.extensions["orbit"]
    body = read_body(services.settings.max_body_bytes)  # 413 before anything is hashed, chunked or not
    verified = authenticate(services.verifier, body, auth_failures_total)
    intent, context = parse_dispatch(body)
    if not services.intents.declares(intent):
        raise validation_error(f"Unknown intent {intent!r}: the schema declares no such action", "intent", "unknown")
    forwarded = axon_body(intent, context, verified.principal, services.settings.axon_max_body_bytes)
    cid = correlation_id()

    started = time.perf_counter()
    try:
        decision = services.governance.decide(
            {
                "principal": verified.principal,
                "intent": intent,
                # Only what the client signed (or the service set) may reach a policy: the correlation id comes
                # from an unsigned header, so it goes along for the audit trail only.
                "context": {
                    "user_id": context.get("user_id") or "",
                    "request_id": context.get("request_id") or "",
                },
                "source_ip": request.remote_addr or "0.0.0.0",  # noqa: S104  # nosec B104 - the "unknown" bucket, not a bind
                "correlation_id": cid,
                "request_digest": request_digest(intent, context),
            }
        )
    except GovernanceUnavailable as exc:
        decisions_total.labels("error").inc()
        log.error("governance unavailable: %s", exc, extra={"event": "governance_unavailable"})
        raise service_unavailable("Governance is unavailable; the request was not executed") from exc
    finally:
        governance_seconds.observe(time.perf_counter() - started)

    headers = rate_limit_headers(decision)
    tracing.annotate(tracing.decision_attributes(decision, verified.principal))
    log_fields(
        decision_id=decision.decision_id,
        principal=verified.principal,
        intent=intent,
        outcome=decision.outcome,
        policy_ids=decision.policy_ids,
    )
    if decision.outcome == "error":
        decisions_total.labels("error").inc()
        raise service_unavailable("Governance could not decide; the request was not executed")
    if decision.outcome == "rate_limited":
        decisions_total.labels("rate_limited").inc()
        rate_limit_rejections_total.inc()
        reset = (decision.rate_limit or {}).get("reset", int(time.time()) + 60)
        headers["Retry-After"] = str(max(1, int(reset - time.time() + 0.999)))
        raise ApiError(
            429,
            "RATE_LIMIT_EXCEEDED",
            decision.reason,
            headers=headers,
            extra={"status": "denied", "reason": decision.reason, "governance": _governance_block(decision)},
        )
    if not decision.allowed:
        decisions_total.labels("denied").inc()
        raise ApiError(
            403,
            "GOVERNANCE_DENIED",
            decision.reason,
            headers=headers,
            details={"policy_ids": decision.policy_ids},
            extra={"status": "denied", "reason": decision.reason, "governance": _governance_block(decision)},
        )
    decisions_total.labels("allowed").inc()

    try:
        answer = services.axon.reason(forwarded, decision.receipt or "", cid)
    except AxonUnavailable as exc:
        axon_failures_total.labels("circuit_open" if exc.retry_after else "unavailable").inc()
        log.error("axon unavailable: %s", exc, extra={"event": "axon_unavailable"})
        error = service_unavailable("Axon is unavailable; try again later", retry_after=exc.retry_after)
        error.headers.update(headers)
        raise error from exc
    if answer.status_code == 400 and answer.body.get("code") == "VALIDATION_ERROR":
        # The reasoning engine refused this request itself (too long, filtered): the client's to fix.
        error = validation_error(str(answer.body.get("error", "The reasoning engine rejected the request")), "context")
        error.headers.update(headers)
        raise error
    if answer.status_code != 200 or not isinstance(answer.body.get("message"), str):
        axon_failures_total.labels(f"http_{answer.status_code}").inc()
        log.error(
            "axon refused the call",
            extra={"event": "axon_refused", "status": answer.status_code, "code": answer.body.get("code")},
        )
        error = service_unavailable("Axon could not complete the request")
        error.headers.update(headers)
        raise error

    response = jsonify(
        {
            "status": "success",
            "message": answer.body["message"],
            "correlation_id": cid,
            "timestamp": utc_timestamp(),
            "governance": _governance_block(decision),
        }
    )
    response.headers.update(headers)
    return response
