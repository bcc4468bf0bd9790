"""The decision itself: a pure function of the request, the policy set and the rate-limit count."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from agent_runtime.names import INTENT_RE
from governance.policies import CompiledPolicySet
from governance.rate_limits import RateLimitResult

ALLOW = "allow"
DENY = "deny"
RATE_LIMITED = "rate_limited"
ERROR = "error"
SHADOW = "shadow"

REASON_ALLOWED = "Request authorized"
REASON_NO_PERMIT = "No policy permits this request"
REASON_RATE_LIMITED = "Rate limit exceeded"
REASON_EVALUATION_ERROR = "Policy evaluation error"
REASON_ERROR = "Governance error"
REASON_AUDIT_FAILED = "Governance could not write the audit record"

_SHORT_TEXT = 256
_ERROR_POLICY_RE = re.compile(r"policy `([^`]+)`")


class InvalidRequest(ValueError):
    pass


@dataclass(frozen=True)
class DecisionRequest:
    """What Orbit asks: may `principal` do `intent` now, for this request."""

    principal: str
    intent: str
    user_id: str
    request_id: str
    source_ip: str
    correlation_id: str
    request_digest: str

    @classmethod
    def from_event(cls, event: Any) -> DecisionRequest:
        if not isinstance(event, dict):
            raise InvalidRequest("the event must be a JSON object")

        def text(name: str, *, required: bool = True, source: dict[str, Any] = event) -> str:
            value = source.get(name, "")
            if value is None:
                value = ""
            if not isinstance(value, str):
                raise InvalidRequest(f"{name} must be a string")
            if required and not value:
                raise InvalidRequest(f"{name} is required")
            if len(value) > _SHORT_TEXT:
                raise InvalidRequest(f"{name} is longer than {_SHORT_TEXT} characters")
            return value

        context = event.get("context") or {}
        if not isinstance(context, dict):
            raise InvalidRequest("context must be an object")
        intent = text("intent")
        if not INTENT_RE.match(intent):
            raise InvalidRequest("intent is not a valid intent name")
        source_ip = text("source_ip")
        try:
            ipaddress.ip_address(source_ip)
        except ValueError as exc:
            raise InvalidRequest("source_ip is not an IP address") from exc
        digest = text("request_digest")
        if not re.fullmatch(r"[0-9a-f]{64}", digest):
            raise InvalidRequest("request_digest must be a SHA-256 hex digest")
        return cls(
            principal=text("principal"),
            intent=intent,
            user_id=text("user_id", required=False, source=context),
            request_id=text("request_id", required=False, source=context),
            source_ip=source_ip,
            correlation_id=text("correlation_id", required=False),
            request_digest=digest,
        )

    def cedar_context(self, now: datetime, environment: str) -> dict[str, Any]:
        """What policies may read: only what the client signed (user_id, request_id) or the services set. The
        correlation id comes from an unsigned header, so it is audited but never a policy input."""
        return {
            "user_id": self.user_id,
            "request_id": self.request_id,
            "source_ip": {"__extn": {"fn": "ip", "arg": self.source_ip}},
            "time": int(now.timestamp()),
            "hour_utc": now.hour,
            "day_of_week": now.strftime("%a"),
            "environment": environment,
        }


@dataclass
class Decision:
    outcome: str
    allowed: bool
    reason: str
    policy_ids: list[str]
    policy_set_version: int
    rate_limit: RateLimitResult | None = None
    shadow: dict[str, Any] | None = None
    decision_id: str = ""
    decision_time_ms: float = 0.0
    receipt: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_response(self) -> dict[str, Any]:
        """What the Lambda returns to Orbit."""
        body: dict[str, Any] = {
            "decision_id": self.decision_id,
            "allowed": self.allowed,
            "outcome": self.outcome,
            "reason": self.reason,
            "policy_ids": self.policy_ids,
            "policy_set_version": self.policy_set_version,
            "decision_time_ms": self.decision_time_ms,
        }
        if self.rate_limit is not None:
            body["rate_limit"] = {
                "limit": self.rate_limit.limit,
                "remaining": self.rate_limit.remaining,
                "reset": self.rate_limit.reset,
                "scope": self.rate_limit.scope,
            }
        if self.receipt:
            body["receipt"] = self.receipt
        return body


def _error_policy_ids(errors: tuple[str, ...]) -> list[str]:
    ids = []
    for error in errors:
        match = _ERROR_POLICY_RE.search(error)
        if match and match.group(1) not in ids:
            ids.append(match.group(1))
    return ids


def evaluate(
    request: DecisionRequest,
    policy_set: CompiledPolicySet,
    rate_limit: RateLimitResult,
    *,
    now: datetime,
    environment: str,
) -> Decision:
    """Rate limits first, then Cedar: default deny, a forbid beats any permit, an evaluation error denies.

    Shadow-mode policies never change the outcome; when they would have, the decision says so (for the audit).
    """
    if not rate_limit.allowed:
        return Decision(RATE_LIMITED, False, REASON_RATE_LIMITED, [], policy_set.version, rate_limit)

    context = request.cedar_context(now.astimezone(UTC), environment)
    enforced = policy_set.evaluate(request.principal, request.intent, context)
    if enforced.errors:
        # Cedar skips a policy that errors; for a forbid that would fail open, so any error denies.
        decision = Decision(
            DENY,
            False,
            REASON_EVALUATION_ERROR,
            _error_policy_ids(enforced.errors),
            policy_set.version,
            rate_limit,
            extra={"evaluation_errors": list(enforced.errors)},
        )
    elif enforced.allowed:
        decision = Decision(ALLOW, True, REASON_ALLOWED, list(enforced.policy_ids), policy_set.version, rate_limit)
    else:
        reason = f"Denied by policy {', '.join(enforced.policy_ids)}" if enforced.policy_ids else REASON_NO_PERMIT
        decision = Decision(DENY, False, reason, list(enforced.policy_ids), policy_set.version, rate_limit)

    if policy_set.has_shadow:
        shadowed = policy_set.evaluate(request.principal, request.intent, context, with_shadow=True)
        shadow_allowed = shadowed.allowed and not shadowed.errors
        if shadow_allowed != decision.allowed:
            decision.shadow = {
                "would_allow": shadow_allowed,
                "policy_ids": list(shadowed.policy_ids) or _error_policy_ids(shadowed.errors),
            }
    return decision
