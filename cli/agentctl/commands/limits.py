"""agentctl limits: the rate limits Governance enforces (requests per minute, counted across every instance)."""

from __future__ import annotations

from typing import Any

import click

from agentctl.context import target
from agentctl.errors import AgentctlError
from agentctl.ops import limits as limit_ops
from agentctl.ops.errors import Refused
from agentctl.ops.limits import LimitsChange
from agentctl.ops.policy import wait_until_live
from agentctl.output import OUTPUT_OPTION, emit, emit_json
from governance.store import Limits, PolicyStore, StoreError

POSITIVE = click.IntRange(min=1, max=10_000_000)


def _store() -> PolicyStore:
    platform = target()
    return PolicyStore(platform.clients.dynamodb, platform.names.policies_table)


def _show(limits: Limits, output: str) -> None:
    if output == "json":
        emit_json(limits.to_dict())
        return
    rows = [
        {"scope": "global", "per_minute": limits.global_limit},
        {"scope": "per principal", "per_minute": limits.per_principal},
        {"scope": "per source IP", "per_minute": limits.per_ip},
    ]
    rows += [{"scope": f"principal {name}", "per_minute": value} for name, value in sorted(limits.principals.items())]
    rows += [
        {"scope": f"tool {name} (per principal)", "per_minute": value} for name, value in sorted(limits.tools.items())
    ]
    emit(rows, "table")


@click.group()
def limits() -> None:
    """Rate limits (requests per minute): global, per principal, per source IP, per MCP tool."""


@limits.command("show")
@OUTPUT_OPTION
def show(output: str) -> None:
    """The limits in force."""
    _show(_store().read_config().limits, output)


def _change(
    global_limit: int | None = None,
    per_principal: int | None = None,
    per_ip: int | None = None,
    principal: str | None = None,
    reset_principal: bool = False,
    tool: tuple[str, ...] = (),
) -> LimitsChange:
    """parse: the options as one change; a combination that means nothing is a usage error."""
    if principal and (global_limit or per_ip):
        raise click.UsageError("--principal goes with --per-principal or --reset-principal only")
    if principal and not (per_principal or reset_principal):
        raise click.UsageError("--principal needs --per-principal N or --reset-principal")
    if reset_principal and not principal:
        raise click.UsageError("--reset-principal needs --principal")
    if not principal and not (global_limit or per_principal or per_ip or tool):
        raise click.UsageError("nothing to change: give --global, --per-principal, --per-ip or --tool")
    try:
        tools = limit_ops.tool_limits(tool)
    except Refused as exc:
        raise click.UsageError(str(exc)) from None
    return LimitsChange(global_limit, per_principal, per_ip, principal, reset_principal, tools)


@limits.command("set")
@click.option("--global", "global_limit", type=POSITIVE, help="Requests per minute across all clients.")
@click.option("--per-principal", type=POSITIVE, help="Per principal (or for --principal only).")
@click.option("--per-ip", type=POSITIVE, help="Per source IP address.")
@click.option("--principal", help="With --per-principal: a limit for this principal only.")
@click.option("--reset-principal", is_flag=True, help="With --principal: drop its own limit.")
@click.option(
    "--tool",
    multiple=True,
    metavar="NAME=N",
    help="Calls per minute of MCP tool NAME (<target>___<tool>) for each principal; NAME=none drops it. Repeatable.",
)
@OUTPUT_OPTION
def set_limits(output: str, **options: Any) -> None:
    """Change limits; in force on every Governance instance when the command returns (no restart)."""
    change = _change(**options)
    platform = target()
    limit_ops.check_tools_exist(platform, change.tools)
    try:
        updated = _store().update_limits(change.apply)
    except StoreError as exc:
        raise AgentctlError(str(exc)) from exc
    wait_until_live()
    _show(updated, output)


COMMANDS = (limits,)
