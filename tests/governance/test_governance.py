"""Governance against the AWS emulator (moto, in process): the versioned policy store, limits, and the Lambda
handler's decisions, receipts, metrics and audit events."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from agent_runtime import receipts
from agentctl.local.bootstrap import bootstrap
from governance.policies import parse_policies
from governance.store import ConcurrentChangeError, Limits, StoreError
from tests.conftest import ROOT
from tests.governance.conftest import NAMES, Context, event, tool_event

PERMIT = '@id("allow")\npermit(principal, action == Action::"call_reasoning", resource == Service::"axon");'
FORBID = '@id("no-bob")\nforbid(principal == Client::"bob", action, resource);'
SHADOW = '@id("shadow-carol")\n@mode("shadow")\nforbid(principal == Client::"carol", action, resource);'


# --- the store --------------------------------------------------------------------------------------------


def test_bootstrap_pushed_version_1_and_is_idempotent(aws, store):
    version, policies = store.current()
    assert version == 1
    assert [p.policy_id for p in policies] == ["allow-call-reasoning"]
    report = bootstrap(
        aws[0],
        aws[1],
        NAMES,
        ROOT / "governance" / "policies" / "default",
        ROOT / "governance" / "policies" / "schema.cedarschema",
    )
    assert report.created == []
    assert store.current()[0] == 1


def test_every_change_is_a_new_version_and_old_versions_stay_readable(store):
    v2, changed = store.commit(parse_policies(FORBID))
    assert (v2, changed) == (2, True)
    assert store.commit(parse_policies(FORBID)) == (2, False)  # the same content is no change
    v3, _ = store.commit(deletes=["no-bob"])
    assert v3 == 3
    assert [p.policy_id for p in store.load(2)] == ["allow-call-reasoning", "no-bob"]
    assert [p.policy_id for p in store.load(3)] == ["allow-call-reasoning"]
    v4, _ = store.commit(parse_policies(PERMIT), replace=True)
    assert [p.policy_id for p in store.load(v4)] == ["allow"]
    with pytest.raises(StoreError, match="no policy"):
        store.commit(deletes=["never-existed"])


def test_a_concurrent_change_stores_nothing(store, monkeypatch):
    stale = store.read_config()
    store.commit(parse_policies(FORBID))  # someone else moves the set to version 2
    monkeypatch.setattr(store, "read_config", lambda: stale)
    with pytest.raises(ConcurrentChangeError):
        store.commit(parse_policies(SHADOW))
    monkeypatch.undo()
    version, policies = store.current()
    assert version == 2
    assert "shadow-carol" not in [p.policy_id for p in policies]


def test_limits_default_update_and_principal_override(store):
    assert store.read_config().limits.to_dict()["global"] == 1000
    store.update_limits(lambda limits: Limits(500, 50, 20, {"bulk-agent": 400}))
    limits = store.read_config().limits
    assert (limits.global_limit, limits.per_principal, limits.per_ip) == (500, 50, 20)
    assert limits.for_principal("bulk-agent") == 400
    assert limits.for_principal("someone") == 50


# --- the handler ------------------------------------------------------------------------------------------


def test_allow_carries_a_receipt_that_verifies(handler, aws):
    answer = handler.lambda_handler(event(), Context())
    assert answer["allowed"] is True
    assert answer["outcome"] == "allow"
    assert answer["policy_ids"] == ["allow-call-reasoning"]
    assert answer["policy_set_version"] == 1
    assert answer["rate_limit"]["remaining"] == 99
    public = aws[1].get_secret_value(SecretId=NAMES.receipt_public_key_secret)["SecretString"]
    receipt = receipts.verify(
        answer["receipt"],
        [receipts.load_public_key(public)],
        principal="alice",
        intent="call_reasoning",
        digest=event()["request_digest"],
        replay_guard=None,
    )
    assert receipt.decision_id == answer["decision_id"]
    (audit,) = handler.audit_events
    assert audit["decision_id"] == answer["decision_id"]
    assert (audit["outcome"], audit["principal"], audit["intent"]) == ("allow", "alice", "call_reasoning")
    assert audit["correlation_id"] == "corr-1"
    assert audit["policy_set_version"] == 1
    assert "receipt" not in audit


def test_forbid_denies_with_its_id_and_no_receipt(handler, store):
    store.commit(parse_policies(FORBID))
    answer = handler.lambda_handler(event("bob"), Context())
    assert (answer["allowed"], answer["outcome"], answer["policy_ids"]) == (False, "deny", ["no-bob"])
    assert "receipt" not in answer
    assert handler.lambda_handler(event("alice"), Context())["allowed"] is True
    assert [e["outcome"] for e in handler.audit_events] == ["deny", "allow"]


def test_shadow_outcome_is_audited_but_not_enforced(handler, store):
    store.commit(parse_policies(SHADOW))
    answer = handler.lambda_handler(event("carol"), Context())
    assert answer["allowed"] is True
    (audit,) = handler.audit_events
    assert audit["outcome"] == "shadow"
    assert audit["enforced_outcome"] == "allow"
    assert audit["shadow"] == {"would_allow": False, "policy_ids": ["shadow-carol"]}


def test_rate_limited_per_ip(handler, store):
    store.set_limits(Limits(1000, 100, 3))
    outcomes = [handler.lambda_handler(event(), Context())["outcome"] for _ in range(4)]
    assert outcomes == ["allow", "allow", "allow", "rate_limited"]
    last = handler.audit_events[-1]
    assert last["outcome"] == "rate_limited"
    assert last["rate_limit"] == {"scope": "ip", "remaining": 0}
    # Another source IP still has its own budget.
    assert handler.lambda_handler(event(source_ip="10.0.0.8"), Context())["outcome"] == "allow"


def test_one_client_cannot_use_up_the_global_limit(handler, store):
    store.commit(parse_policies(FORBID))
    store.set_limits(Limits(20, 5, 1000))
    outcomes = [handler.lambda_handler(event("bob"), Context())["outcome"] for _ in range(30)]
    assert outcomes[:5] == ["deny"] * 5  # counted: bob's calls are refused by the forbid...
    assert set(outcomes[5:]) == {"rate_limited"}  # ...then by his own limit
    answer = handler.lambda_handler(event("alice"), Context())
    assert answer["outcome"] == "allow", answer  # the global budget (20) was not spent on bob's refusals
    assert answer["rate_limit"]["scope"] != "global" or answer["rate_limit"]["remaining"] >= 10


def test_the_configuration_is_read_at_most_once_per_refresh_interval(handler, store, monkeypatch):
    handler.runtime().config_refresh_seconds = 60
    reads = []
    original = store.__class__.read_config
    monkeypatch.setattr(store.__class__, "read_config", lambda self: reads.append(1) or original(self))
    handler.runtime()._config_read = float("-inf")
    for _ in range(5):
        handler.lambda_handler(event(), Context())
    assert len(reads) == 1
    handler.runtime().config_refresh_seconds = 0
    handler.lambda_handler(event(), Context())
    assert len(reads) == 2


def test_the_policy_set_is_parsed_once_per_version(handler, store, monkeypatch):
    handler.lambda_handler(event(), Context())
    loads = []
    original = store.__class__.load
    monkeypatch.setattr(store.__class__, "load", lambda self, v: loads.append(v) or original(self, v))
    for _ in range(3):
        handler.lambda_handler(event(), Context())
    assert loads == []
    store.commit(parse_policies(FORBID))
    handler.lambda_handler(event(), Context())
    assert loads == [2]


@pytest.mark.parametrize(
    "bad",
    [
        None,
        "not json",
        {"principal": "alice"},
        event(intent="bad intent!"),
        event(source_ip="nope"),
        event(request_digest="abc"),
        event(context="not an object"),
    ],
)
def test_invalid_requests_are_denied_as_errors_and_audited(handler, bad):
    answer = handler.lambda_handler(bad, Context())
    assert (answer["allowed"], answer["outcome"]) == (False, "error")
    assert len(handler.audit_events) == 1
    assert handler.audit_events[0]["outcome"] == "error"


def test_rate_limit_store_failure_fails_closed(handler, aws):
    handler.lambda_handler(event(), Context())  # warm
    aws[0].delete_table(TableName=NAMES.rate_limits_table)
    answer = handler.lambda_handler(event(), Context())
    assert (answer["allowed"], answer["outcome"], answer["reason"]) == (False, "error", "Governance error")
    assert "receipt" not in answer
    assert [e["outcome"] for e in handler.audit_events] == ["allow", "error"]


def test_metrics_are_emitted_in_embedded_metric_format(handler, capsys):
    handler.lambda_handler(event(), Context())
    handler.lambda_handler(event("bob", intent="summarize"), Context())
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    assert len(lines) == 2
    namespace = lines[0]["_aws"]["CloudWatchMetrics"][0]["Namespace"]
    assert namespace == f"{NAMES.project}/Governance"
    assert lines[0]["DecisionCount"] == [1.0] or lines[0]["DecisionCount"] == 1.0
    assert "DenialCount" in lines[1]
    assert lines[1]["service"] == "governance"


def test_lambda_package_holds_the_lambda_platform_wheels(tmp_path: Path):
    """make lambda-package: our packages plus manylinux x86_64 / CPython 3.12 builds of the compiled deps."""
    import importlib.util
    import zipfile

    spec = importlib.util.spec_from_file_location("build_lambda", ROOT / "scripts" / "build_lambda.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    with zipfile.ZipFile(module.build(tmp_path / "lambda.zip")) as archive:
        names = archive.namelist()
    assert "governance/handler.py" in names
    assert "agent_runtime/key_rotation.py" in names
    assert any(n.startswith("cedarpy/") and n.endswith("cpython-312-x86_64-linux-gnu.so") for n in names)
    assert any(n.startswith("cryptography/") and n.endswith(".so") for n in names)
    assert not any("__pycache__" in n for n in names)


class FullDisk:
    """A stdout whose device is full: every write fails, as with ENOSPC."""

    def write(self, text: str) -> int:
        raise OSError(28, "No space left on device")

    def flush(self) -> None:
        pass


def test_an_audit_record_that_cannot_be_written_turns_an_allow_into_a_denial(handler, monkeypatch, capsys):
    handler.lambda_handler(event(), Context())  # warm, with a working stdout
    monkeypatch.setattr("sys.stdout", FullDisk())
    answer = handler.lambda_handler(event(), Context())
    monkeypatch.undo()
    assert (answer["allowed"], answer["outcome"]) == (False, "error")
    assert answer["reason"] == "Governance could not write the audit record"
    assert "receipt" not in answer
    failure = [json.loads(line) for line in capsys.readouterr().err.splitlines() if "audit_write_failed" in line]
    assert failure[0]["decision_id"] == answer["decision_id"]
    assert "No space left on device" in failure[0]["error"]


def test_an_audit_record_that_failed_is_never_written_later_as_allowed(handler, monkeypatch, tmp_path):
    """stdout is buffered in a Lambda: a record whose write failed must not sit in the buffer and come out with
    the next one, saying `allow` for a decision that was answered as an error."""
    handler.lambda_handler(event(), Context())  # warm
    descriptor = os.open("/dev/full", os.O_WRONLY)  # every write: ENOSPC
    stream = os.fdopen(descriptor, "w", buffering=8192)
    monkeypatch.setattr("sys.stdout", stream)
    failed = handler.lambda_handler(event(), Context())
    assert failed["outcome"] == "error"
    log_file = tmp_path / "stdout.log"
    working = os.open(log_file, os.O_WRONLY | os.O_CREAT, 0o600)
    os.dup2(working, descriptor)  # the device has room again: same stream, same descriptor
    os.close(working)
    allowed = handler.lambda_handler(event(), Context())
    stream.flush()
    monkeypatch.undo()
    stream.close()
    audited = [json.loads(line) for line in log_file.read_text().splitlines() if '"audit"' in line]
    assert [(a["decision_id"], a["outcome"]) for a in audited] == [(allowed["decision_id"], "allow")]


def test_every_decision_is_logged_with_the_cedar_request_it_evaluated(handler, aws, store):
    import time

    from agent_runtime.decision_log import DecisionLog

    store.commit(
        parse_policies(
            '@id("tools") permit(principal, action in Action::"mcp_tools", resource);\n'
            '@id("cap") forbid(principal, action == Action::"payments___transfer", resource)'
            " when { context.input.amount > 100 };"
        )
    )
    dispatched = handler.lambda_handler(event(), Context())
    unrecorded = handler.lambda_handler(tool_event(), Context())
    recorded = handler.lambda_handler(tool_event(arguments={"amount": 150}), Context())
    assert (unrecorded["outcome"], unrecorded["policy_ids"]) == ("deny", ["cap"])  # the tool call was decided in full
    records = {r.decision_id: r for r in DecisionLog(aws[0], NAMES.decision_log_table).read(time.time() - 60)}
    first = records[dispatched["decision_id"]]
    assert (first.principal, first.action, first.resource) == ("alice", "call_reasoning", ("Service", "axon"))
    assert first.context["user_id"] == "u1"
    assert first.context["source_ip"] == {"__extn": {"fn": "ip", "arg": "10.0.0.7"}}
    assert first.policy_set_version == 2
    without = records[unrecorded["decision_id"]]
    assert without.arguments_recorded is False
    assert "input" not in without.context
    assert without.parents == ("mcp_tools", "target:payments")
    with_arguments = records[recorded["decision_id"]]
    assert with_arguments.arguments_recorded is True
    assert with_arguments.context["input"] == {"amount": 150}
    audited = {e["decision_id"]: e for e in handler.audit_events}
    assert audited[recorded["decision_id"]]["arguments"] == {"amount": 150}
    assert "arguments" not in audited[unrecorded["decision_id"]]


def test_a_decision_log_outage_does_not_change_the_decision(handler, aws):
    handler.lambda_handler(event(), Context())  # warm
    aws[0].delete_table(TableName=NAMES.decision_log_table)
    answer = handler.lambda_handler(event(), Context())
    assert answer["outcome"] == "allow"


def test_a_tool_limit_counts_each_principal_s_calls_of_that_tool(handler, store):
    store.commit(parse_policies('@id("tools") permit(principal, action in Action::"mcp_tools", resource);'))
    store.update_limits(lambda limits: Limits(1000, 100, 1000, tools={"payments___transfer": 2}))
    outcomes = [handler.lambda_handler(tool_event(), Context())["outcome"] for _ in range(3)]
    assert outcomes == ["allow", "allow", "rate_limited"]
    last = handler.audit_events[-1]
    assert last["rate_limit"] == {"scope": "tool", "remaining": 0}
    # Another principal has its own count of the tool; another tool of the same principal is not limited by it.
    assert handler.lambda_handler(tool_event("bob"), Context())["outcome"] == "allow"
    refund = tool_event(tool="refund", request_digest=receipts.tool_call_digest("refund", {"amount": 150}))
    assert handler.lambda_handler(refund, Context())["outcome"] == "allow"
    assert store.read_config().limits.to_dict()["tools"] == {"payments___transfer": 2}
