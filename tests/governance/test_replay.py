"""Replay of recorded decisions against a candidate policy set: the records are the ones the real Governance handler
wrote (in process, against the AWS emulator), so the live side of a replay is checked against what it audited."""

from __future__ import annotations

import random
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest

from agent_runtime import receipts
from agent_runtime.decision_log import DecisionLog, DecisionRecord
from agent_runtime.tools import cedar_schema
from governance.evaluate import DecisionRequest
from governance.policies import CompiledPolicySet, PolicyError, parse_policies
from governance.replay import NO_PERMIT, RATE_LIMITS_NOTE, ReplayFilter, candidate_set, load_candidate, replay
from governance.store import Limits
from tests.conftest import ROOT
from tests.governance.conftest import NAMES, Context, event, tool_event

LIVE = """
@id("tools") permit(principal, action in Action::"mcp_tools", resource);
@id("cap") forbid(principal, action == Action::"payments___transfer", resource) when { context.input.amount > 100 };
@id("no-mallory") forbid(principal == Client::"mallory", action, resource);
"""
BASE_SCHEMA = (ROOT / "governance" / "policies" / "schema.cedarschema").read_text()


@dataclass
class Traffic:
    answers: dict[str, dict]  # label -> Governance's answer
    records: list[DecisionRecord]
    live: CompiledPolicySet

    def ids(self, *labels: str) -> set[str]:
        return {self.answers[label]["decision_id"] for label in labels}

    def record(self, label: str) -> DecisionRecord:
        return next(r for r in self.records if r.decision_id == self.answers[label]["decision_id"])

    def candidate(self, text: str, *, on_top: bool = False) -> CompiledPolicySet:
        policies = candidate_set(parse_policies(text), self.live.policies, on_top=on_top)
        return CompiledPolicySet(self.live.version + 1, policies)


def amount(value: int, *, recorded: bool) -> dict:
    extra = {"arguments": {"amount": value}} if recorded else {}
    digest = receipts.tool_call_digest("transfer", {"amount": value})
    return tool_event(input={"amount": value}, request_digest=digest, **extra)


@pytest.fixture
def traffic(handler, aws, store) -> Traffic:
    store.commit(parse_policies(LIVE))
    started = time.time() - 1
    sent = {
        "alice-reason-1": event("alice"),
        "alice-reason-2": event("alice"),
        "bob-reason-1": event("bob"),
        "bob-reason-2": event("bob"),
        "alice-summarize": event("alice", intent="summarize"),
        "mallory-reason": event("mallory"),
        "transfer-50-recorded": amount(50, recorded=True),
        "transfer-150-recorded": amount(150, recorded=True),
        "transfer-50-unrecorded": amount(50, recorded=False),
        "transfer-150-unrecorded": amount(150, recorded=False),
        "search-unrecorded": tool_event(target="search", tool="query", input={}),
    }
    answers = {label: handler.lambda_handler(body, Context()) for label, body in sent.items()}
    records = list(DecisionLog(aws[0], NAMES.decision_log_table).read(started))
    assert len(records) == len(sent)
    version, policies = store.current()
    return Traffic(answers, records, CompiledPolicySet(version, policies))


def changed_ids(outcome: dict) -> dict[str, set[str]]:
    """policy id -> decision ids of its examples."""
    return {g["policy_id"]: {e["decision_id"] for e in g["examples"]} for g in outcome["by_policy"]}


def test_the_live_side_decides_as_governance_did(traffic, handler):
    """Against an empty candidate every allow becomes a deny with no permit, and nothing else changes: so the
    live side allowed exactly what Governance allowed (the records it could replay)."""
    report = replay(traffic.records, traffic.live, CompiledPolicySet(9, []), examples=20).to_dict()
    allowed = {a["decision_id"] for a in traffic.answers.values() if a["allowed"]}
    unrecorded_transfers = traffic.ids("transfer-50-unrecorded", "transfer-150-unrecorded")
    assert changed_ids(report["allow_to_deny"]) == {NO_PERMIT: allowed - unrecorded_transfers}
    assert report["deny_to_allow"]["count"] == 0
    assert report["not_replayable"]["count"] == 2  # the live "cap" reads the arguments these were recorded without
    assert report["considered"] == len(traffic.records)


def test_an_identical_candidate_changes_nothing(traffic):
    for on_top in (False, True):
        report = replay(traffic.records, traffic.live, traffic.candidate(LIVE + _default(), on_top=on_top))
        assert not report.changed
        assert report.unchanged == report.replayed == len(traffic.records) - 2
        assert report.to_dict()["allow_to_deny"] == {"count": 0, "by_policy": []}


def _default() -> str:
    return (ROOT / "governance" / "policies" / "default" / "base.cedar").read_text()


