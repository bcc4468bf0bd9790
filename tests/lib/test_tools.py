"""MCP targets and tools: the store (moto), and tool arguments as Cedar types and values that policies can be
validated against and that evaluate as the arguments mean."""

from __future__ import annotations

from pathlib import Path

import boto3
import cedarpy
import pytest
from moto import mock_aws

from agent_runtime.names import Names
from agent_runtime.tables import table_definitions
from agent_runtime.tools import (
    ArgumentError,
    Target,
    Tool,
    ToolStore,
    ToolStoreError,
    cedar_input,
    cedar_schema,
    cedar_type,
    check_target_name,
    split_tool_action,
)
from tests.conftest import ROOT

BASE = (ROOT / "governance" / "policies" / "schema.cedarschema").read_text()
TRANSFER = Tool(
    "payments",
    "transfer",
    "Move money",
    {
        "type": "object",
        "properties": {
            "amount": {"type": "integer"},
            "currency": {"type": "string", "enum": ["EUR", "USD"]},
            "rate": {"type": "number"},
            "tags": {"type": "array", "items": {"type": "string"}},
            "to": {"$ref": "#/$defs/account"},
            "memo": {"anyOf": [{"type": "string"}, {"type": "integer"}]},
            "reference-id": {"type": ["string", "null"]},
        },
        "required": ["amount", "to"],
        "$defs": {"account": {"type": "object", "properties": {"iban": {"type": "string"}}, "required": ["iban"]}},
    },
)
TARGET = Target("payments", "http://127.0.0.1:1/mcp", tools=(TRANSFER,))


def test_types_follow_the_input_schema():
    assert cedar_type({"type": "integer"}) == "Long"
    assert cedar_type({"type": ["number", "null"]}) == "decimal"
    assert cedar_type({"enum": ["a", "b"]}) == "String"
    assert cedar_type({"type": "array", "items": {"type": "boolean"}}) == "Set<Bool>"
    assert cedar_type({"type": "array"}) is None  # items of no type: nothing a policy could reason about
    assert cedar_type({"anyOf": [{"type": "string"}]}) is None
    record = cedar_type(TRANSFER.input_schema)
    assert record == (
        '{amount: Long, currency?: String, rate?: decimal, "reference-id"?: String, tags?: Set<String>, '
        "to: {iban: String}}"
    )


def test_the_generated_schema_validates_policies_over_arguments():
    schema = cedar_schema(BASE, [TARGET])
    good = """
@id("big-transfers") forbid(principal, action == Action::"payments___transfer", resource)
  when { context.input.amount > 100 };
@id("eur-only") forbid(principal, action in Action::"target:payments", resource)
  when { context.input has currency && context.input.currency != "EUR" };
@id("all-tools") permit(principal, action in Action::"mcp_tools", resource is Target);
@id("dispatch-still-works") permit(principal, action == Action::"call_reasoning", resource);
"""
    result = cedarpy.validate_policies(good, schema)
    assert result.validation_passed, [e.error for e in result.errors]
    for bad, why in [
        ("when { context.input.amout > 100 }", "amout"),  # an argument the tool does not have
        ('when { context.input.currency == "EUR" }', "currency"),  # optional: needs `has`
        ('when { context.input.memo == "x" }', "memo"),  # no Cedar type: no policy can name it
    ]:
        policy = f'@id("x") forbid(principal, action == Action::"payments___transfer", resource) {bad};'
        result = cedarpy.validate_policies(policy, schema)
        assert not result.validation_passed
        assert why in " ".join(e.error for e in result.errors)


def _decide(policy: str, arguments: dict) -> bool:
    request = {
        "principal": {"type": "Client", "id": "agent"},
        "action": {"type": "Action", "id": "payments___transfer"},
        "resource": {"type": "Target", "id": "payments"},
        "context": {"input": cedar_input(TRANSFER, arguments)},
    }
    entities = [
        {
            "uid": {"type": "Action", "id": "payments___transfer"},
            "attrs": {},
            "parents": [{"type": "Action", "id": "mcp_tools"}, {"type": "Action", "id": "target:payments"}],
        }
    ]
    permit = '@id("p") permit(principal, action in Action::"mcp_tools", resource);\n'
    return cedarpy.is_authorized(request, permit + policy, entities).decision == cedarpy.Decision.Allow


