"""agentctl backup against the AWS emulator: create, list, prune, restore into a new table, verify, switch over."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import boto3
import pytest

from agent_runtime import aws
from agent_runtime.names import Names
from agent_runtime.tables import table_definitions
from agentctl.ops import backup as ops
from governance.policies import load_policy_path
from governance.store import Limits, PolicyStore
from tests.cli.conftest import PROJECT, run
from tests.conftest import ROOT

NAMES = Names(PROJECT)
TABLE = NAMES.policies_table


@pytest.fixture
def policies(aws_env) -> PolicyStore:
    """The policies table with the default policy set (version 1) and custom limits."""
    dynamodb = boto3.client("dynamodb")
    for definition in table_definitions(NAMES):
        dynamodb.create_table(**{k: v for k, v in definition.items() if k != "TimeToLive"})
    store = PolicyStore(dynamodb, TABLE)
    store.commit(load_policy_path(ROOT / "governance" / "policies" / "default"))
    store.set_limits(Limits(global_limit=500, per_principal=50, per_ip=60, principals={"batch": 200}))
    return store


def items(table: str = TABLE) -> list[dict[str, Any]]:
    return ops.scan_items(boto3.client("dynamodb"), table)


def tables() -> list[str]:
    return boto3.client("dynamodb").list_tables()["TableNames"]


def create_backup() -> dict[str, Any]:
    result = run("--env", "dev", "backup", "create", "--output", "json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_create_records_count_and_digest_and_list_shows_it(policies):
    before = items()
    created = create_backup()
    assert created["status"] == "AVAILABLE"
    assert created["expected_items"] == len(before)
    assert created["expected_digest"] == ops.digest(before)[:16]
    assert ops.NAME_RE.match(created["name"])

    listed = run("--env", "dev", "backup", "list", "--output", "json")
    assert listed.exit_code == 0, listed.output
    assert [b["arn"] for b in json.loads(listed.stdout)] == [created["arn"]]
    table = run("--env", "dev", "backup", "list")
    assert created["name"] in table.stdout
    assert "AVAILABLE" in table.stdout


def test_backup_delete_every_item_restore_gives_back_exactly_the_items(policies):
    before = items()
    assert len(before) > 3
    backup = create_backup()
    dynamodb = boto3.client("dynamodb")
    for item in before:
        dynamodb.delete_item(TableName=TABLE, Key={"policy_id": item["policy_id"]})
    assert items() == []

    result = run("--env", "dev", "backup", "restore", backup["name"], "--yes", "--output", "json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["restore"]["verified"] is True
    assert report["restore"]["items"] == len(before)
    assert report["switch_over"]["plan"]["action"] == "restore-pointer"
    assert items() == before  # exactly the backed-up items, the pointer included
    assert PolicyStore(dynamodb, TABLE).read_config().limits.principals == {"batch": 200}
    # The restored copy was removed after the switch-over.
    assert [t for t in tables() if "-restored-" in t] == []


def test_restore_after_a_bad_change_makes_the_backup_live_as_a_new_version(policies):
    _version, current = policies.current()
    backup = create_backup()
    policies.commit(deletes=[current[0].policy_id])  # version 2 drops a policy
    policies.set_limits(Limits(global_limit=1))
    history = {i["policy_id"]["S"]: i for i in items()}

    result = run("--env", "dev", "backup", "restore", "latest", "--yes", "--output", "json")
    assert result.exit_code == 0, result.output
    plan = json.loads(result.stdout)["switch_over"]["plan"]
    assert plan["action"] == "new-version"
    assert plan["added"] == [current[0].policy_id]
    assert plan["new_version"] == 3

    store = PolicyStore(boto3.client("dynamodb"), TABLE)
    live_version, live = store.current()
    assert live_version == 3
    assert [(p.policy_id, p.text) for p in live] == [(p.policy_id, p.text) for p in current]
    assert store.read_config().limits.global_limit == 500  # the backup's limits
    after = {i["policy_id"]["S"]: i for i in items()}
    # History is kept: every earlier item is still there, unchanged (immutable items are never overwritten).
    for key, item in history.items():
        if key.startswith(("policy#", "manifest#")):
            assert after[key] == item
    assert after["manifest#3"]["restored_from"]["S"] == backup["arn"]


def test_restore_of_an_unchanged_table_switches_nothing(policies):
    backup = create_backup()
    before = items()
    result = run("--env", "dev", "backup", "restore", backup["arn"], "--output", "json")  # no --yes: not asked
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["switch_over"]["plan"]["action"] == "none"
    assert items() == before


def test_a_restore_that_does_not_match_the_backup_is_not_switched_over(policies):
    dynamodb = boto3.client("dynamodb")
    current = items()
    # A backup whose recorded content is not what it holds.
    wrong = ops.backup_name(len(current), "0" * 64, ops.datetime.now(ops.UTC))
    dynamodb.create_backup(TableName=TABLE, BackupName=wrong)
    dynamodb.delete_item(TableName=TABLE, Key={"policy_id": {"S": "policyset"}})

    result = run("--env", "dev", "backup", "restore", wrong, "--yes")
    assert result.exit_code == 3
    assert "does not match the backup" in result.stderr
    assert "differs from the backup's recorded 0000000000000000" in result.stderr
    assert "policyset" not in {i["policy_id"]["S"] for i in items()}  # nothing switched
    assert len([t for t in tables() if "-restored-" in t]) == 1  # kept for inspection


def test_no_switch_over_keeps_the_copy_and_drop_restored_removes_only_copies(policies):
    create_backup()
    result = run("--env", "dev", "backup", "restore", "latest", "--no-switch-over")
    assert result.exit_code == 0, result.output
    copies = [t for t in tables() if "-restored-" in t]
    assert len(copies) == 1
    assert items(copies[0]) == items()
    assert f"agentctl backup drop-restored {copies[0]}" in result.stdout

    refused = run("--env", "dev", "backup", "drop-restored", TABLE, "--yes")
    assert refused.exit_code == 4
    assert "is not a restored copy" in refused.stderr
    assert TABLE in tables()

    dropped = run("--env", "dev", "backup", "drop-restored", copies[0], "--yes")
    assert dropped.exit_code == 0, dropped.output
    assert copies[0] not in tables()


def test_declined_switch_over_changes_nothing(policies):
    create_backup()
    policies.commit(deletes=[policies.current()[1][0].policy_id])
    before = items()
    result = run("--env", "dev", "backup", "restore", "latest", input="n\n")
    assert result.exit_code == 4
    assert "not switched over; the restored table" in result.stderr
    assert items() == before


def test_a_concurrent_policy_change_makes_the_switch_over_fail_cleanly(policies, monkeypatch):
    _version, current = policies.current()
    create_backup()
    policies.commit(deletes=[current[0].policy_id])  # version 2

    original = ops.switch_over

    def racing(store, plan, progress):
        policies.commit(upserts=[current[0]])  # another operator pushes version 3 meanwhile
        return original(store, plan, progress)

    monkeypatch.setattr(ops, "switch_over", racing)
    result = run("--env", "dev", "backup", "restore", "latest", "--yes")
    assert result.exit_code == 1
    assert "the live policy set changed during the switch-over; nothing was switched" in result.stderr
    assert policies.read_config().version == 3  # the other change stands


def test_prune_deletes_old_user_backups_but_never_the_newest(policies, monkeypatch):
    old = create_backup()
    new = create_backup()
    ages = {old["arn"]: 45, new["arn"]: 0}

    # The emulator cannot make a 45-day-old backup: its creation time is moved back in the ListBackups answer.
    def age(parsed, **_):
        for summary in parsed.get("BackupSummaries", []):
            summary["BackupCreationDateTime"] -= timedelta(days=ages.get(summary["BackupArn"], 0))

    original = aws.client

    def client(service, **kwargs):
        built = original(service, **kwargs)
        if service == "dynamodb":
            built.meta.events.register("after-call.dynamodb.ListBackups", age)
        return built

    monkeypatch.setattr(aws, "client", client)
    dry = run("--env", "dev", "backup", "prune", "--keep-days", "30", "--dry-run", "--output", "json")
    assert dry.exit_code == 0, dry.output
    assert [b["arn"] for b in json.loads(dry.stdout)["would_delete"]] == [old["arn"]]

    pruned = run("--env", "dev", "backup", "prune", "--keep-days", "30", "--yes", "--output", "json")
    assert pruned.exit_code == 0, pruned.output
    assert [b["arn"] for b in json.loads(pruned.stdout)["deleted"]] == [old["arn"]]
    remaining = [b["BackupArn"] for b in boto3.client("dynamodb").list_backups(TableName=TABLE)["BackupSummaries"]]
    assert remaining == [new["arn"]]

    # Everything old: the newest is still kept.
    ages[new["arn"]] = 90
    last = run("--env", "dev", "backup", "prune", "--keep-days", "30", "--yes")
    assert last.exit_code == 0, last.output
    assert "0 of 1 backup(s) older than 30 days" in last.stdout


def test_prod_switch_over_needs_allow_prod(policies):
    create_backup()
    result = run("--env", "prod", "backup", "restore", "latest", "--yes")
    assert result.exit_code == 4
    assert "--allow-prod" in result.stderr
    assert "--no-switch-over" in result.stderr
    assert [t for t in tables() if "-restored-" in t] == []  # refused before anything was restored
