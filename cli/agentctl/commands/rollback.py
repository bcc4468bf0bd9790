"""agentctl rollback: one service back to its previous version, with the change shown before and verified after."""

from __future__ import annotations

import click

from agentctl.context import target
from agentctl.ops import rollback as ops
from agentctl.output import ALLOW_PROD_OPTION, OUTPUT_OPTION, YES_OPTION, confirm, emit_json, seconds_option


def _describe(plan: ops.RollbackPlan) -> str:
    lines = [f"{plan.service}: {plan.resource}", f"  from  {plan.current_label}   ({plan.current})"]
    lines.append(f"  to    {plan.target_label}   ({plan.target})")
    for which in ("current", "target"):
        if plan.images.get(which):
            lines.append(f"  image ({which}): {', '.join(plan.images[which])}")
    lines.extend(f"  note: {note}" for note in plan.notes)
    return "\n".join(lines)


@click.command()
@click.argument("service", type=click.Choice(ops.SERVICES))
@click.option("--to-revision", type=click.IntRange(min=1), default=None, help="Revision (or Lambda version) to use.")
@click.option("--no-wait", is_flag=True, help="Do not wait for the ECS service to settle.")
@seconds_option("--timeout", ops.DEFAULT_TIMEOUT, "Seconds to wait for the service to settle.")
@YES_OPTION
@ALLOW_PROD_OPTION
@OUTPUT_OPTION
def rollback(
    service: str, to_revision: int | None, no_wait: bool, timeout: float, yes: bool, allow_prod: bool, output: str
) -> None:
    """Roll SERVICE (orbit, axon or governance) back to its previous version.

    orbit/axon: the newest ACTIVE task-definition revision before the current one (or --to-revision N); the
    service is updated with that revision's full ARN, then agentctl waits until only it runs with every
    desired task. governance: the `live` alias moves to the previous published version (or --to-revision N),
    then a real invocation checks it. Terraform still declares the newer version: the next deploy rolls forward.
    """
    platform = target()
    platform.refuse_local(
        "nothing to roll back locally: the local stack runs the code of this checkout, with no versions "
        "(check out the earlier commit and run `make deploy`)"
    )
    platform.refuse_prod(allow_prod)
    plan = ops.plan(platform, service, to_revision)
    click.echo(_describe(plan), err=output == "json")
    confirm(f"Roll {service} back in {platform.env} from {plan.current_label} to {plan.target_label}?", yes)
    result = ops.execute(platform, plan, wait=not no_wait, timeout=timeout)
    if output == "json":
        emit_json(result)
    else:
        click.echo(
            f"rolled back {service}: {plan.current_label} -> {plan.target_label} ({plan.target}); "
            f"{result.get('verification', '')}"
        )


COMMANDS = (rollback,)
