"""Chaos drills: a steady-state check, one fault, observation, an automatic restore, a steady-state check again.

Each drill states its hypothesis up front and reports whether it held, as JSON. The restore runs in a
`finally`: after a failed observation, an exception, Ctrl-C or SIGTERM alike (a second Ctrl-C during the
restore is ignored until the restore is done).

Drills:
- kill SERVICE: local, kill the process (SIGKILL) and time supervisord's restart until /health answers (the
  MTTR); AWS, stop one random task of the service (blast radius 1) and time ECS's return to the desired count.
- governance-outage: Governance gone (local: its program stopped; AWS: reserved concurrency 0, so every
  invocation is throttled) while signed probe dispatches are sent: every probe must be refused with 503 and
  none may reach Axon.
- axon-outage: Axon gone (local: its program stopped; AWS: desired count 0 with autoscaling suspended): every
  probe must get a 503 from Orbit quickly (under --max-latency), never a hang.
"""

from __future__ import annotations

import contextlib
import os
import random
import signal
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

import requests
from prometheus_client.parser import text_string_to_metric_families

from agent_runtime.names import Names
from agent_runtime.sigv4 import Credential
from agentctl.local.stack import LocalStack, program_states, start_program, stop_program, wait_healthy
from agentctl.ops import client as orbit_client
from agentctl.ops import ecs as ecs_ops
from agentctl.ops import governance_fn
from agentctl.ops.errors import Refused
from agentctl.ops.health import Check
from agentctl.ops.waiting import Progress, poll_seconds, wait_for

PROBE_INTENT = "call_reasoning"


# --- the report -------------------------------------------------------------------------------------------


@dataclass
class Report:
    drill: str
    environment: str
    target: str
    drill_id: str
    hypothesis: str
    started_at: str = ""
    finished_at: str = ""
    steady_state_before: list[dict[str, Any]] = field(default_factory=list)
    fault: dict[str, Any] = field(default_factory=dict)
    observations: dict[str, Any] = field(default_factory=dict)
    restore: dict[str, Any] = field(default_factory=dict)
    steady_state_after: list[dict[str, Any]] = field(default_factory=list)
    hypothesis_held: bool = False
    restored: bool = False
    steady_state_restored: bool = False
    interrupted: bool = False
    error: str | None = None
    verdict: str = ""

    @property
    def passed(self) -> bool:
        return self.hypothesis_held and self.restored and self.steady_state_restored and not self.interrupted

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "passed": self.passed}


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


# --- observation helpers ----------------------------------------------------------------------------------


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


@dataclass
class Probes:
    """Signed dispatches sent while the fault lasts, one at a time, at a fixed rate."""

    url: str
    credential: Credential
    drill_id: str
    timeout: float = 10.0
    results: list[dict[str, Any]] = field(default_factory=list)

    def send_one(self) -> dict[str, Any]:
        n = len(self.results) + 1
        correlation_id = f"{self.drill_id}-{n}"
        started = time.perf_counter()
        try:
            answer = orbit_client.dispatch(
                self.url,
                self.credential,
                PROBE_INTENT,
                {"user_id": "agentctl-chaos", "request_id": correlation_id},
                correlation_id=correlation_id,
                timeout=self.timeout,
            )
            body = answer.body if isinstance(answer.body, dict) else {}
            result = {"status": answer.status_code, "code": body.get("code"), "elapsed_ms": answer.elapsed_ms}
        except orbit_client.DispatchError as exc:
            elapsed = round((time.perf_counter() - started) * 1000, 1)
            result = {"status": None, "code": "NO_ANSWER", "elapsed_ms": elapsed, "error": str(exc)}
        self.results.append(result)
        return result

    def run(self, duration: float, rate: float) -> None:
        deadline = time.monotonic() + duration
        interval = 1.0 / rate
        while time.monotonic() < deadline:
            started = time.monotonic()
            self.send_one()
            time.sleep(max(0.0, interval - (time.monotonic() - started)))

    def summary(self) -> dict[str, Any]:
        statuses: dict[str, int] = {}
        for r in self.results:
            key = str(r["status"]) if r["status"] is not None else "no answer"
            statuses[key] = statuses.get(key, 0) + 1
        latencies = [r["elapsed_ms"] for r in self.results]
        return {
            "probes": len(self.results),
            "statuses": statuses,
            "codes": sorted({r["code"] for r in self.results if r.get("code")}),
            "max_latency_ms": max(latencies, default=None),
            "correlation_id_prefix": f"{self.drill_id}-",
        }

    def all_refused_with_503(self) -> bool:
        return bool(self.results) and all(
            r["status"] == 503 and r.get("code") == "SERVICE_UNAVAILABLE" for r in self.results
        )


