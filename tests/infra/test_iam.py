"""No statement grants everything; trust policies are scoped; every workload role carries the boundary."""

from __future__ import annotations

import pytest

from .hcl_tools import (
    MODULES,
    all_blocks,
    blocks,
    locals_of,
    module_dirs,
    nested,
    parse_dir,
    wildcard_principals,
    wildcard_statements,
)


@pytest.mark.parametrize("module", module_dirs(), ids=lambda path: path.name)
def test_no_allow_statement_grants_every_action_on_every_resource(module):
    docs = parse_dir(module)
    documents = blocks(docs, "data", "aws_iam_policy_document")
    assert wildcard_statements(documents, locals_of(docs)) == []


@pytest.mark.parametrize("module", module_dirs(), ids=lambda path: path.name)
def test_no_allow_statement_trusts_any_principal_unconditionally(module):
    documents = blocks(parse_dir(module), "data", "aws_iam_policy_document")
    allowed = {"data.aws_iam_policy_document.s3_endpoint"}  # ECR's own pre-signed layer URLs, GetObject only
    assert [problem for problem in wildcard_principals(documents) if problem.split(":")[0] not in allowed] == []


def test_policies_are_built_from_policy_documents_not_inline_json():
    for type_ in ("aws_iam_policy", "aws_iam_role_policy", "aws_iam_role"):
        for block in all_blocks("resource", type_):
            for key in ("policy", "assume_role_policy"):
                if key in block.body:
                    value = str(block.body[key])
                    assert "jsonencode" not in value, block.address
                    assert "{" not in value.replace("${", ""), block.address


def test_every_workload_role_carries_the_permissions_boundary():
    roles = all_blocks("resource", "aws_iam_role")
    assert roles
    for role in roles:
        if role.name == "deploy":
            continue  # created by an administrator; it may not change itself (see the cicd module)
        assert role.body.get("permissions_boundary") == "${var.permissions_boundary_arn}", role.address


def test_deploy_role_is_limited_to_the_repository():
    cicd = parse_dir(MODULES / "cicd")
    trust = next(block for block in blocks(cicd, "data", "aws_iam_policy_document") if block.name == "deploy_assume")
    statement = nested(trust.body, "statement")[0]
    conditions = {condition["variable"]: condition for condition in nested(statement, "condition")}
    audience = conditions["${local.oidc_host}:aud"]
    subject = conditions["${local.oidc_host}:sub"]
    assert audience["values"] == ["sts.amazonaws.com"]
    assert subject["test"] == "StringEquals", "no wildcard subjects"
    assert "var.github_repository" in str(locals_of(cicd)["github_subjects"])


def test_orbit_may_invoke_only_the_governance_alias():
    ecs = parse_dir(MODULES / "ecs")
    orbit = next(block for block in blocks(ecs, "data", "aws_iam_policy_document") if block.name == "orbit_task")
    invoke = [st for st in nested(orbit.body, "statement") if "lambda:InvokeFunction" in st.get("actions", [])]
    assert [st["resources"] for st in invoke] == [["${var.governance_alias_arn}"]]
