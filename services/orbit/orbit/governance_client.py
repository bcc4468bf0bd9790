"""Asking Governance, through the Lambda Invoke API, and refusing to go on unless it answers sensibly."""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from agent_runtime import tracing
from agent_runtime.aws_lean import LeanLambda
from agent_runtime.botocore_lean import lean

log = logging.getLogger(__name__)

_OUTCOMES = {"allow", "deny", "rate_limited", "error"}


class GovernanceUnavailable(Exception):
    """Governance errored, timed out or answered nonsense: fail closed."""


@dataclass(frozen=True)
class GovernanceDecision:
    decision_id: str
    allowed: bool
    outcome: str
    reason: str
    policy_ids: list[str]
    policy_set_version: int
    decision_time_ms: float
    receipt: str | None
    rate_limit: dict[str, int] | None

    @classmethod
    def parse(cls, payload: Any) -> GovernanceDecision:
        """Validate every field; anything unexpected is treated as no answer at all."""
        if not isinstance(payload, dict):
            raise GovernanceUnavailable("governance answer is not an object")
        try:
            allowed = payload["allowed"]
            outcome = payload["outcome"]
            reason = payload["reason"]
            policy_ids = payload["policy_ids"]
            decision_time_ms = payload["decision_time_ms"]
            decision_id = payload["decision_id"]
            version = payload["policy_set_version"]
        except KeyError as exc:
            raise GovernanceUnavailable(f"governance answer lacks {exc.args[0]}") from exc
        receipt = payload.get("receipt")
        rate_limit = payload.get("rate_limit")
        checks = [
            isinstance(allowed, bool),
            outcome in _OUTCOMES,
            isinstance(reason, str),
            isinstance(policy_ids, list) and all(isinstance(p, str) for p in policy_ids),
            isinstance(decision_time_ms, (int, float)) and not isinstance(decision_time_ms, bool),
            isinstance(decision_id, str) and decision_id,
            isinstance(version, int) and not isinstance(version, bool),
            allowed == (outcome == "allow"),
            not allowed or (isinstance(receipt, str) and receipt),
            rate_limit is None
            or (
                isinstance(rate_limit, dict)
                and all(isinstance(rate_limit.get(k), int) for k in ("limit", "remaining", "reset"))
            ),
        ]
        if not all(checks):
            raise GovernanceUnavailable("governance answer is malformed")
        return cls(
            decision_id,
            allowed,
            outcome,
            reason,
            list(policy_ids),
            version,
            float(decision_time_ms),
            receipt,
            rate_limit,
        )


class GovernanceClient:
    def __init__(self, lambda_client: Any, function: str) -> None:
        # Every dispatch invokes: a lean Invoke (agent_runtime.aws_lean), about a tenth of botocore's CPU.
        self._lambda = LeanLambda(lean(lambda_client)) if hasattr(lambda_client, "meta") else lambda_client
        name, _, qualifier = function.partition(":")
        self._invoke_args = {"FunctionName": name, **({"Qualifier": qualifier} if qualifier else {})}

    def decide(self, request: dict[str, Any]) -> GovernanceDecision:
        return GovernanceDecision.parse(self._invoke(request))

    def list_tools(self, request: dict[str, Any]) -> list[str]:
        """The tool actions Governance says the principal could be allowed to call."""
        answer = self._invoke(request)
        visible = answer.get("visible") if isinstance(answer, dict) else None
        if not isinstance(visible, list) or not all(isinstance(name, str) for name in visible):
            raise GovernanceUnavailable("governance answered a tool listing with nonsense")
        return visible

    def _invoke(self, request: dict[str, Any]) -> Any:
        attributes = {
            "rpc.system": "aws-api",
            "rpc.service": "Lambda",
            "rpc.method": "Invoke",
            "faas.invoked_name": self._invoke_args["FunctionName"],
            "faas.invoked_provider": "aws",
        }
        started = time.perf_counter()
        with tracing.span("governance.invoke", tracing.CLIENT, attributes) as span:
            # An invoke has no headers of its own: the trace context travels in the event.
            request = {**request, "trace": tracing.inject({})}
            try:
                response = self._lambda.invoke(
                    InvocationType="RequestResponse", Payload=json.dumps(request).encode(), **self._invoke_args
                )
                body = response["Payload"].read()
            except (BotoCoreError, ClientError) as exc:
                raise GovernanceUnavailable(f"governance call failed: {type(exc).__name__}") from exc
            finally:
                log.debug("governance call", extra={"duration_ms": round((time.perf_counter() - started) * 1000, 2)})
            if response.get("FunctionError"):
                span.set_attribute("faas.error", str(response["FunctionError"]))
                raise GovernanceUnavailable(f"governance function error: {response['FunctionError']}")
        try:
            return json.loads(body)
        except ValueError as exc:
            raise GovernanceUnavailable("governance answer is not JSON") from exc