def wait_dispatch_ok(probes: Probes, timeout: float) -> float | None:
    """Seconds until a dispatch succeeds again (None if it did not within `timeout`). These dispatches carry
    their own correlation ids, so that they are never counted as probes of the fault."""
    probes = Probes(probes.url, probes.credential, f"recover{uuid.uuid4().hex[:12]}", probes.timeout)
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if probes.send_one()["status"] == 200:
            return round(time.monotonic() - started, 2)
        time.sleep(0.5)
    return None


# --- the environment a drill acts on ----------------------------------------------------------------------


@dataclass
class Environment:
    """Where a drill runs: the local stack, or an AWS environment through its clients."""

    env: str
    names: Names
    stack: LocalStack | None
    clients: dict[str, Any]
    steady_state: Callable[[], list[Check]]
    progress: Progress
    orbit_url: str | None = None
    credential: Credential | None = None

    @property
    def is_local(self) -> bool:
        return self.stack is not None

    def probes(self, drill_id: str) -> Probes:
        if not self.orbit_url or self.credential is None:
            raise Refused("this drill sends probe dispatches: give Orbit's URL (--url or ORBIT_URL)")
        return Probes(self.orbit_url, self.credential, drill_id)


# --- drills -----------------------------------------------------------------------------------------------


class Drill:
    name = ""
    hypothesis = ""

    def __init__(self, environment: Environment, target: str, timeout: float) -> None:
        self.environment = environment
        self.target = target
        self.timeout = timeout
        self.drill_id = f"chaos{uuid.uuid4().hex[:12]}"
        self.held = False

    def inject(self) -> dict[str, Any]:
        raise NotImplementedError

    def observe(self) -> dict[str, Any]:
        raise NotImplementedError

    def restore(self) -> dict[str, Any]:
        raise NotImplementedError

    def verdict(self, observations: dict[str, Any]) -> str:
        return "the hypothesis held" if self.held else "the hypothesis did not hold"


