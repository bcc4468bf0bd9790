"""agentctl deploy to an AWS environment, against the emulator, with terraform and docker faked at the process
boundary (tests/cli/fake_tools.py) and a throw-away git checkout as the repository."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import zipfile
from pathlib import Path

import boto3
import pytest

from agentctl import settings
from tests.cli import fake_tools
from tests.cli.conftest import run
from tests.conftest import ROOT

BUILD_STUB = """import zipfile
from pathlib import Path
out = Path(__file__).resolve().parents[1] / "governance" / "lambda" / "lambda.zip"
out.parent.mkdir(parents=True, exist_ok=True)
with zipfile.ZipFile(out, "w") as archive:
    archive.writestr("governance/handler.py", "def lambda_handler(event, context):\\n    return {}\\n")
"""


def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(repo), *args], capture_output=True, text=True, check=True, timeout=30
    ).stdout.strip()


LOCK_FILE = 'provider "registry.terraform.io/hashicorp/aws" {\n  version = "6.0.0"\n}\n'


@pytest.fixture
def checkout(tmp_path, monkeypatch) -> Path:
    """A git checkout with what a deploy reads: the env's versions.tf and its committed provider lock file, the
    services' Dockerfile, the Lambda build script, and the repository's own ignore rules."""
    repo = tmp_path / "repo"
    for env in ("dev", "prod"):
        (repo / "infra" / "envs" / env).mkdir(parents=True)
        shutil.copy(ROOT / "infra" / "envs" / env / "versions.tf", repo / "infra" / "envs" / env / "versions.tf")
        (repo / "infra" / "envs" / env / ".terraform.lock.hcl").write_text(LOCK_FILE)
    (repo / "services").mkdir()
    (repo / "services" / "Dockerfile").write_text("FROM python:3.12-slim\nARG SERVICE\n")
    (repo / "scripts").mkdir()
    (repo / "scripts" / "build_lambda.py").write_text(BUILD_STUB)
    shutil.copy(ROOT / ".gitignore", repo / ".gitignore")
    git(repo, "init", "-q")
    git(repo, "-c", "user.name=t", "-c", "user.email=t@example.com", "add", ".")
    git(repo, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qm", "release")
    monkeypatch.setattr(settings, "REPO_ROOT", repo)
    return repo


@pytest.fixture
def tools(tmp_path, monkeypatch) -> Path:
    """Fake terraform and docker first on PATH; returns the log of their calls."""
    fake_tools.install(tmp_path / "bin")
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.delenv("AGENTCTL_TERRAFORM", raising=False)
    log = tmp_path / "tools.log"
    monkeypatch.setenv("FAKE_TOOLS_LOG", str(log))
    return log


@pytest.fixture
def lambda_zip(tmp_path) -> Path:
    path = tmp_path / "lambda.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("governance/handler.py", "def lambda_handler(event, context):\n    return {'v': 2}\n")
    return path


CERT = "arn:aws:acm:us-east-1:123456789012:certificate/00000000-0000-0000-0000-000000000000"


def deploy(*extra: str):
    return run("--env", "dev", "deploy", "--certificate-arn", CERT, *extra)


def test_plan_only_shows_every_step_and_changes_nothing(world, emulation, checkout, tools):
    result = deploy("--plan-only", "--output", "json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    steps = {s["name"]: s for s in report["steps"]}
    commit = git(checkout, "rev-parse", "HEAD")
    assert report["image_tag"] == commit
    assert steps["terraform"]["detail"].endswith("1.11.4 (>= 1.11.0 required)")
    assert steps["ECR repositories"]["status"] == "would run"
    assert steps["image orbit"]["status"] == "would run"
    assert steps["terraform apply"]["status"] == "would run"
    assert steps["rollback on failure"]["status"] == "would run"
    assert report["plan_summary"] == "Plan: 0 to add, 3 to change, 0 to destroy."
    assert report["result"] == "planned: nothing was changed"
    # Terraform was asked to init and plan only; docker was not run; nothing moved in the account.
    terraform = fake_tools.calls(tools, "terraform")
    assert [c[0] for c in terraform] == ["version", "init", "plan"]
    assert {"-lockfile=readonly", "-backend-config=bucket=rb-test-terraform-state-dev"} <= set(terraform[1])
    assert "-backend-config=region=us-east-1" in terraform[1]
    assert fake_tools.calls(tools, "docker") == []
    assert world.service("orbit")["taskDefinition"] == world.task_definitions["orbit"][1]
    assert world.alias_version() == "3"
    assert boto3.client("ecr").describe_repositories()["repositories"] == []
    assert not (checkout / ".local" / "deploys").exists()  # not even a snapshot file
    # The Lambda package was built with the repository's build script (terraform hashes it at plan time).
    assert (checkout / "governance" / "lambda" / "lambda.zip").is_file()

    table = deploy("--plan-only")
    assert table.exit_code == 0, table.output
    assert "Plan: 0 to add, 3 to change, 0 to destroy." in table.stdout
    assert "[would run] terraform apply: apply the saved plan" in table.stdout


def test_deploy_builds_pushes_applies_waits_and_checks_health(world, emulation, checkout, tools, lambda_zip):
    result = deploy("--lambda-zip", str(lambda_zip), "--output", "json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    commit = git(checkout, "rev-parse", "HEAD")
    assert report["result"] == f"deployed {commit} to dev"

    terraform = fake_tools.calls(tools, "terraform")
    assert [c[0] for c in terraform] == ["version", "init", "plan", "apply", "plan", "apply"]
    assert "-target=module.stack.module.ecr" in terraform[2]  # first deploy: the repositories first
    assert "-input=false" in terraform[1]
    assert "-detailed-exitcode" in terraform[4]
    var_file = next(a.split("=", 1)[1] for a in terraform[4] if a.startswith("-var-file="))
    assert var_file.endswith("agentctl.auto.tfvars.json")
    docker = fake_tools.calls(tools, "docker")
    assert [c[0] for c in docker] == ["version", "login", "build", "push", "build", "push"]
    pushed = [c[1] for c in docker if c[0] == "push"]
    assert pushed == [f"123456789012.dkr.ecr.us-east-1.amazonaws.com/rb-test/{s}:{commit}" for s in ("orbit", "axon")]
    build = next(c for c in docker if c[0] == "build")
    assert build[build.index("-f") + 1] == "services/Dockerfile"  # one Dockerfile, the service as a build argument
    assert build[build.index("--build-arg") + 1] == "SERVICE=orbit"
    assert build[-1] == "."  # the repository root (docker's working directory) is the build context
    assert "--platform" in build

    # New revisions with the commit's images, services on them, the Lambda published and `live` moved.
    orbit = world.service("orbit")
    assert orbit["taskDefinition"].endswith("task-definition/rb-test-orbit:3")
    image = boto3.client("ecs").describe_task_definition(taskDefinition=orbit["taskDefinition"])["taskDefinition"]
    assert image["containerDefinitions"][0]["image"].endswith(f"rb-test/orbit:{commit}")
    assert world.service("axon")["taskDefinition"].endswith("task-definition/rb-test-axon:4")
    assert world.alias_version() == "4"
    assert report["released"]["governance"] == "4"
    assert report["snapshot"]["governance_version"] == "3"
    assert all(c["healthy"] for c in report["health"])
    snapshot_file = Path(report["snapshot_file"])
    assert json.loads(snapshot_file.read_text())["task_definitions"]["axon"] == world.task_definitions["axon"][2]

    # Deploying the same commit again builds nothing: the tags are in ECR already.
    again = deploy("--lambda-zip", str(lambda_zip), "--output", "json")
    assert again.exit_code == 0, again.output
    steps = {s["name"]: s for s in json.loads(again.stdout)["steps"]}
    assert steps["image orbit"]["status"] == "skipped"
    assert [c[0] for c in fake_tools.calls(tools, "docker")].count("build") == 2


def test_a_release_that_never_becomes_healthy_is_rolled_back(world, emulation, checkout, tools, lambda_zip):
    emulation.failing.add("arn:aws:ecs:us-east-1:123456789012:task-definition/rb-test-axon:4")  # the new revision
    result = deploy("--lambda-zip", str(lambda_zip), "--timeout", "5", "--output", "json")
    assert result.exit_code == 1
    assert "rollout of rb-test-axon:4 failed" in result.stderr
    assert (
        "Rolled back: orbit rb-test-orbit:3 -> rb-test-orbit:2; axon rb-test-axon:4 -> rb-test-axon:3" in result.stderr
    )
    assert "governance live 4 -> 3; every health check is green again" in result.stderr
    # Back on the full ARNs of the revisions that ran before, and the alias on its old version.
    assert world.service("orbit")["taskDefinition"] == world.task_definitions["orbit"][1]
    assert world.service("axon")["taskDefinition"] == world.task_definitions["axon"][2]
    assert world.alias_version() == "3"
    report = json.loads(result.stdout)
    assert report["rolled_back"]


def test_a_failed_health_check_after_the_rollout_rolls_back_too(world, emulation, checkout, tools, lambda_zip):
    emulation.decision = None  # the new Lambda version errors on every invocation
    result = deploy("--lambda-zip", str(lambda_zip), "--health-timeout", "1")
    assert result.exit_code == 1
    assert "health did not finish within 1s (last seen: waiting for Governance invocation)" in result.stderr
    assert world.alias_version() == "3"
    assert world.service("orbit")["taskDefinition"] == world.task_definitions["orbit"][1]


def test_a_failed_apply_stops_before_anything_is_waited_for(world, emulation, checkout, tools, lambda_zip, monkeypatch):
    boto3.client("ecr").create_repository(repositoryName="rb-test/orbit")
    boto3.client("ecr").create_repository(repositoryName="rb-test/axon")
    monkeypatch.setenv("FAKE_TERRAFORM_APPLY_FAIL", "1")
    result = deploy("--lambda-zip", str(lambda_zip))
    assert result.exit_code == 1
    assert "terraform apply failed (exit 1)" in result.stderr
    assert "AccessDeniedException" in result.stderr
    assert world.service("orbit")["taskDefinition"] == world.task_definitions["orbit"][1]


def test_old_terraform_is_refused_and_a_newer_one_later_on_path_is_used(
    world, emulation, checkout, tools, lambda_zip, tmp_path, monkeypatch
):
    fake_tools.install(tmp_path / "old", terraform_version="1.0.3", docker=False)
    monkeypatch.setenv("PATH", f"{tmp_path / 'old'}{os.pathsep}{os.environ['PATH']}")
    used = deploy("--lambda-zip", str(lambda_zip), "--plan-only", "--output", "json")
    assert used.exit_code == 0, used.output
    step = next(s for s in json.loads(used.stdout)["steps"] if s["name"] == "terraform")
    assert step["detail"].startswith(str(tmp_path / "bin" / "terraform"))

    monkeypatch.setenv("AGENTCTL_TERRAFORM", str(tmp_path / "old" / "terraform"))
    refused = deploy("--lambda-zip", str(lambda_zip), "--plan-only")
    assert refused.exit_code == 4
    assert "terraform >= 1.11.0 is needed by infra/envs/dev (versions.tf)" in refused.stderr
    assert "is 1.0.3" in refused.stderr
    assert "PyPI wrapper's 1.0.3" in refused.stderr


def test_deploy_refuses_a_dirty_tree_a_missing_certificate_and_prod(world, emulation, checkout, tools, lambda_zip):
    no_cert = run("--env", "dev", "deploy", "--lambda-zip", str(lambda_zip))
    assert no_cert.exit_code == 4
    assert "certificate_arn is required" in no_cert.stderr
    assert "--var-file" in no_cert.stderr
    assert "TF_VAR_certificate_arn" in no_cert.stderr
    assert len(no_cert.stderr.strip().splitlines()) == 1

    prod = run("--env", "prod", "deploy", "--certificate-arn", CERT, "--lambda-zip", str(lambda_zip))
    assert prod.exit_code == 4
    assert "--allow-prod" in prod.stderr

    with (checkout / "services" / "Dockerfile").open("a") as dockerfile:  # a tracked file changed
        dockerfile.write("RUN true\n")
    (checkout / "notes.txt").write_text("an untracked file\n")
    dirty = deploy("--lambda-zip", str(lambda_zip))
    assert dirty.exit_code == 4
    assert "uncommitted changes (services/Dockerfile, notes.txt)" in dirty.stderr
    assert fake_tools.calls(tools, "docker") == []
    assert "apply" not in [c[0] for c in fake_tools.calls(tools, "terraform")]


def test_deploy_with_a_var_file_and_a_given_image_tag(world, emulation, checkout, tools, lambda_zip, tmp_path):
    var_file = tmp_path / "dev.tfvars"
    var_file.write_text(f'certificate_arn = "{CERT}"\nalarm_email = "oncall@example.com"\n')
    ecr = boto3.client("ecr")
    for service in ("orbit", "axon"):
        ecr.create_repository(repositoryName=f"rb-test/{service}")
    missing = run(
        "--env", "dev", "deploy", "--var-file", str(var_file), "--image-tag", "v1.2.3", "--lambda-zip", str(lambda_zip)
    )
    assert missing.exit_code == 4
    assert "--image-tag v1.2.3: not in ECR for orbit, axon" in missing.stderr

    for service in ("orbit", "axon"):
        ecr.put_image(
            repositoryName=f"rb-test/{service}",
            imageTag="v1.2.3",
            imageManifest=json.dumps({"schemaVersion": 2, "config": {}, "layers": []}),
            imageManifestMediaType="application/vnd.docker.distribution.manifest.v2+json",
        )
    result = run(
        "--env", "dev", "deploy", "--var-file", str(var_file), "--image-tag", "v1.2.3",
        "--lambda-zip", str(lambda_zip), "--output", "json",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert fake_tools.calls(tools, "docker") == []
    image = boto3.client("ecs").describe_task_definition(taskDefinition=world.service("axon")["taskDefinition"])
    assert image["taskDefinition"]["containerDefinitions"][0]["image"].endswith("rb-test/axon:v1.2.3")
    plan = next(c for c in fake_tools.calls(tools, "terraform") if c[0] == "plan")
    var_files = [a.split("=", 1)[1] for a in plan if a.startswith("-var-file=")]
    assert var_files[0] == str(var_file)  # the operator's file first, agentctl's (image tags, zip) last


# --- a fresh account, another region, the documented inputs (issue: the AWS path works the first time) ----------


def test_a_first_deploy_in_a_fresh_account_and_a_second_one_on_the_same_tree(aws_env, emulation, checkout, tools):
    """No cluster, no table, no function: --plan-only, then the first deploy, then another deploy of the same
    commit, which the clean-tree check must not refuse (nothing the deploy wrote counts as a change)."""
    planned = deploy("--plan-only", "--output", "json")
    assert planned.exit_code == 0, planned.output
    steps = {s["name"]: s for s in json.loads(planned.stdout)["steps"]}
    assert steps["snapshot"]["detail"] == "nothing to snapshot: first deploy (no automatic rollback target exists)"
    assert steps["rollback on failure"]["status"] == "skipped"
    assert steps["ECR repositories"]["status"] == "would run"

    first = deploy("--output", "json")
    assert first.exit_code == 0, first.output
    report = json.loads(first.stdout)
    commit = git(checkout, "rev-parse", "HEAD")
    assert report["result"] == f"deployed {commit} to dev"
    assert report["snapshot"]["task_definitions"] == {"orbit": None, "axon": None}
    assert report["released"]["governance"] == "1"
    assert "snapshot_file" not in report  # nothing to keep for a rollback
    assert all(c["healthy"] for c in report["health"])
    # What the deploy left in the tree is ignored or unchanged: terraform's .terraform/, the committed lock file.
    assert (checkout / "infra" / "envs" / "dev" / ".terraform").is_dir()
    assert (checkout / "infra" / "envs" / "dev" / ".terraform.lock.hcl").read_text() == LOCK_FILE
    assert git(checkout, "status", "--porcelain") == ""

    second = deploy("--output", "json")
    assert second.exit_code == 0, second.output
    again = json.loads(second.stdout)
    assert again["snapshot"]["governance_version"] == "1"
    assert again["released"]["governance"] == "2"
    assert {s["name"]: s["status"] for s in again["steps"]}["image orbit"] == "skipped"
    assert Path(again["snapshot_file"]).is_file()
    inits = [c for c in fake_tools.calls(tools, "terraform") if c[0] == "init"]
    assert len(inits) == 3
    assert all("-lockfile=readonly" in c for c in inits)


def test_a_deploy_in_another_region_takes_the_backend_and_every_client_there(
    aws_env, emulation, checkout, tools, monkeypatch
):
    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    monkeypatch.setenv("AGENTCTL_STATE_BUCKET", "team-state")
    result = deploy("--output", "json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    identity = next(s for s in report["steps"] if s["name"] == "AWS identity")
    assert "region eu-west-1" in identity["detail"]
    init = next(c for c in fake_tools.calls(tools, "terraform") if c[0] == "init")
    assert "-backend-config=region=eu-west-1" in init
    assert "-backend-config=bucket=team-state" in init
    pushed = [c[1] for c in fake_tools.calls(tools, "docker") if c[0] == "push"]
    assert pushed
    assert all(".dkr.ecr.eu-west-1.amazonaws.com/" in uri for uri in pushed)
    # Everything was created, and read back, in eu-west-1; nothing in us-east-1.
    ecs = {region: boto3.client("ecs", region_name=region) for region in ("eu-west-1", "us-east-1")}
    assert ecs["eu-west-1"].list_clusters()["clusterArns"] == [
        "arn:aws:ecs:eu-west-1:123456789012:cluster/rb-test-cluster"
    ]
    assert ecs["us-east-1"].list_clusters()["clusterArns"] == []
    assert all(c["healthy"] for c in report["health"])
    assert report["released"]["orbit"].startswith("arn:aws:ecs:eu-west-1:")


def test_the_documented_inputs_a_var_file_tf_var_and_the_state_bucket(
    aws_env, emulation, checkout, tools, lambda_zip, tmp_path, monkeypatch
):
    var_file = tmp_path / "dev.tfvars"
    var_file.write_text('alarm_email = "oncall@example.com"\n')
    monkeypatch.setenv("TF_VAR_certificate_arn", CERT)  # the certificate from Terraform's own variable
    result = run(
        "--env", "dev", "deploy", "--var-file", str(var_file), "--state-bucket", "given-bucket",
        "--backend-config", "key=other/terraform.tfstate", "--lambda-zip", str(lambda_zip), "--plan-only",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    init, plan = [c for c in fake_tools.calls(tools, "terraform") if c[0] in ("init", "plan")]
    assert "-backend-config=bucket=given-bucket" in init
    assert "-backend-config=key=other/terraform.tfstate" in init
    assert f"-var-file={var_file}" in plan
