"""The local stack as a Platform: programs under supervisord, their log files, the emulator's AWS API."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import boto3
import requests
from prometheus_client.parser import text_string_to_metric_families

from agent_runtime import key_rotation
from agent_runtime.names import Names
from agentctl.local import lifecycle, supervisor
from agentctl.local.config import INSTANCE_LOGS, LOCAL_CREDENTIALS, LocalStack
from agentctl.local.processes import kill
from agentctl.ops.deploy.workflow import DeployRequest
from agentctl.ops.errors import OpsError, Refused
from agentctl.ops.health import Check, governance_invocation, http_health, table_status, timed
from agentctl.ops.logs import LogFiles, LogSource
from agentctl.ops.platform import AwsClients, Crash, Deployment, Platform
from agentctl.ops.status import policy_set, safely, tables
from agentctl.ops.trace import TraceFiles, TraceSource
from agentctl.ops.waiting import Progress, wait_for
from agentctl.settings import Settings


@dataclass
class LocalPlatform(Platform):
    stack: LocalStack = field(kw_only=True)

    @classmethod
    def create(cls, settings: Settings, progress: Progress) -> LocalPlatform:
        stack = lifecycle.locate(settings)
        credentials = {} if stack.external_endpoint else {k.lower(): v for k, v in LOCAL_CREDENTIALS.items()}
        session = boto3.session.Session(**credentials)
        clients = AwsClients(session, stack.region, stack.endpoints)
        return cls("local", settings, clients, progress, drill_timeout=60.0, stack=stack)

    @property
    def names(self) -> Names:
        return self.stack.names  # the running stack's project, which may predate the settings

    @property
    def is_local(self) -> bool:
        return True

    @property
    def orbit_url(self) -> str | None:
        return self.stack.url("orbit")

    @property
    def axon_url(self) -> str | None:
        return self.stack.url("axon")

    def health(self) -> list[Check]:
        stack = self.stack
        states = {p["name"]: p for p in supervisor.program_states(stack)}
        checks = []
        for program in stack.programs:
            state = states.get(program, {}).get("state", "NOT RUNNING")
            description = f"{state} {states.get(program, {}).get('description', '')}".strip()
            checks.append(Check(f"process {program}", state == "RUNNING", description))
        if not stack.external_endpoint:
            emulator = self.clients.client("dynamodb", max_attempts=1)
            checks.append(
                timed("AWS emulator", lambda: (isinstance(emulator.list_tables()["TableNames"], list), stack.endpoint))
            )
        checks.append(
            timed("DynamoDB policies table", lambda: table_status(self.clients.dynamodb, self.names.policies_table))
        )
        checks.append(timed("Governance Lambda", lambda: governance_invocation(self.clients, self.names)))
        checks.append(timed("Axon service", lambda: http_health(stack.url("axon"))))
        checks.append(timed("Orbit service", lambda: http_health(stack.url("orbit"))))
        return checks

    def status(self) -> dict[str, Any]:
        stack, dynamodb = self.stack, self.clients.dynamodb
        processes = supervisor.program_states(stack)
        up = bool(processes)
        return {
            "processes": processes
            or [
                {"name": p, "state": "NOT RUNNING", "pid": None, "description": "the stack is down"}
                for p in stack.programs
            ],
            "governance": {
                "function": self.names.governance_function,
                "alias": self.names.governance_alias,
                "served_by": f"the local Lambda API at {stack.url('governance')} (this checkout's code, no versions)",
            },
            "tables": safely(lambda: tables(dynamodb, self.names)) if up else [],
            "policy_set": safely(lambda: policy_set(dynamodb, self.names)) if up else {},
            "state_dir": str(stack.state_dir),
        }

    def logs(self, service: str) -> LogSource:
        streams = INSTANCE_LOGS if service == "governance" else None
        return LogFiles(self.stack.path("logs"), service, streams)

    def traces(self) -> TraceSource:
        return TraceFiles(self.stack.path("traces"))

    def axon_requests(self, marker: str) -> Callable[[], int]:
        """Locally Axon's own counter is read (the probes are the only traffic during a drill)."""
        before = axon_reason_count(self.stack.url("axon"))
        return lambda: int(axon_reason_count(self.stack.url("axon")) - before)

    def stop(self, component: str, timeout: float) -> dict[str, Any]:
        supervisor.stop_program(self.stack, component)
        self.progress(f"stopped the {component} program")
        return {"action": f"supervisorctl stop {component}"}

    def start(self, component: str, timeout: float) -> dict[str, Any] | None:
        supervisor.start_program(self.stack, component)
        lifecycle.wait_healthy(self.stack, component, timeout=60)
        return {"action": f"started the {component} program; /health answers"}

    def crash(self, component: str) -> Crash:
        return ProcessCrash(self, component)

    def rotate_service_key(self, secret: str) -> str:
        """No rotation Lambda locally: agentctl runs its steps itself."""
        return key_rotation.rotate_now(self.clients.secretsmanager, secret, self.names)

    def deployment(self, request: DeployRequest) -> Deployment:
        if request.plan_only:
            raise OpsError("--plan-only applies to AWS environments; the local stack has nothing to plan")
        return StackUp(self)

    def down(self) -> list[int]:
        return lifecycle.down(self.stack, self.progress)


