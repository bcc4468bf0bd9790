"""agentctl deploy / agentctl down: bring an environment up, take the local stack down."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from agent_runtime.names import Names
from agentctl.context import target
from agentctl.errors import AgentctlError
from agentctl.ops.deploy.workflow import DeployRequest
from agentctl.ops.platform import Platform
from agentctl.output import ALLOW_PROD_OPTION, OUTPUT_OPTION, emit_json, seconds_option


def _local_summary(result: dict[str, Any], names: Names) -> str:
    return "\n".join(
        [
            "",
            f"agent-runtime is running locally (PROJECT_NAME={names.project}, ENVIRONMENT=local)",
            f"  Orbit         {result['urls']['orbit']}   POST /dispatch, GET /health, GET /metrics",
            f"  Axon          {result['urls']['axon']}   GET /health, GET|POST /reason (signed by Orbit)",
            f"  Governance    {result['urls']['governance']}   Lambda Invoke API, "
            f"function {names.governance_function}:live",
            f"  AWS emulator  {result['endpoint']}",
            f"  State & logs  {result['state_dir']}",
            "",
            "Send a first signed request:",
            '  .venv/bin/agentctl dispatch --intent call_reasoning --context \'{"user_id": "u1"}\'',
            "",
            "Check health: .venv/bin/agentctl health      Stop everything: make down",
        ]
    )


def _render(report: dict[str, Any], platform: Platform, plan_only: bool, output: str) -> None:
    if output == "json":
        emit_json(report)
    elif "urls" in report:  # the local stack: where each part runs
        click.echo(_local_summary(report, platform.names))
    else:
        if plan_only:
            click.echo(report.get("plan", "").rstrip())
            click.echo("")
        click.echo(f"Steps ({'plan only: nothing was changed' if plan_only else platform.env}):")
        for step in report["steps"]:
            click.echo(f"  [{step['status']}] {step['name']}: {step['detail']}")
        click.echo(report["result"])


def _backend_config(values: tuple[str, ...]) -> dict[str, str]:
    config = {}
    for value in values:
        key, sep, setting = value.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"{value!r}: expected KEY=VALUE", param_hint="--backend-config")
        config[key] = setting
    return config


@click.command()
@click.option("--plan-only", is_flag=True, help="Show every step without changing anything (AWS environments).")
@click.option(
    "--var-file",
    "var_files",
    multiple=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Terraform variables file (certificate_arn, alarm_email, ...); repeatable.",
)
@click.option("--certificate-arn", default=None, help="ACM certificate of the load balancer (Terraform input).")
@click.option("--alarm-email", default=None, help="E-mail subscribed to the alarm topic (Terraform input).")
@click.option(
    "--lambda-zip",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="A Lambda package built already (default: build it with scripts/build_lambda.py).",
)
@click.option("--image-tag", default=None, help="Deploy images already in ECR under this tag (default: build HEAD).")
@click.option(
    "--state-bucket",
    default=None,
    help="Terraform's state bucket (default: $AGENTCTL_STATE_BUCKET, else ${PROJECT_NAME}-terraform-state-ENV).",
)
@click.option("--backend-config", multiple=True, help="terraform init -backend-config KEY=VALUE; repeatable.")
@seconds_option("--timeout", 1200, "Seconds to wait for the services to settle.")
@seconds_option("--health-timeout", 300, "Seconds for every health check to turn green.")
@ALLOW_PROD_OPTION
@OUTPUT_OPTION
def deploy(
    plan_only: bool,
    var_files: tuple[Path, ...],
    certificate_arn: str | None,
    alarm_email: str | None,
    lambda_zip: Path | None,
    image_tag: str | None,
    state_bucket: str | None,
    backend_config: tuple[str, ...],
    timeout: float,
    health_timeout: float,
    allow_prod: bool,
    output: str,
) -> None:
    """Deploy the environment chosen with --env (default: the local stack).

    AWS environments: preflight (terraform >= the version infra/envs/ENV requires, AWS identity, a clean git
    tree, certificate_arn from --certificate-arn, a --var-file or TF_VAR_certificate_arn), images built and
    pushed tagged with the commit, terraform init (state in --state-bucket, in the AWS region) and plan/apply
    of infra/envs/ENV, a bounded wait until both services run their new revision, `agentctl health` until
    green; when the rollout or the health check fails, the services and the Lambda alias go back to what ran
    before (a first deploy has nothing to go back to). --plan-only shows every step and the Terraform plan and
    changes nothing.
    """
    platform = target()
    if not plan_only:
        platform.refuse_prod(allow_prod)
    request = DeployRequest(
        plan_only=plan_only,
        var_files=tuple(f.resolve() for f in var_files),
        certificate_arn=certificate_arn,
        alarm_email=alarm_email,
        lambda_zip=lambda_zip,
        image_tag=image_tag,
        state_bucket=state_bucket,
        backend_config=_backend_config(backend_config),
        timeout=timeout,
        health_timeout=health_timeout,
    )
    deployment = platform.deployment(request)
    try:
        report = deployment.run()
    except Exception:
        if output == "json" and deployment.report:
            emit_json(deployment.report)
        raise
    _render(report, platform, plan_only, output)


@click.command()
def down() -> None:
    """Stop the local stack: every process, every port."""
    busy = target().down()
    if busy:
        raise AgentctlError(f"ports still in use after stopping the stack: {', '.join(map(str, busy))}")
    click.echo("local stack stopped; nothing left listening")


COMMANDS = (deploy, down)