def test_values_evaluate_as_the_arguments_mean():
    limit = '@id("f") forbid(principal, action, resource) when { context.input.amount > 100 };'
    assert _decide(limit, {"amount": 100, "to": {"iban": "X"}})
    assert not _decide(limit, {"amount": 101, "to": {"iban": "X"}})
    assert not _decide(limit, {"amount": 101.0, "to": {"iban": "X"}})  # an integral float is the integer
    rate = (
        '@id("r") forbid(principal, action, resource) '
        'when { context.input has rate && context.input.rate.greaterThan(decimal("1.5")) };'
    )
    assert _decide(rate, {"amount": 1, "rate": 1.5, "to": {"iban": "X"}})
    assert not _decide(rate, {"amount": 1, "rate": 1.5001, "to": {"iban": "X"}})
    tags = (
        '@id("t") forbid(principal, action, resource) '
        'when { context.input has tags && context.input.tags.contains("urgent") };'
    )
    assert not _decide(tags, {"amount": 1, "tags": ["urgent", "x"], "to": {"iban": "X"}})
    assert cedar_input(TRANSFER, {"amount": 1, "to": {"iban": "X"}, "memo": 3, "extra": 1}) == {
        "amount": 1,
        "to": {"iban": "X"},
    }


@pytest.mark.parametrize(
    ("arguments", "path"),
    [
        ({"amount": 2**63, "to": {"iban": "X"}}, "input.amount"),
        ({"amount": 1, "rate": 0.12345, "to": {"iban": "X"}}, "input.rate"),
        ({"amount": 1, "rate": 1e20, "to": {"iban": "X"}}, "input.rate"),
        ({"amount": 1.5, "to": {"iban": "X"}}, "input.amount"),
    ],
)
def test_values_policies_cannot_hold_exactly_are_refused_not_rounded(arguments, path):
    with pytest.raises(ArgumentError) as raised:
        cedar_input(TRANSFER, arguments)
    assert raised.value.path == path


def test_names():
    assert split_tool_action("payments___transfer") == ("payments", "transfer")
    assert split_tool_action("payments__transfer") is None
    assert split_tool_action("Payments___x") is None
    with pytest.raises(ToolStoreError, match="built-in"):
        check_target_name("axon")
    with pytest.raises(ToolStoreError, match="must match"):
        check_target_name("Bad_Name")


@pytest.fixture
def store(monkeypatch) -> ToolStore:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        dynamodb = boto3.client("dynamodb", region_name="us-east-1")
        names = Names("tools-test")
        definition = next(d for d in table_definitions(names) if d["TableName"] == names.tools_table)
        dynamodb.create_table(**{k: v for k, v in definition.items() if k != "TimeToLive"})
        yield ToolStore(dynamodb, names.tools_table)


def test_a_sync_replaces_the_tool_list_whole(store: ToolStore):
    token_name = "p/targets/payments"  # pragma: allowlist secret (the name of the token's secret, not a token)
    store.put_target(Target("payments", "http://upstream/mcp", auth="bearer", bearer_secret=token_name))
    with pytest.raises(ToolStoreError, match="already exists"):
        store.put_target(Target("payments", "http://other/mcp"))
    first = store.publish_tools(store.target("payments"), [TRANSFER])
    assert [t.name for t in store.target("payments").tools] == ["transfer"]
    refund = Tool("payments", "refund", "Give money back", {"type": "object", "properties": {}})
    store.publish_tools(first, [refund])
    stored = store.target("payments")
    assert [t.name for t in stored.tools] == ["refund"]
    assert stored.bearer_secret == "p/targets/payments"  # pragma: allowlist secret
    with pytest.raises(ToolStoreError, match="changed"):
        store.publish_tools(first, [TRANSFER])  # a stale view of the target: nothing is replaced
    assert [t.name for t in store.target("payments").tools] == ["refund"]
    assert len([i for i in store._scan() if i["pk"]["S"].startswith("tool#")]) == 1  # old generations are gone
    store.remove_target("payments")
    assert store.targets() == []
    assert store._scan() == []
    with pytest.raises(ToolStoreError, match="no target"):
        store.remove_target("payments")


def test_the_base_schema_declares_targets_and_the_tools_group():
    assert "entity Target;" in BASE
    assert 'action "mcp_tools";' in BASE
    assert Path(ROOT / "governance" / "policies" / "schema.cedarschema").is_file()
