"""An AWS environment (dev, staging, prod) as a Platform: ECS services, the governance Lambda, CloudWatch Logs.

Its clients come from one boto3 session that follows the user's AWS configuration (AWS_PROFILE, AWS_REGION,
AWS_ENDPOINT_URL and the rest, read by boto3 itself).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import Any

import boto3

from agent_runtime import aws
from agent_runtime.names import Names
from agentctl.ops import ecs as ecs_ops
from agentctl.ops import governance_fn
from agentctl.ops.deploy.workflow import DeployRequest, Release
from agentctl.ops.errors import OpsError, Refused
from agentctl.ops.health import Check, aws_checks
from agentctl.ops.logs import LogGroup, LogSource
from agentctl.ops.platform import AwsClients, Crash, Deployment, Platform
from agentctl.ops.status import aws_status
from agentctl.ops.trace import TraceSource, XRayTraces
from agentctl.ops.waiting import Progress, wait_for
from agentctl.settings import Settings

_NOT_SUSPENDED = {
    "DynamicScalingInSuspended": False,
    "DynamicScalingOutSuspended": False,
    "ScheduledScalingSuspended": False,
}


class AwsPlatform(Platform):
    @classmethod
    def create(cls, env: str, settings: Settings, progress: Progress) -> AwsPlatform:
        session = boto3.session.Session()
        return cls(env, settings, AwsClients(session, aws.region(session)), progress)

    @property
    def is_local(self) -> bool:
        return False

    @property
    def client_key_kms(self) -> str | None:
        """Client credentials and MCP targets' bearer tokens are encrypted with Orbit's KMS key in AWS (Terraform's
        alias): Orbit decrypts them."""
        return f"alias/{self.names.project}-orbit"

    def health(self) -> list[Check]:
        return aws_checks(self.clients, self.names)

    def status(self) -> dict[str, Any]:
        return aws_status(self.clients, self.names)

    def logs(self, service: str) -> LogSource:
        if service == "emulator":
            raise OpsError("the AWS emulator exists only in the local stack")
        return LogGroup(self.clients.logs, self.names.log_group(service))

    def traces(self) -> TraceSource:
        return XRayTraces(self.clients.xray)

    def axon_requests(self, marker: str) -> Callable[[], int]:
        """Axon's /metrics is not reachable from outside the VPC in AWS, its log group is."""
        since_ms = int(time.time() * 1000) - 1000
        return lambda: self._axon_log_hits(marker, since_ms)

    def _axon_log_hits(self, marker: str, since_ms: int) -> int:
        settle = self.settings.log_settle_seconds
        if settle:
            self.progress(f"waiting {settle:.0f}s for Axon's log lines to reach CloudWatch Logs")
            time.sleep(settle)
        hits = 0
        kwargs: dict[str, Any] = {
            "logGroupName": self.names.log_group("axon"),
            "startTime": since_ms,
            "filterPattern": f'"{marker}"',
        }
        while True:
            page = self.clients.logs.filter_log_events(**kwargs)
            hits += sum(1 for event in page.get("events", []) if marker in event.get("message", ""))
            if not page.get("nextToken"):
                return hits
            kwargs["nextToken"] = page["nextToken"]

    # --- outages: Governance throttled to nothing, an ECS service scaled to zero ----------------------------

    def stop(self, component: str, timeout: float) -> dict[str, Any]:
        if component == "governance":
            return self._throttle_governance()
        return self._scale_to_zero(component, timeout)

    def start(self, component: str, timeout: float) -> dict[str, Any] | None:
        saved = self.stopped.pop(component, None)
        if saved is None:
            return None
        if component == "governance":
            governance_fn.set_reserved_concurrency(self.clients.lambda_, self.names, saved["reserved_concurrency"])
            return {"action": f"reserved concurrency set back to {saved['reserved_concurrency']}"}
        desired = saved["desired"]
        ecs, names = self.clients.ecs, self.names
        ecs.update_service(cluster=names.cluster, service=names.service(component), desiredCount=desired)
        try:
            ecs_ops.wait_count(ecs, names, component, desired, timeout, self.progress)
        finally:
            resume_scaling(self.clients.autoscaling, names, component, saved.get("scaling"))
        return {"action": f"desired count back to {desired}, autoscaling as before"}

    def _throttle_governance(self) -> dict[str, Any]:
        lam, names = self.clients.lambda_, self.names
        previous = governance_fn.reserved_concurrency(lam, names)
        self.stopped["governance"] = {"reserved_concurrency": previous}
        governance_fn.set_reserved_concurrency(lam, names, 0)
        self.progress(f"set {names.governance_function}'s reserved concurrency to 0 (was {previous})")
        return {"action": "lambda:PutFunctionConcurrency 0", "previous_reserved_concurrency": previous}

    def _scale_to_zero(self, service: str, timeout: float) -> dict[str, Any]:
        ecs, names = self.clients.ecs, self.names
        state = ecs_ops.describe_one(ecs, names, service)
        saved = self.stopped[service] = {"desired": state.desired}
        saved["scaling"] = suspend_scaling(self.clients.autoscaling, names, service)
        ecs.update_service(cluster=names.cluster, service=state.name, desiredCount=0)
        self.progress(f"scaled {state.name} from {state.desired} to 0 (autoscaling suspended)")
        ecs_ops.wait_count(ecs, names, service, 0, timeout, self.progress)
        return {"action": "ecs:UpdateService desiredCount 0", "previous_desired": state.desired}

    def crash(self, component: str) -> Crash:
        if component == "governance":
            raise OpsError("in AWS, Governance is a Lambda function with no task to kill: use governance-outage")
        return TaskCrash(self, component)

    def rotate_service_key(self, secret: str) -> str:
        """The rotation Lambda does the work (Secrets Manager calls it)."""
        return str(self.clients.secretsmanager.rotate_secret(SecretId=secret, RotateImmediately=True)["VersionId"])

    def deployment(self, request: DeployRequest) -> Deployment:
        return Release(self, request)


