"""Deploy an AWS environment: preflight, images, Terraform, rollout, health, and a rollback when it goes wrong.

Steps, in order (each is listed by --plan-only, which changes nothing in AWS):

1. preflight: a terraform binary recent enough for infra/envs/<env> (versions.tf), the AWS identity, the git
   commit (the image tag; a dirty working tree is refused), docker (only when an image must be built), the
   Lambda package (built with scripts/build_lambda.py unless given), certificate_arn;
2. a snapshot of what runs now (each service's task-definition ARN, the version behind `live`), kept in
   .local/deploys/ and used by the automatic rollback;
3. terraform init;
4. the ECR repositories: created first with a targeted apply when they do not exist yet (first deploy);
5. the images: docker build and push of services/<service>/Dockerfile (context: the repository root),
   tagged with the commit, unless that tag is in ECR already (tags are immutable);
6. terraform plan (saved) and apply of that plan: new task-definition revisions, the services updated, a new
   Lambda version published and `live` moved to it;
7. a bounded wait until each service runs only its new revision with every desired task;
8. `agentctl health` until it is green (bounded);
9. on a failed rollout, timeout or failed health: each service back to its snapshot task definition (full
   ARN), `live` back to its snapshot version, waited for, and the deploy reported as failed.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from agent_runtime.names import Names
from agentctl.local.stack import REPO_ROOT
from agentctl.ops import ecs as ecs_ops
from agentctl.ops import governance_fn
from agentctl.ops.errors import OpsError, Refused
from agentctl.ops.health import Check, aws_checks
from agentctl.ops.waiting import Progress, poll_seconds, wait_for

SERVICES = ecs_ops.SERVICES
ECR_TARGET = "module.stack.module.ecr"
PLATFORM = "linux/amd64"  # the task definitions' cpu_architecture X86_64
HEARTBEAT_SECONDS = 30.0


# --- the terraform binary ---------------------------------------------------------------------------------


def _version_tuple(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", version.split("-")[0])[:3])


def required_terraform(env_dir: Path) -> str:
    """The minimum version of `required_version = ">= X"` in the environment's versions.tf."""
    text = (env_dir / "versions.tf").read_text(encoding="utf-8")
    match = re.search(r'required_version\s*=\s*"\s*>=?\s*([0-9][0-9.]*)\s*"', text)
    if not match:
        raise OpsError(f'no `required_version = ">= X"` in {env_dir / "versions.tf"}')
    return match[1]


def _terraform_module() -> Any:
    import python_terraform

    return python_terraform


def terraform_version(binary: str) -> str:
    python_terraform = _terraform_module()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # python-terraform logs with the deprecated warn()
        code, out, err = python_terraform.Terraform(terraform_bin_path=binary).cmd(
            "version", json=python_terraform.IsFlagged
        )
    if code != 0:
        raise OpsError(f"{binary} version failed: {(err or out).strip()[:200]}")
    try:
        return json.loads(out)["terraform_version"]
    except (ValueError, KeyError):  # terraform older than 0.13 has no -json
        match = re.search(r"Terraform v(\S+)", out)
        return match[1] if match else "unknown"


def _candidates() -> list[str]:
    explicit = os.environ.get("AGENTCTL_TERRAFORM")
    if explicit:
        return [explicit]
    found, seen = [], set()
    for folder in os.environ.get("PATH", "").split(os.pathsep):
        path = Path(folder) / "terraform"
        if path.is_file() and os.access(path, os.X_OK) and path.resolve() not in seen:
            seen.add(path.resolve())
            found.append(str(path))
    return found


def find_terraform(required: str, env_dir: Path) -> tuple[str, str]:
    """The first terraform on PATH (or $AGENTCTL_TERRAFORM) of at least `required`: (path, version)."""
    tried = []
    for binary in _candidates():
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


# --- processes --------------------------------------------------------------------------------------------


def _tail(text: str | None, lines: int = 15) -> str:
    return "\n".join((text or "").strip().splitlines()[-lines:])


