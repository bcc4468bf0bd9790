"""What is deployed and how it runs: ECS services and their rollouts, the Lambda behind `live`, the tables.

A read-only view (nothing here changes anything). Each part is read independently: a part that cannot be read
is reported with its error instead of hiding the rest. The local stack reports its processes instead of ECS and
the Lambda (agentctl.local.platform), with the same tables and policy-set parts.
"""

from __future__ import annotations

from typing import Any

from agent_runtime.names import Names
from agent_runtime.tables import table_definitions
from agentctl.ops import ecs as ecs_ops
from agentctl.ops import governance_fn
from agentctl.ops.platform import AwsClients
from governance.store import PolicyStore


def safely(read: Any) -> Any:
    try:
        return read()
    except Exception as exc:  # status reports what it cannot read, it does not stop at it
        return {"error": f"{type(exc).__name__}: {exc}"[:300]}


def services(ecs: Any, names: Names) -> list[dict[str, Any]]:
    rows = []
    for service, state in ecs_ops.describe(ecs, names).items():
        if state is None:
            rows.append({"service": service, "status": "MISSING", "ecs_service": names.service(service)})
            continue
        rows.append(
            {
                "service": service,
                "status": state.status,
                "desired": state.desired,
                "running": state.running,
                "pending": state.pending,
                "task_definition": state.revision,
                "task_definition_arn": state.task_definition,
                "deployments": [
                    {
                        "status": d.status,
                        "task_definition": ecs_ops.short(d.task_definition),
                        "rollout": d.rollout_state,
                        "running": d.running,
                        "desired": d.desired,
                        "failed_tasks": d.failed_tasks,
                    }
                    for d in state.deployments
                ],
                "in_progress": bool(state.in_progress),
                "recent_events": state.events,
            }
        )
    return rows


def governance(lam: Any, names: Names) -> dict[str, Any]:
    info = governance_fn.state(lam, names)
    versions = governance_fn.published_versions(lam, names)
    return {
        "function": names.governance_function,
        "alias": names.governance_alias,
        "live_version": info["version"],
        "latest_published": str(versions[-1]) if versions else None,
        "published_versions": len(versions),
        "state": info["state"],
        "last_update_status": info["last_update_status"],
        "reserved_concurrency": governance_fn.reserved_concurrency(lam, names),
        "last_modified": info["last_modified"],
    }


def tables(dynamodb: Any, names: Names) -> list[dict[str, Any]]:
    """Status and item counts; the policies table is counted exactly (it is small), the others are DynamoDB's
    own ItemCount, which AWS refreshes about every six hours."""
    rows = []
    for definition in table_definitions(names):
        table = definition["TableName"]
        try:
            description = dynamodb.describe_table(TableName=table)["Table"]
        except Exception as exc:
            rows.append({"table": table, "status": "ERROR", "items": None, "detail": str(exc)[:200]})
            continue
        row: dict[str, Any] = {
            "table": table,
            "status": description["TableStatus"],
            "items": description.get("ItemCount"),
            "counted": "approximate",
        }
        if table == names.policies_table:
            row["items"] = exact_count(dynamodb, table)
            row["counted"] = "exact"
        rows.append(row)
    return rows


def exact_count(dynamodb: Any, table: str) -> int:
    total = 0
    for page in dynamodb.get_paginator("scan").paginate(TableName=table, Select="COUNT", ConsistentRead=True):
        total += page["Count"]
    return total


def policy_set(dynamodb: Any, names: Names) -> dict[str, Any]:
    config = PolicyStore(dynamodb, names.policies_table).read_config()
    return {"version": config.version, "manifest": config.manifest_key, "limits": config.limits.to_dict()}


def aws_status(clients: AwsClients, names: Names) -> dict[str, Any]:
    return {
        "services": safely(lambda: services(clients.ecs, names)),
        "governance": safely(lambda: governance(clients.lambda_, names)),
        "tables": safely(lambda: tables(clients.dynamodb, names)),
        "policy_set": safely(lambda: policy_set(clients.dynamodb, names)),
    }
