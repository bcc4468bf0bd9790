"""The work behind `policy test` and the policy checks, without an environment: tool-call cases typed by their
tool, which policies need the environment's tools for their schema, and the values of the options."""

from __future__ import annotations

from datetime import timedelta

import pytest

from agent_runtime.tools import Target, Tool
from agentctl.ops import policy as ops
from agentctl.ops.errors import Refused
from governance.policies import parse_policies

PAYMENTS = Target(
    "payments",
    "http://payments.invalid/mcp",
    tools=(
        Tool(
            "payments",
            "transfer",
            "Move money",
            {
                "type": "object",
                "properties": {"amount": {"type": "number"}, "to": {"type": "string"}},
                "required": ["amount", "to"],
            },
        ),
    ),
)
POLICIES = parse_policies(
    '@id("small")\npermit(principal, action == Action::"payments___transfer", resource)\n'
    '  when { context.input.amount.lessThanOrEqual(decimal("100.5")) };\n'
    '@id("reason")\npermit(principal == Client::"a", action == Action::"axon___reason", resource);\n'
)


def _case(**fields: object) -> dict:
    return {"name": "case", "principal": "a", **fields}


def test_tool_cases_are_decided_on_their_typed_arguments():
    cases = [
        _case(tool="payments___transfer", arguments={"amount": 100.5, "to": "x"}, expect="allow", policy_ids=["small"]),
        _case(tool="payments___transfer", arguments={"amount": 100.75, "to": "x"}, expect="deny"),
        _case(tool="axon___reason", arguments={"prompt": "hi"}, expect="allow"),  # the built-in target
        _case(intent="call_reasoning", expect="deny"),
    ]
    results = ops.run_cases(cases, POLICIES, targets=[PAYMENTS])
    assert [(r.passed, r.actual) for r in results] == [(True, "allow"), (True, "deny"), (True, "allow"), (True, "deny")]


@pytest.mark.parametrize(
    ("case", "detail"),
    [
        (_case(tool="payments___refund", expect="deny"), "no tool 'payments___refund' is stored"),
        (_case(tool="payments___transfer", intent="plan", expect="deny"), "an intent or a tool call, not both"),
        (_case(tool="payments___transfer", arguments=[1], expect="deny"), "arguments must be a mapping"),
        (_case(tool="payments___transfer", arguments={"amount": 0.00001, "to": "x"}, expect="deny"), "input.amount"),
    ],
)
def test_a_tool_case_that_cannot_be_decided_says_why(case, detail):
    (result,) = ops.run_cases([case], POLICIES, targets=[PAYMENTS])
    assert (result.passed, result.actual) == (False, "invalid")
    assert detail in result.detail


def test_only_policies_over_tools_need_the_environments_tools():
    assert ops.names_tools(POLICIES)
    assert ops.names_tools(parse_policies('@id("g")\npermit(principal, action in Action::"mcp_tools", resource);'))
    assert ops.names_tools(parse_policies('@id("t")\npermit(principal, action, resource == Target::"x");'))
    assert not ops.names_tools(parse_policies('@id("i")\npermit(principal, action == Action::"plan", resource);'))
    assert ops.case_tools([_case(tool="payments___transfer")])
    assert not ops.case_tools([_case(intent="plan"), "not a mapping"])


def test_option_values():
    assert ops.tool_filter("payments___transfer") == "payments___transfer"
    assert ops.tool_filter("payments") == "target:payments"
    assert ops.parse_age("14d", "--shadow-max-age") == timedelta(days=14)
    assert ops.parse_age("90m", "--shadow-max-age") == timedelta(minutes=90)
    for bad in ("0d", "2 weeks", "-1d", ""):
        with pytest.raises(Refused, match="--shadow-max-age"):
            ops.parse_age(bad, "--shadow-max-age")
    with pytest.raises(Refused, match="--tool"):
        ops.tool_filter("Payments Transfer")
