"""agentctl scale: set an ECS service's desired task count, within (or knowingly outside) its autoscaling range."""

from __future__ import annotations

import click

from agentctl.context import target
from agentctl.errors import EXIT_REFUSED, AgentctlError
from agentctl.ops import ecs as ops
from agentctl.output import ALLOW_PROD_OPTION, OUTPUT_OPTION, YES_OPTION, confirm, emit_json, progress


@click.command()
@click.argument("service", type=click.Choice(ops.SERVICES))
@click.argument("count", type=click.IntRange(min=0, max=100))
@click.option(
    "--adjust-autoscaling",
    is_flag=True,
    help="Widen the autoscaling range to include COUNT (Terraform sets it back on the next deploy).",
)
@click.option("--no-wait", is_flag=True, help="Do not wait for the running count to follow.")
@click.option("--timeout", type=click.FloatRange(min=1), default=600, show_default=True, help="Seconds to wait.")
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
    tgt = target()
    if tgt.is_local:
        raise AgentctlError(
            "the local stack runs one process per service (gunicorn, GUNICORN_WORKERS workers x GUNICORN_THREADS "
            "threads): there are no tasks to scale. Scaling applies to AWS environments (--env dev|staging|prod)",
            EXIT_REFUSED,
        )
    if count == 0:
        tgt.refuse_prod(allow_prod)
    ecs, aas = tgt.client("ecs"), tgt.client("application-autoscaling")
    state = ops.describe_one(ecs, tgt.names, service)
    bounds = ops.scaling_range(aas, tgt.names, service)
    widened = None
    if bounds is not None and not bounds[0] <= count <= bounds[1]:
        if not adjust_autoscaling:
            raise AgentctlError(
                f"{count} is outside {service}'s autoscaling range {bounds[0]}-{bounds[1]}: target tracking would "
                f"move it back. Add --adjust-autoscaling to widen the range until the next deploy, or change "
                f"{service}'s min_capacity/max_capacity in infra/envs/{tgt.env}",
                EXIT_REFUSED,
            )
        widened = (min(bounds[0], count), max(bounds[1], count))
    if count < state.desired:
        confirm(f"Scale {service} in {tgt.env} in from {state.desired} to {count} task(s)?", yes)
    if widened:
        ops.widen_scaling_range(aas, tgt.names, service, *widened)
        progress(f"autoscaling range of {service}: {bounds[0]}-{bounds[1]} -> {widened[0]}-{widened[1]}")
    ops.set_desired(ecs, tgt.names, service, count)
    progress(f"{state.name}: desired {state.desired} -> {count}")
    result = {
        "service": service,
        "previous_desired": state.desired,
        "desired": count,
        "autoscaling_range": list(widened or bounds) if (widened or bounds) else None,
        "running": None,
        "waited": not no_wait,
    }
    if not no_wait:
        final = ops.wait_count(ecs, tgt.names, service, count, timeout, progress)
        result["running"] = final.running
    if output == "json":
        emit_json(result)
    else:
        running = f"; {result['running']}/{count} running" if result["running"] is not None else " (not waited for)"
        click.echo(f"scaled {service}: desired {state.desired} -> {count}{running}")


COMMANDS = (scale,)
