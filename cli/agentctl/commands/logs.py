"""agentctl logs: a service's log lines, locally from the stack's log files, in AWS from CloudWatch Logs."""

from __future__ import annotations

import json
from collections.abc import Iterator

import click

from agent_runtime.logs import escape_controls
from agentctl.context import target
from agentctl.ops import logs as ops
from agentctl.output import OUTPUT_OPTION


def _print(events: Iterator[ops.LogEvent], audit: bool, output: str) -> int:
    count = 0
    if audit and output != "json":
        click.echo(ops.audit_header())
    for event in events:
        count += 1
        if output == "json":
            click.echo(json.dumps(event.to_dict(), default=str))
        elif audit:  # a control character in a logged value must not drive the terminal or forge a line
            click.echo(escape_controls(ops.audit_line(event)))
        else:
            click.echo(escape_controls(event.line()))
    return count


@click.command()
@click.argument("service", type=click.Choice(["orbit", "axon", "governance", "emulator"]))
@click.option(
    "--since",
    default="1h",
    show_default=True,
    help="From this long ago (30s, 10m, 2h, 1d) or this ISO 8601 time.",
)
@click.option("--follow", "-f", is_flag=True, help="Keep printing new lines until Ctrl-C.")
@click.option("--audit", is_flag=True, help="Only Governance's audit events (one per decision), as a table.")
@OUTPUT_OPTION
def logs(service: str, since: str, follow: bool, audit: bool, output: str) -> None:
    """Show SERVICE's log lines (orbit, axon, governance; emulator locally).

    Local: the stack's log files (<state folder>/logs/<service>.log; for governance also one stream per
    worker, governance-instance-<n>.log, merged by time). AWS: the CloudWatch Logs groups
    /ecs/<project>-orbit, /ecs/<project>-axon and /aws/lambda/<project>-governance. With --output json, one
    JSON object per line (JSON Lines), as the services wrote it.
    """
    platform = target()
    start = ops.parse_since(since)
    if audit and service != "governance":
        raise click.UsageError("--audit applies to governance (the audit events are Governance's decisions)")
    source = platform.logs(service)
    events = source.follow(start, audit, keep_going=lambda: True) if follow else source.read(start, audit)
    try:
        count = _print(events, audit, output)
    except KeyboardInterrupt:
        return
    if count == 0 and output != "json":
        click.echo(
            f"(no {'audit events' if audit else 'log lines'} since {start.isoformat(timespec='seconds')})", err=True
        )


COMMANDS = (logs,)
