"""Roll one service back: Orbit or Axon to an earlier task-definition revision, Governance's `live` alias to an
earlier published version. Plan first (what, from what, to what), then act, then verify.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from agentctl.ops import ecs as ecs_ops
from agentctl.ops import governance_fn
from agentctl.ops.errors import Unhealthy
from agentctl.ops.health import governance_invocation
from agentctl.ops.platform import Platform

SERVICES = ("orbit", "axon", "governance")
DEFAULT_TIMEOUT = 600.0


@dataclass
class RollbackPlan:
    service: str
    resource: str  # the ECS service or the Lambda alias
    current: str  # full task-definition ARN, or the Lambda version
    target: str
    current_label: str
    target_label: str
    notes: list[str] = field(default_factory=list)
    images: dict[str, list[str]] = field(default_factory=dict)  # ECS: images of the current and target revisions

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def plan(platform: Platform, service: str, to_revision: int | None) -> RollbackPlan:
    """What a rollback would change; raises Refused when there is nothing to roll back to."""
    clients, names = platform.clients, platform.names
    if service == "governance":
        lam = clients.lambda_
        current = governance_fn.alias_version(lam, names)
        target = governance_fn.rollback_target(lam, names, current, to_revision)
        return RollbackPlan(
            service=service,
            resource=f"{names.governance_function}:{names.governance_alias}",
            current=current,
            target=target,
            current_label=f"version {current}",
            target_label=f"version {target}",
        )
    ecs = clients.ecs
    state = ecs_ops.describe_one(ecs, names, service)
    target = ecs_ops.rollback_target(ecs, names.service(service), state.task_definition, to_revision)
    notes = []
    if len(state.deployments) > 1:
        notes.append(f"a deployment is in progress ({len(state.deployments)} deployments); the rollback replaces it")
    return RollbackPlan(
        service=service,
        resource=f"{names.cluster}/{state.name}",
        current=state.task_definition,
        target=target,
        current_label=ecs_ops.short(state.task_definition),
        target_label=ecs_ops.short(target),
        notes=notes,
        images={"current": ecs_ops.images(ecs, state.task_definition), "target": ecs_ops.images(ecs, target)},
    )


def execute(platform: Platform, rollback: RollbackPlan, *, wait: bool, timeout: float) -> dict[str, Any]:
    """Apply the plan and verify it. Raises Unhealthy when the change was made but does not verify."""
    clients, names, progress = platform.clients, platform.names, platform.progress
    result: dict[str, Any] = {**rollback.to_dict(), "changed": False, "verified": False}
    if rollback.service == "governance":
        lam = clients.lambda_
        governance_fn.move_alias(lam, names, rollback.target)
        result["changed"] = True
        progress(f"moved {rollback.resource} from version {rollback.current} to version {rollback.target}")
        now = governance_fn.alias_version(lam, names)
        if now != rollback.target:
            raise Unhealthy(f"the alias points at version {now} after the update, not {rollback.target}")
        healthy, detail = governance_invocation(clients, names)
        result["verification"] = detail
        if not healthy:
            raise Unhealthy(
                f"{rollback.resource} now points at version {rollback.target}, but a test invocation failed: {detail}"
            )
        result["verified"] = True
        return result

    ecs = clients.ecs
    ecs_ops.update_task_definition(ecs, names, rollback.service, rollback.target)
    result["changed"] = True
    progress(f"updated {rollback.resource}: {rollback.current_label} -> {rollback.target} (full ARN)")
    if not wait:
        result["verification"] = "not waited for (--no-wait): follow it with `agentctl status`"
        return result
    try:
        state = ecs_ops.wait_rollout(ecs, names, rollback.service, rollback.target, timeout, progress)
    except Exception as exc:
        raise Unhealthy(
            f"{rollback.resource} was pointed at {rollback.target_label}, but it did not settle: {exc}"
        ) from exc
    result["verification"] = f"{state.running}/{state.desired} tasks running {ecs_ops.short(state.task_definition)}"
    result["verified"] = True
    return result
