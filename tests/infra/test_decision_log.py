"""The decision log (every decision's Cedar request, for agentctl's policy replay): encrypted, kept a bounded time,
written by the governance function only and read by operators only, by IAM and by the table's resource policy,
which holds against any identity policy (docs/security.md, "Who can read the decision log")."""

from __future__ import annotations

import re
from typing import Any

from agent_runtime.names import Names
from agent_runtime.settings import variable
from agent_runtime.tables import TTL_ATTRIBUTE
from governance.config import Settings as GovernanceSettings

from .hcl_tools import MODULES, SHARED_ENV, as_list, blocks, expression, nested, parse_dir, variables_of
from .terraform_validation import accepted

DYNAMODB = parse_dir(MODULES / "dynamodb")
STACK = parse_dir(MODULES / "stack")
LAMBDA = parse_dir(MODULES / "lambda")
CICD = parse_dir(MODULES / "cicd")

GOVERNANCE = "arn:aws:iam::123456789012:role/agent-runtime-governance"
DEPLOY = "arn:aws:iam::123456789012:role/agent-runtime-github-deploy"
OPERATOR = "arn:aws:iam::123456789012:role/aws-reserved/sso.amazonaws.com/AWSReservedSSO_Operators_0123"
ADMIN = "arn:aws:iam::123456789012:role/Admin"
ORBIT = "arn:aws:iam::123456789012:role/agent-runtime-orbit-task"

READS_AND_COPIES = [
    "dynamodb:Scan",
    "dynamodb:GetItem",
    "dynamodb:BatchGetItem",
    "dynamodb:PartiQLSelect",
    "dynamodb:ExportTableToPointInTime",
    "dynamodb:RestoreTableToPointInTime",
    "dynamodb:CreateBackup",
    "dynamodb:UpdateItem",
    "dynamodb:DeleteItem",
    "dynamodb:BatchWriteItem",
]


def _table() -> dict[str, Any]:
    return next(
        block.body for block in blocks(DYNAMODB, "resource", "aws_dynamodb_table") if block.name == "decision_log"
    )


def _policy_statements() -> list[dict[str, Any]]:
    document = next(
        block for block in blocks(DYNAMODB, "data", "aws_iam_policy_document") if block.name == "decision_log"
    )
    return nested(document.body, "statement")


def resource_policy_allows(
    statements: list[dict[str, Any]], principal: str, action: str, writers: list[str], readers: list[str]
) -> bool:
    """Whether the table's resource policy lets `principal` call `action` (it only denies; IAM must also allow).
    Evaluates the HCL of the policy document with the module's two inputs given."""
    inputs = {"var.decision_log_writer_arns": writers, "var.decision_log_reader_arns": readers}
    for statement in statements:
        assert statement["effect"] == "Deny", "the policy only denies: a grant belongs in an identity policy"
        assert nested(statement, "principals") == [{"type": "*", "identifiers": ["*"]}]
        assert statement["resources"] == ["${aws_dynamodb_table.decision_log.arn}"]
        if action not in as_list(statement["actions"]):
            continue
        conditions = list(as_list(statement.get("condition")))
        for dynamic in as_list(statement.get("dynamic")):
            spec = dynamic["condition"]
            guard = expression(spec["for_each"])
            match = re.fullmatch(r"length\((var\.\w+)\) > 0 \? \[1\] : \[\]", guard or "")
            assert match, f"unsupported dynamic condition: {guard}"
            if inputs[match.group(1)]:
                conditions.extend(as_list(spec["content"]))
        applies = True
        for condition in conditions:
            assert (condition["test"], condition["variable"]) == ("ArnNotEquals", "aws:PrincipalArn"), condition
            applies = applies and principal not in inputs[expression(condition["values"])]
        if applies:
            return False
    return True


def test_the_table_is_the_codes_encrypted_recoverable_and_expiring():
    from agent_runtime.tables import table_definitions

    table = _table()
    assert table["name"] == "${var.project_name}-decision-log"
    assert table["name"].replace("${var.project_name}", "acme") == Names("acme").decision_log_table
    [definition] = [d for d in table_definitions(Names("acme")) if d["TableName"] == "acme-decision-log"]
    keys = {item["KeyType"]: item["AttributeName"] for item in definition["KeySchema"]}
    assert (table["hash_key"], table["range_key"]) == (keys["HASH"], keys["RANGE"])
    assert nested(table, "ttl") == [{"enabled": True, "attribute_name": TTL_ATTRIBUTE}]
    assert nested(table, "point_in_time_recovery") == [{"enabled": True}]
    assert nested(table, "server_side_encryption") == [{"enabled": True, "kms_key_arn": "${var.kms_key_arn}"}]
    assert table["deletion_protection_enabled"] == "${var.deletion_protection}"
    policy = next(iter(blocks(DYNAMODB, "resource", "aws_dynamodb_resource_policy"))).body
    assert policy == {
        "resource_arn": "${aws_dynamodb_table.decision_log.arn}",
        "policy": "${data.aws_iam_policy_document.decision_log.json}",
    }


