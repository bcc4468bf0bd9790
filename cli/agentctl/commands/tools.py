"""agentctl tools: the MCP targets Orbit governs (upstream tool servers) and their tools (add, sync, list, remove)."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any, TypeVar

import click

from agentctl.context import target
from agentctl.ops import tools as ops
from agentctl.output import OUTPUT_OPTION, YES_OPTION, confirm, emit, emit_json, emit_table

T = TypeVar("T")


def _checked(check: Callable[..., T], *args: Any) -> T:
    """A value checked by the work functions; a bad one is a one-line usage error (nothing changed)."""
    try:
        return check(*args)
    except ops.BadInput as exc:
        raise click.UsageError(str(exc)) from None


def _warn(warnings: list[str]) -> None:
    for warning in warnings:
        click.echo(f"warning: {warning}", err=True)


def _sync_rows(synced: list[ops.Synced]) -> list[dict[str, Any]]:
    return [
        {
            "target": s.target,
            "tools": len(s.tools),
            "added": s.added,
            "changed": s.changed,
            "removed": s.removed,
        }
        for s in synced
    ]


def _served_note() -> None:
    click.echo(f"Orbit serves the change within {ops.ORBIT_TOOLS_CACHE_SECONDS} s (its tools cache).", err=True)


@click.group()
def tools() -> None:
    """MCP targets (upstream tool servers) whose tools Orbit governs at POST /mcp."""


@tools.command("add")
@click.argument("name", callback=lambda _c, _p, v: _checked(ops.target_name, v))
@click.option("--url", required=True, callback=lambda _c, _p, v: _checked(ops.target_url, v), help="MCP endpoint.")
@click.option("--auth", type=click.Choice(["none", "sigv4", "bearer"]), default="none", show_default=True)
@click.option("--sigv4-service", help="With --auth sigv4: the service name Orbit signs for (default execute-api).")
@click.option("--bearer-token-env", metavar="VAR", help="With --auth bearer: the variable that holds the token.")
@click.option("--bearer-token-file", metavar="FILE", help="With --auth bearer: the file that holds the token.")
@click.option("--timeout-ms", type=click.IntRange(100, ops.MAX_TIMEOUT_MS), default=30_000, show_default=True)
@click.option("--record-arguments", is_flag=True, help="Audit the raw arguments of calls (default: their SHA-256).")
@click.option("--no-sync", is_flag=True, help="Store the target without reading its tools now.")
@click.option("--replace", is_flag=True, help="Change a target that exists (its tools are kept until synced).")
@OUTPUT_OPTION
def add(
    name: str,
    url: str,
    auth: str,
    sigv4_service: str | None,
    bearer_token_env: str | None,
    bearer_token_file: str | None,
    timeout_ms: int,
    record_arguments: bool,
    no_sync: bool,
    replace: bool,
    output: str,
) -> None:
    """Add target NAME (its URL and authentication), then read its tools (unless --no-sync).

    A bearer token is read from --bearer-token-env or --bearer-token-file, stored only in Secrets Manager
    (<project>/targets/NAME) and never printed.
    """
    token_given = bool(bearer_token_env or bearer_token_file)
    service = _checked(ops.check_auth, auth, sigv4_service, token_given)
    token = _checked(ops.bearer_token, bearer_token_env, bearer_token_file, dict(os.environ))
    spec = ops.TargetSpec(name, url, auth, service, timeout_ms, record_arguments)
    added = ops.add(target(), spec, token, replace=replace, sync_now=not no_sync)
    if output == "json":
        emit_json(added.to_dict())
        return
    shown = added.target
    row = {k: shown[k] for k in ("name", "url", "auth", "bearer_secret", "timeout_ms", "record_arguments")}
    emit_table([{**row, "tools": len(shown["tools"])}])
    if added.synced:
        click.echo()
        emit_table(_sync_rows(added.synced))
    else:
        click.echo(f"\nNot synced: its tools are served once you run `agentctl tools sync {name}`.", err=True)
    _warn(added.warnings)
    _served_note()


@tools.command("sync")
@click.argument("name", required=False)
@click.option("--bearer-token-env", metavar="VAR", help="NAME's token for this sync (default: read it).")
@click.option("--bearer-token-file", metavar="FILE", help="NAME's token for this sync, from a file.")
@OUTPUT_OPTION
def sync(name: str | None, bearer_token_env: str | None, bearer_token_file: str | None, output: str) -> None:
    """Read the tools of target NAME (or of every target) again and store them, whole.

    The Cedar schema is regenerated with the tools' argument types, so that policies over arguments validate;
    live policies that no longer validate are reported. A bearer target's token is read from Secrets Manager,
    or given with --bearer-token-env / --bearer-token-file where these credentials cannot read it.
    """
    token = _checked(ops.bearer_token, bearer_token_env, bearer_token_file, dict(os.environ))
    result = _checked(ops.sync, target(), name, token)
    if output == "json":
        emit_json(result.to_dict())
        return
    emit_table(_sync_rows(result.synced))
    _warn(result.warnings)
    _served_note()


@tools.command("list")
@click.option("--target", "only", metavar="NAME", help="Only this target.")
@OUTPUT_OPTION
def list_tools(only: str | None, output: str) -> None:
    """Every target (the built-in axon among them) and its tools, named as clients see them."""
    targets = ops.list_targets(target(), only)
    rows = []
    for shown in targets:
        base = {"target": shown["name"], "auth": shown["auth"], "synced_at": shown["synced_at"]}
        if shown["builtin"]:
            base["synced_at"] = "built in"
        for tool in shown["tools"]:
            hints = [k.removesuffix("Hint") for k, v in tool["annotations"].items() if v is True]
            description = tool["description"].strip().splitlines()[0][:60] if tool["description"].strip() else ""
            rows.append({**base, "tool": tool["name"], "hints": hints, "description": description})
        if not shown["tools"]:
            rows.append(
                {**base, "tool": f"(none: agentctl tools sync {shown['name']})", "hints": [], "description": ""}
            )
    emit({"targets": targets}, output, rows=rows)


@tools.command("remove")
@click.argument("name")
@YES_OPTION
@OUTPUT_OPTION
def remove(name: str, yes: bool, output: str) -> None:
    """Delete target NAME, its tools and its token; calls of its tools are refused from then on."""
    platform = target()
    found = ops.plan_remove(platform, name)
    confirm(
        f"Remove target {name} ({found.url}) and its {len(found.tools)} tool(s) in {platform.env}? "
        "Agents can no longer call them",
        yes,
    )
    result = ops.remove(platform, found)
    if output == "json":
        emit_json(result)
        return
    emit_table([{k: v for k, v in result.items() if k != "warnings"}])
    _warn(result["warnings"])
    _served_note()


COMMANDS = (tools,)
