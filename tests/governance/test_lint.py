"""Lint findings: overridden permits, names that do not exist, stale shadow policies, duplicates."""

from __future__ import annotations

from datetime import UTC, timedelta

import pytest

from agent_runtime.tools import Target, Tool, cedar_schema
from governance.lint import ERROR, WARNING, has_errors, lint
from governance.policies import parse_policies
from tests.conftest import ROOT

BASE_SCHEMA = (ROOT / "governance" / "policies" / "schema.cedarschema").read_text()
TRANSFER = Tool("payments", "transfer", "Move money", {"type": "object", "properties": {"amount": {"type": "integer"}}})
REFUND = Tool("payments", "refund", "Refund", {"type": "object", "properties": {}})
PAYMENTS = Target("payments", "http://payments.internal/mcp", tools=(TRANSFER, REFUND))
SCHEMA = cedar_schema(BASE_SCHEMA, [PAYMENTS])


def findings(text: str, **known):
    return lint(parse_policies(text, "set.cedar"), SCHEMA, **known)


def overridden(permit: str, *forbids: str) -> list[str]:
    text = f'@id("p") {permit};\n' + "".join(f'@id("f{i}") {forbid};\n' for i, forbid in enumerate(forbids))
    return [f.message for f in findings(text) if f.code == "overridden-permit"]


@pytest.mark.parametrize(
    ("permit", "forbid", "always"),
    [
        # == principals: the same one, or a forbid for one principal against a permit for everyone
        (
            'permit(principal == Client::"bob", action == Action::"call_reasoning", resource)',
            'forbid(principal == Client::"bob", action, resource)',
            True,
        ),
        (
            'permit(principal, action == Action::"call_reasoning", resource)',
            'forbid(principal == Client::"bob", action, resource)',
            False,
        ),
        # `is` and `is ... in`
        (
            'permit(principal == Client::"bob", action == Action::"call_reasoning", resource)',
            'forbid(principal is Client in Client::"bob", action, resource)',
            True,
        ),
        (
            'permit(principal, action == Action::"call_reasoning", resource)',
            "forbid(principal is Client, action, resource is Service)",
            True,
        ),
        # unconstrained scopes: a forbid over everything; a forbid over Service::"axon" leaves the tools
        ("permit(principal, action, resource)", "forbid(principal, action, resource)", True),
        ("permit(principal, action, resource)", 'forbid(principal, action, resource == Service::"axon")', False),
        (
            'permit(principal, action == Action::"call_reasoning", resource == Service::"axon")',
            "forbid(principal, action, resource)",
            True,
        ),
        # action groups: mcp_tools holds every target group, a target group holds its tools (and tools added later)
        (
            'permit(principal, action in Action::"target:payments", resource)',
            'forbid(principal, action in Action::"mcp_tools", resource)',
            True,
        ),
        (
            'permit(principal, action in Action::"mcp_tools", resource)',
            'forbid(principal, action in Action::"target:payments", resource)',
            False,
        ),
        (
            'permit(principal, action == Action::"payments___transfer", resource)',
            'forbid(principal, action in Action::"target:payments", resource)',
            True,
        ),
        (
            'permit(principal, action in Action::"target:payments", resource)',
            'forbid(principal, action in [Action::"payments___transfer", Action::"payments___refund"], resource)',
            False,  # a tool synced later would be allowed
        ),
        (
            'permit(principal, action in Action::"target:payments", resource)',
            'forbid(principal, action, resource == Target::"payments")',
            True,
        ),
        (
            'permit(principal, action in Action::"mcp_tools", resource)',
            "forbid(principal, action, resource is Service)",
            False,
        ),
        # action lists
        (
            'permit(principal, action in [Action::"call_reasoning", Action::"summarize"], resource)',
            'forbid(principal, action == Action::"call_reasoning", resource)',
            False,
        ),
        (
            'permit(principal, action in [Action::"call_reasoning", Action::"summarize"], resource)',
            'forbid(principal, action in [Action::"summarize", Action::"plan", Action::"call_reasoning"], resource)',
            True,
        ),
        (
            "permit(principal, action, resource)",
            'forbid(principal, action in [Action::"call_reasoning", Action::"summarize", Action::"classify", '
            'Action::"plan", Action::"execute_tool", Action::"mcp_tools"], resource)',
            False,  # an intent declared later would be allowed
        ),
        # what never overrides: a forbid with a condition, a shadow forbid
        (
            'permit(principal == Client::"bob", action, resource)',
            "forbid(principal, action, resource) when { context.hour_utc > 25 }",
            False,
        ),
        (
            'permit(principal == Client::"bob", action, resource)',
            '@mode("shadow") forbid(principal, action, resource)',
            False,
        ),
    ],
)
def test_a_permit_that_a_forbid_always_overrides(permit, forbid, always):
    assert bool(overridden(permit, forbid)) is always


def test_several_forbids_together_can_override_a_permit_and_are_named():
    permit = 'permit(principal == Client::"bob", action in [Action::"call_reasoning", Action::"summarize"], resource)'
    (message,) = overridden(
        permit,
        'forbid(principal, action == Action::"call_reasoning", resource)',
        'forbid(principal == Client::"bob", action == Action::"summarize", resource)',
    )
    assert "f0 (set.cedar:2), f1 (set.cedar:3)" in message
    assert overridden(permit, 'forbid(principal, action == Action::"call_reasoning", resource)') == []


