"""A deploy of an AWS environment, step by step; --plan-only runs its own list of steps and changes nothing.

Steps, in order:

1. preflight: a terraform binary recent enough for infra/envs/<env> (versions.tf), the AWS identity, the git
   commit (the image tag; a dirty working tree is refused), the Lambda package (built with
   scripts/build_lambda.py unless given), certificate_arn. Its result is frozen and handed to every later step;
2. a snapshot of what runs now (each service's task-definition ARN, the version behind `live`), kept in
   .local/deploys/ and used by the automatic rollback. A first deploy (a fresh account: no cluster, service,
   function or alias yet) has nothing to snapshot, and so no automatic rollback target;
3. terraform init, with the S3 backend's bucket and region (the resolved AWS region) and -lockfile=readonly:
   the committed provider lock files are used, never rewritten;
4. the ECR repositories: created first with a targeted apply when they do not exist yet (first deploy);
5. the images: docker build of services/Dockerfile with --build-arg SERVICE=<service> (context: the
   repository root) and push, tagged with the commit, unless that tag is in ECR already (tags are immutable);
6. terraform plan (saved) and apply of that plan: new task-definition revisions, the services updated, a new
   Lambda version published and `live` moved to it;
7. a bounded wait until each service runs only its new revision with every desired task;
8. `agentctl health` until it is green (bounded);
9. on a failed rollout, timeout or failed health: each service back to its snapshot task definition (full
   ARN), `live` back to its snapshot version, waited for, and the deploy reported as failed.

--plan-only: steps 1 to 3, then the repositories and images that would be created, the Terraform plan, and the
remaining steps listed as "would run". No snapshot file is written.
"""

from __future__ import annotations

import contextlib
import json
import re
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from agentctl.ops import ecs as ecs_ops
from agentctl.ops import governance_fn
from agentctl.ops.deploy.images import DOCKERFILE, Registry
from agentctl.ops.deploy.terraform import Terraform, find_terraform, plan_summary, required_terraform
from agentctl.ops.deploy.tools import Tools
from agentctl.ops.errors import OpsError, Refused
from agentctl.ops.health import Check
from agentctl.ops.platform import Deployment, Platform
from agentctl.ops.waiting import wait_for

SERVICES = ecs_ops.SERVICES
ECR_TARGET = "module.stack.module.ecr"


@dataclass(frozen=True)
class DeployRequest:
    """What the operator asked for (the command's options)."""

    plan_only: bool = False
    var_files: tuple[Path, ...] = ()
    certificate_arn: str | None = None
    alarm_email: str | None = None
    lambda_zip: Path | None = None
    image_tag: str | None = None
    state_bucket: str | None = None  # default: AGENTCTL_STATE_BUCKET, else ${PROJECT_NAME}-terraform-state-${ENV}
    backend_config: Mapping[str, str] = field(default_factory=dict)
    timeout: float = 1200.0
    health_timeout: float = 300.0


@dataclass(frozen=True)
class Preflight:
    """What the preflight established; every later step works from it."""

    env_dir: Path
    terraform: str
    account: str
    tag: str
    tag_given: bool
    lambda_zip: Path


@dataclass(frozen=True)
class Snapshot:
    task_definitions: dict[str, str | None]
    governance_version: str | None
    taken_at: str

    @property
    def first_deploy(self) -> bool:
        return not any(self.task_definitions.values()) and self.governance_version is None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Step:
    name: str
    detail: str
    status: str  # done, skipped, failed, would run


@dataclass
class Work:
    """What the steps of one deploy share."""

    ready: Preflight
    snapshot: Snapshot
    terraform: Terraform
    var_files: list[Path]
    folder: Path
    changes: bool = False  # what the plan found