class TaskCrash(Crash):
    """One random task of the ECS service stopped (blast radius 1); ECS brings the service back to its count."""

    def __init__(self, platform: AwsPlatform, service: str) -> None:
        self.platform = platform
        self.service = service
        self.victim = f"one {service} task"
        self.task: str | None = None
        self.stopped_at = 0.0

    def hypothesis(self, timeout: float) -> str:
        return (
            f"ECS replaces a stopped {self.service} task and the service is back at its desired count "
            f"within {timeout:.0f}s"
        )

    def _running(self, state: ecs_ops.ServiceState) -> list[str]:
        ecs, cluster = self.platform.clients.ecs, self.platform.names.cluster
        return list(
            ecs.list_tasks(cluster=cluster, serviceName=state.name, desiredStatus="RUNNING").get("taskArns", [])
        )

    def inject(self, reason: str) -> dict[str, Any]:
        ecs, names = self.platform.clients.ecs, self.platform.names
        state = ecs_ops.describe_one(ecs, names, self.service)
        if state.desired < 1:
            raise Refused(f"{state.name} has no desired task; nothing to kill")
        tasks = self._running(state)
        if not tasks:
            raise Refused(f"{state.name} has no running task to stop")
        self.task = random.choice(tasks)  # noqa: S311 - picking a victim, not a secret
        self.stopped_at = time.monotonic()
        ecs.stop_task(cluster=names.cluster, task=self.task, reason=reason)
        self.platform.progress(f"stopped task {self.task} of {state.name} (1 of {len(tasks)})")
        return {"action": "ecs:StopTask", "task": self.task, "running_tasks_before": len(tasks)}

    def watch(self, timeout: float) -> dict[str, Any]:
        def back() -> tuple[bool, str]:
            state = ecs_ops.describe_one(self.platform.clients.ecs, self.platform.names, self.service)
            running = self._running(state)
            return (
                state.running >= state.desired and self.task not in running,
                f"{state.running}/{state.desired} running",
            )

        detail = wait_for(f"{self.service} recovery", back, timeout, self.platform.progress)
        return {
            "stopped_task": self.task,
            "mttr_seconds": round(time.monotonic() - self.stopped_at, 2),
            "final": detail,
        }

    def restore(self) -> dict[str, Any]:
        return {"action": "none: ECS replaces stopped tasks itself (nothing was changed in the service)"}

    def verdict(self, recovered: bool, observations: dict[str, Any], timeout: float) -> str:
        if recovered:
            return f"recovered: {self.service} back at its desired count {observations['mttr_seconds']}s after the stop"
        return f"{self.service} did not return to its desired count within {timeout:.0f}s"


# --- autoscaling: suspended while a service is held at zero ----------------------------------------------


def suspend_scaling(aas: Any, names: Names, service: str) -> dict[str, Any] | None:
    """Suspend the service's target tracking (it would undo the drill); returns what to put back."""
    target = ecs_ops.scalable_target(aas, names, service)
    if target is None:
        return None
    aas.register_scalable_target(
        ServiceNamespace="ecs",
        ResourceId=target["ResourceId"],
        ScalableDimension=target["ScalableDimension"],
        SuspendedState=dict.fromkeys(_NOT_SUSPENDED, True),
    )
    return target.get("SuspendedState") or dict(_NOT_SUSPENDED)


def resume_scaling(aas: Any, names: Names, service: str, saved: dict[str, Any] | None) -> None:
    if saved is None:
        return
    aas.register_scalable_target(
        ServiceNamespace="ecs",
        ResourceId=f"service/{names.cluster}/{names.service(service)}",
        ScalableDimension="ecs:service:DesiredCount",
        SuspendedState=saved,
    )