def test_a_shadow_permit_that_an_enforced_forbid_overrides_is_flagged():
    (finding,) = [
        f
        for f in findings(
            '@id("try-bob") @mode("shadow") permit(principal == Client::"bob", action, resource);\n'
            '@id("no-bob") forbid(principal == Client::"bob", action, resource);'
        )
        if f.code == "overridden-permit"
    ]
    assert (finding.level, finding.policy_id, finding.source, finding.line) == (ERROR, "try-bob", "set.cedar", 1)


def test_scopes_that_name_what_does_not_exist():
    text = "\n".join(
        [
            '@id("ghost") forbid(principal == Client::"ghots", action, resource);',
            '@id("intent") permit(principal, action == Action::"launch", resource);',
            '@id("group") permit(principal, action in Action::"target:nope", resource);',
            '@id("tool") permit(principal, action == Action::"payments___nope", resource);',
            '@id("target") permit(principal, action, resource == Target::"nope");',
            '@id("service") permit(principal, action == Action::"plan", resource == Service::"other");',
            '@id("fine") permit(principal == Client::"alice", action in Action::"target:axon", '
            'resource == Target::"axon");',
        ]
    )
    found = findings(text, principals={"alice", "bob"}, targets={"payments"})
    by_id = {(f.policy_id, f.code): f for f in found}
    assert by_id[("ghost", "unknown-principal")].message.startswith('no client has the principal "ghots"')
    assert 'no intent "launch"' in by_id[("intent", "unknown-action")].message
    assert 'no target "nope" in the schema' in by_id[("group", "unknown-action")].message
    assert 'no tool "payments___nope"' in by_id[("tool", "unknown-action")].message
    assert 'no target "nope" is stored' in by_id[("target", "unknown-target")].message
    assert "never asked about" in by_id[("service", "unknown-target")].message
    assert by_id[("ghost", "unknown-principal")].line == 1
    assert not any(f.policy_id == "fine" for f in found)
    # An unknown action is said once, not again as the schema's "unrecognized action".
    assert [f.code for f in found if f.policy_id == "intent"] == ["unknown-action"]
    assert all(f.level == ERROR for f in found)
    # Without the known principals and targets, those are not checked; the schema still knows its actions.
    unchecked = {(f.policy_id, f.code) for f in findings(text)}
    assert ("ghost", "unknown-principal") not in unchecked
    assert ("target", "unknown-target") not in unchecked
    assert ("tool", "unknown-action") in unchecked


def test_schema_problems_are_errors_with_their_line():
    found = findings('\n@id("typo") forbid(principal, action == Action::"plan", resource) when { context.usr == "" };')
    (finding,) = found
    assert (finding.level, finding.code, finding.policy_id, finding.line) == (ERROR, "invalid", "typo", 2)
    assert str(finding).startswith("set.cedar:2: error: typo:")


def test_a_shadow_policy_older_than_the_allowed_age(store):
    shadow = '@id("maybe") @mode("shadow") forbid(principal == Client::"bob", action, resource);'
    enforced = '@id("no-carol") forbid(principal == Client::"carol", action, resource);'
    store.commit(parse_policies(shadow + enforced))
    stored = store.first_stored(store.load(2))
    # Pushing the same text again (with another change) keeps the time it was first stored.
    store.commit(parse_policies(shadow + '@id("extra") permit(principal, action == Action::"plan", resource);'))
    assert store.first_stored(store.load(3))["maybe"] == stored["maybe"]
    policies = store.load(3)
    assert {p.policy_id: p.line for p in policies} == {"allow-call-reasoning": 4, "extra": 1, "maybe": 1, "no-carol": 1}
    later = stored["maybe"].astimezone(UTC) + timedelta(days=15)
    (finding,) = lint(policies, SCHEMA, first_stored=stored, now=later)
    assert (finding.level, finding.code, finding.policy_id) == (WARNING, "stale-shadow", "maybe")
    assert "15 days, more than 14d" in finding.message
    assert lint(policies, SCHEMA, first_stored=stored, now=later, shadow_max_age=timedelta(days=30)) == []
    assert lint(policies, SCHEMA, first_stored=stored, now=later - timedelta(days=2)) == []
    assert not has_errors([finding])


def test_policies_with_the_same_effect_and_text_apart_from_annotations():
    text = (
        '@id("a") @description("one") permit(principal, action == Action::"plan", resource);\n'
        '@id("b") @description("two")\npermit(\n  principal,\n  action == Action::"plan",\n  resource\n);\n'
        '@id("c") forbid(principal, action == Action::"plan", resource) when { context.hour_utc < 1 };\n'
        '@id("d") permit(principal, action == Action::"plan", resource) when { context.hour_utc < 1 };\n'
    )
    (finding,) = findings(text)
    assert (finding.level, finding.code, finding.policy_id, finding.line) == (WARNING, "duplicate", "b", 2)
    assert "same effect and text as a (set.cedar:1)" in finding.message


def test_a_clean_set_has_no_findings_and_the_repository_sets_are_clean():
    assert findings('@id("ok") permit(principal, action == Action::"plan", resource);') == []
    from governance.policies import load_policy_path

    for folder in ("default", "examples"):
        policies = load_policy_path(ROOT / "governance" / "policies" / folder)
        assert lint(policies, SCHEMA, targets=set()) == [], folder


def test_exit_worthiness_is_any_error():
    assert has_errors(findings('@id("x") permit(principal, action == Action::"launch", resource);'))
    assert not has_errors([])
