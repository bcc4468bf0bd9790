"""agentctl deploy / agentctl down: bring an environment up, take the local stack down."""

from __future__ import annotations

from pathlib import Path

import click

from agent_runtime import aws
from agentctl.context import Target, target
from agentctl.errors import AgentctlError
from agentctl.local import stack as local_stack
from agentctl.ops import deploy as ops
from agentctl.output import ALLOW_PROD_OPTION, OUTPUT_OPTION, emit_json, progress


def _local_summary(result: dict, stack: local_stack.LocalStack) -> str:
    return "\n".join(
        [
            "",
            f"agent-runtime is running locally (PROJECT_NAME={stack.project}, ENVIRONMENT=local)",
            f"  Orbit         {result['urls']['orbit']}   POST /dispatch, GET /health, GET /metrics",
            f"  Axon          {result['urls']['axon']}   GET /health, GET|POST /reason (signed by Orbit)",
            f"  Governance    {result['urls']['governance']}   Lambda Invoke API, "
            f"function {stack.names.governance_function}:live",
            f"  AWS emulator  {result['endpoint']}",
            f"  State & logs  {result['state_dir']}",
            "",
            "Send a first signed request:",
            '  .venv/bin/agentctl dispatch --intent call_reasoning --context \'{"user_id": "u1"}\'',
            "",
            "Check health: .venv/bin/agentctl health      Stop everything: make down",
        ]
    )


def _backend_config(values: tuple[str, ...]) -> dict[str, str]:
    config = {}
    for value in values:
        key, sep, setting = value.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"{value!r}: expected KEY=VALUE", param_hint="--backend-config")
        config[key] = setting
    return config


def _deploy_aws(tgt: Target, options: ops.Options, output: str) -> None:
    clients = {name: tgt.client(name) for name in ("sts", "ecs", "ecr", "lambda")}
    deployment = ops.Deploy(options, clients, ops.Tools(options.repo_root, progress), progress)
    try:
        report = deployment.run()
    except Exception:
        if output == "json":
            emit_json(deployment.report)
        raise
    if output == "json":
        emit_json(report)
        return
    if options.plan_only:
        click.echo(report.get("plan", "").rstrip())
        click.echo("")
    click.echo(f"Steps ({'plan only: nothing was changed' if options.plan_only else tgt.env}):")
    for step in report["steps"]:
        click.echo(f"  [{step['status']}] {step['name']}: {step['detail']}")
    click.echo(report["result"])


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
@click.option("--backend-config", multiple=True, help="terraform init -backend-config KEY=VALUE; repeatable.")
@click.option(
    "--timeout",
    type=click.FloatRange(min=1),
    default=1200,
    show_default=True,
    help="Seconds to wait for the services to settle.",
)
@click.option(
    "--health-timeout",
    type=click.FloatRange(min=1),
    default=300,
    show_default=True,
    help="Seconds for every health check to turn green.",
)
@ALLOW_PROD_OPTION
@OUTPUT_OPTION
def deploy(
    plan_only: bool,
    var_files: tuple[Path, ...],
    certificate_arn: str | None,
    alarm_email: str | None,
    lambda_zip: Path | None,
    image_tag: str | None,
    backend_config: tuple[str, ...],
    timeout: float,
    health_timeout: float,
    allow_prod: bool,
    output: str,
) -> None:
    """Deploy the environment chosen with --env (default: the local stack).

    AWS environments: preflight (terraform >= the version infra/envs/ENV requires, AWS identity, a clean git
    tree), images built and pushed tagged with the commit, terraform init/plan/apply of infra/envs/ENV, a
    bounded wait until both services run their new revision, `agentctl health` until green; when the rollout
    or the health check fails, the services and the Lambda alias go back to what ran before. --plan-only
    shows every step and the Terraform plan and changes nothing.
    """
    tgt = target()
    if not tgt.is_local:
        if not plan_only:
            tgt.refuse_prod(allow_prod)
        options = ops.Options(
            env=tgt.env,
            names=tgt.names,
            region=aws.region(),
            var_files=[f.resolve() for f in var_files],
            certificate_arn=certificate_arn,
            alarm_email=alarm_email,
            lambda_zip=lambda_zip,
            image_tag=image_tag,
            backend_config=_backend_config(backend_config),
            timeout=timeout,
            health_timeout=health_timeout,
            plan_only=plan_only,
            repo_root=ops.REPO_ROOT,
        )
        _deploy_aws(tgt, options, output)
        return
    if plan_only:
        raise AgentctlError("--plan-only applies to AWS environments; the local stack has nothing to plan")
    result = local_stack.deploy(tgt.stack, progress)
    if output == "json":
        emit_json(result)
    else:
        click.echo(_local_summary(result, tgt.stack))


@click.command()
def down() -> None:
    """Stop the local stack: every process, every port."""
    tgt = target()
    if not tgt.is_local:
        raise AgentctlError("down stops the local stack; AWS environments are destroyed with terraform")
    busy = local_stack.down(tgt.stack, progress)
    if busy:
        raise AgentctlError(f"ports still in use after stopping the stack: {', '.join(map(str, busy))}")
    click.echo("local stack stopped; nothing left listening")


COMMANDS = (deploy, down)