def test_only_governance_records_and_only_operators_query():
    statements = _policy_statements()
    writers, readers = [GOVERNANCE], [DEPLOY, OPERATOR]

    def allows(principal: str, action: str) -> bool:
        return resource_policy_allows(statements, principal, action, writers, readers)

    assert allows(GOVERNANCE, "dynamodb:PutItem")
    assert [p for p in (DEPLOY, OPERATOR, ADMIN, ORBIT) if allows(p, "dynamodb:PutItem")] == []
    assert allows(DEPLOY, "dynamodb:Query")
    assert allows(OPERATOR, "dynamodb:Query")
    assert [p for p in (GOVERNANCE, ADMIN, ORBIT) if allows(p, "dynamodb:Query")] == []
    # No Scan for anyone, and no other way to read or copy the records or to change them.
    for action in READS_AND_COPIES:
        assert [p for p in (GOVERNANCE, DEPLOY, OPERATOR, ADMIN) if allows(p, action)] == [], action


def test_without_any_operator_role_nobody_reads_the_log():
    statements = _policy_statements()
    for principal in (GOVERNANCE, DEPLOY, ADMIN):
        assert not resource_policy_allows(statements, principal, "dynamodb:Query", [GOVERNANCE], [])
    assert resource_policy_allows(statements, GOVERNANCE, "dynamodb:PutItem", [GOVERNANCE], [])


def test_the_evaluator_notices_a_policy_that_lets_someone_scan():
    # Guards the evaluation above: without the statement that denies Scan to everyone, Scan is allowed.
    statements = [s for s in _policy_statements() if "dynamodb:Scan" not in as_list(s["actions"])]
    assert resource_policy_allows(statements, ADMIN, "dynamodb:Scan", [GOVERNANCE], [DEPLOY])


def test_the_stack_names_governance_as_writer_and_the_operators_as_readers():
    call = next(entry["dynamodb"] for doc in STACK for entry in doc.get("module", []) if "dynamodb" in entry)
    assert call["decision_log_writer_arns"] == ["${module.lambda.governance_role_arn}"]
    assert (
        call["decision_log_reader_arns"] == "${compact(concat([module.cicd.deploy_role_arn], var.operator_role_arns))}"
    )
    shared = variables_of(parse_dir(SHARED_ENV))
    assert shared["operator_role_arns"]["default"] == []


def _identity_statements(module_docs: list[dict[str, Any]], skip: set[str]) -> list[tuple[str, dict[str, Any]]]:
    return [
        (block.name, statement)
        for block in blocks(module_docs, "data", "aws_iam_policy_document")
        if block.name not in skip
        for statement in nested(block.body, "statement")
        if statement.get("effect", "Allow") == "Allow"
    ]


def test_identity_policies_grant_governance_putitem_and_operators_query_only():
    decision_log = "${var.table_arns.decision_log}"
    governance = [
        statement["actions"]
        for name, statement in _identity_statements(LAMBDA, set())
        if decision_log in as_list(statement.get("resources"))
    ]
    assert governance == [["dynamodb:PutItem"]]
    # The deploy role (agentctl's operators): Query on the decision log, and no table wildcard with data actions.
    data_actions = {"dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:Query", "dynamodb:Scan", "dynamodb:PutItem"}
    for name, statement in _identity_statements(CICD, {"boundary"}):
        resources = [str(resource) for resource in as_list(statement.get("resources"))]
        actions = set(as_list(statement.get("actions")))
        if any(resource.endswith("-decision-log") for resource in resources):
            assert (statement["sid"], actions) == ("QueryDecisionLog", {"dynamodb:Query"})
        if any(resource.endswith("table/${var.project_name}-*") for resource in resources):
            assert not actions & data_actions, f"{name}.{statement['sid']}: data access to every table"
        assert "dynamodb:*" not in actions


def test_retention_is_a_validated_variable_the_function_reads():
    variables = variables_of(LAMBDA)
    assert variables["decision_log_retention_days"]["default"] == 7
    function = next(b.body for b in blocks(LAMBDA, "resource", "aws_lambda_function") if b.name == "governance")
    environment = nested(function, "environment")[0]["variables"]
    name = variable(GovernanceSettings, "decision_log_retention_days")
    assert environment[name] == "${tostring(var.decision_log_retention_days)}"
    assert variables_of(parse_dir(SHARED_ENV))["decision_log_retention_days"]["default"] == 7


def test_retention_outside_whole_days_1_to_365_is_refused_by_terraform():
    results = accepted(MODULES / "lambda" / "variables.tf", "decision_log_retention_days", [1, 7, 365, 0, 366, 7.5])
    assert results == {"1": True, "7": True, "365": True, "0": False, "366": False, "7.5": False}
