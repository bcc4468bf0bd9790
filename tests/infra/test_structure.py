"""Layout of infra/: modules, environments, variables, providers, backends; no App Mesh anywhere."""

from __future__ import annotations

import re

import pytest

from .hcl_tools import (
    ENVS,
    INFRA,
    MODULES,
    SHARED_ENV,
    all_blocks,
    env_dirs,
    iter_variable_problems,
    locals_of,
    module_dirs,
    outputs_of,
    parse_dir,
    parse_file,
    tf_files,
    variables_of,
)

EXPECTED_MODULES = {"cicd", "dynamodb", "ecr", "ecs", "lambda", "network", "observability", "security", "stack"}
EXPECTED_ENVS = {"dev", "staging", "prod"}
SHARED_FILES = ("variables.tf", "outputs.tf", "providers.tf", "stack.tf", ".terraform.lock.hcl")
LOCKED_AWS_VERSION = "6.25.0"


def test_expected_modules_and_environments_exist():
    assert {path.name for path in module_dirs()} == EXPECTED_MODULES
    assert {path.name for path in env_dirs()} == EXPECTED_ENVS


@pytest.mark.parametrize("module", sorted(EXPECTED_MODULES))
def test_module_has_the_four_standard_files(module):
    present = {path.name for path in (MODULES / module).glob("*.tf")}
    assert {"main.tf", "variables.tf", "outputs.tf", "versions.tf"} <= present


@pytest.mark.parametrize("directory", [*module_dirs(), *env_dirs()], ids=lambda path: f"{path.parent.name}/{path.name}")
def test_every_variable_has_a_description_and_a_precise_type(directory):
    variables = variables_of(parse_dir(directory))
    problems = list(iter_variable_problems(variables, str(directory.relative_to(INFRA))))
    assert problems == []


@pytest.mark.parametrize("directory", [*module_dirs(), *env_dirs()], ids=lambda path: f"{path.parent.name}/{path.name}")
def test_every_output_has_a_description(directory):
    outputs = outputs_of(parse_dir(directory))
    assert outputs, f"{directory} declares no outputs"
    assert [name for name, body in outputs.items() if not str(body.get("description", "")).strip()] == []


@pytest.mark.parametrize("module", sorted(EXPECTED_MODULES))
def test_modules_state_minimum_versions_and_declare_no_backend_or_provider(module):
    docs = parse_dir(MODULES / module)
    terraform = [block for doc in docs for block in doc.get("terraform", [])]
    assert len(terraform) == 1
    assert str(terraform[0]["required_version"]).startswith(">=")
    aws = terraform[0]["required_providers"][0]["aws"]
    assert aws["source"] == "hashicorp/aws"
    assert str(aws["version"]).startswith(">=")
    assert "backend" not in terraform[0]
    assert not [doc for doc in docs if doc.get("provider")], "modules inherit the environment's provider"


@pytest.mark.parametrize("env", sorted(EXPECTED_ENVS))
def test_environment_pins_providers_and_uses_a_partial_encrypted_locked_s3_backend(env):
    docs = parse_dir(ENVS / env)
    settings: dict = {}
    for doc in docs:
        for block in doc.get("terraform", []):
            assert not set(block) & set(settings), "a terraform setting declared twice"
            settings.update(block)
    assert re.fullmatch(r">= ?1\.1[1-9]\.\d+", str(settings["required_version"]))
    providers = settings["required_providers"][0]
    assert set(providers) == {"aws"}
    assert providers["aws"] == {"source": "hashicorp/aws", "version": LOCKED_AWS_VERSION}
    backend = settings["backend"][0]["s3"]
    # Partial: the bucket and the region come from `terraform init -backend-config=...` (agentctl, the guide).
    assert set(backend) == {"key", "encrypt", "use_lockfile"}
    assert backend["encrypt"] is True
    assert backend["use_lockfile"] is True
    assert backend["key"] == f"agent-runtime/{env}/terraform.tfstate"
    # versions.tf holds required_version (agentctl reads it there) and the backend.
    versions = parse_file(ENVS / env / "versions.tf")["terraform"][0]
    assert "required_version" in versions
    assert "backend" in versions