def test_a_candidate_forbid_shows_exactly_the_decisions_it_affects(traffic):
    candidate = traffic.candidate(
        '@id("no-bob") forbid(principal == Client::"bob", action == Action::"call_reasoning", resource);',
        on_top=True,
    )
    report = replay(traffic.records, traffic.live, candidate).to_dict()
    assert report["allow_to_deny"]["count"] == 2
    assert changed_ids(report["allow_to_deny"]) == {"no-bob": traffic.ids("bob-reason-1", "bob-reason-2")}
    assert report["deny_to_allow"]["count"] == 0
    assert report["unchanged"] == len(traffic.records) - 2 - 2  # two changed, two not replayable
    example = report["allow_to_deny"]["by_policy"][0]["examples"][0]
    assert (example["principal"], example["intent"]) == ("bob", "call_reasoning")
    assert example["time"].endswith("Z")


def test_a_permit_shows_deny_to_allow_and_a_removed_permit_shows_no_permit(traffic):
    permit = '@id("summaries") permit(principal, action == Action::"summarize", resource);'
    report = replay(traffic.records, traffic.live, traffic.candidate(permit, on_top=True)).to_dict()
    assert changed_ids(report["deny_to_allow"]) == {"summaries": traffic.ids("alice-summarize")}
    assert report["allow_to_deny"]["count"] == 0
    # The same file as a whole replacement drops every live permit but its own.
    replaced = replay(traffic.records, traffic.live, traffic.candidate(permit, on_top=False)).to_dict()
    assert changed_ids(replaced["deny_to_allow"]) == {"summaries": traffic.ids("alice-summarize")}
    assert set(changed_ids(replaced["allow_to_deny"])) == {NO_PERMIT}
    assert replaced["allow_to_deny"]["count"] == 6  # 4 reasoning calls, a transfer of 50 and the search call


def test_on_top_replaces_a_policy_of_the_same_id(traffic):
    lower_cap = (
        '@id("cap") forbid(principal, action == Action::"payments___transfer", resource)'
        " when { context.input.amount > 10 };"
    )
    candidate = traffic.candidate(lower_cap, on_top=True)
    assert sorted(p.policy_id for p in candidate.policies) == sorted(p.policy_id for p in traffic.live.policies)
    report = replay(traffic.records, traffic.live, candidate).to_dict()
    assert changed_ids(report["allow_to_deny"]) == {"cap": traffic.ids("transfer-50-recorded")}


def test_shadow_candidates_are_not_enforced_but_reported(traffic):
    shadow = '@id("shadow-no-alice") @mode("shadow") forbid(principal == Client::"alice", action, resource);'
    report = replay(traffic.records, traffic.live, traffic.candidate(shadow, on_top=True)).to_dict()
    assert not report["changed"]
    would = changed_ids({"by_policy": report["shadow"]["by_policy"]})
    assert list(would) == ["shadow-no-alice"]
    assert report["shadow"]["count"] == 4  # alice's two reasoning calls, her recorded transfer of 50, her search
    assert traffic.ids("alice-reason-1") <= would["shadow-no-alice"]


def test_tool_calls_without_recorded_arguments_are_not_replayable_where_a_policy_reads_them(traffic):
    # A candidate that reads the arguments: the recorded calls replay, the unrecorded transfers cannot.
    cap_50 = (
        '@id("cap") forbid(principal, action == Action::"payments___transfer", resource)'
        " when { context.input.amount >= 50 };"
    )
    report = replay(traffic.records, traffic.live, traffic.candidate(cap_50, on_top=True)).to_dict()
    assert changed_ids(report["allow_to_deny"]) == {"cap": traffic.ids("transfer-50-recorded")}
    assert report["not_replayable"]["count"] == 2
    assert changed_ids(report["not_replayable"]) == {
        "cap": traffic.ids("transfer-50-unrecorded", "transfer-150-unrecorded")
    }
    # The search call was not recorded with arguments either, but no policy that reads them applies to it.
    assert report["replayed"] == len(traffic.records) - 2


def test_a_candidate_that_does_not_read_arguments_replays_unrecorded_tool_calls(traffic):
    no_payments = (
        '@id("tools") permit(principal, action in Action::"mcp_tools", resource);\n'
        '@id("no-payments") forbid(principal, action in Action::"target:payments", resource);\n' + _default()
    )
    live = CompiledPolicySet(traffic.live.version, parse_policies(no_payments.replace("forbid", "permit")))
    report = replay(traffic.records, live, traffic.candidate(no_payments), examples=10).to_dict()
    transfers = traffic.ids(
        "transfer-50-recorded", "transfer-150-recorded", "transfer-50-unrecorded", "transfer-150-unrecorded"
    )
    assert report["not_replayable"]["count"] == 0
    assert changed_ids(report["allow_to_deny"]) == {"no-payments": transfers}
    assert report["allow_to_deny"]["count"] == 4


