"""Health checks: one result per component, each a real call (HTTP health, a governance decision, AWS).

The checks of an AWS environment are composed here; the local stack composes its own from the same pieces
(agentctl.local.platform).
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import requests

from agent_runtime.names import Names
from agent_runtime.tables import table_definitions
from agentctl.ops import ecs as ecs_ops
from agentctl.ops import governance_fn
from agentctl.ops.platform import AwsClients


@dataclass
class Check:
    component: str
    healthy: bool
    detail: str
    latency_ms: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def timed(component: str, probe: Callable[[], tuple[bool, str]]) -> Check:
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


def governance_invocation(clients: AwsClients, names: Names) -> tuple[bool, str]:
    """A real decision through the Lambda Invoke API; any answered decision means Governance works."""
    event = {
        "principal": "agentctl-health",
        "intent": "call_reasoning",
        "context": {"user_id": "agentctl-health", "request_id": "health-check"},
        "source_ip": "127.0.0.1",
        "correlation_id": f"health-{int(time.time())}",
        "request_digest": hashlib.sha256(b"agentctl health").hexdigest(),
    }
    response = clients.invoker.invoke(
        FunctionName=names.governance_function,
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


def table_status(dynamodb: Any, table: str) -> tuple[bool, str]:
    description = dynamodb.describe_table(TableName=table)["Table"]
    return description["TableStatus"] == "ACTIVE", f"{table} {description['TableStatus']}"


# --- AWS environments -------------------------------------------------------------------------------------


def ecs_service(names: Names, service: str, describe: Callable[[], dict[str, Any]]) -> tuple[bool, str]:
    state = describe()[service]
    if state is None:
        return False, f"service {names.service(service)} not found in {names.cluster}"
    rolling = [d for d in state.deployments if d.status != "PRIMARY"]
    failed = [d for d in state.deployments if d.rollout_state == "FAILED"]
    detail = f"{state.running}/{state.desired} tasks running ({ecs_ops.short(state.task_definition)})"
    if rolling:
        detail += f", deployment in progress ({len(rolling) + 1} deployments)"
    if failed:
        detail += f", rollout FAILED: {failed[0].rollout_reason}"
    return state.desired > 0 and state.running >= state.desired and not failed, detail


def target_health(elbv2: Any, target_groups: list[str]) -> tuple[bool, str]:
    if not target_groups:
        return False, "the Orbit service has no load balancer target group"
    counts: dict[str, int] = {}
    for arn in target_groups:
        for description in elbv2.describe_target_health(TargetGroupArn=arn)["TargetHealthDescriptions"]:
            state = description.get("TargetHealth", {}).get("State", "unknown")
            counts[state] = counts.get(state, 0) + 1
    total = sum(counts.values())
    healthy = counts.get("healthy", 0)
    others = ", ".join(f"{n} {s}" for s, n in sorted(counts.items()) if s != "healthy")
    detail = f"{healthy}/{total} targets healthy" + (f" ({others})" if others else "")
    return healthy > 0 and counts.get("unhealthy", 0) == 0, detail


def governance_state(lam: Any, names: Names) -> tuple[bool, str]:
    info = governance_fn.state(lam, names)
    healthy = info["state"] == "Active" and info["last_update_status"] in ("Successful", None)
    reason = f": {info['state_reason']}" if info.get("state_reason") and not healthy else ""
    return healthy, (
        f"{names.governance_function}:{names.governance_alias} -> version {info['version']}, "
        f"{info['state']}, last update {info['last_update_status']}{reason}"
    )


def aws_checks(clients: AwsClients, names: Names) -> list[Check]:
    """The environment's health from the AWS APIs: ECS, the load balancer, the Lambda (a real call), DynamoDB."""
    described: dict[str, Any] = {}

    def services() -> dict[str, Any]:
        """ECS is described once for the round of checks."""
        if not described:
            described.update(ecs_ops.describe(clients.ecs, names))
        return described

    def orbit_targets() -> tuple[bool, str]:
        orbit = services()["orbit"]
        if orbit is None:
            return False, f"service {names.service('orbit')} not found"
        return target_health(clients.elbv2, orbit.target_group_arns)

    checks = [
        timed("Axon service", lambda: ecs_service(names, "axon", services)),
        timed("Orbit service", lambda: ecs_service(names, "orbit", services)),
        timed("Orbit load balancer targets", orbit_targets),
        timed("Governance Lambda", lambda: governance_state(clients.lambda_, names)),
        timed("Governance invocation", lambda: governance_invocation(clients, names)),
    ]
    for definition in table_definitions(names):
        table = definition["TableName"]
        checks.append(timed(f"DynamoDB {table}", lambda table=table: table_status(clients.dynamodb, table)))
    return checks
