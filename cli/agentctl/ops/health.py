"""Health checks: one result per component, each a real call (HTTP health, a governance decision, AWS)."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import requests
from agent_runtime import aws
from agent_runtime.names import Names

from agentctl.local.stack import LocalStack, program_states


@dataclass
class Check:
    component: str
    healthy: bool
    detail: str
    latency_ms: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _timed(component: str, probe: Callable[[], tuple[bool, str]]) -> Check:
    started = time.perf_counter()
    try:
        healthy, detail = probe()
    except Exception as exc:  # a health check reports failures, it does not raise them
        healthy, detail = False, f"{type(exc).__name__}: {exc}"[:200]
    return Check(component, healthy, detail, round((time.perf_counter() - started) * 1000, 1))


def http_health(url: str) -> tuple[bool, str]:
    response = requests.get(f"{url}/health", timeout=3)
    body = response.json()
    healthy = response.status_code == 200 and body.get("status") == "healthy"
    return healthy, f"{url} {body.get('status', response.status_code)} (version {body.get('version', '?')})"


def governance_invocation(names: Names, function: str | None = None) -> tuple[bool, str]:
    """A real decision through the Lambda Invoke API; any answered decision means Governance works."""
    event = {
        "principal": "agentctl-health",
        "intent": "call_reasoning",
        "context": {"user_id": "agentctl-health", "request_id": "health-check"},
        "source_ip": "127.0.0.1",
        "correlation_id": f"health-{int(time.time())}",
        "request_digest": hashlib.sha256(b"agentctl health").hexdigest(),
    }
    response = aws.client("lambda", read_timeout=10, max_attempts=1).invoke(
        FunctionName=function or names.governance_function,
        Qualifier=names.governance_alias,
        Payload=json.dumps(event).encode(),
    )
    payload = json.loads(response["Payload"].read())
    if response.get("FunctionError") or not isinstance(payload, dict):
        return False, f"function error: {response.get('FunctionError')}"
    outcome = payload.get("outcome")
    return outcome in ("allow", "deny", "rate_limited"), (
        f"decision {outcome} in {payload.get('decision_time_ms')} ms, policy-set version "
        f"{payload.get('policy_set_version')}"
    )


def policies_table(names: Names) -> tuple[bool, str]:
    table = aws.client("dynamodb").describe_table(TableName=names.policies_table)["Table"]
    return table["TableStatus"] == "ACTIVE", f"{names.policies_table} {table['TableStatus']}"


def local_checks(stack: LocalStack) -> list[Check]:
    states = {p["name"]: p for p in program_states(stack)}
    checks = []
    for program in stack.programs:
        state = states.get(program, {}).get("state", "NOT RUNNING")
        checks.append(
            Check(
                f"process {program}",
                state == "RUNNING",
                f"{state} {states.get(program, {}).get('description', '')}".strip(),
            )
        )
    if not stack.external_endpoint:
        checks.append(
            _timed(
                "AWS emulator",
                lambda: (
                    isinstance(aws.client("dynamodb", max_attempts=1).list_tables()["TableNames"], list),
                    stack.endpoint,
                ),
            )
        )
    checks.append(_timed("DynamoDB policies table", lambda: policies_table(stack.names)))
    checks.append(_timed("Governance Lambda", lambda: governance_invocation(stack.names)))
    checks.append(_timed("Axon service", lambda: http_health(stack.url("axon"))))
    checks.append(_timed("Orbit service", lambda: http_health(stack.url("orbit"))))
    return checks