@contextlib.contextmanager
def heartbeat(what: str, progress: Progress, every: float = HEARTBEAT_SECONDS) -> Iterator[None]:
    """A progress line every `every` seconds while a long step runs (terraform apply, docker build)."""
    done = threading.Event()
    started = time.monotonic()

    def beat() -> None:
        while not done.wait(every):
            progress(f"{what}: still running ({time.monotonic() - started:.0f}s)")

    thread = threading.Thread(target=beat, daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join()


@dataclass
class Tools:
    """The external programs a deploy runs: git, docker, the Lambda build, terraform (through python-terraform)."""

    repo_root: Path
    progress: Progress

    def run(self, argv: list[str], what: str, *, input: str | None = None, timeout: float = 3600) -> str:
        try:
            with heartbeat(what, self.progress):
                result = subprocess.run(  # noqa: S603 - fixed programs, arguments built here
                    argv,
                    cwd=self.repo_root,
                    input=input,
                    capture_output=True,
                    text=True,
                    timeout=timeout,
                    check=False,
                )
        except FileNotFoundError as exc:
            raise Refused(f"{what}: {argv[0]} is not installed or not on PATH") from exc
        except subprocess.TimeoutExpired as exc:
            raise OpsError(f"{what} did not finish within {timeout:.0f}s") from exc
        if result.returncode != 0:
            raise OpsError(f"{what} failed (exit {result.returncode}):\n{_tail(result.stderr or result.stdout)}")
        return result.stdout

    def terraform(self, binary: str, env_dir: Path) -> Terraform:
        return Terraform(binary, env_dir, self.progress)


class Terraform:
    """terraform init/plan/apply through python-terraform, with -input=false and -no-color."""

    def __init__(self, binary: str, env_dir: Path, progress: Progress) -> None:
        self.tf = _terraform_module().Terraform(working_dir=str(env_dir), terraform_bin_path=binary)
        self.progress = progress

    def _call(self, what: str, method: Callable[..., tuple[int, str, str]], ok: tuple[int, ...], **kwargs: Any) -> Any:
        with warnings.catch_warnings(), heartbeat(what, self.progress):
            warnings.simplefilter("ignore", DeprecationWarning)
            code, out, err = method(capture_output=True, **kwargs)
        if code not in ok:
            raise OpsError(f"{what} failed (exit {code}):\n{_tail(err or out)}")
        return code, out

    def init(self, backend_config: dict[str, str]) -> None:
        self._call("terraform init", self.tf.init, (0,), backend_config=backend_config or None, var=None)

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
        return out


def plan_summary(text: str) -> str:
    match = re.search(r"Plan: \d+ to add, \d+ to change, \d+ to destroy\.", text)
    if match:
        return match[0]
    return "No changes." if "No changes" in text else "(no summary line in the plan)"


# --- the deploy -------------------------------------------------------------------------------------------


@dataclass
class Step:
    name: str
    detail: str
    status: str = "planned"  # planned, done, skipped, failed, would run


@dataclass
class Options:
    env: str
    names: Names
    region: str
    var_files: list[Path] = field(default_factory=list)
    certificate_arn: str | None = None
    alarm_email: str | None = None
    lambda_zip: Path | None = None
    image_tag: str | None = None
    backend_config: dict[str, str] = field(default_factory=dict)
    timeout: float = 1200.0
    health_timeout: float = 300.0
    plan_only: bool = False
    repo_root: Path = REPO_ROOT

    @property
    def env_dir(self) -> Path:
        return self.repo_root / "infra" / "envs" / self.env


@dataclass
class Snapshot:
    task_definitions: dict[str, str | None]
    governance_version: str | None
    taken_at: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class Deploy:
    def __init__(self, options: Options, clients: dict[str, Any], tools: Tools, progress: Progress) -> None:
        self.options = options
        self.clients = clients
        self.tools = tools
        self.progress = progress
        self.steps: list[Step] = []
        self.report: dict[str, Any] = {"environment": options.env, "project": options.names.project}

    # -- bookkeeping --

    def step(self, name: str, detail: str, status: str = "done") -> Step:
        step = Step(name, detail, status)
        self.steps.append(step)
        if status not in ("planned",):
            self.progress(f"[{status}] {name}: {detail}")
        return step

    def _planned(self, name: str, detail: str) -> None:
        self.step(name, detail, "would run" if self.options.plan_only else "planned")

    # -- preflight --

    def _has_certificate(self) -> bool:
        if self.options.certificate_arn or os.environ.get("TF_VAR_certificate_arn"):  # noqa: SIM112 - Terraform's own name
            return True
        pattern = re.compile(r'^\s*"?certificate_arn"?\s*[=:]', re.M)
        return any(pattern.search(f.read_text(encoding="utf-8")) for f in self.options.var_files)

    def preflight(self) -> None:
        o = self.options
        if not o.env_dir.is_dir():
            raise Refused(f"no Terraform environment {o.env_dir}")
        for var_file in o.var_files:
            if not var_file.is_file():
                raise Refused(f"--var-file {var_file} does not exist")
        if not self._has_certificate():
            raise Refused(
                "certificate_arn is required (the load balancer's HTTPS certificate): pass --certificate-arn ARN, "
                'a --var-file with certificate_arn = "...", or TF_VAR_certificate_arn'
            )
        required = required_terraform(o.env_dir)
        self.terraform_bin, version = find_terraform(required, o.env_dir)
        self.step("terraform", f"{self.terraform_bin} {version} (>= {required} required)")

        identity = self.clients["sts"].get_caller_identity()
        self.account = identity["Account"]
        self.step("AWS identity", f"account {self.account}, region {o.region}, as {identity['Arn']}")

        if o.image_tag:
            self.tag = o.image_tag
            self.step("image tag", f"{self.tag} (given: the images must be in ECR already)")
        else:
            self.tag = self.tools.run(["git", "-C", str(o.repo_root), "rev-parse", "HEAD"], "git rev-parse").strip()
            dirty = self.tools.run(["git", "-C", str(o.repo_root), "status", "--porcelain"], "git status").strip()
            if dirty:
                changed = ", ".join(line[3:] for line in dirty.splitlines()[:5])
                raise Refused(
                    f"the working tree has uncommitted changes ({changed}): images are tagged with the commit "
                    "and ECR tags are immutable, so commit (or stash) first"
                )
            self.step("image tag", f"{self.tag} (the git commit)")

        if o.lambda_zip is not None:
            if not o.lambda_zip.is_file():
                raise Refused(f"--lambda-zip {o.lambda_zip} does not exist")
            self.lambda_zip = o.lambda_zip.resolve()
            self.step("Lambda package", f"{self.lambda_zip} (given)")
        else:
            self.tools.run([sys.executable, str(o.repo_root / "scripts" / "build_lambda.py")], "make lambda-package")
            self.lambda_zip = (o.repo_root / "governance" / "lambda" / "lambda.zip").resolve()
            if not self.lambda_zip.is_file():
                raise OpsError(f"the Lambda build did not produce {self.lambda_zip}")
            self.step("Lambda package", f"built {self.lambda_zip} (scripts/build_lambda.py)")

    # -- snapshot --

    def snapshot(self) -> Snapshot:
        names = self.options.names
        services = ecs_ops.describe(self.clients["ecs"], names)
        try:
            version: str | None = governance_fn.alias_version(self.clients["lambda"], names)
        except Refused:
            version = None
        snap = Snapshot(
            {s: state.task_definition if state else None for s, state in services.items()},
            version,
            datetime.now(UTC).isoformat(timespec="seconds"),
        )
        folder = self.options.repo_root / ".local" / "deploys"
        with contextlib.suppress(OSError):
            if self.options.plan_only:
                raise OSError("nothing is written by --plan-only")
            folder.mkdir(parents=True, exist_ok=True)
            path = folder / f"{self.options.env}-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.json"
            path.write_text(json.dumps(snap.to_dict(), indent=2) + "\n", encoding="utf-8")
            self.report["snapshot_file"] = str(path)
        current = ", ".join(f"{s} {ecs_ops.short(a)}" for s, a in snap.task_definitions.items())
        self.step("snapshot", f"{current}, governance live -> {version or '-'}")
        return snap

    # -- images --

    def _repository(self, service: str) -> str | None:
        try:
            repos = self.clients["ecr"].describe_repositories(
                repositoryNames=[self.options.names.ecr_repository(service)]
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "RepositoryNotFoundException":
                return None
            raise
        return repos["repositories"][0]["repositoryUri"]

    def _image_exists(self, service: str) -> bool:
        try:
            self.clients["ecr"].describe_images(
                repositoryName=self.options.names.ecr_repository(service), imageIds=[{"imageTag": self.tag}]
            )
            return True
        except ClientError as exc:
            if exc.response["Error"]["Code"] in ("ImageNotFoundException", "RepositoryNotFoundException"):
                return False
            raise

    def images(self) -> None:
        o = self.options
        pending = [s for s in SERVICES if not self._image_exists(s)]
        for service in SERVICES:
            if service not in pending:
                self.step(
                    f"image {service}", f"{o.names.ecr_repository(service)}:{self.tag} is in ECR already", "skipped"
                )
        if not pending:
            return
        if o.image_tag:
            raise Refused(
                f"--image-tag {self.tag}: not in ECR for {', '.join(pending)}; push it first, or deploy a commit"
            )
        if o.plan_only:
            for service in pending:
                self._planned(
                    f"image {service}",
                    f"docker build -f services/{service}/Dockerfile, push {o.names.ecr_repository(service)}:{self.tag}",
                )
            return
        self.tools.run(["docker", "version", "--format", "{{.Server.Version}}"], "docker (is the engine running?)")
        auth = self.clients["ecr"].get_authorization_token()["authorizationData"][0]
        user, password = base64.b64decode(auth["authorizationToken"]).decode().split(":", 1)
        registry = auth["proxyEndpoint"].removeprefix("https://")
        self.tools.run(
            ["docker", "login", "--username", user, "--password-stdin", registry], "docker login", input=password
        )
        for service in pending:
            uri = f"{self._repository(service)}:{self.tag}"
            self.tools.run(
                [
                    "docker", "build", "--platform", PLATFORM,
                    "-f", str(o.repo_root / "services" / service / "Dockerfile"),
                    "-t", uri,
                    "--label", f"org.opencontainers.image.revision={self.tag}",
                    str(o.repo_root),
                ],
                f"docker build {service}",
            )  # fmt: skip
            self.tools.run(["docker", "push", uri], f"docker push {service}")
            self.step(f"image {service}", f"built and pushed {uri}")

    # -- terraform --

    def _vars_file(self, folder: Path) -> Path:
        o = self.options
        variables: dict[str, Any] = {
            "project_name": o.names.project,
            "region": o.region,
            "orbit_image_tag": self.tag,
            "axon_image_tag": self.tag,
            "lambda_zip_path": str(self.lambda_zip),
        }
        if o.certificate_arn:
            variables["certificate_arn"] = o.certificate_arn
        if o.alarm_email:
            variables["alarm_email"] = o.alarm_email
        path = folder / "agentctl.auto.tfvars.json"
        path.write_text(json.dumps(variables, indent=2), encoding="utf-8")
        return path

    def terraform(self, folder: Path) -> None:
        o = self.options
        tf = self.tools.terraform(self.terraform_bin, o.env_dir)
        tf.init(o.backend_config)
        self.step("terraform init", str(o.env_dir.relative_to(o.repo_root)))
        var_files = [*o.var_files, self._vars_file(folder)]  # ours last: they win over the operator's files

        missing = [s for s in SERVICES if self._repository(s) is None]
        if missing:
            if o.plan_only:
                self._planned(
                    "ECR repositories",
                    f"create {', '.join(o.names.ecr_repository(s) for s in missing)} first "
                    f"(terraform apply -target={ECR_TARGET}); the plan below assumes they exist",
                )
            else:
                ecr_plan = folder / "ecr.tfplan"
                tf.plan(ecr_plan, var_files, [ECR_TARGET])
                tf.apply(ecr_plan)
                self.step("ECR repositories", f"created with terraform apply -target={ECR_TARGET}")

        if not o.plan_only:
            self.images()
        plan_file = folder / "deploy.tfplan"
        changes, text = tf.plan(plan_file, var_files)
        self.report["plan"] = text
        self.report["plan_summary"] = plan_summary(text)
        self.step("terraform plan", self.report["plan_summary"])
        if o.plan_only:
            self.images()
            self._planned("terraform apply", "apply the saved plan")
            self._planned("rollout", f"wait until {' and '.join(SERVICES)} run only their new revision")
            self._planned("health", "agentctl health until every check is green")
            self._planned("rollback on failure", "services to their current task definitions, live to its version")
            return
        if not changes:
            self.step("terraform apply", "nothing to change", "skipped")
            return
        tf.apply(plan_file)
        self.step("terraform apply", self.report["plan_summary"])

    # -- verify and roll back --

    def rollout(self, snap: Snapshot) -> dict[str, str]:
        names = self.options.names
        deadline = time.monotonic() + self.options.timeout
        released: dict[str, str] = {}
        for service, state in ecs_ops.describe(self.clients["ecs"], names).items():
            if state is None:
                raise OpsError(f"the ECS service {names.service(service)} does not exist after the apply")
            released[service] = state.task_definition
        for service, arn in released.items():
            remaining = max(1.0, deadline - time.monotonic())
            ecs_ops.wait_rollout(self.clients["ecs"], names, service, arn, remaining, self.progress)
            before = ecs_ops.short(snap.task_definitions.get(service))
            self.step(f"rollout {service}", f"{before} -> {ecs_ops.short(arn)}, every desired task running")
        released["governance"] = governance_fn.alias_version(self.clients["lambda"], names)
        self.step("governance", f"live -> version {released['governance']} (was {snap.governance_version or '-'})")
        return released

    def health(self) -> list[Check]:
        seen: dict[str, list[Check]] = {}

        def green() -> tuple[bool, str]:
            checks = seen["checks"] = aws_checks(self.options.names)
            failing = [c.component for c in checks if not c.healthy]
            return not failing, "all healthy" if not failing else f"waiting for {', '.join(failing)}"

        try:
            wait_for("health", green, self.options.health_timeout, self.progress, interval=max(poll_seconds(), 0.05))
        finally:
            self.report["health"] = [c.to_dict() for c in seen.get("checks", [])]
        self.step("health", "every check green")
        return seen["checks"]

    def roll_back(self, snap: Snapshot, reason: str) -> list[str]:
        names = self.options.names
        ecs, lam = self.clients["ecs"], self.clients["lambda"]
        done: list[str] = []
        current = ecs_ops.describe(ecs, names)
        for service, arn in snap.task_definitions.items():
            state = current.get(service)
            if arn and state and state.task_definition != arn:
                ecs_ops.update_task_definition(ecs, names, service, arn)
                done.append(f"{service} {ecs_ops.short(state.task_definition)} -> {ecs_ops.short(arn)}")
        with contextlib.suppress(Refused):
            live = governance_fn.alias_version(lam, names)
            if snap.governance_version and live != snap.governance_version:
                governance_fn.move_alias(lam, names, snap.governance_version)
                done.append(f"governance live {live} -> {snap.governance_version}")
        self.step("rollback", "; ".join(done) or "nothing differed from the snapshot", "done")
        for service, arn in snap.task_definitions.items():
            if arn and any(d.startswith(f"{service} ") for d in done):
                ecs_ops.wait_rollout(ecs, names, service, arn, self.options.timeout, self.progress)
        return done

    # -- the whole thing --

    def run(self) -> dict[str, Any]:
        o = self.options
        self.report["plan_only"] = o.plan_only
        try:
            self.preflight()
            self.report["image_tag"] = self.tag
            snap = self.snapshot()
            self.report["snapshot"] = snap.to_dict()
            with tempfile.TemporaryDirectory(prefix="agentctl-deploy-") as folder:
                self.terraform(Path(folder))
            if o.plan_only:
                self.report["result"] = "planned: nothing was changed"
                return self.report
            try:
                self.report["released"] = self.rollout(snap)
                self.health()
            except OpsError as exc:
                self.step("verify", str(exc), "failed")
                first_deploy = not any(snap.task_definitions.values()) and snap.governance_version is None
                if first_deploy:
                    raise OpsError(
                        f"deploy of {self.tag} to {o.env} failed: {exc}. Nothing to roll back to (first deploy)"
                    ) from exc
                done = self.roll_back(snap, str(exc))
                self.report["rolled_back"] = done
                after = aws_checks(o.names)
                self.report["health_after_rollback"] = [c.to_dict() for c in after]
                failing = [c.component for c in after if not c.healthy]
                health = f"still unhealthy: {', '.join(failing)}" if failing else "every health check is green again"
                raise OpsError(
                    f"deploy of {self.tag} to {o.env} failed: {exc}. Rolled back: {'; '.join(done) or 'nothing'}; "
                    f"{health}. Terraform's state still describes the new release: fix it and deploy again "
                    "(or revert)"
                ) from exc
            self.report["result"] = f"deployed {self.tag} to {o.env}"
            return self.report
        finally:
            self.report["steps"] = [asdict(s) for s in self.steps]