class StackUp(Deployment):
    """`make deploy` locally: the whole stack up (or made sure it is up)."""

    def __init__(self, platform: LocalPlatform) -> None:
        self.platform = platform
        self.report: dict[str, Any] = {}

    def run(self) -> dict[str, Any]:
        self.report = lifecycle.up(self.platform.stack, self.platform.clients, self.platform.progress)
        return self.report


class ProcessCrash(Crash):
    """The program's process killed with SIGKILL; supervisord restarts it."""

    def __init__(self, platform: LocalPlatform, program: str) -> None:
        self.platform = platform
        self.program = program
        self.victim = f"the {program} process"
        self.killed_at = 0.0
        self.old_pid: int | None = None

    def _state(self) -> dict[str, Any]:
        return next((p for p in supervisor.program_states(self.platform.stack) if p["name"] == self.program), {})

    def hypothesis(self, timeout: float) -> str:
        return f"supervisord restarts {self.program} after a crash and it answers /health again within {timeout:.0f}s"

    def inject(self, reason: str) -> dict[str, Any]:
        state = self._state()
        if state.get("state") != "RUNNING" or not state.get("pid"):
            raise Refused(f"{self.program} is not running ({state.get('state', 'unknown')}); nothing to kill")
        self.old_pid = state["pid"]
        self.killed_at = time.monotonic()
        kill(state["pid"])
        self.platform.progress(f"killed {self.program} (pid {self.old_pid}) with SIGKILL")
        return {"action": "SIGKILL", "program": self.program, "pid": self.old_pid}

    def watch(self, timeout: float) -> dict[str, Any]:
        deadline = self.killed_at + timeout
        seen: dict[str, Any] = {}

        def restarted() -> tuple[bool, str]:
            state = seen["state"] = self._state()
            return (
                state.get("state") == "RUNNING" and state.get("pid") not in (None, self.old_pid),
                f"{state.get('state', 'unknown')} pid {state.get('pid')}",
            )

        wait_for(f"{self.program} restart", restarted, timeout, self.platform.progress, interval=0.1)
        running_after = time.monotonic() - self.killed_at
        lifecycle.wait_healthy(self.platform.stack, self.program, timeout=max(1.0, deadline - time.monotonic()))
        return {
            "old_pid": self.old_pid,
            "new_pid": seen["state"].get("pid"),
            "seconds_to_running": round(running_after, 2),
            "mttr_seconds": round(time.monotonic() - self.killed_at, 2),
            "recovered": True,
        }

    def restore(self) -> dict[str, Any]:
        state = self._state()
        if state.get("state") == "RUNNING" and state.get("pid") != self.old_pid:
            return {"action": "none needed: supervisord restarted it"}
        supervisor.start_program(self.platform.stack, self.program)
        lifecycle.wait_healthy(self.platform.stack, self.program, timeout=60)
        return {"action": f"started {self.program} through supervisord"}

    def verdict(self, recovered: bool, observations: dict[str, Any], timeout: float) -> str:
        if recovered:
            return f"recovered: {self.program} was back and healthy {observations['mttr_seconds']}s after the kill"
        return f"{self.program} did not recover by itself within {timeout:.0f}s"


def axon_reason_count(axon_url: str) -> float:
    """Requests Axon answered 200 on /reason: axon_requests_total{endpoint="/reason",status="200"} summed."""
    text = requests.get(f"{axon_url}/metrics", timeout=5).text
    total = 0.0
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if (
                sample.name == "axon_requests_total"
                and sample.labels.get("endpoint") == "/reason"
                and sample.labels.get("status") == "200"
            ):
                total += sample.value
    return total
