"""Coverage from the audit events the real Governance handler writes (in process, against the AWS emulator)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from governance.coverage import coverage
from governance.policies import parse_policies
from governance.store import Limits
from tests.governance.conftest import Context, event, tool_event

POLICIES = """
@id("tools") permit(principal, action in Action::"mcp_tools", resource);
@id("no-mallory") forbid(principal == Client::"mallory", action, resource);
@id("shadow-carol") @mode("shadow") forbid(principal == Client::"carol", action, resource);
@id("plans") permit(principal, action == Action::"plan", resource);
@id("shadow-plans") @mode("shadow") permit(principal, action == Action::"plan", resource);
@id("fragile") forbid(principal == Client::"erin", action, resource) when { context.input.amount > 1 };
"""


def audit_lines(capsys) -> list[dict]:
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    return [line for line in lines if line.get("event") == "audit"]


def test_counts_match_the_audit_and_idle_policies_are_flagged(handler, store, capsys):
    store.commit(parse_policies(POLICIES))
    capsys.readouterr()
    for body in [
        event("alice"),
        event("alice"),
        event("carol"),  # allowed; the shadow forbid would deny
        event("mallory"),
        event("mallory"),
        event("erin"),  # fragile reads an input a dispatch does not have: evaluation error, denied
        tool_event("alice"),
        event("alice", intent="summarize"),  # no permit applies: names no policy
    ]:
        handler.lambda_handler(body, Context())
    handler.lambda_handler({"kind": "list_tools", "principal": "alice", "tools": ["axon___reason"]}, Context())
    events = audit_lines(capsys)
    version = store.current()[0]
    report = coverage(store.load(version), version, events).to_dict()
    rows = {row["policy_id"]: row for row in report["policies"]}
    assert rows["allow-call-reasoning"]["enforced"] == 3  # alice twice and carol
    assert rows["no-mallory"]["enforced"] == 2
    assert rows["shadow-carol"] == {**rows["shadow-carol"], "enforced": 0, "shadow": 1, "idle": False}
    assert rows["tools"]["enforced"] == 1
    assert rows["fragile"]["enforced"] == rows["fragile"]["evaluation_errors"] == 1
    assert report["idle"] == ["plans", "shadow-plans"]
    assert report["decisions"] == 8
    assert report["outcomes"] == {"allow": 4, "deny": 4}
    # The counts are the audit's: every id an allow or deny names, counted once per decision.
    named = [i for e in events if e.get("enforced_outcome") in ("allow", "deny") for i in e["policy_ids"]]
    assert sum(row["enforced"] for row in report["policies"]) == len(named)


def test_the_window_and_outcomes_without_policies(handler, store, capsys):
    store.set_limits(Limits(1000, 1, 1000))
    handler.lambda_handler(event("alice"), Context())
    handler.lambda_handler(event("alice"), Context())  # rate limited: decided by no policy
    events = audit_lines(capsys)
    report = coverage(store.load(1), 1, events)
    assert report.outcomes == {"allow": 1, "rate_limited": 1}
    assert report.decisions == 1
    assert report.policies[0].enforced == 1
    later = datetime.now(UTC) + timedelta(minutes=1)
    assert coverage(store.load(1), 1, events, since=later).decisions == 0
    assert coverage(store.load(1), 1, events, until=later - timedelta(hours=1)).decisions == 0
    assert coverage(store.load(1), 1, events, since=later - timedelta(hours=1), until=later).decisions == 1


def test_ids_the_live_set_no_longer_has_are_reported_apart(handler, store, capsys):
    store.commit(parse_policies('@id("no-bob") forbid(principal == Client::"bob", action, resource);'))
    handler.lambda_handler(event("bob"), Context())
    events = audit_lines(capsys)
    store.commit(deletes=["no-bob"])
    version = store.current()[0]
    report = coverage(store.load(version), version, events).to_dict()
    assert report["not_in_live_set"] == {"no-bob": 1}
    assert report["idle"] == ["allow-call-reasoning"]
