"""Cedar policies: parsing with locations, validation, and the decision semantics (pure, no AWS)."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from pathlib import Path

import pytest

from governance.evaluate import DecisionRequest, evaluate
from governance.policies import CompiledPolicySet, PolicyError, load_policy_path, parse_policies, validate
from governance.rate_limits import RateLimitResult
from tests.conftest import ROOT

SCHEMA = (ROOT / "governance" / "policies" / "schema.cedarschema").read_text()
NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
OPEN = RateLimitResult(True, 100, 99, 0, "global")

PERMIT = '@id("allow")\npermit(principal, action == Action::"call_reasoning", resource == Service::"axon");\n'
FORBID_BOB = '@id("no-bob")\nforbid(principal == Client::"bob", action == Action::"call_reasoning", resource);\n'


def request(principal: str = "alice", intent: str = "call_reasoning", **context: str) -> DecisionRequest:
    return DecisionRequest.from_event(
        {
            "principal": principal,
            "intent": intent,
            "context": context,
            "source_ip": context.get("ip", "10.0.0.1"),
            "correlation_id": "c",
            "request_digest": "0" * 64,
        }
    )


def decide(text: str, req: DecisionRequest, now: datetime = NOW):
    return evaluate(req, CompiledPolicySet(1, parse_policies(text)), OPEN, now=now, environment="test")


def test_split_reports_the_line_of_each_policy():
    text = (
        "// comment; with a semicolon\n\n"
        + PERMIT
        + '\n@id("semi")\n@description("a; b")\n'
        + (FORBID_BOB.split("\n", 1)[1])
    )
    policies = parse_policies(text, "f.cedar")
    assert [(p.policy_id, p.line) for p in policies] == [("allow", 3), ("semi", 6)]
    assert policies[1].description == "a; b"


def test_syntax_error_names_file_line_and_id():
    text = PERMIT + '\n@id("broken")\npermit(principal, action, resource) when { context.user_id == };\n'
    with pytest.raises(PolicyError) as raised:
        parse_policies(text, "bad.cedar")
    (problem,) = raised.value.problems
    assert (problem.source, problem.line, problem.policy_id) == ("bad.cedar", 4, "broken")
    assert "syntax error" in problem.reason
    assert str(problem).startswith("bad.cedar:4: broken:")


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("permit(principal, action, resource);", "needs an @id"),
        ('@id("has space")\npermit(principal, action, resource);', "@id must be"),
        ('@id("m")\n@mode("loud")\npermit(principal, action, resource);', "@mode must be"),
        ('@id("t")\npermit(principal == ?principal, action, resource);', "templates"),
    ],
)
def test_structural_problems(text, reason):
    with pytest.raises(PolicyError) as raised:
        parse_policies(text)
    assert reason in str(raised.value)


def test_validation_points_to_policy_line_and_reason(tmp_path: Path):
    (tmp_path / "a.cedar").write_text(PERMIT)
    (tmp_path / "b.cedar").write_text(
        '\n\n@id("typo")\nforbid(principal, action == Action::"call_reasoning", resource) '
        'when { context.user == "x" };\n'
        '@id("nope")\npermit(principal, action == Action::"launch_missiles", resource);\n'
    )
    policies = load_policy_path(tmp_path)
    problems = validate(policies, SCHEMA)
    found = {(p.policy_id, p.line, Path(p.source).name) for p in problems}
    assert ("typo", 3, "b.cedar") in found
    assert ("nope", 5, "b.cedar") in found
    assert any("user" in p.reason for p in problems)


def test_duplicate_ids_across_files(tmp_path: Path):
    (tmp_path / "a.cedar").write_text(PERMIT)
    (tmp_path / "b.cedar").write_text(PERMIT)
    with pytest.raises(PolicyError, match="duplicate @id"):
        load_policy_path(tmp_path)


def test_default_deny():
    decision = decide(PERMIT, request(intent="summarize"))
    assert not decision.allowed
    assert decision.reason == "No policy permits this request"
    assert decision.policy_ids == []


def test_forbid_beats_permit_for_exactly_that_principal():
    text = PERMIT + FORBID_BOB
    denied = decide(text, request("bob"))
    assert not denied.allowed
    assert denied.policy_ids == ["no-bob"]
    assert "no-bob" in denied.reason
    allowed = decide(text, request("alice"))
    assert allowed.allowed
    assert allowed.policy_ids == ["allow"]


def test_an_evaluation_error_denies_even_where_a_permit_applies():
    # Cedar would skip the erroring forbid and allow: we refuse to fail open.
    text = PERMIT + '@id("needs-attr")\nforbid(principal, action, resource) when { context.missing == "x" };\n'
    decision = decide(text, request())
    assert not decision.allowed
    assert decision.policy_ids == ["needs-attr"]
    assert decision.reason == "Policy evaluation error"


def test_context_time_and_ip_are_usable_in_policies():
    text = (
        '@id("office")\npermit(principal, action == Action::"call_reasoning", resource) '
        'when { context.hour_utc >= 8 && context.hour_utc < 18 && context.source_ip.isInRange(ip("10.0.0.0/8")) };'
    )
    assert decide(text, request(ip="10.9.9.9")).allowed
    assert not decide(text, request(ip="192.168.1.1")).allowed
    assert not decide(text, request(ip="10.9.9.9"), now=NOW.replace(hour=22)).allowed


def test_shadow_policy_never_changes_the_outcome_but_is_reported():
    text = PERMIT + '@id("shadow-no-alice")\n@mode("shadow")\nforbid(principal == Client::"alice", action, resource);'
    decision = decide(text, request("alice"))
    assert decision.allowed
    assert decision.shadow == {"would_allow": False, "policy_ids": ["shadow-no-alice"]}
    assert decide(text, request("carol")).shadow is None  # the shadow rule agrees: nothing to report


def test_rate_limit_decides_first():
    limited = RateLimitResult(False, 5, 0, 60, "ip")
    decision = evaluate(request(), CompiledPolicySet(1, parse_policies(PERMIT)), limited, now=NOW, environment="t")
    assert (decision.outcome, decision.allowed, decision.reason) == ("rate_limited", False, "Rate limit exceeded")


def test_slicing_never_changes_a_decision():
    """Random policy sets: the sliced evaluation equals Cedar's evaluation of the whole set."""
    rng = random.Random(7)
    principals = ["alice", "bob", "carol", "dave"]
    intents = ["call_reasoning", "summarize", "plan", "classify"]
    for round_ in range(25):
        lines = []
        for i in range(rng.randint(1, 12)):
            effect = rng.choice(["permit", "permit", "forbid"])
            who = rng.choice(["principal", f'principal == Client::"{rng.choice(principals)}"'])
            what = rng.choice(
                [
                    "action",
                    f'action == Action::"{rng.choice(intents)}"',
                    f'action in [Action::"{rng.choice(intents)}", Action::"{rng.choice(intents)}"]',
                ]
            )
            when = rng.choice(["", ' when { context.user_id == "u1" }', " when { context.hour_utc < 12 }"])
            lines.append(f'@id("p{round_}-{i}")\n{effect}({who}, {what}, resource){when};')
        policies = parse_policies("\n".join(lines))
        sliced = CompiledPolicySet(1, policies)
        whole = CompiledPolicySet(1, policies)
        whole._slice = lambda _p, _i, _m, _whole=whole: _full_handle(_whole)
        for principal in principals:
            for intent in intents:
                for user in ("u1", "u2"):
                    req = request(principal, intent, user_id=user)
                    context = req.cedar_context(NOW, "t")
                    assert sliced.evaluate(principal, intent, context) == whole.evaluate(principal, intent, context)


def _full_handle(policy_set: CompiledPolicySet):
    import json

    import cedarpy

    chosen = {p.policy_id: p.json for p in policy_set.policies if p.mode == "enforce"}
    return cedarpy.PolicySet.from_json_str(json.dumps({"staticPolicies": chosen, "templates": {}, "templateLinks": []}))


def test_repository_policies_are_valid():
    for folder in ("default", ""):
        policies = load_policy_path(ROOT / "governance" / "policies" / folder)
        assert validate(policies, SCHEMA) == []
