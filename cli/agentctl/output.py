"""Rendering: a readable table by default, JSON with --output json."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import click
from tabulate import tabulate

from agentctl.errors import EXIT_REFUSED, AgentctlError

OUTPUT_OPTION = click.option(
    "--output",
    "-o",
    type=click.Choice(["table", "json"]),
    default="table",
    show_default=True,
    help="Output format.",
)


def emit_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, default=str))


def emit_table(rows: Sequence[dict[str, Any]], columns: Sequence[str] | None = None) -> None:
    if not rows:
        click.echo("(none)")
        return
    columns = list(columns or rows[0].keys())
    click.echo(tabulate([[_cell(row.get(c)) for c in columns] for row in rows], headers=columns))


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, (list, tuple)):
        return ", ".join(str(v) for v in value) or "-"
    if isinstance(value, dict):
        return json.dumps(value, default=str)
    return str(value)


def emit(
    data: Any, output: str, rows: Sequence[dict[str, Any]] | None = None, columns: Sequence[str] | None = None
) -> None:
    if output == "json":
        emit_json(data)
    else:
        emit_table(rows if rows is not None else data, columns)


def seconds_option(name: str, default: float | None, help: str) -> Any:
    """The bound of a wait, in seconds (1 or more)."""
    return click.option(
        name, type=click.FloatRange(min=1), default=default, show_default=default is not None, help=help
    )


#: For destructive commands (rollback, restore, chaos, ...): do not ask for confirmation.
YES_OPTION = click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
#: For commands that refuse `--env prod` unless told explicitly.
ALLOW_PROD_OPTION = click.option("--allow-prod", is_flag=True, help="Allow this command on --env prod.")


def confirm(question: str, yes: bool) -> None:
    """Ask before a destructive step (unless --yes); a refusal changes nothing and exits non-zero."""
    if yes:
        return
    try:
        click.confirm(question, abort=True, err=True)
    except click.Abort:
        raise AgentctlError("not confirmed; nothing was changed (--yes skips the question)", EXIT_REFUSED) from None


def check_line(check: dict[str, Any]) -> str:
    """One health-check line: `✅ component: detail (latency)`, the shape `agentctl health` prints."""
    mark = "✅" if check["healthy"] else "❌"
    latency = f" ({check['latency_ms']} ms)" if check.get("latency_ms") is not None else ""
    return f"{mark} {check['component']}: {check['detail']}{latency}"


def progress_line(message: str) -> None:
    """Progress lines go to stderr, so that --output json on stdout stays parseable."""
    click.echo(f"· {message}", err=True)
