"""agentctl health and status for an AWS environment, against the emulator."""

from __future__ import annotations

import json

import boto3

from agent_runtime.names import Names
from agent_runtime.tables import table_definitions
from governance.policies import load_policy_path
from governance.store import PolicyStore
from tests.cli.conftest import run
from tests.conftest import ROOT


def _lines(result) -> dict[str, str]:
    return {line.split(":", 1)[0]: line for line in result.stdout.splitlines() if line[:1] in ("✅", "❌")}


def test_health_all_green(world, emulation):
    result = run("--env", "dev", "health")
    assert result.exit_code == 0, result.output
    lines = _lines(result)
    assert lines["✅ Axon service"].startswith("✅ Axon service: 2/2 tasks running (rb-test-axon:3)")
    assert lines["✅ Orbit service"].startswith("✅ Orbit service: 2/2 tasks running (rb-test-orbit:2)")
    assert "2/2 targets healthy" in lines["✅ Orbit load balancer targets"]
    assert "rb-test-governance:live -> version 3, Active" in lines["✅ Governance Lambda"]
    assert "decision deny" in lines["✅ Governance invocation"]
    assert "✅ DynamoDB rb-test-governance-policies" in lines
    assert len(lines) == 5 + len(
        table_definitions(world.names)
    )  # 2 services, targets, Lambda state, invocation, tables
    # The invocation went to the alias Orbit uses.
    assert emulation.invocations[-1]["Qualifier"] == "live"


def test_health_json_and_exit_code_when_something_is_unhealthy(world, emulation):
    emulation.failing.add(world.task_definitions["axon"][2])  # Axon's current revision has no running task
    emulation.targets = ["healthy", "unhealthy"]
    emulation.decision = None  # the function errors
    result = run("--env", "dev", "health", "--output", "json")
    assert result.exit_code == 3
    report = json.loads(result.stdout)
    assert report["healthy"] is False
    assert report["environment"] == "dev"
    by_name = {c["component"]: c for c in report["checks"]}
    assert by_name["Axon service"]["healthy"] is False
    assert by_name["Axon service"]["detail"].startswith("0/2 tasks running")
    assert by_name["Orbit service"]["healthy"] is True
    assert by_name["Orbit load balancer targets"]["detail"] == "1/2 targets healthy (1 unhealthy)"
    assert by_name["Governance invocation"]["healthy"] is False
    assert "unhealthy: Axon service, Orbit load balancer targets, Governance invocation" in result.stderr


def test_health_reports_missing_resources_instead_of_crashing(aws_env, emulation):
    result = run("--env", "staging", "health")
    assert result.exit_code == 3
    assert "❌ Axon service" in result.stdout
    assert "❌ DynamoDB rb-test-governance-policies" in result.stdout
    assert "Traceback" not in result.output


def test_status_shows_services_lambda_tables_and_policy_set(world, emulation):
    store = PolicyStore(boto3.client("dynamodb"), Names("rb-test").policies_table)
    store.commit(load_policy_path(ROOT / "governance" / "policies" / "default"))
    result = run("--env", "dev", "status", "--output", "json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    services = {row["service"]: row for row in data["services"]}
    assert services["axon"]["task_definition"] == "rb-test-axon:3"
    assert (services["axon"]["desired"], services["axon"]["running"], services["axon"]["pending"]) == (2, 2, 0)
    assert services["orbit"]["task_definition_arn"] == world.task_definitions["orbit"][1]
    assert services["orbit"]["deployments"][0]["rollout"] == "COMPLETED"
    assert data["governance"]["live_version"] == "3"
    assert data["governance"]["reserved_concurrency"] == 10
    tables = {row["table"]: row for row in data["tables"]}
    policies = tables["rb-test-governance-policies"]
    assert policies["status"] == "ACTIVE"
    assert policies["counted"] == "exact"
    scanned = boto3.client("dynamodb").scan(TableName="rb-test-governance-policies")["Count"]
    assert policies["items"] == scanned > 2
    assert data["policy_set"]["version"] == 1

    table = run("--env", "dev", "status")
    assert table.exit_code == 0, table.output
    assert "rb-test-axon:3" in table.stdout
    assert "PRIMARY rb-test-axon:3 2/2 COMPLETED" in table.stdout
    assert "Policy set: version 1" in table.stdout


def test_status_shows_a_rollout_in_progress(world, emulation):
    emulation.failing.add(world.task_definitions["orbit"][1])
    emulation.fail_after = 1000
    data = json.loads(run("--env", "dev", "status", "--output", "json").stdout)
    orbit = next(row for row in data["services"] if row["service"] == "orbit")
    assert orbit["in_progress"] is True
    assert (orbit["running"], orbit["pending"]) == (0, 2)
    assert orbit["deployments"][0]["rollout"] == "IN_PROGRESS"


def test_status_exits_1_naming_what_it_could_not_read(aws_env, emulation):
    """No resources at all (a fresh account, or the wrong credentials): what could be read is shown, the rest is
    named on stderr, and the exit code says the status is not whole."""
    result = run("--env", "staging", "status")
    assert result.exit_code == 1, result.output
    assert "ECS services" in result.stdout  # the parts that could be read are still shown
    assert result.stderr.startswith("agentctl: could not read: governance (")
    assert "rb-test-governance-policies (" in result.stderr  # a table that cannot be described is named too
    assert "Traceback" not in result.output
    as_json = run("--env", "staging", "status", "--output", "json")
    assert as_json.exit_code == 1
    assert "error" in json.loads(as_json.stdout)["governance"]
