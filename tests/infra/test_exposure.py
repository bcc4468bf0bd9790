"""What an attacker outside the VPC's tasks can reach through the load balancer, and who can read or write the
service keys (docs/security.md, "Who each defence stops")."""

from __future__ import annotations

import re
from fnmatch import fnmatchcase

from . import deploy_role
from .deploy_role import allows, secret_arn, service_keys
from .hcl_tools import MODULES, all_blocks, blocks, locals_of, nested, parse_dir

ECS = parse_dir(MODULES / "ecs")
ALB_PATHS = locals_of(ECS)["orbit_public_paths"]


def orbit_routes() -> set[str]:
    from orbit.app import create_app

    app = create_app()
    return {rule.rule for rule in app.url_map.iter_rules() if rule.endpoint != "static"}


def test_the_load_balancer_forwards_only_exact_public_paths():
    listener = next(block for block in blocks(ECS, "resource", "aws_lb_listener") if block.name == "https")
    [default] = nested(listener.body, "default_action")
    assert default["type"] == "fixed-response"
    assert nested(default, "fixed_response")[0]["status_code"] == "404"
    rules = blocks(ECS, "resource", "aws_lb_listener_rule")
    assert [rule.name for rule in rules] == ["orbit_public_paths"]
    [action] = nested(rules[0].body, "action")
    assert action == {"type": "forward", "target_group_arn": "${aws_lb_target_group.orbit.arn}"}
    [condition] = nested(rules[0].body, "condition")
    assert nested(condition, "path_pattern")[0]["values"] == "${local.orbit_public_paths}"
    # Exact paths: a wildcard would let /metrics (or a variant of it) through.
    assert all(re.fullmatch(r"/[A-Za-z0-9._/-]+", path) for path in ALB_PATHS), ALB_PATHS
    redirect = next(block for block in blocks(ECS, "resource", "aws_lb_listener") if block.name == "http_redirect")
    assert nested(redirect.body, "default_action")[0]["type"] == "redirect"


def test_metrics_is_not_reachable_through_the_load_balancer():
    routes = orbit_routes()
    assert "/metrics" in routes  # Orbit serves it to Prometheus inside the VPC
    assert "/metrics" not in ALB_PATHS
    assert not [path for path in ALB_PATHS if path.lower().startswith("/metrics")]


def test_every_public_route_of_orbit_is_forwarded():
    hidden = {"/metrics"}
    missing = sorted(route for route in orbit_routes() - hidden if route not in ALB_PATHS)
    assert missing == [], f"Orbit routes the load balancer answers 404 for: add them to orbit_public_paths {missing}"


# --- the service keys ----------------------------------------------------------------------------------------

STACK = parse_dir(MODULES / "stack")
SECURITY = parse_dir(MODULES / "security")
# Every kind of secret of the naming contract, by name under the project's prefix.
SECRETS = [*service_keys(), "clients/my-agent", "targets/payments"]


def _secret_access() -> dict:
    call = next(entry["security"] for doc in STACK for entry in doc.get("module", []) if "security" in entry)
    return call["secret_access"]


def _secret_policy_statements() -> dict[str, dict]:
    documents = blocks(SECURITY, "data", "aws_iam_policy_document")
    document = next(block for block in documents if block.name == "secret_access")
    statements = nested(document.body, "statement")
    return {str(statement.get("sid", "dynamic")): statement for statement in statements}


def test_receipt_private_key_is_readable_by_governance_and_the_rotation_function_only():
    access = _secret_access()["governance-receipt-key"]
    assert access["readers"] == ["${module.lambda.governance_role_arn}", "${module.lambda.key_rotation_role_arn}"]
    assert access["writers"] == ["${module.lambda.key_rotation_role_arn}"]
    # The resource policy denies every other principal, whatever its identity policies (deploy role, admins).
    documents = blocks(SECURITY, "data", "aws_iam_policy_document")
    document = next(block for block in documents if block.name == "secret_access")
    [dynamic] = document.body["dynamic"]
    rules = re.sub(r"\s+", " ", str(dynamic["statement"]["for_each"]))
    assert 'OnlyTheseRolesRead = {actions = ["secretsmanager:GetSecretValue"], roles = each.value.readers}' in rules
    assert (
        'OnlyTheseRolesWrite = {actions = ["secretsmanager:PutSecretValue", '
        '"secretsmanager:UpdateSecretVersionStage"], roles = each.value.writers}'
    ) in rules
    statement = _secret_policy_statements()["${statement.key}"]
    assert statement["effect"] == "Deny"
    assert statement["actions"] == "${statement.value.actions}"
    assert nested(statement, "principals") == [{"type": "*", "identifiers": ["*"]}]
    assert nested(statement, "condition") == [
        {"test": "ArnNotEquals", "variable": "aws:PrincipalArn", "values": "${statement.value.roles}"}
    ]
    policy = next(block for block in blocks(SECURITY, "resource", "aws_secretsmanager_secret_policy"))
    assert policy.body["for_each"] == "${var.secret_access}"
    # Every service key has a policy (the variable's validation requires a writer for each one listed).
    assert sorted(_secret_access()) == sorted(service_keys())


