"""Encryption, retention, recovery and hardening of every resource that holds data or runs code."""

from __future__ import annotations

import re

import pytest

from .hcl_tools import MODULES, all_blocks, blocks, locals_of, nested, outputs_of, parse_dir, python_minor, variables_of

SECRET_LOOKING = re.compile(r"SECRET|PASSWORD|TOKEN|SIGNING_KEY|PRIVATE|CREDENTIAL")


def test_every_log_group_has_retention_and_a_kms_key():
    groups = all_blocks("resource", "aws_cloudwatch_log_group")
    assert len(groups) >= 5
    for group in groups:
        assert group.body.get("retention_in_days") not in (None, 0), group.address
        assert str(group.body.get("kms_key_id", "")).strip(), group.address


def test_log_group_names_follow_the_contract():
    names = {str(group.body["name"]) for group in all_blocks("resource", "aws_cloudwatch_log_group")}
    assert "/ecs/${each.value}" in names  # each.value = <project>-orbit / <project>-axon
    assert "/aws/lambda/${local.governance_name}" in names
    lambda_locals = locals_of(parse_dir(MODULES / "lambda"))
    assert lambda_locals["governance_name"] == "${var.project_name}-governance"


def test_every_table_has_pitr_and_a_customer_managed_key():
    tables = all_blocks("resource", "aws_dynamodb_table")
    assert tables
    for table in tables:
        assert [item.get("enabled") for item in nested(table.body, "point_in_time_recovery")] == [True]
        encryption = nested(table.body, "server_side_encryption")
        assert len(encryption) == 1, table.address
        assert encryption[0]["enabled"] is True, table.address
        assert str(encryption[0].get("kms_key_arn", "")).startswith("${var."), table.address
        assert "deletion_protection_enabled" in table.body


def test_every_kms_key_rotates_and_has_a_policy():
    keys = all_blocks("resource", "aws_kms_key")
    assert keys
    for key in keys:
        assert key.body.get("enable_key_rotation") is True, key.address
        assert "policy" in key.body, key.address
    aliases = locals_of(parse_dir(MODULES / "security"))["keys"]
    assert {"axon", "orbit", "governance"} <= set(aliases)
    alias = next(block for block in all_blocks("resource", "aws_kms_alias"))
    assert alias.body["name"] == "alias/${var.project_name}-${each.key}"


def test_every_secret_is_encrypted_with_a_customer_managed_key():
    for secret in all_blocks("resource", "aws_secretsmanager_secret"):
        assert "aws_kms_key" in str(secret.body.get("kms_key_id")), secret.address


def test_terraform_never_holds_a_key_the_rotation_function_seeds_them():
    # No secret value in any Terraform resource, plan or state: the secrets are created empty and the first
    # rotation (at the first apply) writes their first value (tests/infra/test_secret_seeding.py runs it).
    assert all_blocks("resource", "aws_secretsmanager_secret_version") == []
    assert all_blocks("ephemeral") == []
    rotation = all_blocks("resource", "aws_secretsmanager_secret_rotation")[0].body
    assert rotation["rotate_immediately"] is True
    rotated = locals_of(parse_dir(MODULES / "lambda"))["rotated_secrets"]
    assert set(rotated) == {"orbit-signing-key", "governance-receipt-key"}
    # The task definitions read the seeded secrets only after the rotation started.
    seeded = outputs_of(parse_dir(MODULES / "lambda"))["seeded_secret_arns"]
    assert seeded["depends_on"] == ["${aws_secretsmanager_secret_rotation.this}"]
    stack_ecs = next(e["ecs"] for d in parse_dir(MODULES / "stack") for e in d.get("module", []) if "ecs" in e)
    assert stack_ecs["secret_arns"] == "${module.lambda.seeded_secret_arns}"


def test_secrets_rotate_every_30_days_through_the_rotation_lambda():
    rotations = all_blocks("resource", "aws_secretsmanager_secret_rotation")
    assert len(rotations) == 1
    rotation = rotations[0].body
    assert rotation["rotation_lambda_arn"] == "${aws_lambda_function.key_rotation.arn}"
    assert nested(rotation, "rotation_rules")[0]["automatically_after_days"] == "${var.rotation_days}"
    assert variables_of(parse_dir(MODULES / "lambda"))["rotation_days"]["default"] == 30


def test_ecr_repositories_are_immutable_scanned_and_encrypted():
    repositories = all_blocks("resource", "aws_ecr_repository")
    assert repositories
    for repository in repositories:
        assert repository.body["image_tag_mutability"] == "IMMUTABLE"
        assert nested(repository.body, "image_scanning_configuration")[0]["scan_on_push"] is True
        assert nested(repository.body, "encryption_configuration")[0]["encryption_type"] == "KMS"
    assert all_blocks("resource", "aws_ecr_lifecycle_policy")


ECS_DOCS = parse_dir(MODULES / "ecs")
ECS_LOCALS = locals_of(ECS_DOCS)
ECS = blocks(ECS_DOCS)


