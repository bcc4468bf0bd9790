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


_TOOL_RE = re.compile(r"^[A-Za-z0-9_.-]{1,128}$")
_TARGET_RE = re.compile(r"^[a-z][a-z0-9-]{0,31}$")
_DIGEST_RE = re.compile(r"[0-9a-f]{64}")
TOOLS_GROUP = "mcp_tools"


def _text(event: dict[str, Any], name: str, *, required: bool = True, limit: int = _SHORT_TEXT) -> str:
    value = event.get(name, "")
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise InvalidRequest(f"{name} must be a string")
    if required and not value:
        raise InvalidRequest(f"{name} is required")
    if len(value) > limit:
        raise InvalidRequest(f"{name} is longer than {limit} characters")
    return value


def _source_ip(event: dict[str, Any]) -> str:
    source_ip = _text(event, "source_ip")
    try:
        ipaddress.ip_address(source_ip)
    except ValueError as exc:
        raise InvalidRequest("source_ip is not an IP address") from exc
    return source_ip


@dataclass(frozen=True)
class DecisionRequest:
    """What Orbit asks: may `principal` do `action` now, for this request.

    A dispatch asks for an intent (action `Action::"<intent>"` on `Service::"axon"`); a tool call for a tool
    (action `Action::"<target>___<tool>"`, in the groups `mcp_tools` and `target:<target>`, on
    `Target::"<target>"`), with the tool's arguments as Cedar values in `context.input`.
    """

    principal: str
    action: str
    user_id: str
    request_id: str
    source_ip: str
    correlation_id: str
    request_digest: str  # what the receipt binds: the exact body Axon gets, or the tool call's name and arguments
    target: str | None = None  # set for a tool call
    tool: str | None = None
    input: dict[str, Any] | None = None
    arguments_sha256: str = ""
    arguments: Any = None  # the raw arguments, only when the operator records them for this target

    @property
    def intent(self) -> str:
        return self.action

    @property
    def resource(self) -> tuple[str, str]:
        return ("Target", self.target) if self.target else ("Service", "axon")

    @property
    def action_parents(self) -> tuple[str, ...]:
        return (TOOLS_GROUP, f"target:{self.target}") if self.target else ()

    @classmethod
    def from_event(cls, event: Any) -> DecisionRequest:
        if not isinstance(event, dict):
            raise InvalidRequest("the event must be a JSON object")
        if event.get("kind", "dispatch") == "tool_call":
            return cls._tool_call(event)
        context = event.get("context") or {}
        if not isinstance(context, dict):
            raise InvalidRequest("context must be an object")
        intent = _text(event, "intent")
        if not INTENT_RE.match(intent):
            raise InvalidRequest("intent is not a valid intent name")
        return cls(
            principal=_text(event, "principal"),
            action=intent,
            user_id=_text(context, "user_id", required=False),
            request_id=_text(context, "request_id", required=False),
            source_ip=_source_ip(event),
            correlation_id=_text(event, "correlation_id", required=False),
            request_digest=cls._digest(event, "request_digest"),
        )

    @classmethod
    def _tool_call(cls, event: dict[str, Any]) -> DecisionRequest:
        target, tool = _text(event, "target"), _text(event, "tool")
        if not _TARGET_RE.match(target) or not _TOOL_RE.match(tool):
            raise InvalidRequest("target or tool is not a valid name")
        cedar_input = event.get("input", {})
        if not isinstance(cedar_input, dict):
            raise InvalidRequest("input must be an object")
        return cls(
            principal=_text(event, "principal"),
            action=f"{target}___{tool}",
            user_id=_text(event, "user_id", required=False),
            request_id=_text(event, "request_id", required=False),
            source_ip=_source_ip(event),
            correlation_id=_text(event, "correlation_id", required=False),
            request_digest=cls._digest(event, "request_digest"),
            target=target,
            tool=tool,
            input=cedar_input,
            arguments_sha256=cls._digest(event, "arguments_sha256"),
            arguments=event.get("arguments"),
        )

    @staticmethod
    def _digest(event: dict[str, Any], name: str) -> str:
        digest = _text(event, name)
        if not _DIGEST_RE.fullmatch(digest):
            raise InvalidRequest(f"{name} must be a SHA-256 hex digest")
        return digest

    def cedar_context(self, now: datetime, environment: str) -> dict[str, Any]:
        """What policies may read: only what the client signed (user_id, request_id, a tool's arguments) or the
        services set. The correlation id comes from an unsigned header, so it is audited but never a policy input."""
        context: dict[str, Any] = {
            "user_id": self.user_id,
            "request_id": self.request_id,
            "source_ip": {"__extn": {"fn": "ip", "arg": self.source_ip}},
            "time": int(now.timestamp()),
            "hour_utc": now.hour,
            "day_of_week": now.strftime("%a"),
            "environment": environment,
        }
        if self.input is not None:
            context["input"] = self.input
        return context


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
    """Rate limits first, then Cedar (see `cedar_decision`)."""
    if not rate_limit.allowed:
        return Decision(RATE_LIMITED, False, REASON_RATE_LIMITED, [], policy_set.version, rate_limit)
    decision = cedar_decision(
        policy_set,
        request.principal,
        request.action,
        request.cedar_context(now.astimezone(UTC), environment),
        resource=request.resource,
        parents=request.action_parents,
    )
    decision.rate_limit = rate_limit
    return decision


def cedar_decision(
    policy_set: CompiledPolicySet,
    principal: str,
    action: str,
    context: dict[str, Any],
    *,
    resource: tuple[str, str],
    parents: tuple[str, ...],
) -> Decision:
    """The policies' part of a decision: default deny, a forbid beats any permit, an evaluation error denies.

    Shadow-mode policies never change the outcome; when they would have, the decision says so (for the audit).
    Governance decides every request with it, and `agentctl policy replay` decides recorded requests with it again.
    """
    cedar = {"resource": resource, "parents": parents}
    enforced = policy_set.evaluate(principal, action, context, **cedar)
    if enforced.errors:
        # Cedar skips a policy that errors; for a forbid that would fail open, so any error denies.
        decision = Decision(
            DENY,
            False,
            REASON_EVALUATION_ERROR,
            _error_policy_ids(enforced.errors),
            policy_set.version,
            extra={"evaluation_errors": list(enforced.errors)},
        )
    elif enforced.allowed:
        decision = Decision(ALLOW, True, REASON_ALLOWED, list(enforced.policy_ids), policy_set.version)
    else:
        reason = f"Denied by policy {', '.join(enforced.policy_ids)}" if enforced.policy_ids else REASON_NO_PERMIT
        decision = Decision(DENY, False, reason, list(enforced.policy_ids), policy_set.version)

    if policy_set.has_shadow:
        shadowed = policy_set.evaluate(principal, action, context, with_shadow=True, **cedar)
        shadow_allowed = shadowed.allowed and not shadowed.errors
        if shadow_allowed != decision.allowed:
            decision.shadow = {
                "would_allow": shadow_allowed,
                "policy_ids": list(shadowed.policy_ids) or _error_policy_ids(shadowed.errors),
            }
    return decision