class KillLocal(Drill):
    name = "kill"

    def __init__(self, environment: Environment, target: str, timeout: float) -> None:
        super().__init__(environment, target, timeout)
        self.hypothesis = (
            f"supervisord restarts {target} after a crash and it answers /health again within {timeout:.0f}s"
        )
        self.stack: LocalStack = environment.stack  # type: ignore[assignment]
        self.killed_at = 0.0
        self.old_pid: int | None = None

    def _state(self) -> dict[str, Any]:
        return next((p for p in program_states(self.stack) if p["name"] == self.target), {})

    def inject(self) -> dict[str, Any]:
        state = self._state()
        if state.get("state") != "RUNNING" or not state.get("pid"):
            raise Refused(f"{self.target} is not running ({state.get('state', 'unknown')}); nothing to kill")
        self.old_pid = state["pid"]
        self.killed_at = time.monotonic()
        os.kill(self.old_pid, signal.SIGKILL)
        self.environment.progress(f"killed {self.target} (pid {self.old_pid}) with SIGKILL")
        return {"action": "SIGKILL", "program": self.target, "pid": self.old_pid}

    def observe(self) -> dict[str, Any]:
        deadline = self.killed_at + self.timeout
        seen: dict[str, Any] = {}

        def restarted() -> tuple[bool, str]:
            state = seen["state"] = self._state()
            return (
                state.get("state") == "RUNNING" and state.get("pid") not in (None, self.old_pid),
                f"{state.get('state', 'unknown')} pid {state.get('pid')}",
            )

        wait_for(f"{self.target} restart", restarted, self.timeout, self.environment.progress, interval=0.1)
        running_after = time.monotonic() - self.killed_at
        wait_healthy(self.stack, self.target, timeout=max(1.0, deadline - time.monotonic()))
        mttr = time.monotonic() - self.killed_at
        self.held = True
        return {
            "old_pid": self.old_pid,
            "new_pid": seen["state"].get("pid"),
            "seconds_to_running": round(running_after, 2),
            "mttr_seconds": round(mttr, 2),
            "recovered": True,
        }

    def restore(self) -> dict[str, Any]:
        state = self._state()
        if state.get("state") == "RUNNING" and state.get("pid") != self.old_pid:
            return {"action": "none needed: supervisord restarted it"}
        start_program(self.stack, self.target)
        wait_healthy(self.stack, self.target, timeout=60)
        return {"action": f"started {self.target} through supervisord"}

    def verdict(self, observations: dict[str, Any]) -> str:
        if self.held:
            return f"recovered: {self.target} was back and healthy {observations['mttr_seconds']}s after the kill"
        return f"{self.target} did not recover by itself within {self.timeout:.0f}s"


class KillTask(Drill):
    name = "kill"

    def __init__(self, environment: Environment, target: str, timeout: float) -> None:
        super().__init__(environment, target, timeout)
        self.hypothesis = (
            f"ECS replaces a stopped {target} task and the service is back at its desired count within {timeout:.0f}s"
        )
        self.ecs = environment.clients["ecs"]
        self.task: str | None = None
        self.stopped_at = 0.0

    def inject(self) -> dict[str, Any]:
        names = self.environment.names
        state = ecs_ops.describe_one(self.ecs, names, self.target)
        if state.desired < 1:
            raise Refused(f"{state.name} has no desired task; nothing to kill")
        tasks = self.ecs.list_tasks(cluster=names.cluster, serviceName=state.name, desiredStatus="RUNNING").get(
            "taskArns", []
        )
        if not tasks:
            raise Refused(f"{state.name} has no running task to stop")
        self.task = random.choice(tasks)  # noqa: S311 - picking a victim, not a secret
        self.stopped_at = time.monotonic()
        self.ecs.stop_task(cluster=names.cluster, task=self.task, reason=f"agentctl chaos drill {self.drill_id}")
        self.environment.progress(f"stopped task {self.task} of {state.name} (1 of {len(tasks)})")
        return {"action": "ecs:StopTask", "task": self.task, "running_tasks_before": len(tasks)}

    def observe(self) -> dict[str, Any]:
        names = self.environment.names

        def back() -> tuple[bool, str]:
            state = ecs_ops.describe_one(self.ecs, names, self.target)
            running = self.ecs.list_tasks(cluster=names.cluster, serviceName=state.name, desiredStatus="RUNNING").get(
                "taskArns", []
            )
            return (
                state.running >= state.desired and self.task not in running,
                f"{state.running}/{state.desired} running",
            )

        detail = wait_for(f"{self.target} recovery", back, self.timeout, self.environment.progress)
        self.held = True
        mttr = round(time.monotonic() - self.stopped_at, 2)
        return {"stopped_task": self.task, "mttr_seconds": mttr, "final": detail}

    def restore(self) -> dict[str, Any]:
        return {"action": "none: ECS replaces stopped tasks itself (nothing was changed in the service)"}

    def verdict(self, observations: dict[str, Any]) -> str:
        if self.held:
            return f"recovered: {self.target} back at its desired count {observations['mttr_seconds']}s after the stop"
        return f"{self.target} did not return to its desired count within {self.timeout:.0f}s"


