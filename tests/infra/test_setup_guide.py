"""docs/setup-guide.md's AWS commands, run as a user would, in a Region other than us-east-1, up to their first AWS
call: terraform, aws, docker and make are stubs that record their arguments (and write the files terraform
writes), in a scratch git checkout that holds what the commands touch. What they must show:

- `terraform init` gets the state bucket and the user's Region as backend configuration, and the committed lock
  file read-only; plan writes `tfplan` and apply takes it;
- nothing the documented path writes makes the working tree dirty (agentctl refuses to deploy from a dirty tree);
- every `agentctl deploy` / `make deploy` of an AWS environment names the certificate (a var file or
  TF_VAR_certificate_arn), and the images are built from the one Dockerfile.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

from .hcl_tools import ROOT

GUIDE = ROOT / "docs" / "setup-guide.md"
README = ROOT / "README.md"
REGION = "eu-west-1"

# A stub that records its call (a file per call, named by the time: the two sides of a pipe run at once) and writes
# what the real tool would leave behind.
STUB = """#!/usr/bin/env bash
printf '%s\\0' "$(basename "$0")" "$PWD" "$@" > "$STUB_LOG/$(date +%s%N)-$$"
case "$(basename "$0")" in
  aws) [[ "$*" == *get-caller-identity* ]] && echo 123456789012 ;;
  terraform)
    case "$1" in
      init) mkdir -p .terraform/providers && echo '{}' > .terraform/terraform.tfstate ;;
      plan) for arg in "$@"; do [[ "$arg" == -out=* ]] && echo plan > "${arg#-out=}"; done ;;
      output) echo internal-agent-runtime-alb.example ;;
    esac ;;
  make) [[ "$1" == lambda-package ]] && mkdir -p governance/lambda && echo zip > governance/lambda/lambda.zip ;;
esac
exit 0
"""


def code_blocks(text: str, start: str, end: str | None) -> list[str]:
    section = text[text.index(start) :]
    if end:
        section = section[: section.index(end)]
    return re.findall(r"```bash\n(.*?)```", section, re.DOTALL)


def calls(log: Path) -> list[list[str]]:
    return [path.read_text().split("\0")[:-1] for path in sorted(log.iterdir())]


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    """A git checkout with the repository's ignore rules and what the manual path reads."""
    repo = tmp_path / "repo"
    (repo / "infra" / "envs" / "dev").mkdir(parents=True)
    shutil.copy(ROOT / ".gitignore", repo / ".gitignore")
    shutil.copy(ROOT / "infra/envs/dev/.terraform.lock.hcl", repo / "infra/envs/dev/.terraform.lock.hcl")
    (repo / "services").mkdir()
    shutil.copy(ROOT / "services" / "Dockerfile", repo / "services" / "Dockerfile")
    for command in (["init", "-q"], ["add", "-A"], ["-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "x"]):
        subprocess.run(["git", *command], cwd=repo, check=True)
    return repo


def run_documented(checkout: Path, tmp_path: Path, script: str) -> list[list[str]]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("terraform", "aws", "docker", "make", "curl"):
        (bin_dir / tool).write_text(STUB)
        (bin_dir / tool).chmod(0o755)
    log = tmp_path / "calls"
    log.mkdir()
    home = tmp_path / "home"
    home.mkdir()
    env = {
        "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
        "HOME": str(home),
        "STUB_LOG": str(log),
    }
    result = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script], cwd=checkout, env=env, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    return calls(log)


def test_the_manual_path_works_in_any_region_and_leaves_the_tree_clean(checkout, tmp_path):
    text = GUIDE.read_text(encoding="utf-8")
    setup = code_blocks(text, "### Prerequisites", "### Bootstrap the state bucket")
    bucket = code_blocks(text, "### Bootstrap the state bucket", "### Inputs of an environment")
    inputs = code_blocks(text, "### Inputs of an environment", "### Deploy with agentctl")
    manual = code_blocks(text, "### Manual Terraform path", "### CI/CD with GitHub Actions")
    assert setup
    assert manual
    script = "\n".join(setup + bucket + inputs + manual).replace("AWS_REGION=eu-west-1", f"AWS_REGION={REGION}")
    recorded = run_documented(checkout, tmp_path, script)

    terraform = [call[2:] for call in recorded if call[0] == "terraform"]
    [init] = [args for args in terraform if args[0] == "init"]
    assert "-lockfile=readonly" in init
    assert "-backend-config=bucket=agent-runtime-terraform-state-dev" in init
    assert f"-backend-config=region={REGION}" in init
    plans = [args for args in terraform if args[0] == "plan"]
    assert plans
    assert all("-out=tfplan" in args for args in plans)
    assert ["apply", "tfplan"] in terraform
    assert all(call[1].endswith("infra/envs/dev") for call in recorded if call[0] == "terraform")
    # The bucket is created in the user's Region, with the location constraint every Region but us-east-1 needs.
    create = next(call[2:] for call in recorded if call[0] == "aws" and "create-bucket" in call)
    assert create[create.index("--region") + 1] == REGION
    assert f"LocationConstraint={REGION}" in create
    builds = [call[2:] for call in recorded if call[0] == "docker" and call[2] == "build"]
    assert sorted(args[args.index("--build-arg") + 1] for args in builds) == ["SERVICE=axon", "SERVICE=orbit"]
    assert all(args[args.index("-f") + 1] == "services/Dockerfile" for args in builds)

    status = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=all"], cwd=checkout, capture_output=True, text=True
    )
    assert status.stdout == "", f"the documented path dirties the tree:\n{status.stdout}"
    assert (checkout / "infra/envs/dev/tfplan").is_file()  # written, and ignored


def _deploy_lines(text: str) -> list[tuple[str, str]]:
    """(block, line) of every agentctl deploy / make deploy of an AWS environment in the bash blocks."""
    found = []
    for block in re.findall(r"```bash\n(.*?)```", text, re.DOTALL):
        for line in block.splitlines():
            try:
                words = shlex.split(line.rstrip("\\"), comments=True)
            except ValueError:  # a line of a heredoc or a continued command
                words = line.split()
            if "deploy" not in words:
                continue
            aws_env = any(w.startswith("ENVIRONMENT=") and w != "ENVIRONMENT=local" for w in words) or (
                "agentctl" in " ".join(words) and "--env" in words
            )
            if aws_env:
                found.append((block, line))
    return found


@pytest.mark.parametrize("doc", [GUIDE, README], ids=lambda path: path.name)
def test_every_documented_aws_deploy_names_the_certificate(doc):
    lines = _deploy_lines(doc.read_text(encoding="utf-8"))
    assert lines
    for block, line in lines:
        assert "--var-file" in line or "TF_VAR_certificate_arn" in block, line


def test_the_ci_workflow_gives_the_certificate_and_the_region():
    workflow = re.search(r"```yaml\n(.*?)```", GUIDE.read_text(encoding="utf-8"), re.DOTALL).group(1)
    assert "TF_VAR_certificate_arn:" in workflow
    assert "aws-region:" in workflow
    assert "id-token: write" in workflow
    assert re.search(r"run: make deploy ENVIRONMENT=\w+", workflow)


def test_the_guide_builds_the_lambda_package_only_where_agentctl_does_not():
    text = GUIDE.read_text(encoding="utf-8")
    agentctl_section = text[text.index("### Deploy with agentctl") : text.index("### Manual Terraform path")]
    assert "make lambda-package" not in agentctl_section
    manual = text[text.index("### Manual Terraform path") : text.index("### CI/CD with GitHub Actions")]
    assert "make lambda-package" in manual
