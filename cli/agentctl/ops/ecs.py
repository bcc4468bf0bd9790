"""The ECS side of the runbook: service state, task-definition revisions, rollouts and their waits.

Every function is handed its boto3 ECS client; names come from the naming contract (agent_runtime.names).
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from agent_runtime.names import Names
from agentctl.ops.errors import OpsError, Refused
from agentctl.ops.waiting import Progress, wait_for

SERVICES = ("orbit", "axon")
_TD_ARN_RE = re.compile(r"task-definition/(?P<family>[A-Za-z0-9_-]+):(?P<revision>\d+)$")


class DeploymentFailed(OpsError):
    """ECS gave up on a rollout (its circuit breaker failed it or rolled it back)."""


def parse_task_definition(arn: str) -> tuple[str, int]:
    """(family, revision) of a task-definition ARN or `family:revision`."""
    match = _TD_ARN_RE.search(arn) or re.match(r"^(?P<family>[A-Za-z0-9_-]+):(?P<revision>\d+)$", arn)
    if not match:
        raise OpsError(f"not a task-definition ARN: {arn}")
    return match["family"], int(match["revision"])


def short(arn: str | None) -> str:
    """`family:revision` of a task-definition ARN (or '-')."""
    if not arn:
        return "-"
    family, revision = parse_task_definition(arn)
    return f"{family}:{revision}"


@dataclass
class Deployment:
    id: str
    status: str  # PRIMARY, ACTIVE (the one being replaced), INACTIVE
    task_definition: str
    desired: int
    running: int
    pending: int
    failed_tasks: int
    rollout_state: str | None
    rollout_reason: str | None

    @classmethod
    def from_api(cls, item: dict[str, Any]) -> Deployment:
        return cls(
            id=item.get("id", "?"),
            status=item.get("status", "?"),
            task_definition=item.get("taskDefinition", ""),
            desired=int(item.get("desiredCount", 0)),
            running=int(item.get("runningCount", 0)),
            pending=int(item.get("pendingCount", 0)),
            failed_tasks=int(item.get("failedTasks", 0)),
            rollout_state=item.get("rolloutState"),
            rollout_reason=item.get("rolloutStateReason"),
        )


@dataclass
class ServiceState:
    service: str  # orbit or axon
    name: str  # the ECS service name
    status: str
    desired: int
    running: int
    pending: int
    task_definition: str
    deployments: list[Deployment] = field(default_factory=list)
    target_group_arns: list[str] = field(default_factory=list)
    events: list[str] = field(default_factory=list)

    @classmethod
    def from_api(cls, service: str, item: dict[str, Any]) -> ServiceState:
        return cls(
            service=service,
            name=item["serviceName"],
            status=item.get("status", "?"),
            desired=int(item.get("desiredCount", 0)),
            running=int(item.get("runningCount", 0)),
            pending=int(item.get("pendingCount", 0)),
            task_definition=item.get("taskDefinition", ""),
            deployments=[Deployment.from_api(d) for d in item.get("deployments", [])],
            target_group_arns=[
                lb["targetGroupArn"] for lb in item.get("loadBalancers", []) if lb.get("targetGroupArn")
            ],
            events=[e.get("message", "") for e in item.get("events", [])[:3]],
        )

    @property
    def revision(self) -> str:
        return short(self.task_definition)

    @property
    def primary(self) -> Deployment | None:
        return next((d for d in self.deployments if d.status == "PRIMARY"), None)

    @property
    def in_progress(self) -> list[Deployment]:
        """Deployments still rolling (more than one deployment, or the primary not COMPLETED)."""
        return [
            d
            for d in self.deployments
            if d.status != "PRIMARY" or d.rollout_state not in (None, "COMPLETED") or d.running != d.desired
        ]

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["revision"] = self.revision
        return data

    def rollout(self, expected: str) -> tuple[bool, str]:
        """Has the service settled on task definition `expected`? Raises DeploymentFailed when ECS gave up."""
        primary = self.primary
        if primary is None:
            return False, f"no primary deployment yet ({self.running}/{self.desired} running)"
        if primary.task_definition != expected:
            raise DeploymentFailed(
                f"{self.name}: ECS rolled back to {short(primary.task_definition)} instead of {short(expected)}"
                f" ({primary.rollout_reason or 'deployment circuit breaker'})"
            )
        if primary.rollout_state == "FAILED":
            raise DeploymentFailed(f"{self.name}: the rollout of {short(expected)} failed: {primary.rollout_reason}")
        others = [d for d in self.deployments if d is not primary]
        detail = (
            f"{short(expected)} {primary.running}/{primary.desired} running"
            f"{f', {primary.pending} pending' if primary.pending else ''}"
            f"{f', {primary.failed_tasks} failed' if primary.failed_tasks else ''}"
            f"{f', draining {len(others)} old deployment(s)' if others else ''}"
            f"{f' ({primary.rollout_state})' if primary.rollout_state else ''}"
        )
        settled = (
            not others
            and primary.rollout_state in (None, "COMPLETED")
            and primary.running == primary.desired
            and self.running == self.desired
        )
        return settled, detail


def describe(ecs: Any, names: Names, services: tuple[str, ...] = SERVICES) -> dict[str, ServiceState | None]:
    """The state of each service (None for a service that does not exist, in a cluster that may not exist yet:
    a fresh account before its first deploy)."""
    try:
        response = ecs.describe_services(cluster=names.cluster, services=[names.service(s) for s in services])
    except ClientError as exc:
        if exc.response["Error"]["Code"] != "ClusterNotFoundException":
            raise
        return dict.fromkeys(services)
    found = {item["serviceName"]: item for item in response.get("services", []) if item.get("status") != "INACTIVE"}
    return {
        service: ServiceState.from_api(service, found[names.service(service)])
        if names.service(service) in found
        else None
        for service in services
    }


def describe_one(ecs: Any, names: Names, service: str) -> ServiceState:
    state = describe(ecs, names, (service,))[service]
    if state is None:
        raise Refused(f"ECS service {names.service(service)} does not exist in cluster {names.cluster}")
    return state


def active_revisions(ecs: Any, family: str) -> list[tuple[int, str]]:
    """(revision, ARN) of every ACTIVE revision of `family`, newest first."""
    revisions = []
    paginator = ecs.get_paginator("list_task_definitions")
    for page in paginator.paginate(familyPrefix=family, status="ACTIVE", sort="DESC"):
        for arn in page.get("taskDefinitionArns", []):
            arn_family, revision = parse_task_definition(arn)
            if arn_family == family:  # familyPrefix also matches longer family names
                revisions.append((revision, arn))
    return sorted(revisions, reverse=True)


def rollback_target(ecs: Any, family: str, current: str, to_revision: int | None) -> str:
    """The full ARN to roll back to: revision `to_revision`, or the newest ACTIVE revision before the current."""
    _, current_revision = parse_task_definition(current)
    revisions = active_revisions(ecs, family)
    if to_revision is not None:
        if to_revision == current_revision:
            raise Refused(f"{family} already runs revision {to_revision}; nothing to roll back")
        match = next((arn for revision, arn in revisions if revision == to_revision), None)
        if match is None:
            listed = ", ".join(str(r) for r, _ in revisions) or "none"
            raise Refused(f"{family}:{to_revision} is not an ACTIVE revision (ACTIVE: {listed})")
        return match
    earlier = [(revision, arn) for revision, arn in revisions if revision < current_revision]
    if not earlier:
        raise Refused(
            f"nothing to roll back to: {family} has no ACTIVE revision before {current_revision}"
            " (deregistered revisions cannot be used)"
        )
    return earlier[0][1]


def images(ecs: Any, task_definition: str) -> list[str]:
    definition = ecs.describe_task_definition(taskDefinition=task_definition)["taskDefinition"]
    return [c.get("image", "?") for c in definition.get("containerDefinitions", [])]


def update_task_definition(ecs: Any, names: Names, service: str, task_definition: str) -> None:
    """Point the service at a task definition, always by its full ARN (never `family` or `family:revision`)."""
    if not task_definition.startswith("arn:"):
        raise OpsError(f"refusing to update {service} with a task definition that is not a full ARN: {task_definition}")
    ecs.update_service(cluster=names.cluster, service=names.service(service), taskDefinition=task_definition)


def wait_rollout(
    ecs: Any, names: Names, service: str, expected: str, timeout: float, progress: Progress
) -> ServiceState:
    """Wait until `service` runs only `expected` with every desired task; DeploymentFailed if ECS gives up."""
    seen: dict[str, ServiceState] = {}

    def check() -> tuple[bool, str]:
        seen["state"] = describe_one(ecs, names, service)
        return seen["state"].rollout(expected)

    wait_for(f"{service} rollout", check, timeout, progress)
    return seen["state"]


def wait_count(ecs: Any, names: Names, service: str, count: int, timeout: float, progress: Progress) -> ServiceState:
    """Wait until `service` has exactly `count` running tasks and no rollout in progress."""
    seen: dict[str, ServiceState] = {}

    def check() -> tuple[bool, str]:
        state = seen["state"] = describe_one(ecs, names, service)
        pending = f", {state.pending} pending" if state.pending else ""
        return (
            state.running == count and state.desired == count and not state.in_progress,
            f"{state.running}/{count} running{pending}",
        )

    wait_for(f"{service} scaling", check, timeout, progress)
    return seen["state"]


# --- scaling ----------------------------------------------------------------------------------------------


def scalable_target(aas: Any, names: Names, service: str) -> dict[str, Any] | None:
    """The service's Application Auto Scaling target, or None when it has none."""
    targets = aas.describe_scalable_targets(
        ServiceNamespace="ecs", ResourceIds=[f"service/{names.cluster}/{names.service(service)}"]
    ).get("ScalableTargets", [])
    return targets[0] if targets else None


def scaling_range(aas: Any, names: Names, service: str) -> tuple[int, int] | None:
    """(min, max) of the service's autoscaling target, or None when it has none."""
    target = scalable_target(aas, names, service)
    return None if target is None else (int(target["MinCapacity"]), int(target["MaxCapacity"]))


def widen_scaling_range(aas: Any, names: Names, service: str, low: int, high: int) -> None:
    aas.register_scalable_target(
        ServiceNamespace="ecs",
        ResourceId=f"service/{names.cluster}/{names.service(service)}",
        ScalableDimension="ecs:service:DesiredCount",
        MinCapacity=low,
        MaxCapacity=high,
    )


def set_desired(ecs: Any, names: Names, service: str, count: int) -> None:
    ecs.update_service(cluster=names.cluster, service=names.service(service), desiredCount=count)