class Outage(Drill):
    """An outage of one component while probe dispatches are sent; subclasses say how to cause and end it."""

    def __init__(
        self, environment: Environment, target: str, timeout: float, duration: float, rate: float, max_latency: float
    ) -> None:
        super().__init__(environment, target, timeout)
        self.duration = duration
        self.rate = rate
        self.max_latency = max_latency
        self.probes = environment.probes(self.drill_id)
        self.axon_before: float | None = None
        self.started_ms = int(time.time() * 1000)
        self.saved: dict[str, Any] = {}  # what the AWS fault changed, to put back

    def axon_reached(self) -> int | None:
        """Probe requests that reached Axon during the fault."""
        env = self.environment
        if env.is_local:
            assert self.axon_before is not None
            return int(axon_reason_count(env.stack.url("axon")) - self.axon_before)  # type: ignore[union-attr]
        return axon_log_hits(env.clients["logs"], env.names, self.drill_id, self.started_ms, env.progress)

    def observe(self) -> dict[str, Any]:
        self.environment.progress(f"sending probes for {self.duration:.0f}s at {self.rate:g}/s")
        self.probes.run(self.duration, self.rate)
        summary = self.probes.summary()
        reached = self.axon_reached()
        if reached is not None:
            summary["reached_axon"] = reached
        return summary

    def started(self) -> None:
        self.started_ms = int(time.time() * 1000) - 1000
        if self.environment.is_local:
            self.axon_before = axon_reason_count(self.environment.stack.url("axon"))  # type: ignore[union-attr]


class GovernanceOutage(Outage):
    name = "governance-outage"
    hypothesis = "with Governance down, Orbit refuses every dispatch with 503 and nothing reaches Axon (fail closed)"

    def inject(self) -> dict[str, Any]:
        self.started()
        env = self.environment
        if env.is_local:
            stop_program(env.stack, "governance")  # type: ignore[arg-type]
            env.progress("stopped the governance program")
            return {"action": "supervisorctl stop governance"}
        lam = env.clients["lambda"]
        previous = governance_fn.reserved_concurrency(lam, env.names)
        self.saved["reserved_concurrency"] = previous
        governance_fn.set_reserved_concurrency(lam, env.names, 0)
        env.progress(f"set {env.names.governance_function}'s reserved concurrency to 0 (was {previous})")
        return {"action": "lambda:PutFunctionConcurrency 0", "previous_reserved_concurrency": previous}

    def observe(self) -> dict[str, Any]:
        summary = super().observe()
        self.held = self.probes.all_refused_with_503() and summary["reached_axon"] == 0
        return summary

    def restore(self) -> dict[str, Any]:
        env = self.environment
        if env.is_local:
            start_program(env.stack, "governance")  # type: ignore[arg-type]
            wait_healthy(env.stack, "governance", timeout=60)  # type: ignore[arg-type]
            done = {"action": "started the governance program; /health answers"}
        else:
            if "reserved_concurrency" not in self.saved:
                return {"action": "none: the fault was not injected"}
            previous = self.saved["reserved_concurrency"]
            governance_fn.set_reserved_concurrency(env.clients["lambda"], env.names, previous)
            done = {"action": f"reserved concurrency set back to {previous}"}
        done["dispatch_recovered_after_seconds"] = wait_dispatch_ok(self.probes, 30)
        return done

    def verdict(self, observations: dict[str, Any]) -> str:
        if self.held:
            return (
                f"held: all {observations['probes']} probes were refused with 503 SERVICE_UNAVAILABLE and "
                f"{observations['reached_axon']} reached Axon"
            )
        return (
            f"did NOT hold: probe answers {observations.get('statuses')}, "
            f"{observations.get('reached_axon')} probe(s) reached Axon"
        )