def test_nobody_deletes_a_service_key_while_its_resource_policy_stands():
    # A deletion and a re-creation under the same name would drop the resource policy and the rotation.
    statement = _secret_policy_statements()["NobodyDeletes"]
    assert statement["effect"] == "Deny"
    assert statement["actions"] == ["secretsmanager:DeleteSecret"]
    assert nested(statement, "principals") == [{"type": "*", "identifiers": ["*"]}]
    assert nested(statement, "condition") == []


def test_no_value_of_a_service_key_passes_through_the_deploy_role():
    # What docs/security.md says the deploy role cannot do to a service key, call by call.
    never = [
        "secretsmanager:GetSecretValue",
        "secretsmanager:PutSecretValue",
        "secretsmanager:UpdateSecretVersionStage",
        "secretsmanager:CreateSecret",
        "secretsmanager:DeleteSecret",
        "secretsmanager:RestoreSecret",
        "secretsmanager:PutResourcePolicy",
        "secretsmanager:DeleteResourcePolicy",
    ]
    for name in service_keys():
        arn = secret_arn(name)
        assert [action for action in never if allows(action, arn)] == [], name
        # Terraform's own need: a service key's description (its settings, its rotation).
        assert allows("secretsmanager:UpdateSecret", arn), name
    # UpdateSecret can carry a value (SecretString) and no Secrets Manager condition key tells; Secrets Manager
    # encrypts that value with the caller's KMS permissions under the secret's ARN as encryption context, which
    # this Deny refuses for the service keys, under whichever KMS key.
    deny = deploy_role.statement("NoServiceKeyValues")
    assert deny["effect"] == "Deny"
    assert deny["resources"] == ["*"]
    for action in ("kms:GenerateDataKey", "kms:Encrypt", "kms:Decrypt", "kms:ReEncryptTo"):
        assert any(fnmatchcase(action, pattern) for pattern in deny["actions"]), action
    [condition] = nested(deny, "condition")
    assert (condition["test"], condition["variable"]) == ("StringLike", "kms:EncryptionContext:SecretARN")
    patterns = deploy_role.render(condition["values"])
    for name in service_keys():
        assert any(fnmatchcase(secret_arn(name), pattern) for pattern in patterns), name
    # Not the secrets operators write: agentctl keys and tools encrypt their values with the orbit key.
    for name in ("clients/my-agent", "targets/payments"):
        assert not any(fnmatchcase(secret_arn(name), pattern) for pattern in patterns), name
    assert locals_of(deploy_role.CICD)["service_keys"] == service_keys()


def test_the_deploy_role_never_assumes_a_role():
    # It rewrites workload roles' trust policies (Terraform); one that named it would make it that role (the
    # key-rotation role writes the keys) without any sts grant of its own.
    deny = deploy_role.statement("NoRoleAssumption")
    assert (deny["effect"], deny["actions"], deny["resources"]) == ("Deny", ["sts:AssumeRole"], ["*"])
    assert nested(deny, "condition") == []
    assert not deploy_role.grants("sts:AssumeRole")


def test_no_identity_policy_outside_governance_and_rotation_names_the_receipt_private_key():
    allowed = {("lambda", "governance"), ("lambda", "key_rotation")}
    for module in ("cicd", "ecs", "lambda", "network", "observability", "ecr", "dynamodb"):
        for block in blocks(parse_dir(MODULES / module), "data", "aws_iam_policy_document"):
            if (module, block.name) in allowed:
                continue
            assert "receipt_private_key" not in str(block.body), f"{module}.{block.name} names the receipt key"


def test_the_deploy_role_reads_only_client_credentials_and_writes_only_those_and_target_tokens():
    # As the operators' role (agentctl keys, tools): a client credential is read back (keys list shows its key id,
    # keys rotate keeps it) and written; an MCP target's bearer token is written, never read back.
    reads = {name: allows("secretsmanager:GetSecretValue", secret_arn(name)) for name in SECRETS}
    writes = {name: allows("secretsmanager:PutSecretValue", secret_arn(name)) for name in SECRETS}
    assert reads == {name: name.startswith("clients/") for name in SECRETS}
    assert writes == {name: name.startswith(("clients/", "targets/")) for name in SECRETS}
    for never in ("secretsmanager:*", "secretsmanager:PutResourcePolicy", "secretsmanager:DeleteResourcePolicy"):
        assert never not in deploy_role.granted_actions()
    assert not deploy_role.grants("secretsmanager:UpdateSecretVersionStage")


def test_ecs_roles_read_only_their_own_secrets():
    ecs_locals = locals_of(ECS)
    # Both read the signing key and Governance's public key (Axon to verify receipts, Orbit to publish it to MCP
    # upstreams); Orbit also the client credentials and MCP targets' tokens, by prefix; never the private key.
    assert ecs_locals["service_secrets"] == {
        "orbit": ["${var.secret_arns.orbit_signing_key}", "${var.secret_arns.receipt_public_key}"],
        "axon": ["${var.secret_arns.orbit_signing_key}", "${var.secret_arns.receipt_public_key}"],
    }
    assert ecs_locals["client_secrets_arn"] == "${local.secret_arn_prefix}/clients/*"
    assert ecs_locals["target_secrets_arn"] == "${local.secret_arn_prefix}/targets/*"
    assert "receipt_private_key" not in str(all_blocks("resource", root=MODULES / "ecs"))
