"""Rendering: a readable table by default, JSON with --output json."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import click
from tabulate import tabulate

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


def progress(message: str) -> None:
    """Progress lines go to stderr, so that --output json on stdout stays parseable."""
    click.echo(f"· {message}", err=True)
