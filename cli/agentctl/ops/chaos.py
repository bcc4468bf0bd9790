"""Chaos drills: a steady-state check, one fault, observation, an automatic restore, a steady-state check again.

Each drill states its hypothesis up front and reports whether it held, as JSON. The restore runs in a
`finally`: after a failed observation, an exception, Ctrl-C or SIGTERM alike (a second Ctrl-C during the
restore is ignored until the restore is done).

Drills, one class each; what differs between the local stack and AWS is the Platform's (Platform.crash,
Platform.stop/start, Platform.axon_requests):
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
import signal
import threading
import time
import uuid
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from agent_runtime.sigv4 import Credential
from agentctl.ops import client as orbit_client
from agentctl.ops.errors import Refused
from agentctl.ops.health import Check
from agentctl.ops.platform import Platform
from agentctl.ops.waiting import wait_for

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


# --- probes -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ProbeTarget:
    """Where a drill's probe dispatches go, signed with which credential for which region."""

    url: str
    credential: Credential
    region: str


@dataclass
class Probes:
    """Signed dispatches sent while the fault lasts, one at a time, at a fixed rate."""

    target: ProbeTarget
    drill_id: str
    timeout: float = 10.0
    results: list[dict[str, Any]] = field(default_factory=list)

    def send_one(self) -> dict[str, Any]:
        n = len(self.results) + 1
        correlation_id = f"{self.drill_id}-{n}"
        started = time.perf_counter()
        try:
            answer = orbit_client.dispatch(
                self.target.url,
                self.target.credential,
                self.target.region,
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
    probes = Probes(probes.target, f"recover{uuid.uuid4().hex[:12]}", probes.timeout)
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if probes.send_one()["status"] == 200:
            return round(time.monotonic() - started, 2)
        time.sleep(0.5)
    return None


# --- drills -----------------------------------------------------------------------------------------------


class Drill(ABC):
    """One fault: its hypothesis, how it is injected, observed and undone. Platform-specific steps go through
    the Platform."""

    name = ""

    def __init__(self, platform: Platform, target: str, timeout: float) -> None:
        self.platform = platform
        self.target = target
        self.timeout = timeout
        self.drill_id = f"chaos{uuid.uuid4().hex[:12]}"
        self.held = False
        self.hypothesis = ""

    @abstractmethod
    def inject(self) -> dict[str, Any]: ...

    @abstractmethod
    def observe(self) -> dict[str, Any]: ...

    @abstractmethod
    def restore(self) -> dict[str, Any]: ...

    @abstractmethod
    def verdict(self, observations: dict[str, Any]) -> str: ...


class KillDrill(Drill):
    """Kill one component (a process locally, one ECS task in AWS) and time its return."""

    name = "kill"

    def __init__(self, platform: Platform, target: str, timeout: float) -> None:
        super().__init__(platform, target, timeout)
        self.crash = platform.crash(target)
        self.hypothesis = self.crash.hypothesis(timeout)

    def inject(self) -> dict[str, Any]:
        return self.crash.inject(f"agentctl chaos drill {self.drill_id}")

    def observe(self) -> dict[str, Any]:
        observations = self.crash.watch(self.timeout)
        self.held = True
        return observations

    def restore(self) -> dict[str, Any]:
        return self.crash.restore()

    def verdict(self, observations: dict[str, Any]) -> str:
        return self.crash.verdict(self.held, observations, self.timeout)


class Outage(Drill):
    """An outage of one component while probe dispatches are sent; subclasses say what must hold."""

    def __init__(
        self, platform: Platform, probe: ProbeTarget, timeout: float, duration: float, rate: float, max_latency: float
    ) -> None:
        super().__init__(platform, self.name.removesuffix("-outage"), timeout)
        self.duration = duration
        self.rate = rate
        self.max_latency = max_latency
        self.probes = Probes(probe, self.drill_id)

    def inject(self) -> dict[str, Any]:
        return self.platform.stop(self.target, self.timeout)

    def observe(self) -> dict[str, Any]:
        self.platform.progress(f"sending probes for {self.duration:.0f}s at {self.rate:g}/s")
        self.probes.run(self.duration, self.rate)
        return self.probes.summary()

    def restore(self) -> dict[str, Any]:
        done = self.platform.start(self.target, self.timeout)
        if done is None:
            return {"action": "none: the fault was not injected"}
        # Orbit's circuit breaker to Axon closes again after its reset time: wait for a dispatch to succeed.
        done["dispatch_recovered_after_seconds"] = wait_dispatch_ok(self.probes, 30)
        return done


class GovernanceOutage(Outage):
    name = "governance-outage"

    def __init__(self, platform: Platform, probe: ProbeTarget, timeout: float, duration: float, rate: float) -> None:
        super().__init__(platform, probe, timeout, duration, rate, max_latency=30)
        self.hypothesis = (
            "with Governance down, Orbit refuses every dispatch with 503 and nothing reaches Axon (fail closed)"
        )
        self.reached_axon: Callable[[], int] = lambda: 0

    def inject(self) -> dict[str, Any]:
        self.reached_axon = self.platform.axon_requests(self.drill_id)
        return super().inject()

    def observe(self) -> dict[str, Any]:
        summary = super().observe()
        summary["reached_axon"] = self.reached_axon()
        self.held = self.probes.all_refused_with_503() and summary["reached_axon"] == 0
        return summary

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

    def observe(self) -> dict[str, Any]:
        summary = super().observe()  # Axon is down: nothing can reach it, and there is nothing to count
        max_ms = summary["max_latency_ms"]
        self.held = self.probes.all_refused_with_503() and max_ms is not None and max_ms <= self.max_latency * 1000
        return summary

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


def _fault_and_restore(drill: Drill, report: Report) -> None:
    """Inject, observe, and restore whatever happened (an error, Ctrl-C or SIGTERM included)."""
    progress = drill.platform.progress
    try:
        with _interrupts_as_keyboard_interrupt():
            try:
                report.fault = drill.inject()
                report.observations = drill.observe()
            except KeyboardInterrupt:
                report.interrupted = True
                progress("interrupted: restoring now")
            except Exception as exc:  # the restore must run whatever went wrong; the report says what it was
                report.error = f"{type(exc).__name__}: {exc}"
                progress(f"the drill failed: {report.error}; restoring")
    finally:
        with _shielded():
            try:
                report.restore = drill.restore()
                report.restored = True
            except Exception as exc:
                report.restore = {"error": f"{type(exc).__name__}: {exc}"}
                progress(f"RESTORE FAILED: {report.restore['error']}")
    report.hypothesis_held = drill.held and not report.interrupted


def run(drill: Drill, recovery_timeout: float = 90) -> Report:
    """Steady state, fault, observation, restore (always), steady state again. Refused if not steady before."""
    platform = drill.platform
    report = Report(drill.name, platform.env, drill.target, drill.drill_id, drill.hypothesis, started_at=_now())
    before = platform.health()
    report.steady_state_before = _checks(before)
    unhealthy = [c.component for c in before if not c.healthy]
    if unhealthy:
        raise Refused(f"steady state not met before the drill ({', '.join(unhealthy)}); nothing was done")
    _fault_and_restore(drill, report)

    last: dict[str, list[Check]] = {}

    def steady() -> tuple[bool, str]:
        checks = last["checks"] = platform.health()
        failing = [c.component for c in checks if not c.healthy]
        return not failing, "healthy" if not failing else f"waiting for {', '.join(failing)}"

    try:
        wait_for("steady state after the drill", steady, recovery_timeout, platform.progress)
        report.steady_state_restored = True
    except Exception as exc:
        report.error = report.error or str(exc)
    report.steady_state_after = _checks(last.get("checks", []))
    report.verdict = drill.verdict(report.observations) if report.observations else (report.error or "interrupted")
    report.finished_at = _now()
    return report
