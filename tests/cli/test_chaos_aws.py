"""agentctl chaos in an AWS environment, against the emulator.

The emulator starts no ECS task (the tasks here are started with RunTask, and the running counts come from
the Emulation hooks) and cannot run Orbit; the probes go to a small HTTP endpoint standing in for Orbit's load
balancer, which answers as Orbit does (503 when its dependency is gone) and records what the emulator held when
each probe arrived, so that the tests can check the fault was in place during the probes and undone after.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import boto3
import pytest

from agent_runtime import keys
from agent_runtime.tables import table_definitions
from tests.cli.conftest import World, run


@pytest.fixture
def tasks(world: World) -> list[str]:
    """Two running tasks. (The emulator's RunTask fails for awsvpc task definitions, and it does not filter
    ListTasks by service: these tasks use a bridge-mode copy of Axon's task definition and are the only ones.)"""
    ecs = boto3.client("ecs")
    definition = ecs.register_task_definition(
        family="rb-test-axon-tasks",
        containerDefinitions=[{"name": "axon", "image": "axon:commit3", "memory": 512}],
        networkMode="bridge",
    )["taskDefinition"]["taskDefinitionArn"]
    started = ecs.run_task(
        cluster=world.names.cluster,
        taskDefinition=definition,
        count=2,
        launchType="FARGATE",
        startedBy="ecs-svc/rb-test-axon",
    )
    return [t["taskArn"] for t in started["tasks"]]


def test_kill_stops_one_task_and_measures_the_return_to_the_desired_count(world, emulation, tasks, monkeypatch):
    monkeypatch.setenv("AGENTCTL_POLL_SECONDS", "0.2")
    emulation.replace_after = 3  # the service is one task short for three polls after the stop
    result = run("--env", "dev", "chaos", "kill", "axon", "--yes", "--output", "json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["passed"] is True
    assert report["fault"]["action"] == "ecs:StopTask"
    stopped = report["fault"]["task"]
    assert stopped in tasks
    assert report["fault"]["running_tasks_before"] == 2
    assert report["observations"]["mttr_seconds"] >= 0.4  # at least two polls one task short
    assert report["verdict"].startswith("recovered: axon back at its desired count")
    # Blast radius 1: exactly one task was stopped, the other still runs.
    described = boto3.client("ecs").describe_tasks(cluster=world.names.cluster, tasks=tasks)["tasks"]
    statuses = {t["taskArn"]: t["desiredStatus"] for t in described}
    assert statuses[stopped] == "STOPPED"
    assert sorted(statuses.values()) == ["RUNNING", "STOPPED"]
    checks = 5 + len(table_definitions(world.names))  # 2 services, targets, Lambda state, invocation, the tables
    assert [c["healthy"] for c in report["steady_state_before"]] == [True] * checks


def test_kill_table_output_is_readable(world, emulation, tasks):
    emulation.replace_after = 1
    result = run("--env", "dev", "chaos", "kill", "axon", "--yes")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].startswith("drill        kill axon (dev, id chaos")
    assert "  ✅ Axon service: 2/2 tasks running (rb-test-axon:3)" in result.stdout
    assert any(line.startswith("observed     mttr_seconds: ") for line in lines)
    assert lines[-1] == "result       PASSED"


def test_kill_that_does_not_recover_fails_and_says_so(world, emulation, tasks):
    emulation.replace_after = None  # ECS never replaces the stopped task
    result = run("--env", "dev", "chaos", "kill", "axon", "--yes", "--timeout", "1", "--output", "json")
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert report["passed"] is False
    assert report["hypothesis_held"] is False
    assert "did not finish within 1s" in report["error"]
    assert "drill kill failed" in result.stderr


def test_chaos_refuses_prod_and_an_unsteady_environment(world, emulation, tasks):
    prod = run("--env", "prod", "chaos", "kill", "axon", "--yes")
    assert prod.exit_code == 4
    assert "--allow-prod" in prod.stderr

    emulation.targets = ["unhealthy"]
    unsteady = run("--env", "dev", "chaos", "kill", "axon", "--yes")
    assert unsteady.exit_code == 4
    assert "steady state not met before the drill (Orbit load balancer targets); nothing was done" in unsteady.stderr
    states = [
        t["desiredStatus"] for t in boto3.client("ecs").describe_tasks(cluster="rb-test-cluster", tasks=tasks)["tasks"]
    ]
    assert states == ["RUNNING", "RUNNING"]


# --- outages ----------------------------------------------------------------------------------------------


class FakeOrbit:
    """Answers POST /dispatch like Orbit does: 503 SERVICE_UNAVAILABLE when `down()` says its dependency is gone."""

    def __init__(self, down, on_request=None) -> None:
        self.down = down
        self.on_request = on_request or (lambda correlation_id: None)
        self.seen: list[dict[str, Any]] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                is_down = fake.down()
                correlation_id = self.headers.get("X-Correlation-ID")
                fake.seen.append({"down": is_down, "correlation_id": correlation_id, **body})
                fake.on_request(correlation_id)
                status, payload = (
                    (503, {"error": "unavailable", "code": "SERVICE_UNAVAILABLE"})
                    if is_down
                    else (200, {"status": "success"})
                )
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def probe_setup(world, monkeypatch) -> Iterator[None]:
    keys.create_client_key(boto3.client("secretsmanager"), world.names, "quickstart")
    logs = boto3.client("logs")
    logs.create_log_group(logGroupName=world.names.log_group("axon"))
    monkeypatch.setenv("AGENTCTL_LOG_SETTLE_SECONDS", "0")
    return


def concurrency() -> int | None:
    return (
        boto3.client("lambda")
        .get_function_concurrency(FunctionName="rb-test-governance")
        .get("ReservedConcurrentExecutions")
    )


def test_governance_outage_throttles_the_function_during_the_probes_and_restores_it(world, emulation, probe_setup):
    orbit = FakeOrbit(lambda: concurrency() == 0)
    try:
        result = run(
            "--env", "dev", "chaos", "governance-outage", "--duration", "1", "--rate", "5",
            "--url", orbit.url, "--yes", "--output", "json",
        )  # fmt: skip
    finally:
        orbit.close()
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["fault"] == {"action": "lambda:PutFunctionConcurrency 0", "previous_reserved_concurrency": 10}
    observed = report["observations"]
    assert observed["probes"] >= 3
    assert observed["statuses"] == {"503": observed["probes"]}
    assert observed["reached_axon"] == 0
    probes = [s for s in orbit.seen if s["correlation_id"].startswith(report["drill_id"])]
    assert len(probes) == observed["probes"]
    assert all(p["down"] for p in probes)  # the function was throttled while every probe was sent
    assert concurrency() == 10  # restored
    assert report["restore"]["dispatch_recovered_after_seconds"] is not None
    assert report["passed"] is True


def test_governance_outage_reports_probes_that_reached_axon(world, emulation, probe_setup):
    logs = boto3.client("logs")
    logs.create_log_stream(logGroupName=world.names.log_group("axon"), logStreamName="axon/1")

    def reach_axon(correlation_id: str) -> None:
        """An Orbit that does not fail closed: the request shows up in Axon's log group."""
        line = {"event": "request", "path": "/reason", "status": 200, "correlation_id": correlation_id}
        logs.put_log_events(
            logGroupName=world.names.log_group("axon"),
            logStreamName="axon/1",
            logEvents=[{"timestamp": int(time.time() * 1000), "message": json.dumps(line)}],
        )

    orbit = FakeOrbit(lambda: False, reach_axon)
    try:
        result = run(
            "--env", "dev", "chaos", "governance-outage", "--duration", "1", "--rate", "3",
            "--url", orbit.url, "--yes", "--output", "json",
        )  # fmt: skip
    finally:
        orbit.close()
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert report["hypothesis_held"] is False
    assert report["observations"]["reached_axon"] == report["observations"]["probes"] >= 1
    assert "did NOT hold" in report["verdict"]
    assert concurrency() == 10  # restored all the same


def test_axon_outage_scales_to_zero_with_autoscaling_suspended_and_puts_both_back(world, emulation, probe_setup):
    aas = boto3.client("application-autoscaling")
    resource = "service/rb-test-cluster/rb-test-axon"
    aas.register_scalable_target(
        ServiceNamespace="ecs", ResourceId=resource, ScalableDimension="ecs:service:DesiredCount",
        MinCapacity=1, MaxCapacity=4,
    )  # fmt: skip
    suspended: list[bool] = []

    def axon_down() -> bool:
        target = aas.describe_scalable_targets(ServiceNamespace="ecs", ResourceIds=[resource])["ScalableTargets"][0]
        suspended.append(target.get("SuspendedState", {}).get("DynamicScalingInSuspended", False))
        return world.service("axon")["desiredCount"] == 0

    orbit = FakeOrbit(axon_down)
    try:
        result = run(
            "--env", "dev", "chaos", "axon-outage", "--duration", "1", "--rate", "5",
            "--url", orbit.url, "--yes", "--output", "json",
        )  # fmt: skip
    finally:
        orbit.close()
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["fault"]["previous_desired"] == 2
    probes = [s for s in orbit.seen if s["correlation_id"].startswith(report["drill_id"])]
    assert probes
    assert all(p["down"] for p in probes)
    assert suspended[: len(probes)] == [True] * len(probes)
    assert world.service("axon")["desiredCount"] == 2
    target = aas.describe_scalable_targets(ServiceNamespace="ecs", ResourceIds=[resource])["ScalableTargets"][0]
    assert target.get("SuspendedState", {}).get("DynamicScalingInSuspended") is False
    assert report["observations"]["max_latency_ms"] < 3000