def test_time_dependent_policies_replay_on_the_recorded_time(handler):
    """Records made at 03:00 and 12:00 UTC: an office-hours rule changes the night one only, whenever it is run."""
    request = DecisionRequest.from_event(event("alice"))
    night, noon = (datetime(2026, 3, 2, hour, 0, tzinfo=UTC).timestamp() for hour in (3, 12))
    records = [handler.decision_record(str(uuid.uuid4()), request, 1, at) for at in (night, noon)]
    live = CompiledPolicySet(1, parse_policies(_default()))
    office_hours = '@id("office-hours") forbid(principal, action, resource) unless { context.hour_utc >= 8 };'
    report = replay(records, live, CompiledPolicySet(2, parse_policies(_default() + office_hours))).to_dict()
    assert changed_ids(report["allow_to_deny"]) == {"office-hours": {records[0].decision_id}}
    assert report["allow_to_deny"]["by_policy"][0]["examples"][0]["time"] == "2026-03-02T03:00:00.000Z"
    before_noon = f'@id("morning") forbid(principal, action, resource) when {{ context.time < {int(noon)} }};'
    report = replay(records, live, CompiledPolicySet(2, parse_policies(_default() + before_noon))).to_dict()
    assert changed_ids(report["allow_to_deny"]) == {"morning": {records[0].decision_id}}


def test_an_evaluation_error_in_the_candidate_denies(traffic):
    broken = (
        '@id("needs-attr") forbid(principal, action == Action::"call_reasoning", resource) when { context.x == 1 };'
    )
    report = replay(traffic.records, traffic.live, traffic.candidate(broken, on_top=True), examples=9).to_dict()
    assert changed_ids(report["allow_to_deny"]) == {
        "needs-attr": traffic.ids("alice-reason-1", "alice-reason-2", "bob-reason-1", "bob-reason-2")
    }


def test_filters_select_records(traffic):
    everything = traffic.candidate("")  # no policy: every allow becomes a deny

    def considered(**filters) -> int:
        return replay(traffic.records, traffic.live, everything, filters=ReplayFilter(**filters)).considered

    assert considered(principal="bob") == 2
    assert considered(intent="call_reasoning") == 5
    assert considered(intent="payments___transfer") == 4
    assert considered(intent="target:search") == 1
    assert considered(intent="mcp_tools") == 5
    assert considered(principal="alice", intent="summarize") == 1
    last = max(r.at for r in traffic.records)
    assert considered(since=last) == 1
    assert considered(until=last - 1e-3) == len(traffic.records) - 1
    assert considered(since=last + 1) == 0


def test_examples_are_the_earliest_few_whatever_the_reading_order(traffic):
    base = traffic.record("alice-reason-1")
    records = [
        DecisionRecord(**{**base.__dict__, "decision_id": f"d-{i:03d}", "at": 1_700_000_000 + i}) for i in range(40)
    ]
    candidate = CompiledPolicySet(2, [])
    expected = replay(records, traffic.live, candidate).to_dict()
    shuffled = records[:]
    random.Random(3).shuffle(shuffled)
    assert replay(shuffled, traffic.live, candidate).to_dict() == expected
    (group,) = expected["allow_to_deny"]["by_policy"]
    assert group["count"] == 40
    assert [e["decision_id"] for e in group["examples"]] == ["d-000", "d-001", "d-002"]


def test_rate_limits_are_not_replayed_and_the_report_says_so(handler, aws, store):
    store.set_limits(Limits(1000, 100, 2))
    started = time.time() - 1
    outcomes = [handler.lambda_handler(event(), Context())["outcome"] for _ in range(3)]
    assert outcomes == ["allow", "allow", "rate_limited"]
    records = list(DecisionLog(aws[0], NAMES.decision_log_table).read(started))
    live = CompiledPolicySet(1, store.load(1))
    report = replay(records, live, live).to_dict()
    assert (report["considered"], report["unchanged"], report["changed"]) == (3, 3, False)
    assert report["rate_limits"] == RATE_LIMITS_NOTE
    forbid_all = CompiledPolicySet(2, parse_policies('@id("none") forbid(principal, action, resource);'))
    assert replay(records, live, forbid_all).allow_to_deny.count == 3  # the limited one decided as within limits


def test_records_decided_under_another_version_are_counted(traffic, store):
    store.commit(parse_policies('@id("extra") permit(principal, action == Action::"plan", resource);'))
    version, policies = store.current()
    report = replay(traffic.records, CompiledPolicySet(version, policies), traffic.candidate(""))
    assert report.other_versions == len(traffic.records)


def test_a_candidate_with_a_syntax_error_is_refused_with_file_and_line(tmp_path: Path):
    (tmp_path / "ok.cedar").write_text(_default())
    (tmp_path / "broken.cedar").write_text('\n\n@id("oops")\nforbid(principal, action, resource) when { };\n')
    with pytest.raises(PolicyError) as raised:
        load_candidate(tmp_path, cedar_schema(BASE_SCHEMA, []))
    (problem,) = raised.value.problems
    assert (Path(problem.source).name, problem.line, problem.policy_id) == ("broken.cedar", 3, "oops")
    assert str(problem).startswith(f"{tmp_path / 'broken.cedar'}:3: oops: syntax error")


def test_a_candidate_invalid_against_the_schema_is_refused(tmp_path: Path):
    (tmp_path / "c.cedar").write_text(
        '@id("typo") forbid(principal, action == Action::"call_reasoning", resource) when { context.usr == "x" };'
    )
    with pytest.raises(PolicyError, match=r"c\.cedar:1: typo"):
        load_candidate(tmp_path / "c.cedar", cedar_schema(BASE_SCHEMA, []))
