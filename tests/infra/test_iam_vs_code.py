"""Least privilege, checked against the code: each workload role's IAM actions are exactly the AWS calls its code
makes (tests/infra/code_calls.py reads them from the Python source), plus the platform's own needs listed below.
A missing action is a runtime AccessDenied; an unused one is a grant nothing needs."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from .code_calls import PACKAGES, component_calls, package_modules
from .hcl_tools import MODULES, as_list, blocks, nested, parse_dir

# Component -> (entry modules, entry functions or None for all of them) and the policy documents of its role.
COMPONENTS = {
    "orbit": ("orbit", None, ("ecs", "orbit_task")),
    "axon": ("axon", None, ("ecs", "axon_task")),
    # The handler module only: governance.store also holds PolicyStore.commit, which agentctl runs, not the Lambda.
    "governance": ("governance.handler", None, ("lambda", "governance")),
    # The rotation Lambda's handler (rotate_now in the same module is agentctl's local path).
    "rotation": ("agent_runtime.key_rotation", {"lambda_handler"}, ("lambda", "key_rotation")),
}

# What the platform needs on the role's behalf, never called by the code itself.
PLATFORM_PREFIXES = {
    "kms": "decryption through Secrets Manager and DynamoDB (kms:ViaService) of the keys that encrypt them",
    "logs": "the Lambda runtime's own log stream",
    "ec2": "the network interfaces of a Lambda function in a VPC",
    "xray": "trace export by the ADOT collectors (ECS sidecars, the Lambda extension) and Lambda's active tracing",
}

# Actions the static analysis reaches but the component never calls, each with the reason.
NOT_CALLED = {
    "axon": {
        "secretsmanager:ListSecrets": "SecretsSource lists secrets only when given a prefix (Orbit's client keys); "
        "Axon's sources name one secret each",
    },
}


def _policy_documents(module: str) -> dict[str, dict]:
    return {block.name: block.body for block in blocks(parse_dir(MODULES / module), "data", "aws_iam_policy_document")}


def role_actions(module: str, document: str) -> set[str]:
    """Actions of the Allow statements of a policy document and of the documents it is built from (static and
    dynamic statements alike: the union of every configuration)."""
    documents = _policy_documents(module)
    body = documents[document]
    actions = set()
    for statement in nested(body, "statement"):
        if str(statement.get("effect", "Allow")) == "Allow":
            actions.update(str(action) for action in as_list(statement.get("actions")))
    for source in as_list(body.get("source_policy_documents")):
        match = re.search(r"data\.aws_iam_policy_document\.(\w+)", str(source))
        assert match, f"{document}: cannot follow {source}"
        actions |= role_actions(module, match.group(1))
    return actions


@pytest.mark.parametrize("component", sorted(COMPONENTS))
def test_role_grants_exactly_what_the_code_calls(component):
    entry, functions, (module, document) = COMPONENTS[component]
    calls = component_calls(package_modules(entry), functions)
    assert calls.dynamic_clients == (), "a client whose service is not a literal cannot be checked"
    needed = calls.iam_actions() - set(NOT_CALLED.get(component, {}))
    granted = {action for action in role_actions(module, document) if action.split(":")[0] not in PLATFORM_PREFIXES}
    assert sorted(needed - granted) == [], f"{component}: the code calls these, the role does not allow them"
    assert sorted(granted - needed) == [], f"{component}: the role allows these, no code of {component} calls them"


def test_the_analysis_finds_each_components_characteristic_calls():
    # Guards the analysis itself: if it stopped following the code, the equality above could pass on two empty
    # sets for a component whose role had lost its grants.
    expected = {
        "orbit": {"lambda:InvokeFunction", "secretsmanager:ListSecrets", "dynamodb:PutItem"},
        "axon": {"bedrock:InvokeModel", "dynamodb:PutItem"},
        "governance": {"dynamodb:UpdateItem", "dynamodb:BatchGetItem", "secretsmanager:GetSecretValue"},
        "rotation": {"secretsmanager:PutSecretValue", "secretsmanager:UpdateSecretVersionStage"},
    }
    for component, actions in expected.items():
        entry, functions, _ = COMPONENTS[component]
        assert actions <= component_calls(package_modules(entry), functions).iam_actions(), component


def test_agentctl_only_writes_are_not_attributed_to_the_governance_function():
    # PolicyStore.commit (agentctl's policy push) writes a policy-set version in a transaction; the Lambda never does.
    everything = component_calls(["governance.handler", "governance.store"]).operations
    assert ("dynamodb", "TransactWriteItems") in everything
    assert ("dynamodb", "TransactWriteItems") not in component_calls(["governance.handler"]).operations


def _statements(module: str, document: str) -> list[dict]:
    documents = _policy_documents(module)
    found = list(nested(documents[document], "statement"))
    for source in as_list(documents[document].get("source_policy_documents")):
        found += _statements(module, re.search(r"data\.aws_iam_policy_document\.(\w+)", str(source)).group(1))
    return found


def _resources_of(module: str, document: str, action: str) -> list[str]:
    return sorted(
        str(resource)
        for statement in _statements(module, document)
        if str(statement.get("effect", "Allow")) == "Allow" and action in as_list(statement.get("actions"))
        for resource in as_list(statement.get("resources"))
    )


def test_each_table_action_of_a_workload_role_names_the_one_table_the_code_uses_it_on():
    # The equality above is per action; this pins each action to its table (a PutItem on the policies table, say,
    # would let a compromised function rewrite the policies).
    expected = {
        ("lambda", "governance", "dynamodb:PutItem"): ["${var.table_arns.decision_log}"],
        ("lambda", "governance", "dynamodb:UpdateItem"): ["${var.table_arns.rate_limits}"],
        ("lambda", "governance", "dynamodb:GetItem"): ["${var.table_arns.policies}"],
        ("lambda", "governance", "dynamodb:BatchGetItem"): ["${var.table_arns.policies}"],
        ("ecs", "orbit_task", "dynamodb:Scan"): ["${var.tools_table_arn}"],
        ("ecs", "orbit_task", "dynamodb:PutItem"): ["${var.replay_table_arn}"],
        ("ecs", "axon_task", "dynamodb:PutItem"): ["${var.replay_table_arn}"],
    }
    for (module, document, action), resources in expected.items():
        assert _resources_of(module, document, action) == resources, (document, action)


@pytest.mark.parametrize("component", sorted(COMPONENTS))
def test_platform_kms_grants_go_through_a_service(component):
    _, _, (module, document) = COMPONENTS[component]
    documents = _policy_documents(module)
    names = [document] + [
        re.search(r"data\.aws_iam_policy_document\.(\w+)", str(source)).group(1)
        for source in as_list(documents[document].get("source_policy_documents"))
    ]
    for name in names:
        for statement in nested(documents[name], "statement"):
            if any(str(action).startswith("kms:") for action in as_list(statement.get("actions"))):
                variables = [condition["variable"] for condition in nested(statement, "condition")]
                assert variables == ["kms:ViaService"], f"{name}.{statement.get('sid')}: kms without kms:ViaService"


def test_package_modules_cover_the_service_packages():
    modules = package_modules("orbit")
    assert "orbit.app" in modules
    assert "orbit.dispatch" in modules
    assert all(Path(PACKAGES["orbit"]).is_dir() for _ in modules)
