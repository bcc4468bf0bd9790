"""agentctl limits: the rate limits Governance enforces (requests per minute, counted across every instance)."""

from __future__ import annotations

import dataclasses

import click

from agentctl.context import target
from agentctl.errors import AgentctlError
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
    ] + [{"scope": f"principal {name}", "per_minute": value} for name, value in sorted(limits.principals.items())]
    emit(rows, "table")


@click.group()
def limits() -> None:
    """Rate limits (requests per minute): global, per principal, per source IP."""


@limits.command("show")
@OUTPUT_OPTION
def show(output: str) -> None:
    """The limits in force."""
    _show(_store().read_config().limits, output)


@limits.command("set")
@click.option("--global", "global_limit", type=POSITIVE, help="Requests per minute across all clients.")
@click.option("--per-principal", type=POSITIVE, help="Per principal (or for --principal only).")
@click.option("--per-ip", type=POSITIVE, help="Per source IP address.")
@click.option("--principal", help="With --per-principal: a limit for this principal only.")
@click.option("--reset-principal", is_flag=True, help="With --principal: drop its own limit.")
@OUTPUT_OPTION
def set_limits(
    global_limit: int | None,
    per_principal: int | None,
    per_ip: int | None,
    principal: str | None,
    reset_principal: bool,
    output: str,
) -> None:
    """Change limits; in force on every Governance instance when the command returns (no restart)."""
    if principal and (global_limit or per_ip):
        raise click.UsageError("--principal goes with --per-principal or --reset-principal only")
    if principal and not (per_principal or reset_principal):
        raise click.UsageError("--principal needs --per-principal N or --reset-principal")
    if reset_principal and not principal:
        raise click.UsageError("--reset-principal needs --principal")
    if not principal and not (global_limit or per_principal or per_ip):
        raise click.UsageError("nothing to change: give --global, --per-principal or --per-ip")

    def change(current: Limits) -> Limits:
        if principal:
            principals = dict(current.principals)
            if reset_principal:
                principals.pop(principal, None)
            else:
                principals[principal] = per_principal
            return dataclasses.replace(current, principals=principals)
        return dataclasses.replace(
            current,
            global_limit=global_limit or current.global_limit,
            per_principal=per_principal or current.per_principal,
            per_ip=per_ip or current.per_ip,
        )

    try:
        updated = _store().update_limits(change)
    except StoreError as exc:
        raise AgentctlError(str(exc)) from exc
    wait_until_live()
    _show(updated, output)


COMMANDS = (limits,)