def test_task_definitions_are_built_from_the_checked_container_locals():
    definitions = [block for block in ECS if block.type == "aws_ecs_task_definition"]
    assert len(definitions) == 1
    body = definitions[0].body
    # The application's container, then its ADOT collector sidecar (tests/infra/test_tracing.py).
    assert body["container_definitions"] == (
        "${jsonencode([local.containers[each.key], local.collector_containers[each.key]])}"
    )
    assert ECS_LOCALS["containers"] == {"orbit": "${local.orbit_container}", "axon": "${local.axon_container}"}
    assert body["requires_compatibilities"] == ["FARGATE"]
    assert [volume["name"] for volume in nested(body, "volume")] == ["tmp"]
    assert body["execution_role_arn"] != body["task_role_arn"]


@pytest.mark.parametrize("service", ["orbit", "axon"])
def test_containers_are_read_only_non_root_and_get_secrets_from_secrets_manager(service):
    container = ECS_LOCALS[f"{service}_container"]
    assert container["readonlyRootFilesystem"] is True
    user = ECS_LOCALS["container_user"] if container["user"] == "${local.container_user}" else container["user"]
    assert user.split(":")[0] not in {"", "0", "root"}
    assert container["mountPoints"] == [{"sourceVolume": "tmp", "containerPath": "/tmp", "readOnly": False}]
    secrets = container["secrets"]
    assert secrets
    assert all(str(item["valueFrom"]).startswith("${var.secret_arns.") for item in secrets)
    environment = {item["name"]: item["value"] for item in container["environment"]}
    assert [name for name in environment if SECRET_LOOKING.search(name)] == []
    assert environment["PROMETHEUS_MULTIPROC_DIR"] == "/tmp/prometheus"
    assert container["logConfiguration"]["logDriver"] == "awslogs"
    assert container["linuxParameters"]["capabilities"]["drop"] == ["ALL"]
    assert "privileged" not in container or container["privileged"] is False


def test_container_wiring_matches_the_contract():
    orbit = {item["name"]: item["value"] for item in ECS_LOCALS["orbit_container"]["environment"]}
    axon = {item["name"]: item["value"] for item in ECS_LOCALS["axon_container"]["environment"]}
    assert orbit["ORBIT_AXON_URL"] == "http://axon:${local.ports.axon}"
    assert orbit["ORBIT_REPLAY_STORE"] == axon["AXON_REPLAY_STORE"] == "dynamodb"
    assert orbit["ORBIT_GOVERNANCE_FUNCTION"] == "${var.governance_function_name}:${var.governance_alias_name}"
    assert {"PROJECT_NAME", "AWS_REGION"} <= set(orbit) & set(axon)
    # Nothing in Orbit or Axon reads ENVIRONMENT (only the governance function, for its Cedar context).
    assert "ENVIRONMENT" not in set(orbit) | set(axon)
    assert {"AXON_ENGINE", "AXON_BEDROCK_MODEL_ID", "AXON_ENGINE_TIMEOUT_SECONDS"} <= set(axon)
    assert orbit["ORBIT_AXON_TIMEOUT_MS"] == "${tostring(local.orbit_axon_timeout_ms)}"
    assert orbit["ORBIT_GOVERNANCE_TIMEOUT_MS"] == "${tostring(var.orbit_governance_timeout_ms)}"
    assert [item["name"] for item in ECS_LOCALS["orbit_container"]["secrets"]] == [
        "ORBIT_SIGNING_KEY",
        "ORBIT_RECEIPT_PUBLIC_KEY",
    ]
    assert ECS_LOCALS["orbit_container"]["secrets"][1]["valueFrom"] == "${var.secret_arns.receipt_public_key}"
    # Axon accepts only signatures made for the Host Orbit calls it by: the Service Connect name of ORBIT_AXON_URL.
    assert f"http://{axon['AXON_ALLOWED_HOSTS']}" == orbit["ORBIT_AXON_URL"]
    assert orbit["ORBIT_ALLOWED_HOSTS"] == '${join(",", var.orbit_allowed_hosts)}'
    assert [item["name"] for item in ECS_LOCALS["axon_container"]["secrets"]] == [
        "AXON_SIGNING_KEY",
        "AXON_RECEIPT_PUBLIC_KEY",
    ]
    assert ECS_LOCALS["ports"] == {"orbit": 8080, "axon": 8081}


def test_services_roll_back_on_failed_deployments_and_use_service_connect():
    services = [block for block in ECS if block.type == "aws_ecs_service"]
    assert {block.name for block in services} == {"orbit", "axon"}
    for service in services:
        breaker = nested(service.body, "deployment_circuit_breaker")
        assert breaker == [{"enable": True, "rollback": True}], service.address
        connect = nested(service.body, "service_connect_configuration")
        assert connect, service.address
        assert connect[0]["enabled"] is True, service.address
        assert nested(service.body, "network_configuration")[0]["assign_public_ip"] is False
    axon = next(block for block in services if block.name == "axon")
    alias = nested(nested(axon.body, "service_connect_configuration")[0], "service")[0]["client_alias"][0]
    assert alias == {"dns_name": "axon", "port": "${local.ports.axon}"}
    assert "axon_subnet_ids" in str(nested(axon.body, "network_configuration")[0]["subnets"])