@pytest.mark.parametrize("env", sorted(EXPECTED_ENVS))
def test_environment_commits_the_lock_file_of_the_pinned_provider(env):
    lock = (ENVS / env / ".terraform.lock.hcl").read_text(encoding="utf-8")
    entries = re.findall(r'provider "([^"]+)" \{\s*version\s*=\s*"([^"]+)"\s*constraints\s*=\s*"([^"]+)"', lock)
    # The constraints as Terraform writes them: every module's ">= 6.0" and the environment's exact pin.
    assert entries == [("registry.terraform.io/hashicorp/aws", LOCKED_AWS_VERSION, f">= 6.0.0, {LOCKED_AWS_VERSION}")]
    hashes = re.findall(r'"(h1:[A-Za-z0-9+/=]{44}|zh:[0-9a-f]{64})"', lock)
    assert any(h.startswith("h1:") for h in hashes)
    assert sum(h.startswith("zh:") for h in hashes) >= 10
    assert lock == (ENVS / "dev" / ".terraform.lock.hcl").read_text(encoding="utf-8"), "one lock for all"


def test_environments_share_variables_outputs_and_provider_through_links():
    for env in EXPECTED_ENVS:
        for name in SHARED_FILES:
            path = ENVS / env / name
            assert path.is_symlink(), f"{path} must link to ../_shared/{name}"
            assert path.resolve() == (SHARED_ENV / name).resolve()


@pytest.mark.parametrize("env", sorted(EXPECTED_ENVS))
def test_environment_is_only_module_wiring(env):
    docs = parse_dir(ENVS / env)
    assert not all_blocks("resource", root=ENVS / env), "environments declare no resources of their own"
    assert not all_blocks("data", root=ENVS / env)
    modules = [name for doc in docs for entry in doc.get("module", []) for name in entry]
    assert modules == ["stack"]


def test_environments_take_the_same_inputs_and_give_the_same_outputs():
    shapes = {
        env.name: (sorted(variables_of(parse_dir(env))), sorted(outputs_of(parse_dir(env)))) for env in env_dirs()
    }
    assert len({repr(shape) for shape in shapes.values()}) == 1, shapes


def test_environment_inputs_cover_what_the_deploy_tool_passes():
    required = {"orbit_image_tag", "axon_image_tag", "lambda_zip_path", "certificate_arn", "alarm_email", "region"}
    for env in env_dirs():
        assert required <= set(variables_of(parse_dir(env))), env.name


def test_environment_outputs_cover_the_contract():
    required = {
        "alb_dns_name",
        "cluster_name",
        "service_names",
        "governance_function_name",
        "governance_alias_arn",
        "table_names",
        "ecr_repository_urls",
        "kms_key_arns",
        "sns_topic_arn",
        "deploy_role_arn",
    }
    for env in env_dirs():
        assert required <= set(outputs_of(parse_dir(env))), env.name


def test_prod_and_staging_protect_state_and_dev_does_not():
    def settings(env: str) -> dict:
        return locals_of([parse_file(ENVS / env / "main.tf")])

    assert settings("prod")["deletion_protection"] is True
    assert settings("staging")["deletion_protection"] is True
    assert settings("dev")["deletion_protection"] is False
    prod = settings("prod")
    assert prod["network"]["az_count"] == 3
    assert prod["orbit"]["min_capacity"] >= 2
    assert prod["axon"]["min_capacity"] >= 2
    # Warm governance instances where traffic matters, none in dev (docs/architecture.md, Timeouts).
    assert prod["governance"]["provisioned_concurrency"] >= 1
    assert settings("dev")["governance"]["provisioned_concurrency"] == 0


def test_each_environment_sets_only_its_own_values():
    for env in EXPECTED_ENVS:
        main = parse_file(ENVS / env / "main.tf")
        assert set(main) == {"locals"}, f"{env}/main.tf: the wiring is in _shared/stack.tf"
        assert locals_of([main])["environment"] == env


def test_no_app_mesh_anywhere():
    for kind in ("resource", "data"):
        assert [block.address for block in all_blocks(kind) if "appmesh" in block.type] == []
    for path in tf_files():
        text = path.read_text(encoding="utf-8").lower()
        assert not re.search(r"appmesh|app_mesh|envoy_image", text), path
