"""What an attacker outside the VPC's tasks can reach through the load balancer, and who can read or write the
service keys (docs/security.md, "Who each defence stops")."""

from __future__ import annotations

import re

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


def _secret_access() -> dict:
    call = next(entry["security"] for doc in STACK for entry in doc.get("module", []) if "security" in entry)
    return call["secret_access"]


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
    assert "roles = each.value.writers" in rules
    [statement] = nested(document.body, "statement")
    assert statement["effect"] == "Deny"
    assert statement["actions"] == "${statement.value.actions}"
    assert nested(statement, "principals") == [{"type": "*", "identifiers": ["*"]}]
    assert nested(statement, "condition") == [
        {"test": "ArnNotEquals", "variable": "aws:PrincipalArn", "values": "${statement.value.roles}"}
    ]
    policy = next(block for block in blocks(SECURITY, "resource", "aws_secretsmanager_secret_policy"))
    assert policy.body["for_each"] == "${var.secret_access}"


def test_no_identity_policy_outside_governance_and_rotation_names_the_receipt_private_key():
    allowed = {("lambda", "governance"), ("lambda", "key_rotation")}
    for module in ("cicd", "ecs", "lambda", "network", "observability", "ecr", "dynamodb"):
        for block in blocks(parse_dir(MODULES / module), "data", "aws_iam_policy_document"):
            if (module, block.name) in allowed:
                continue
            assert "receipt_private_key" not in str(block.body), f"{module}.{block.name} names the receipt key"


def test_the_deploy_role_reads_no_secret_value_and_writes_only_mcp_target_tokens():
    never = {
        "secretsmanager:GetSecretValue",
        "secretsmanager:UpdateSecretVersionStage",
        "secretsmanager:PutResourcePolicy",
        "secretsmanager:DeleteResourcePolicy",
        "secretsmanager:*",
    }
    writes = []
    for block in blocks(parse_dir(MODULES / "cicd"), "data", "aws_iam_policy_document"):
        if block.name == "boundary":
            continue  # the ceiling of the workload roles, which do read their own secrets
        for statement in nested(block.body, "statement"):
            if statement.get("effect", "Allow") != "Allow":
                continue
            actions = {str(action) for action in statement.get("actions", [])}
            assert not actions & never, f"{block.name}.{statement.get('sid')}: {sorted(actions & never)}"
            if "secretsmanager:PutSecretValue" in actions:
                writes.append((statement.get("sid"), statement.get("resources")))
    # Operators (agentctl's tools commands, run as the deploy role) replace the bearer token of an MCP target: a
    # third party's credential under <project>/targets/. Never a service key nor a client credential.
    assert writes == [("OperateTargetTokens", ["${local.arn_prefix.secrets}:secret:${var.project_name}/targets/*"])]


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
