"""agentctl scale (AWS emulator), agentctl logs (CloudWatch Logs in the emulator, and the local log files)."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta

import boto3
import pytest

from tests.cli.conftest import run

RESOURCE = "service/rb-test-cluster/rb-test-axon"


@pytest.fixture
def autoscaling(world):
    aas = boto3.client("application-autoscaling")
    aas.register_scalable_target(
        ServiceNamespace="ecs",
        ResourceId=RESOURCE,
        ScalableDimension="ecs:service:DesiredCount",
        MinCapacity=1,
        MaxCapacity=4,
    )
    return aas


def scaling_range(aas) -> tuple[int, int]:
    target = aas.describe_scalable_targets(ServiceNamespace="ecs", ResourceIds=[RESOURCE])["ScalableTargets"][0]
    return target["MinCapacity"], target["MaxCapacity"]


def test_scale_out_within_the_autoscaling_range_waits_for_the_tasks(world, autoscaling):
    result = run("--env", "dev", "scale", "axon", "4", "--output", "json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert (data["previous_desired"], data["desired"], data["running"]) == (2, 4, 4)
    assert world.service("axon")["desiredCount"] == 4
    assert "desired 2 -> 4" in result.stderr


def test_scale_outside_the_range_is_refused_unless_the_range_is_adjusted(world, autoscaling):
    refused = run("--env", "dev", "scale", "axon", "6")
    assert refused.exit_code == 4
    assert "outside axon's autoscaling range 1-4" in refused.stderr
    assert world.service("axon")["desiredCount"] == 2

    adjusted = run("--env", "dev", "scale", "axon", "6", "--adjust-autoscaling")
    assert adjusted.exit_code == 0, adjusted.output
    assert world.service("axon")["desiredCount"] == 6
    assert scaling_range(autoscaling) == (1, 6)
    assert "scaled axon: desired 2 -> 6; 6/6 running" in adjusted.stdout


def test_scale_in_asks_and_prod_to_zero_needs_allow_prod(world, autoscaling):
    declined = run("--env", "dev", "scale", "orbit", "1", input="n\n")
    assert declined.exit_code == 4
    assert world.service("orbit")["desiredCount"] == 2

    prod = run("--env", "prod", "scale", "orbit", "0", "--yes", "--adjust-autoscaling")
    assert prod.exit_code == 4
    assert "--allow-prod" in prod.stderr
    assert world.service("orbit")["desiredCount"] == 2

    accepted = run("--env", "dev", "scale", "orbit", "1", "--yes", "--no-wait", "--output", "json")
    assert accepted.exit_code == 0, accepted.output
    assert json.loads(accepted.stdout)["running"] is None
    assert world.service("orbit")["desiredCount"] == 1


def test_scale_that_does_not_settle_times_out_clearly(world, autoscaling, emulation):
    emulation.failing.add(world.task_definitions["axon"][-1])  # no task ever starts
    result = run("--env", "dev", "scale", "axon", "3", "--timeout", "1")
    assert result.exit_code == 1
    assert "axon scaling did not finish within 1s (last seen: 0/3 running, 3 pending)" in result.stderr


def test_scale_locally_explains_there_is_nothing_to_scale(tmp_path, monkeypatch):
    monkeypatch.setenv("AGENT_RUNTIME_STATE_DIR", str(tmp_path))
    result = run("--env", "local", "scale", "axon", "3")
    assert result.exit_code == 4
    assert "one process per service" in result.stderr


# --- logs -------------------------------------------------------------------------------------------------


def _audit(principal: str, outcome: str, minutes_ago: float = 0) -> str:
    stamp = (datetime.now(UTC) - timedelta(minutes=minutes_ago)).isoformat(timespec="milliseconds")
    return json.dumps(
        {
            "timestamp": stamp.replace("+00:00", "Z"),
            "level": "INFO",
            "service": "governance",
            "correlation_id": f"corr-{principal}",
            "event": "audit",
            "message": f"governance decision {outcome}",
            "outcome": outcome,
            "principal": principal,
            "intent": "call_reasoning",
            "policy_set_version": 4,
            "decision_time_ms": 2.5,
            "reason": "Allowed by policy" if outcome == "allow" else "No policy permits this request",
        }
    )


@pytest.fixture
def governance_logs(aws_env):
    logs = boto3.client("logs")
    group = "/aws/lambda/rb-test-governance"
    logs.create_log_group(logGroupName=group)
    logs.create_log_stream(logGroupName=group, logStreamName="2026/01/01/[7]abc")
    now = int(time.time() * 1000)
    lines = [
        "START RequestId: 1 Version: 7",
        _audit("agent-a", "allow"),
        json.dumps({"timestamp": "x", "event": "governance_error", "message": "boom"}),
        _audit("agent-b", "deny"),
        "END RequestId: 1",
    ]
    logs.put_log_events(
        logGroupName=group,
        logStreamName="2026/01/01/[7]abc",
        logEvents=[{"timestamp": now - 1000 + i, "message": line} for i, line in enumerate(lines)],
    )
    return logs


def test_logs_governance_audit_from_cloudwatch_as_a_table_and_as_json(governance_logs):
    table = run("--env", "dev", "logs", "governance", "--audit")
    assert table.exit_code == 0, table.output
    lines = table.stdout.splitlines()
    assert lines[0].split()[:4] == ["time", "outcome", "principal", "intent"]
    assert len(lines) == 3
    assert "allow" in lines[1]
    assert "agent-a" in lines[1]
    assert "No policy permits this request" in lines[2]

    as_json = run("--env", "dev", "logs", "governance", "--audit", "--output", "json")
    events = [json.loads(line) for line in as_json.stdout.splitlines()]
    assert [(e["principal"], e["outcome"]) for e in events] == [("agent-a", "allow"), ("agent-b", "deny")]

    everything = run("--env", "dev", "logs", "governance")
    assert "START RequestId: 1 Version: 7" in everything.stdout
    assert "governance_error" in everything.stdout
    assert everything.stdout.count("\n") == 5


def test_logs_reports_a_missing_group_and_rejects_a_bad_since(aws_env):
    missing = run("--env", "dev", "logs", "axon")
    assert missing.exit_code == 4
    assert "the log group /ecs/rb-test-axon does not exist" in missing.stderr
    bad = run("--env", "dev", "logs", "axon", "--since", "yesterday")
    assert bad.exit_code == 4
    assert "--since 'yesterday'" in bad.stderr
    wrong = run("--env", "dev", "logs", "orbit", "--audit")
    assert wrong.exit_code == 2


def test_local_logs_read_the_state_folders_file_and_filter_by_time(tmp_path, monkeypatch):
    monkeypatch.setenv("AGENT_RUNTIME_STATE_DIR", str(tmp_path))
    (tmp_path / "logs").mkdir()
    (tmp_path / "logs" / "governance.log").write_text(
        "\n".join(
            [
                _audit("old-agent", "allow", minutes_ago=120),
                "[2026-01-01 00:00:00 +0000] [1] [INFO] Booting worker with pid: 1",
                _audit("new-agent", "deny", minutes_ago=1),
            ]
        )
        + "\n"
    )
    recent = run("--env", "local", "logs", "governance", "--audit", "--since", "30m", "--output", "json")
    assert recent.exit_code == 0, recent.output
    assert [json.loads(line)["principal"] for line in recent.stdout.splitlines()] == ["new-agent"]

    everything = run("--env", "local", "logs", "governance", "--since", "1d")
    assert "Booting worker" in everything.stdout
    assert "governance decision allow [corr-old-agent]" in everything.stdout
    assert everything.stdout.count("\n") == 3

    missing = run("--env", "local", "logs", "axon")
    assert missing.exit_code == 4
    assert "no log file" in missing.stderr