class Release(Deployment):
    def __init__(self, platform: Platform, request: DeployRequest) -> None:
        self.platform = platform
        self.request = request
        self.names = platform.names
        self.progress = platform.progress
        self.tools = Tools(platform.settings.repo_root, platform.progress)
        self.registry = Registry(platform.clients.ecr, platform.names)
        self.steps: list[Step] = []
        self.report: dict[str, Any] = {"environment": platform.env, "project": platform.names.project}

    def step(self, name: str, detail: str, status: str = "done") -> None:
        self.steps.append(Step(name, detail, status))
        self.progress(f"[{status}] {name}: {detail}")

    def run(self) -> dict[str, Any]:
        """The steps of a deploy, or of --plan-only; the report (also kept in self.report when a step fails)."""
        steps: list[Callable[[Work], None]] = (
            [self.plan_repositories, self.plan, self.plan_images, self.plan_the_rest]
            if self.request.plan_only
            else [self.keep_snapshot, self.create_repositories, self.push_images, self.plan, self.apply, self.verify]
        )
        self.report["plan_only"] = self.request.plan_only
        try:
            ready = self.preflight()
            self.report["image_tag"] = ready.tag
            snapshot = self.snapshot()
            self.report["snapshot"] = snapshot.to_dict()
            with tempfile.TemporaryDirectory(prefix="agentctl-deploy-") as folder:
                work = Work(ready, snapshot, self.init(ready), [], Path(folder))
                work.var_files = [*self.request.var_files, self.variables(work)]  # ours last: they win
                for step in steps:
                    step(work)
            return self.report
        finally:
            self.report["steps"] = [asdict(s) for s in self.steps]

    # --- preflight --------------------------------------------------------------------------------------

    def _has_certificate(self) -> bool:
        if self.request.certificate_arn or self.platform.settings.certificate_arn:
            return True
        pattern = re.compile(r'^\s*"?certificate_arn"?\s*[=:]', re.M)
        return any(pattern.search(f.read_text(encoding="utf-8")) for f in self.request.var_files)

    def _check_inputs(self, env_dir: Path) -> None:
        if not env_dir.is_dir():
            raise Refused(f"no Terraform environment {env_dir}")
        for var_file in self.request.var_files:
            if not var_file.is_file():
                raise Refused(f"--var-file {var_file} does not exist")
        if not self._has_certificate():
            raise Refused(
                "certificate_arn is required (the load balancer's HTTPS certificate): pass --certificate-arn ARN, "
                'a --var-file with certificate_arn = "...", or TF_VAR_certificate_arn'
            )

    def _image_tag(self) -> str:
        if self.request.image_tag:
            self.step("image tag", f"{self.request.image_tag} (given: the images must be in ECR already)")
            return self.request.image_tag
        tag = self.tools.commit()
        changed = self.tools.uncommitted()
        if changed:
            raise Refused(
                f"the working tree has uncommitted changes ({', '.join(changed[:5])}): images are tagged with the "
                "commit and ECR tags are immutable, so commit (or stash) first"
            )
        self.step("image tag", f"{tag} (the git commit)")
        return tag

    def _lambda_zip(self) -> Path:
        given = self.request.lambda_zip
        if given is None:
            built = self.tools.build_lambda()
            self.step("Lambda package", f"built {built} (scripts/build_lambda.py)")
            return built
        if not given.is_file():
            raise Refused(f"--lambda-zip {given} does not exist")
        self.step("Lambda package", f"{given.resolve()} (given)")
        return given.resolve()

    def preflight(self) -> Preflight:
        env_dir = self.platform.settings.repo_root / "infra" / "envs" / self.platform.env
        self._check_inputs(env_dir)
        required = required_terraform(env_dir)
        terraform, version = find_terraform(required, env_dir, self.platform.settings.terraform)
        self.step("terraform", f"{terraform} {version} (>= {required} required)")
        identity = self.platform.clients.sts.get_caller_identity()
        self.step("AWS identity", f"account {identity['Account']}, region {self.platform.region}, as {identity['Arn']}")
        tag = self._image_tag()
        return Preflight(env_dir, terraform, identity["Account"], tag, bool(self.request.image_tag), self._lambda_zip())

    # --- what runs now ----------------------------------------------------------------------------------

    def snapshot(self) -> Snapshot:
        services = ecs_ops.describe(self.platform.clients.ecs, self.names)
        try:
            version: str | None = governance_fn.alias_version(self.platform.clients.lambda_, self.names)
        except Refused:
            version = None
        snapshot = Snapshot(
            {s: state.task_definition if state else None for s, state in services.items()},
            version,
            datetime.now(UTC).isoformat(timespec="seconds"),
        )
        if snapshot.first_deploy:
            self.step("snapshot", "nothing to snapshot: first deploy (no automatic rollback target exists)")
            return snapshot
        current = ", ".join(f"{s} {ecs_ops.short(a)}" for s, a in snapshot.task_definitions.items())
        self.step("snapshot", f"{current}, governance live -> {version or '-'}")
        return snapshot

    def keep_snapshot(self, work: Work) -> None:
        """The snapshot in .local/deploys/, for an operator who rolls back by hand later (best effort)."""
        if work.snapshot.first_deploy:
            return
        folder = self.platform.settings.repo_root / ".local" / "deploys"
        with contextlib.suppress(OSError):
            folder.mkdir(parents=True, exist_ok=True)
            path = folder / f"{self.platform.env}-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.json"
            path.write_text(json.dumps(work.snapshot.to_dict(), indent=2) + "\n", encoding="utf-8")
            self.report["snapshot_file"] = str(path)

    # --- terraform ------------------------------------------------------------------------------------

    def backend(self) -> dict[str, str]:
        """The S3 backend's bucket and region (versions.tf names neither: they follow the operator), and any
        --backend-config KEY=VALUE, which wins."""
        bucket = (
            self.request.state_bucket
            or self.platform.settings.state_bucket
            or f"{self.names.project}-terraform-state-{self.platform.env}"
        )
        return {"bucket": bucket, "region": self.platform.region, **self.request.backend_config}

    def init(self, ready: Preflight) -> Terraform:
        terraform = Terraform(ready.terraform, ready.env_dir, self.progress)
        backend = self.backend()
        terraform.init(backend)
        where = ready.env_dir.relative_to(self.platform.settings.repo_root)
        self.step("terraform init", f"{where}, state in s3://{backend['bucket']} ({backend['region']})")
        return terraform

    def variables(self, work: Work) -> Path:
        """agentctl's own variables file: the release's image tags and Lambda package, the region, the names."""
        variables: dict[str, Any] = {
            "project_name": self.names.project,
            "region": self.platform.region,
            "orbit_image_tag": work.ready.tag,
            "axon_image_tag": work.ready.tag,
            "lambda_zip_path": str(work.ready.lambda_zip),
        }
        if self.request.certificate_arn:
            variables["certificate_arn"] = self.request.certificate_arn
        if self.request.alarm_email:
            variables["alarm_email"] = self.request.alarm_email
        path = work.folder / "agentctl.auto.tfvars.json"
        path.write_text(json.dumps(variables, indent=2), encoding="utf-8")
        return path

    def plan(self, work: Work) -> None:
        work.changes, text = work.terraform.plan(work.folder / "deploy.tfplan", work.var_files)
        self.report["plan"] = text
        self.report["plan_summary"] = plan_summary(text)
        self.step("terraform plan", self.report["plan_summary"])

    def apply(self, work: Work) -> None:
        if not work.changes:
            self.step("terraform apply", "nothing to change", "skipped")
            return
        work.terraform.apply(work.folder / "deploy.tfplan")
        self.step("terraform apply", self.report["plan_summary"])

    # --- repositories and images ------------------------------------------------------------------------

    def _missing_repositories(self) -> list[str]:
        return [s for s in SERVICES if self.registry.repository_uri(s) is None]

    def create_repositories(self, work: Work) -> None:
        if not self._missing_repositories():
            return
        ecr_plan = work.folder / "ecr.tfplan"
        work.terraform.plan(ecr_plan, work.var_files, [ECR_TARGET])
        work.terraform.apply(ecr_plan)
        self.step("ECR repositories", f"created with terraform apply -target={ECR_TARGET}")

    def plan_repositories(self, work: Work) -> None:
        missing = self._missing_repositories()
        if missing:
            self.step(
                "ECR repositories",
                f"create {', '.join(self.names.ecr_repository(s) for s in missing)} first "
                f"(terraform apply -target={ECR_TARGET}); the plan below assumes they exist",
                "would run",
            )

    def _images_to_build(self, tag: str) -> list[str]:
        """The services whose image is not in ECR yet; refused when the tag was given (nothing is built then)."""
        pending = [s for s in SERVICES if not self.registry.has_image(s, tag)]
        for service in SERVICES:
            if service not in pending:
                self.step(
                    f"image {service}", f"{self.names.ecr_repository(service)}:{tag} is in ECR already", "skipped"
                )
        if pending and self.request.image_tag:
            raise Refused(f"--image-tag {tag}: not in ECR for {', '.join(pending)}; push it first, or deploy a commit")
        return pending

    def push_images(self, work: Work) -> None:
        pending = self._images_to_build(work.ready.tag)
        if not pending:
            return
        self.registry.login(self.tools)
        for service in pending:
            uri = self.registry.build_and_push(self.tools, service, work.ready.tag)
            self.step(f"image {service}", f"built and pushed {uri}")

    def plan_images(self, work: Work) -> None:
        for service in self._images_to_build(work.ready.tag):
            self.step(
                f"image {service}",
                f"docker build -f {DOCKERFILE} --build-arg SERVICE={service}, push "
                f"{self.names.ecr_repository(service)}:{work.ready.tag}",
                "would run",
            )

    def plan_the_rest(self, work: Work) -> None:
        self.step("terraform apply", "apply the saved plan", "would run")
        self.step("rollout", f"wait until {' and '.join(SERVICES)} run only their new revision", "would run")
        self.step("health", "agentctl health until every check is green", "would run")
        if work.snapshot.first_deploy:
            self.step("rollback on failure", "none: a first deploy has no automatic rollback target", "skipped")
        else:
            self.step(
                "rollback on failure", "services to their current task definitions, live to its version", "would run"
            )
        self.report["result"] = "planned: nothing was changed"

    # --- verify, and roll back ----------------------------------------------------------------------------

    def rollout(self, snapshot: Snapshot) -> dict[str, str]:
        ecs, names = self.platform.clients.ecs, self.names
        deadline = time.monotonic() + self.request.timeout
        released: dict[str, str] = {}
        for service, state in ecs_ops.describe(ecs, names).items():
            if state is None:
                raise OpsError(f"the ECS service {names.service(service)} does not exist after the apply")
            released[service] = state.task_definition
        for service, arn in released.items():
            remaining = max(1.0, deadline - time.monotonic())
            ecs_ops.wait_rollout(ecs, names, service, arn, remaining, self.progress)
            before = ecs_ops.short(snapshot.task_definitions.get(service))
            self.step(f"rollout {service}", f"{before} -> {ecs_ops.short(arn)}, every desired task running")
        released["governance"] = governance_fn.alias_version(self.platform.clients.lambda_, names)
        self.step("governance", f"live -> version {released['governance']} (was {snapshot.governance_version or '-'})")
        return released

    def health(self) -> list[Check]:
        seen: dict[str, list[Check]] = {}

        def green() -> tuple[bool, str]:
            checks = seen["checks"] = self.platform.health()
            failing = [c.component for c in checks if not c.healthy]
            return not failing, "all healthy" if not failing else f"waiting for {', '.join(failing)}"

        try:
            wait_for("health", green, self.request.health_timeout, self.progress)
        finally:
            self.report["health"] = [c.to_dict() for c in seen.get("checks", [])]
        self.step("health", "every check green")
        return seen["checks"]

    def roll_back(self, snapshot: Snapshot) -> list[str]:
        ecs, lam, names = self.platform.clients.ecs, self.platform.clients.lambda_, self.names
        done: list[str] = []
        current = ecs_ops.describe(ecs, names)
        for service, arn in snapshot.task_definitions.items():
            state = current.get(service)
            if arn and state and state.task_definition != arn:
                ecs_ops.update_task_definition(ecs, names, service, arn)
                done.append(f"{service} {ecs_ops.short(state.task_definition)} -> {ecs_ops.short(arn)}")
        with contextlib.suppress(Refused):
            live = governance_fn.alias_version(lam, names)
            if snapshot.governance_version and live != snapshot.governance_version:
                governance_fn.move_alias(lam, names, snapshot.governance_version)
                done.append(f"governance live {live} -> {snapshot.governance_version}")
        self.step("rollback", "; ".join(done) or "nothing differed from the snapshot", "done")
        for service, arn in snapshot.task_definitions.items():
            if arn and any(d.startswith(f"{service} ") for d in done):
                ecs_ops.wait_rollout(ecs, names, service, arn, self.request.timeout, self.progress)
        return done

    def verify(self, work: Work) -> None:
        """The rollout and the health check; on a failure, back to the snapshot (OpsError says how it ended)."""
        failed = f"deploy of {work.ready.tag} to {self.platform.env} failed"
        try:
            self.report["released"] = self.rollout(work.snapshot)
            self.health()
        except OpsError as exc:
            self.step("verify", str(exc), "failed")
            if work.snapshot.first_deploy:
                raise OpsError(f"{failed}: {exc}. Nothing to roll back to (first deploy)") from exc
            done = self.roll_back(work.snapshot)
            self.report["rolled_back"] = done
            after = self.platform.health()
            self.report["health_after_rollback"] = [c.to_dict() for c in after]
            failing = [c.component for c in after if not c.healthy]
            health = f"still unhealthy: {', '.join(failing)}" if failing else "every health check is green again"
            raise OpsError(
                f"{failed}: {exc}. Rolled back: {'; '.join(done) or 'nothing'}; {health}. Terraform's state still "
                "describes the new release: fix it and deploy again (or revert)"
            ) from exc
        self.report["result"] = f"deployed {work.ready.tag} to {self.platform.env}"