class AxonOutage(Outage):
    name = "axon-outage"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.hypothesis = (
            f"with Axon down, Orbit answers every dispatch with 503 within {self.max_latency:g}s and never hangs"
        )

    def inject(self) -> dict[str, Any]:
        self.started()
        env = self.environment
        if env.is_local:
            stop_program(env.stack, "axon")  # type: ignore[arg-type]
            env.progress("stopped the axon program")
            return {"action": "supervisorctl stop axon"}
        ecs, names = env.clients["ecs"], env.names
        state = ecs_ops.describe_one(ecs, names, "axon")
        self.saved["desired"] = state.desired
        self.saved["scaling"] = suspend_scaling(env.clients["application-autoscaling"], names, "axon")
        ecs.update_service(cluster=names.cluster, service=state.name, desiredCount=0)
        env.progress(f"scaled {state.name} from {state.desired} to 0 (autoscaling suspended)")
        ecs_ops.wait_count(ecs, names, "axon", 0, self.timeout, env.progress)
        return {"action": "ecs:UpdateService desiredCount 0", "previous_desired": state.desired}

    def axon_reached(self) -> int | None:
        return None  # Axon is down: nothing can reach it, and its metrics cannot be read

    def observe(self) -> dict[str, Any]:
        summary = super().observe()
        max_ms = summary["max_latency_ms"]
        self.held = self.probes.all_refused_with_503() and max_ms is not None and max_ms <= self.max_latency * 1000
        return summary

    def restore(self) -> dict[str, Any]:
        env = self.environment
        if env.is_local:
            start_program(env.stack, "axon")  # type: ignore[arg-type]
            wait_healthy(env.stack, "axon", timeout=60)  # type: ignore[arg-type]
            done: dict[str, Any] = {"action": "started the axon program; /health answers"}
        else:
            if "desired" not in self.saved:
                return {"action": "none: the fault was not injected"}
            ecs, names, desired = env.clients["ecs"], env.names, self.saved["desired"]
            ecs.update_service(cluster=names.cluster, service=names.service("axon"), desiredCount=desired)
            try:
                ecs_ops.wait_count(ecs, names, "axon", desired, self.timeout, env.progress)
            finally:
                resume_scaling(env.clients["application-autoscaling"], names, "axon", self.saved.get("scaling"))
            done = {"action": f"desired count back to {desired}, autoscaling as before"}
        # Orbit's circuit breaker to Axon closes again after its reset time: wait for a dispatch to succeed.
        done["dispatch_recovered_after_seconds"] = wait_dispatch_ok(self.probes, 30)
        return done

    def verdict(self, observations: dict[str, Any]) -> str:
        if self.held:
            return (
                f"held: all {observations['probes']} probes got 503 SERVICE_UNAVAILABLE, the slowest in "
                f"{observations['max_latency_ms']} ms"
            )
        return (
            f"did NOT hold: probe answers {observations.get('statuses')}, slowest "
            f"{observations.get('max_latency_ms')} ms (limit {self.max_latency * 1000:.0f} ms)"
        )


# --- AWS helpers --------------------------------------------------------------------------------------------


def _scalable_target(aas: Any, names: Names, service: str) -> dict[str, Any] | None:
    targets = aas.describe_scalable_targets(
        ServiceNamespace="ecs", ResourceIds=[f"service/{names.cluster}/{names.service(service)}"]
    ).get("ScalableTargets", [])
    return targets[0] if targets else None


def suspend_scaling(aas: Any, names: Names, service: str) -> dict[str, Any] | None:
    """Suspend the service's target tracking (it would undo the drill); returns what to put back."""
    target = _scalable_target(aas, names, service)
    if target is None:
        return None
    aas.register_scalable_target(
        ServiceNamespace="ecs",
        ResourceId=target["ResourceId"],
        ScalableDimension=target["ScalableDimension"],
        SuspendedState={
            "DynamicScalingInSuspended": True,
            "DynamicScalingOutSuspended": True,
            "ScheduledScalingSuspended": True,
        },
    )
    return target.get("SuspendedState") or {
        "DynamicScalingInSuspended": False,
        "DynamicScalingOutSuspended": False,
        "ScheduledScalingSuspended": False,
    }


