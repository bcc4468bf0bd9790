"""agentctl scale: set an ECS service's desired task count, within (or knowingly outside) its autoscaling range."""

from __future__ import annotations

import click

from agentctl.context import target
from agentctl.ops import scale as ops
from agentctl.ops.ecs import SERVICES
from agentctl.output import ALLOW_PROD_OPTION, OUTPUT_OPTION, YES_OPTION, confirm, emit_json, seconds_option


@click.command()
@click.argument("service", type=click.Choice(SERVICES))
@click.argument("count", type=click.IntRange(min=0, max=100))
@click.option(
    "--adjust-autoscaling",
    is_flag=True,
    help="Widen the autoscaling range to include COUNT (Terraform sets it back on the next deploy).",
)
@click.option("--no-wait", is_flag=True, help="Do not wait for the running count to follow.")
@seconds_option("--timeout", 600, "Seconds to wait.")
@YES_OPTION
@ALLOW_PROD_OPTION
@OUTPUT_OPTION
def scale(
    service: str,
    count: int,
    adjust_autoscaling: bool,
    no_wait: bool,
    timeout: float,
    yes: bool,
    allow_prod: bool,
    output: str,
) -> None:
    """Set SERVICE's (orbit or axon) desired task count to COUNT and wait until that many tasks run.

    Target tracking (CPU 70 %) keeps the count between the autoscaling minimum and maximum: a COUNT outside
    that range is refused unless --adjust-autoscaling widens the range. Scaling in asks for confirmation;
    scaling prod to 0 also needs --allow-prod.
    """
    platform = target()
    platform.refuse_local(
        "the local stack runs one process per service (gunicorn, GUNICORN_WORKERS workers x GUNICORN_THREADS "
        "threads): there are no tasks to scale. Scaling applies to AWS environments (--env dev|staging|prod)"
    )
    if count == 0:
        platform.refuse_prod(allow_prod)
    plan = ops.plan(platform, service, count, adjust_autoscaling)
    if plan.scale_in:
        confirm(f"Scale {service} in {platform.env} in from {plan.previous} to {count} task(s)?", yes)
    result = ops.execute(platform, plan, wait=not no_wait, timeout=timeout)
    if output == "json":
        emit_json(result)
    else:
        running = f"; {result['running']}/{count} running" if result["running"] is not None else " (not waited for)"
        click.echo(f"scaled {service}: desired {plan.previous} -> {count}{running}")


COMMANDS = (scale,)
