"""agentctl trace: one call's span tree as a waterfall, locally from the stack's trace files, in AWS from X-Ray."""

from __future__ import annotations

import click

from agent_runtime.logs import escape_controls
from agentctl.context import target
from agentctl.ops import trace as ops
from agentctl.output import OUTPUT_OPTION, emit_json


@click.command()
@click.argument("identifier", required=False, metavar="[ID]")
@click.option("--last", is_flag=True, help="The latest dispatch instead of an ID.")
@click.option(
    "--wait",
    type=click.FloatRange(0, 60),
    default=3.0,
    show_default=True,
    help="Seconds to wait for spans still being exported (each process exports in batches).",
)
@OUTPUT_OPTION
def trace(identifier: str | None, last: bool, wait: float, output: str) -> None:
    """Show the span tree of one call: ID is a trace id (32 hex digits, as in the `traceparent` every response
    carries), an X-Ray trace id (1-xxxxxxxx-...), or the request's correlation id (X-Correlation-ID).

    Each line: the span's offset from the start of the trace and its duration in milliseconds, a bar on the
    trace's time line, the span (indented under its parent, with its service where the service changes), and its
    key attributes (status, outcome, principal, tool, policies, decision id). `*` marks the slowest span under
    each parent: following the stars from the top is the slow path. With --output json: the same, as data.
    """
    query = ops.parse_query(identifier, last)
    platform = target()
    trace_id, spans = ops.read_trace(platform.traces(), query, wait)
    report = ops.summary(trace_id, spans)
    if output == "json":
        emit_json(report)
        return
    for line in ops.waterfall(report):
        click.echo(escape_controls(line))  # span names and attributes may hold request data


COMMANDS = (trace,)
