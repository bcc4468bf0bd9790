"""agentctl rollback against the AWS emulator: ECS services by full task-definition ARN, the Lambda alias."""

from __future__ import annotations

import json

import boto3

from tests.cli.conftest import run


def test_rollback_moves_the_service_to_the_previous_revisions_full_arn(world):
    before = world.service("axon")["taskDefinition"]
    assert before == world.task_definitions["axon"][2]

    result = run("--env", "dev", "rollback", "axon", "--yes", "--output", "json")

    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    previous = world.task_definitions["axon"][1]
    assert world.service("axon")["taskDefinition"] == previous
    assert previous.startswith("arn:aws:ecs:")
    assert previous.endswith("task-definition/rb-test-axon:2")
    assert report["current"] == before
    assert report["target"] == previous
    assert report["current_label"] == "rb-test-axon:3"
    assert report["target_label"] == "rb-test-axon:2"
    assert report["changed"]
    assert report["verified"]
    assert report["images"]["target"] == ["123456789012.dkr.ecr.us-east-1.amazonaws.com/rb-test/axon:commit2"]
    # The other service is untouched.
    assert world.service("orbit")["taskDefinition"] == world.task_definitions["orbit"][1]


def test_rollback_table_output_says_from_what_to_what(world):
    result = run("--env", "dev", "rollback", "orbit", "--yes")
    assert result.exit_code == 0, result.output
    assert "from  rb-test-orbit:2" in result.stdout
    assert "to    rb-test-orbit:1" in result.stdout
    assert "rolled back orbit: rb-test-orbit:2 -> rb-test-orbit:1" in result.stdout
    assert world.service("orbit")["taskDefinition"] == world.task_definitions["orbit"][0]


def test_rollback_to_a_named_revision_and_skips_deregistered_ones(world):
    ecs = boto3.client("ecs")
    ecs.deregister_task_definition(taskDefinition=world.task_definitions["axon"][1])  # revision 2 is gone

    result = run("--env", "dev", "rollback", "axon", "--yes", "--output", "json")
    assert result.exit_code == 0, result.output
    assert world.service("axon")["taskDefinition"] == world.task_definitions["axon"][0]  # revision 1

    again = run("--env", "dev", "rollback", "axon", "--to-revision", "3", "--yes", "--output", "json")
    assert again.exit_code == 0, again.output
    assert world.service("axon")["taskDefinition"] == world.task_definitions["axon"][2]

    missing = run("--env", "dev", "rollback", "axon", "--to-revision", "2", "--yes")
    assert missing.exit_code == 4
    assert "rb-test-axon:2 is not an ACTIVE revision" in missing.stderr


def test_rollback_refuses_when_there_is_nothing_to_roll_back_to(world):
    first = run("--env", "dev", "rollback", "orbit", "--yes")
    assert first.exit_code == 0, first.output
    second = run("--env", "dev", "rollback", "orbit", "--yes")
    assert second.exit_code == 4
    assert "nothing to roll back to: rb-test-orbit has no ACTIVE revision before 1" in second.stderr
    assert world.service("orbit")["taskDefinition"] == world.task_definitions["orbit"][0]


def test_rollback_asks_first_and_a_no_changes_nothing(world):
    result = run("--env", "dev", "rollback", "axon", input="n\n")
    assert result.exit_code == 4
    assert "not confirmed; nothing was changed" in result.stderr
    assert world.service("axon")["taskDefinition"] == world.task_definitions["axon"][2]

    accepted = run("--env", "dev", "rollback", "axon", input="y\n")
    assert accepted.exit_code == 0, accepted.output
    assert world.service("axon")["taskDefinition"] == world.task_definitions["axon"][1]


def test_rollback_that_does_not_settle_fails_clearly(world, emulation):
    emulation.failing.add(world.task_definitions["axon"][1])
    result = run("--env", "dev", "rollback", "axon", "--yes", "--timeout", "5")
    assert result.exit_code == 3
    assert "was pointed at rb-test-axon:2, but it did not settle" in result.stderr
    assert "rollout of rb-test-axon:2 failed" in result.stderr


def test_rollback_no_wait_returns_after_the_update(world, emulation):
    emulation.failing.add(world.task_definitions["axon"][1])  # would never settle
    result = run("--env", "dev", "rollback", "axon", "--yes", "--no-wait", "--output", "json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["verified"] is False
    assert world.service("axon")["taskDefinition"] == world.task_definitions["axon"][1]


def test_governance_rollback_moves_the_alias_to_the_previous_version(world, emulation):
    assert world.alias_version() == "3"
    result = run("--env", "dev", "rollback", "governance", "--yes", "--output", "json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert world.alias_version() == "2"
    assert (report["current"], report["target"], report["verified"]) == ("3", "2", True)
    # The verification was a real invocation of the alias.
    assert emulation.invocations[-1]["Qualifier"] == "live"
    assert emulation.invocations[-1]["FunctionName"] == "rb-test-governance"

    named = run("--env", "dev", "rollback", "governance", "--to-revision", "3", "--yes")
    assert named.exit_code == 0, named.output
    assert world.alias_version() == "3"
    assert "rolled back governance: version 2 -> version 3" in named.stdout


def test_governance_rollback_refuses_at_the_first_version_and_reports_a_failed_check(world, emulation):
    boto3.client("lambda").update_alias(FunctionName="rb-test-governance", Name="live", FunctionVersion="1")
    refused = run("--env", "dev", "rollback", "governance", "--yes")
    assert refused.exit_code == 4
    assert "no published version before 1" in refused.stderr

    boto3.client("lambda").update_alias(FunctionName="rb-test-governance", Name="live", FunctionVersion="3")
    emulation.decision = None  # the function errors
    broken = run("--env", "dev", "rollback", "governance", "--yes")
    assert broken.exit_code == 3
    assert "now points at version 2, but a test invocation failed" in broken.stderr
    assert world.alias_version() == "2"


def test_rollback_refuses_prod_without_allow_prod_and_local_says_there_is_nothing(world, tmp_path, monkeypatch):
    prod = run("--env", "prod", "rollback", "axon", "--yes")
    assert prod.exit_code == 4
    assert "refusing to act on prod without --allow-prod" in prod.stderr
    assert world.service("axon")["taskDefinition"] == world.task_definitions["axon"][2]

    monkeypatch.setenv("AGENT_RUNTIME_STATE_DIR", str(tmp_path))
    local = run("--env", "local", "rollback", "axon", "--yes")
    assert local.exit_code == 4
    assert "nothing to roll back locally" in local.stderr
