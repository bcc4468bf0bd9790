"""agentctl status: what runs where, at which version, and what is rolling out."""

from __future__ import annotations

import json
from typing import Any

import click

from agentctl.context import target
from agentctl.errors import AgentctlError
from agentctl.output import OUTPUT_OPTION, emit_json, emit_table


def _section(title: str, data: Any, columns: list[str] | None = None) -> None:
    click.echo(f"\n{title}")
    if isinstance(data, dict) and "error" in data:
        click.echo(f"  could not read: {data['error']}")
    elif isinstance(data, dict):
        emit_table([data], columns)
    else:
        emit_table(data, columns)


def _deployments(row: dict[str, Any]) -> str:
    parts = [
        f"{d['status']} {d['task_definition']} {d['running']}/{d['desired']} {d['rollout'] or ''}".strip()
        for d in row.get("deployments", [])
    ]
    return "; ".join(parts) or "-"


@click.command()
@OUTPUT_OPTION
def status(output: str) -> None:
    """Per service: desired/running/pending tasks, task-definition revision, rollouts in progress; the Lambda
    version behind `live`; each table's status and item count; the live policy-set version. Locally: the
    supervised processes instead of ECS."""
    platform = target()
    data = {"environment": platform.env, "project": platform.names.project, **platform.status()}
    if output == "json":
        emit_json(data)
    else:
        _render(data)
    unread = unreadable_parts(data)
    if unread:  # what was read is shown; a status with holes is not a success (no credentials, no access, ...)
        raise AgentctlError(f"could not read: {'; '.join(unread)}")


def unreadable_parts(data: dict[str, Any]) -> list[str]:
    """`part (error)` for each part of the status that could not be read, and each row of a part (a table)."""
    unread = []
    for name, part in data.items():
        if isinstance(part, dict) and "error" in part:
            unread.append(f"{name} ({part['error']})")
        elif isinstance(part, list):
            rows = [row for row in part if isinstance(row, dict) and row.get("status") == "ERROR"]
            unread += [f"{row.get('table') or row.get('service')} ({row.get('detail', 'error')})" for row in rows]
    return unread


def _render(data: dict[str, Any]) -> None:
    click.echo(f"agent-runtime {data['environment']} (PROJECT_NAME={data['project']})")
    if "processes" in data:  # the local stack: supervised processes instead of ECS and Lambda versions
        _section("Processes (supervisord)", data["processes"], ["name", "state", "pid", "description"])
        click.echo(f"\nGovernance: {data['governance']['served_by']}")
    else:
        services = data["services"]
        if isinstance(services, list):
            services = [{**row, "deployments": _deployments(row)} for row in services]
        _section(
            "ECS services",
            services,
            ["service", "status", "desired", "running", "pending", "task_definition", "deployments"],
        )
        _section(
            "Governance Lambda",
            data["governance"],
            ["function", "alias", "live_version", "latest_published", "state", "reserved_concurrency"],
        )
    if data.get("tables"):
        _section("DynamoDB tables", data["tables"], ["table", "status", "items", "counted"])
    policy_set = data.get("policy_set")
    if isinstance(policy_set, dict) and "version" in policy_set:
        click.echo(f"\nPolicy set: version {policy_set['version']}, limits {json.dumps(policy_set['limits'])}")
    elif policy_set:
        _section("Policy set", policy_set)


COMMANDS = (status,)
