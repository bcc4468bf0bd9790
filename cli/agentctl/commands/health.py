"""agentctl health: every component, one line each; exit 0 only when all are healthy."""

from __future__ import annotations

import click

from agentctl.context import target
from agentctl.errors import EXIT_UNHEALTHY, AgentctlError
from agentctl.ops.health import local_checks
from agentctl.output import OUTPUT_OPTION, emit_json


@click.command()
@OUTPUT_OPTION
def health(output: str) -> None:
    """Check every component of the environment."""
    tgt = target()
    if not tgt.is_local:
        raise AgentctlError(f"health of {tgt.env} is not available in this version")
    checks = local_checks(tgt.stack)
    healthy = all(c.healthy for c in checks)
    if output == "json":
        emit_json({"healthy": healthy, "environment": tgt.env, "checks": [c.to_dict() for c in checks]})
    else:
        for check in checks:
            mark = "✅" if check.healthy else "❌"
            latency = f" ({check.latency_ms} ms)" if check.latency_ms is not None else ""
            click.echo(f"{mark} {check.component}: {check.detail}{latency}")
    if not healthy:
        failed = ", ".join(c.component for c in checks if not c.healthy)
        raise AgentctlError(f"unhealthy: {failed}", EXIT_UNHEALTHY)


COMMANDS = (health,)
