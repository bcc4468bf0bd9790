"""policy replay, lint, diff and coverage against an AWS environment (`--env dev`), in the AWS emulator: the same
work through the AWS platform, with the tables, the secrets and the log group of the naming contract."""

from __future__ import annotations

import json
import time
import uuid
from datetime import UTC, datetime

import boto3
import pytest

from agent_runtime.decision_log import DecisionLog, DecisionRecord
from agent_runtime.keys import create_client_key
from agent_runtime.names import Names
from agent_runtime.tables import table_definitions
from governance.policies import parse_policies
from governance.store import PolicyStore
from tests.cli.conftest import PROJECT, run

NAMES = Names(PROJECT)
PERMIT = '@id("allow-reasoning")\npermit(principal, action == Action::"call_reasoning", resource);\n'


@pytest.fixture
def store(aws_env) -> PolicyStore:
    dynamodb = boto3.client("dynamodb")
    for definition in table_definitions(NAMES):
        dynamodb.create_table(**{k: v for k, v in definition.items() if k != "TimeToLive"})
    store = PolicyStore(dynamodb, NAMES.policies_table)
    store.commit(parse_policies(PERMIT, "base.cedar"))
    return store


def _record(principal: str, action: str, at: float) -> DecisionRecord:
    context = {"user_id": "", "request_id": "", "source_ip": "10.0.0.1", "time": int(at), "hour_utc": 12}
    context.update(day_of_week="Mon", environment="dev")
    return DecisionRecord(str(uuid.uuid4()), at, principal, action, ("Service", "axon"), (), context, 1)


def test_replay_reads_the_decision_log_of_the_environment(store, tmp_path):
    log = DecisionLog(boto3.client("dynamodb"), NAMES.decision_log_table)
    now = time.time()
    records = [_record("a", "call_reasoning", now - 60), _record("b", "call_reasoning", now - 30)]
    records.append(_record("a", "summarize", now - 3 * 3600))  # hours ago: another partition of the log
    for record in records:
        log.record(record)
    candidate = tmp_path / "forbid-a.cedar"
    candidate.write_text('@id("forbid-a")\nforbid(principal == Client::"a", action, resource);\n')

    result = run("--env", "dev", "policy", "replay", str(candidate), "--on-top", "--output", "json")
    assert result.exit_code == 0, result.output
    found = json.loads(result.stdout)
    assert found["considered"] == 3
    assert found["allow_to_deny"]["by_policy"] == [
        {
            "policy_id": "forbid-a",
            "count": 1,
            "examples": [
                {
                    "decision_id": records[0].decision_id,
                    "principal": "a",
                    "intent": "call_reasoning",
                    "time": found["allow_to_deny"]["by_policy"][0]["examples"][0]["time"],
                }
            ],
        }
    ]
    recent = json.loads(run("--env", "dev", "policy", "replay", str(candidate), "--since", "1h", "-o", "json").stdout)
    assert recent["considered"] == 2
    gate = run("--env", "dev", "policy", "replay", str(candidate), "--on-top", "--fail-on-change")
    assert gate.exit_code == 3
    assert gate.stderr == "agentctl: 1 recorded decision(s) would change (--fail-on-change)\n"


def test_lint_knows_the_clients_of_the_environment(store, tmp_path):
    create_client_key(boto3.client("secretsmanager"), NAMES, "known-agent")
    policy = tmp_path / "p.cedar"
    policy.write_text(
        '@id("known")\nforbid(principal == Client::"known-agent", action, resource);\n'
        '@id("unknown")\nforbid(principal == Client::"unknown-agent", action, resource);\n'
    )
    result = run("--env", "dev", "policy", "lint", str(policy), "--output", "json")
    assert result.exit_code == 3
    findings = json.loads(result.stdout)["findings"]
    assert [(f["code"], f["policy_id"], f["line"]) for f in findings] == [("unknown-principal", "unknown", 3)]


def test_diff_of_the_environment(store, tmp_path):
    store.commit(parse_policies(PERMIT.replace("call_reasoning", "summarize"), "base.cedar"))
    result = run("--env", "dev", "policy", "diff", "--output", "json")
    assert result.exit_code == 0, result.output
    (change,) = json.loads(result.stdout)["changes"]
    assert (change["policy_id"], change["change"]) == ("allow-reasoning", "changed")
    assert '-  action == Action::"call_reasoning",' in change["diff"]
    missing = run("--env", "dev", "policy", "diff", "7", "1")
    assert missing.exit_code == 4
    assert missing.stderr == "agentctl: policy-set version 7 does not exist (the live version is 2)\n"


def _audit(principal: str, outcome: str, policy_ids: list[str], **extra: object) -> str:
    fields = {"timestamp": datetime.now(UTC).isoformat(), "event": "audit", "principal": principal}
    fields.update(outcome=outcome, policy_ids=policy_ids, policy_set_version=2, **extra)
    return json.dumps(fields)


def test_coverage_reads_the_audit_of_the_environment(store):
    store.commit(
        parse_policies('@id("idle")\n@mode("shadow")\nforbid(principal, action == Action::"plan", resource);\n')
    )
    logs = boto3.client("logs")
    group = NAMES.log_group("governance")
    logs.create_log_group(logGroupName=group)
    logs.create_log_stream(logGroupName=group, logStreamName="s")
    lines = [
        _audit("a", "allow", ["allow-reasoning"]),
        _audit("b", "allow", ["allow-reasoning"]),
        _audit("c", "deny", []),
        _audit("d", "rate_limited", []),
        "END RequestId: 1",
    ]
    now = int(time.time() * 1000)
    events = [{"timestamp": now - 100 + i, "message": line} for i, line in enumerate(lines)]
    logs.put_log_events(logGroupName=group, logStreamName="s", logEvents=events)

    result = run("--env", "dev", "policy", "coverage", "--since", "1h", "--output", "json")
    assert result.exit_code == 0, result.output
    found = json.loads(result.stdout)
    assert found["decisions"] == 3
    assert found["outcomes"] == {"allow": 2, "deny": 1, "rate_limited": 1}
    rows = {row["policy_id"]: (row["enforced"], row["idle"]) for row in found["policies"]}
    assert rows == {"allow-reasoning": (2, False), "idle": (0, True)}
    table = run("--env", "dev", "policy", "coverage", "--since", "1h").stdout
    assert table.splitlines()[-1] == "1 policies decided nothing in the window: idle"
