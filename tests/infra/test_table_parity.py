"""Terraform declares exactly the tables the local bootstrap creates (agent_runtime.tables)."""

from __future__ import annotations

import re
from typing import Any

from agent_runtime.names import Names
from agent_runtime.tables import table_definitions

from .hcl_tools import MODULES, Block, blocks, expression, locals_of, nested, parse_dir, parse_text

PROJECT = "agent-runtime"


def _substitute(value: Any, project: str, key: str | None, each: dict[str, Any] | None) -> Any:
    """Evaluate the few expressions a table definition may use: var.project_name, each.key, each.value.X."""
    if not isinstance(value, str):
        return value
    whole = expression(value)
    if whole is not None and re.fullmatch(r"each\.value\.\w+", whole):
        return (each or {})[whole.split(".")[-1]]

    def replace(match: re.Match[str]) -> str:
        inner = match.group(1).strip()
        if inner == "var.project_name":
            return project
        if inner == "each.key" and key is not None:
            return key
        if each is not None and re.fullmatch(r"each\.value\.\w+", inner):
            return str(each[inner.split(".")[-1]])
        raise AssertionError(f"unsupported expression in a table definition: ${{{inner}}}")

    return re.sub(r"\$\{([^}]*)\}", replace, value)


def _ttl(body: dict[str, Any], project: str, key: str | None, each: dict[str, Any] | None) -> str | None:
    static = [block for block in body.get("ttl", []) if block.get("enabled") is True]
    if static:
        return _substitute(static[0]["attribute_name"], project, key, each)
    for dynamic in body.get("dynamic", []):
        if "ttl" in dynamic:
            spec = dynamic["ttl"]
            condition = expression(spec["for_each"]) or ""
            assert re.fullmatch(
                r"each\.value\.ttl_attribute == null \? \[\] : \[each\.value\.ttl_attribute\]", condition
            ), f"unsupported dynamic ttl: {condition}"
            content = spec["content"][0]
            assert content == {"enabled": True, "attribute_name": "${ttl.value}"}
            return (each or {})["ttl_attribute"]
    return None


def terraform_tables(docs: list[dict[str, Any]], project: str = PROJECT) -> dict[str, dict[str, Any]]:
    """Table name -> {hash_key, attributes, ttl, billing_mode}, as Terraform would create them."""
    local_values = locals_of(docs)
    tables: dict[str, dict[str, Any]] = {}
    resource: Block
    for resource in blocks(docs, "resource", "aws_dynamodb_table"):
        body = resource.body
        instances: list[tuple[str | None, dict[str, Any] | None]] = [(None, None)]
        if "for_each" in body:
            source = expression(body["for_each"]) or ""
            match = re.fullmatch(r"local\.(\w+)", source)
            assert match, f"unsupported for_each: {source}"
            instances = list(local_values[match.group(1)].items())
        for key, each in instances:
            name = _substitute(body["name"], project, key, each)
            attributes = {
                _substitute(attribute["name"], project, key, each): _substitute(attribute["type"], project, key, each)
                for attribute in nested(body, "attribute")
            }
            tables[name] = {
                "hash_key": _substitute(body["hash_key"], project, key, each),
                "range_key": _substitute(body.get("range_key"), project, key, each),
                "attributes": attributes,
                "ttl": _ttl(body, project, key, each),
                "billing_mode": body.get("billing_mode", "PROVISIONED"),
            }
    return tables


def bootstrap_tables(project: str = PROJECT) -> dict[str, dict[str, Any]]:
    tables = {}
    for definition in table_definitions(Names(project)):
        keys = {item["KeyType"]: item["AttributeName"] for item in definition["KeySchema"]}
        ttl = definition.get("TimeToLive")
        tables[definition["TableName"]] = {
            "hash_key": keys["HASH"],
            "range_key": keys.get("RANGE"),
            "attributes": {item["AttributeName"]: item["AttributeType"] for item in definition["AttributeDefinitions"]},
            "ttl": ttl["AttributeName"] if ttl and ttl.get("Enabled") else None,
            "billing_mode": definition["BillingMode"],
        }
    return tables


def test_terraform_declares_exactly_the_bootstrap_tables():
    assert terraform_tables(parse_dir(MODULES / "dynamodb")) == bootstrap_tables()


def test_parity_holds_for_another_project_name():
    assert terraform_tables(parse_dir(MODULES / "dynamodb"), "acme-agents") == bootstrap_tables("acme-agents")


def test_no_table_is_declared_outside_the_dynamodb_module():
    for module in MODULES.iterdir():
        if module.is_dir() and module.name != "dynamodb":
            assert not blocks(parse_dir(module), "resource", "aws_dynamodb_table"), module.name


def test_parity_check_notices_a_wrong_key_a_missing_ttl_and_an_extra_table():
    snippet = """
    resource "aws_dynamodb_table" "policies" {
      name         = "${var.project_name}-governance-policies"
      billing_mode = "PAY_PER_REQUEST"
      hash_key     = "id"
      attribute {
        name = "id"
        type = "S"
      }
    }
    resource "aws_dynamodb_table" "rate" {
      name         = "${var.project_name}-rate-limits"
      billing_mode = "PAY_PER_REQUEST"
      hash_key     = "pk"
      attribute {
        name = "pk"
        type = "S"
      }
    }
    resource "aws_dynamodb_table" "extra" {
      name         = "${var.project_name}-extra"
      billing_mode = "PAY_PER_REQUEST"
      hash_key     = "pk"
      attribute {
        name = "pk"
        type = "N"
      }
      ttl {
        enabled        = true
        attribute_name = "expires_at"
      }
    }
    """
    synthetic = terraform_tables([parse_text(snippet)])
    expected = bootstrap_tables()
    assert synthetic != expected
    assert synthetic["agent-runtime-governance-policies"]["hash_key"] == "id"
    assert synthetic["agent-runtime-rate-limits"]["ttl"] is None
    assert expected["agent-runtime-rate-limits"]["ttl"] == "expires_at"
    assert "agent-runtime-extra" in set(synthetic) - set(expected)
    assert synthetic["agent-runtime-extra"]["ttl"] == "expires_at"
