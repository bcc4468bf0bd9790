"""Terraform for a deploy: a binary recent enough for the environment, and init/plan/apply (python-terraform)."""

from __future__ import annotations

import json
import os
import re
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import python_terraform

from agentctl.ops.deploy.tools import heartbeat, tail
from agentctl.ops.errors import OpsError, Refused
from agentctl.ops.waiting import Progress


def _version_tuple(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", version.split("-")[0])[:3])


def required_terraform(env_dir: Path) -> str:
    """The minimum version of `required_version = ">= X"` in the environment's versions.tf."""
    text = (env_dir / "versions.tf").read_text(encoding="utf-8")
    match = re.search(r'required_version\s*=\s*"\s*>=?\s*([0-9][0-9.]*)\s*"', text)
    if not match:
        raise OpsError(f'no `required_version = ">= X"` in {env_dir / "versions.tf"}')
    return match[1]


def terraform_version(binary: str) -> str:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # python-terraform logs with the deprecated warn()
        code, out, err = python_terraform.Terraform(terraform_bin_path=binary).cmd(
            "version", json=python_terraform.IsFlagged
        )
    if code != 0:
        raise OpsError(f"{binary} version failed: {(err or out).strip()[:200]}")
    try:
        return str(json.loads(out)["terraform_version"])
    except (ValueError, KeyError):  # terraform older than 0.13 has no -json
        match = re.search(r"Terraform v(\S+)", out)
        return match[1] if match else "unknown"


def _candidates(explicit: str | None) -> list[str]:
    if explicit:
        return [explicit]
    found, seen = [], set()
    for folder in os.environ.get("PATH", "").split(os.pathsep):
        path = Path(folder) / "terraform"
        if path.is_file() and os.access(path, os.X_OK) and path.resolve() not in seen:
            seen.add(path.resolve())
            found.append(str(path))
    return found


def find_terraform(required: str, env_dir: Path, explicit: str | None = None) -> tuple[str, str]:
    """The first terraform on PATH (or `explicit`, AGENTCTL_TERRAFORM) of at least `required`: (path, version)."""
    tried = []
    for binary in _candidates(explicit):
        version = terraform_version(binary)
        if version != "unknown" and _version_tuple(version) >= _version_tuple(required):
            return binary, version
        tried.append(f"{binary} is {version}")
    found = "; ".join(tried) if tried else "no terraform on PATH"
    raise Refused(
        f"terraform >= {required} is needed by {env_dir.relative_to(env_dir.parents[2])} (versions.tf), "
        f"found: {found}. The virtualenv's terraform is the PyPI wrapper's 1.0.3 and only formats the code: "
        "install HashiCorp's terraform (https://developer.hashicorp.com/terraform/install) and put it first "
        "on PATH, or set AGENTCTL_TERRAFORM=/path/to/terraform"
    )


class Terraform:
    """terraform init/plan/apply in one environment's folder, with -input=false and -no-color."""

    def __init__(self, binary: str, env_dir: Path, progress: Progress) -> None:
        self.tf = python_terraform.Terraform(working_dir=str(env_dir), terraform_bin_path=binary)
        self.progress = progress

    def _call(self, what: str, method: Callable[..., tuple[int, str, str]], ok: tuple[int, ...], **kwargs: Any) -> Any:
        with warnings.catch_warnings(), heartbeat(what, self.progress):
            warnings.simplefilter("ignore", DeprecationWarning)
            code, out, err = method(capture_output=True, **kwargs)
        if code not in ok:
            raise OpsError(f"{what} failed (exit {code}):\n{tail(err or out)}")
        return code, out

    def init(self, backend_config: dict[str, str]) -> None:
        """-lockfile=readonly: the provider versions are the committed .terraform.lock.hcl's, and init never
        rewrites it (a deploy must leave the working tree clean)."""
        self._call("terraform init", self.tf.init, (0,), backend_config=backend_config, lockfile="readonly", var=None)

    def plan(self, plan_file: Path, var_files: list[Path], targets: list[str] | None = None) -> tuple[bool, str]:
        """(changes?, the plan's text). Uses -detailed-exitcode: 0 no changes, 2 changes."""
        code, out = self._call(
            "terraform plan",
            self.tf.plan,
            (0, 2),
            out=str(plan_file),
            var=None,
            var_file=[str(f) for f in var_files],
            target=targets or [],
        )
        return code == 2, out

    def apply(self, plan_file: Path) -> str:
        _, out = self._call(
            "terraform apply", self.tf.apply, (0,), dir_or_plan=str(plan_file), skip_plan=True, var=None
        )
        return str(out)


def plan_summary(text: str) -> str:
    match = re.search(r"Plan: \d+ to add, \d+ to change, \d+ to destroy\.", text)
    if match:
        return match[0]
    return "No changes." if "No changes" in text else "(no summary line in the plan)"
