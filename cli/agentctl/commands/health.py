"""agentctl health: every component, one line each; exit 0 only when all are healthy."""

from __future__ import annotations

import click

from agentctl.context import target
from agentctl.errors import EXIT_UNHEALTHY, AgentctlError
from agentctl.output import OUTPUT_OPTION, check_line, emit_json


@click.command()
@OUTPUT_OPTION
def health(output: str) -> None:
    """Check every component of the environment, one line each; exit 3 when anything is unhealthy.

    Local: the supervised processes, the AWS emulator, the policies table, a real governance decision, and
    Axon's and Orbit's /health. AWS: ECS running versus desired tasks per service, Orbit's load balancer
    targets, the Lambda behind `live` (its state and a real invocation), and every DynamoDB table.
    """
    platform = target()
    checks = platform.health()
    healthy = all(c.healthy for c in checks)
    if output == "json":
        emit_json({"healthy": healthy, "environment": platform.env, "checks": [c.to_dict() for c in checks]})
    else:
        for check in checks:
            click.echo(check_line(check.to_dict()))
    if not healthy:
        failed = ", ".join(c.component for c in checks if not c.healthy)
        raise AgentctlError(f"unhealthy: {failed}", EXIT_UNHEALTHY)


COMMANDS = (health,)
