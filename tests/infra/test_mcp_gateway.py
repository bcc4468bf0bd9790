"""The MCP gateway in AWS (design §7): the tools table and the targets' tokens, who reads and writes them, Orbit's
way out to the upstream servers, and the Host each service accepts signatures for."""

from __future__ import annotations

from typing import Any

from agent_runtime.names import Names

from .hcl_tools import (
    MODULES,
    SHARED_ENV,
    as_list,
    blocks,
    locals_of,
    nested,
    parse_dir,
    variables_of,
)
from .terraform_validation import accepted

ECS = parse_dir(MODULES / "ecs")
CICD = parse_dir(MODULES / "cicd")
STACK = parse_dir(MODULES / "stack")


def _statements(docs: list[dict[str, Any]], document: str) -> dict[str, dict[str, Any]]:
    body = next(block.body for block in blocks(docs, "data", "aws_iam_policy_document") if block.name == document)
    return {statement["sid"]: statement for statement in nested(body, "statement")}


def _grants(docs: list[dict[str, Any]], resource_suffix: str, skip: set[str] = frozenset()) -> dict[str, set[str]]:
    """sid -> actions of every Allow statement whose resources end with `resource_suffix`."""
    found = {}
    for block in blocks(docs, "data", "aws_iam_policy_document"):
        if block.name in skip:
            continue
        for statement in nested(block.body, "statement"):
            if statement.get("effect", "Allow") != "Allow":
                continue
            if any(str(resource).endswith(resource_suffix) for resource in as_list(statement.get("resources"))):
                found[statement["sid"]] = set(as_list(statement["actions"]))
    return found


TOOLS_TABLE = "table/${var.project_name}-tools"
TARGET_TOKENS = "secret:${var.project_name}/targets/*"


def test_the_names_iam_uses_are_the_codes():
    # The tables themselves: test_table_parity.py.
    names = Names("acme")
    assert TOOLS_TABLE.replace("${var.project_name}", "acme") == f"table/{names.tools_table}"
    assert TARGET_TOKENS.replace("${var.project_name}", "acme").removesuffix("*") == "secret:" + names.target_secret("")
    assert locals_of(ECS)["target_secrets_arn"] == "${local.secret_arn_prefix}/targets/*"
    assert locals_of(ECS)["secret_arn_prefix"].endswith(":secret:${var.project_name}")


def test_orbit_scans_the_tools_and_reads_target_tokens_nothing_more():
    orbit = _statements(ECS, "orbit_task")
    assert orbit["ReadTools"]["actions"] == ["dynamodb:Scan"]
    assert orbit["ReadTools"]["resources"] == ["${var.tools_table_arn}"]
    assert orbit["ReadTargetTokens"]["actions"] == ["secretsmanager:GetSecretValue"]
    assert orbit["ReadTargetTokens"]["resources"] == ["${local.target_secrets_arn}"]
    # The tokens are encrypted with the orbit key (as client credentials are), which Orbit decrypts through
    # Secrets Manager only.
    assert "${var.kms_key_arns.orbit}" in locals_of(ECS)["service_secret_keys"]["orbit"]
    # Axon has no business with either.
    axon = _statements(ECS, "axon_task")
    assert not [sid for sid, st in axon.items() if "tools" in str(st.get("resources")) or "targets" in str(st)]
    stack_ecs = next(entry["ecs"] for doc in STACK for entry in doc.get("module", []) if "ecs" in entry)
    assert stack_ecs["tools_table_arn"] == '${module.dynamodb.table_arns["tools"]}'


def test_operators_write_the_tools_and_the_tokens_with_exactly_what_agentctl_needs():
    assert _grants(CICD, TOOLS_TABLE, {"boundary"}) == {
        "OperateTools": {"dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:Scan"},
    }
    assert _grants(CICD, TARGET_TOKENS, {"boundary"}) == {
        # Created with its tags (TagResource), replaced, looked up before its deletion (DescribeSecret).
        "OperateTargetTokens": {
            "secretsmanager:CreateSecret",
            "secretsmanager:DeleteSecret",
            "secretsmanager:DescribeSecret",
            "secretsmanager:PutSecretValue",
            "secretsmanager:TagResource",
        },
    }


def test_orbit_reaches_only_the_upstream_networks_an_operator_lists():
    [rule] = [
        b for b in blocks(ECS, "resource", "aws_vpc_security_group_egress_rule") if b.name == "orbit_to_mcp_upstreams"
    ]
    assert rule.body["for_each"] == "${toset(var.mcp_upstream_cidr_blocks)}"
    assert rule.body["security_group_id"] == "${aws_security_group.orbit.id}"
    assert (rule.body["ip_protocol"], rule.body["from_port"], rule.body["to_port"]) == ("tcp", 443, 443)
    assert rule.body["cidr_ipv4"] == "${each.value}"
    assert variables_of(ECS)["mcp_upstream_cidr_blocks"]["default"] == []
    assert variables_of(STACK)["mcp_upstream_cidr_blocks"]["default"] == []
    assert variables_of(parse_dir(SHARED_ENV))["mcp_upstream_cidr_blocks"]["default"] == []
    results = accepted(
        MODULES / "ecs" / "variables.tf",
        "mcp_upstream_cidr_blocks",
        [[], ["203.0.113.0/24", "198.51.100.7/32"], ["0.0.0.0/0"], ["api.example.com"], ["203.0.113.7"]],
    )
    assert list(results.values()) == [True, True, True, False, False]


def test_a_signature_for_another_host_is_refused_once_hosts_are_listed():
    from agent_runtime.settings import variable
    from axon.config import AxonSettings
    from orbit.config import OrbitSettings

    assert variable(OrbitSettings, "allowed_hosts") == "ORBIT_ALLOWED_HOSTS"
    assert variable(AxonSettings, "allowed_hosts") == "AXON_ALLOWED_HOSTS"
    # What the services make of the values Terraform gives them: Orbit's list joined by commas, Axon's one name.
    orbit = OrbitSettings.from_env({"ORBIT_ALLOWED_HOSTS": ",".join(["agent-runtime.example.com", "alb:443"])})
    assert orbit.hosts == frozenset({"agent-runtime.example.com", "alb:443"})
    assert OrbitSettings.from_env({"ORBIT_ALLOWED_HOSTS": ""}).hosts == frozenset()
    assert AxonSettings.from_env({"AXON_ALLOWED_HOSTS": "axon:8081"}).hosts == frozenset({"axon:8081"})
    results = accepted(
        MODULES / "ecs" / "variables.tf",
        "orbit_allowed_hosts",
        [[], ["agent-runtime.dev.internal.example.com", "alb.example.com:8443"], ["https://x.example.com"], ["a,b"]],
    )
    assert list(results.values()) == [True, True, False, False]