def test_cluster_has_container_insights_and_cpu_autoscaling_matches_the_specification():
    cluster = next(block for block in ECS if block.type == "aws_ecs_cluster")
    setting = nested(cluster.body, "setting")[0]
    assert setting["name"] == "containerInsights"
    assert setting["value"] in {"enabled", "enhanced"}
    policy = next(block for block in ECS if block.type == "aws_appautoscaling_policy")
    config = nested(policy.body, "target_tracking_scaling_policy_configuration")[0]
    assert (config["target_value"], config["scale_in_cooldown"], config["scale_out_cooldown"]) == (70, 300, 60)
    metric = nested(config, "predefined_metric_specification")[0]["predefined_metric_type"]
    assert metric == "ECSServiceAverageCPUUtilization"


LAMBDA_DOCS = parse_dir(MODULES / "lambda")


def test_lambda_runtime_is_python_3_12_or_newer():
    variables = variables_of(LAMBDA_DOCS)
    functions = blocks(LAMBDA_DOCS, "resource", "aws_lambda_function")
    assert {block.name for block in functions} == {"governance", "key_rotation"}
    for function in functions:
        runtime = function.body["runtime"]
        runtimes = [variables["runtime"]["default"]] if runtime == "${var.runtime}" else [runtime]
        if runtime == "${var.runtime}":
            condition = variables["runtime"]["validation"][0]["condition"]
            runtimes += re.findall(r"python3\.\d+", condition)
        assert runtimes, function.address
        assert all((python_minor(item) or 0) >= 12 for item in runtimes), function.address


def test_lambda_functions_are_in_the_vpc_traced_published_and_limited():
    for function in blocks(LAMBDA_DOCS, "resource", "aws_lambda_function"):
        body = function.body
        assert body["publish"] is True
        assert nested(body, "tracing_config")[0]["mode"] == "Active"
        assert nested(body, "vpc_config"), function.address
        assert "reserved_concurrent_executions" in body
        assert body["filename"] == "${var.lambda_zip_path}"
    handlers = {block.name: block.body["handler"] for block in blocks(LAMBDA_DOCS, "resource", "aws_lambda_function")}
    assert handlers == {
        "governance": "governance.handler.lambda_handler",
        "key_rotation": "agent_runtime.key_rotation.lambda_handler",
    }
    alias = next(iter(blocks(LAMBDA_DOCS, "resource", "aws_lambda_alias")))
    assert alias.body["name"] == "live"
    assert alias.body["function_version"] == "${aws_lambda_function.governance.version}"


def test_alarm_topic_is_encrypted():
    topics = all_blocks("resource", "aws_sns_topic")
    assert topics
    for topic in topics:
        assert str(topic.body.get("kms_master_key_id", "")).strip(), topic.address


def test_secret_names_match_the_naming_contract():
    from agent_runtime.names import Names

    names = Names("agent-runtime")
    security = parse_dir(MODULES / "security")
    secret = next(iter(blocks(security, "resource", "aws_secretsmanager_secret")))
    assert secret.body["name"] == "${var.project_name}/${each.key}"
    declared = {f"agent-runtime/{key}" for key in locals_of(security)["secrets"]}
    assert declared == {
        names.orbit_signing_key_secret,
        names.receipt_private_key_secret,
        names.receipt_public_key_secret,
    }


def test_every_setting_terraform_gives_a_service_is_one_it_reads():
    # A misspelt variable would be silently ignored (the default applies): each ORBIT_*, AXON_* or GOVERNANCE_*
    # variable of the task definitions and the governance function names a field of that component's settings.
    from dataclasses import fields

    from agent_runtime.settings import variable
    from axon.config import AxonSettings
    from governance.config import Settings as GovernanceSettings
    from orbit.config import OrbitSettings

    function = next(b.body for b in blocks(LAMBDA_DOCS, "resource", "aws_lambda_function") if b.name == "governance")
    given = {
        OrbitSettings: [item["name"] for item in ECS_LOCALS["orbit_container"]["environment"]]
        + [item["name"] for item in ECS_LOCALS["orbit_container"]["secrets"]],
        AxonSettings: [item["name"] for item in ECS_LOCALS["axon_container"]["environment"]]
        + [item["name"] for item in ECS_LOCALS["axon_container"]["secrets"]],
        GovernanceSettings: list(nested(function, "environment")[0]["variables"]),
    }
    for settings, names in given.items():
        known = {variable(settings, field.name) for field in fields(settings)}
        ours = [name for name in names if name.startswith(settings.PREFIX)]
        assert ours, settings.__name__
        assert sorted(set(ours) - known) == [], settings.__name__