def resume_scaling(aas: Any, names: Names, service: str, saved: dict[str, Any] | None) -> None:
    if saved is None:
        return
    aas.register_scalable_target(
        ServiceNamespace="ecs",
        ResourceId=f"service/{names.cluster}/{names.service(service)}",
        ScalableDimension="ecs:service:DesiredCount",
        SuspendedState=saved,
    )


#: CloudWatch Logs delivers ECS log lines within seconds; the count waits this long after the last probe.
LOG_SETTLE_SECONDS = 15.0


def axon_log_hits(logs: Any, names: Names, drill_id: str, since_ms: int, progress: Progress) -> int:
    """Axon request lines that carry one of the drill's correlation ids (Axon's /metrics is not reachable from
    outside the VPC in AWS, its log group is)."""
    settle = float(os.environ.get("AGENTCTL_LOG_SETTLE_SECONDS", LOG_SETTLE_SECONDS))
    if settle:
        progress(f"waiting {settle:.0f}s for Axon's log lines to reach CloudWatch Logs")
        time.sleep(settle)
    hits = 0
    kwargs: dict[str, Any] = {
        "logGroupName": names.log_group("axon"),
        "startTime": since_ms,
        "filterPattern": f'"{drill_id}"',
    }
    while True:
        page = logs.filter_log_events(**kwargs)
        hits += sum(1 for event in page.get("events", []) if drill_id in event.get("message", ""))
        if not page.get("nextToken"):
            return hits
        kwargs["nextToken"] = page["nextToken"]


# --- running a drill --------------------------------------------------------------------------------------


@contextlib.contextmanager
def _interrupts_as_keyboard_interrupt() -> Iterator[None]:
    """SIGTERM behaves like Ctrl-C while the fault is in place, so that the restore runs either way."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(*_: Any) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextlib.contextmanager
def _shielded() -> Iterator[None]:
    """No Ctrl-C or SIGTERM while restoring: an interrupted restore would leave the fault in place."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.signal(sig, signal.SIG_IGN) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _checks(checks: list[Check]) -> list[dict[str, Any]]:
    return [c.to_dict() for c in checks]


def run(drill: Drill, recovery_timeout: float = 90) -> Report:
    """Steady state, fault, observation, restore (always), steady state again. Refused if not steady before."""
    env = drill.environment
    report = Report(drill.name, env.env, drill.target, drill.drill_id, drill.hypothesis, started_at=_now())
    before = env.steady_state()
    report.steady_state_before = _checks(before)
    unhealthy = [c.component for c in before if not c.healthy]
    if unhealthy:
        raise Refused(f"steady state not met before the drill ({', '.join(unhealthy)}); nothing was done")

    try:
        with _interrupts_as_keyboard_interrupt():
            try:
                report.fault = drill.inject()
                report.observations = drill.observe()
            except KeyboardInterrupt:
                report.interrupted = True
                env.progress("interrupted: restoring now")
            except Exception as exc:  # the restore must run whatever went wrong; the report says what it was
                report.error = f"{type(exc).__name__}: {exc}"
                env.progress(f"the drill failed: {report.error}; restoring")
    finally:
        with _shielded():
            try:
                report.restore = drill.restore()
                report.restored = True
            except Exception as exc:
                report.restore = {"error": f"{type(exc).__name__}: {exc}"}
                env.progress(f"RESTORE FAILED: {report.restore['error']}")
    report.hypothesis_held = drill.held and not report.interrupted

    last: dict[str, list[Check]] = {}

    def steady() -> tuple[bool, str]:
        checks = last["checks"] = env.steady_state()
        failing = [c.component for c in checks if not c.healthy]
        return not failing, "healthy" if not failing else f"waiting for {', '.join(failing)}"

    try:
        wait_for("steady state after the drill", steady, recovery_timeout, env.progress, interval=poll_seconds())
        report.steady_state_restored = True
    except Exception as exc:
        report.error = report.error or str(exc)
    report.steady_state_after = _checks(last.get("checks", []))
    report.verdict = drill.verdict(report.observations) if report.observations else (report.error or "interrupted")
    report.finished_at = _now()
    return report
