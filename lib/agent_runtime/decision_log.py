"""The decision log: for every decision, the Cedar request that was evaluated, kept for a while so that a candidate
policy set can be replayed against real traffic before it is enforced (agentctl policy replay).

One owner of the `${PROJECT_NAME}-decision-log` table. Governance writes one item per decision, concurrently with
its rate-limit counters (so the decision path waits for no extra round trip); agentctl reads them back by time.
Items: `pk` = `decisions#<UTC hour>#<shard>` (eight shards, so that a busy hour spreads over partitions), `sk` =
`<epoch ms>#<decision id>`; the request as JSON; `expires_at` for DynamoDB's TTL (the retention, 7 days by default).

A tool call's arguments are recorded only when the operator turned recording on for its target: without them the
record says so, and a candidate policy that reads `context.input` cannot be replayed on it.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from agent_runtime.tables import TTL_ATTRIBUTE

SHARDS = 8
DEFAULT_RETENTION_DAYS = 7


@dataclass(frozen=True)
class DecisionRecord:
    decision_id: str
    at: float  # epoch seconds of the decision
    principal: str
    action: str
    resource: tuple[str, str]
    parents: tuple[str, ...]
    context: dict[str, Any]  # the Cedar context as evaluated (a tool call's `input` only if recorded)
    policy_set_version: int
    correlation_id: str = ""
    arguments_recorded: bool = True  # False: a tool call whose arguments were not recorded
    target: str | None = None
    tool: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "decision_id": self.decision_id,
            "at": self.at,
            "principal": self.principal,
            "action": self.action,
            "resource": list(self.resource),
            "parents": list(self.parents),
            "context": self.context,
            "policy_set_version": self.policy_set_version,
            "correlation_id": self.correlation_id,
            "arguments_recorded": self.arguments_recorded,
            "target": self.target,
            "tool": self.tool,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DecisionRecord:
        return cls(
            decision_id=str(data["decision_id"]),
            at=float(data["at"]),
            principal=str(data["principal"]),
            action=str(data["action"]),
            resource=(str(data["resource"][0]), str(data["resource"][1])),
            parents=tuple(str(p) for p in data.get("parents", [])),
            context=dict(data.get("context", {})),
            policy_set_version=int(data["policy_set_version"]),
            correlation_id=str(data.get("correlation_id", "")),
            arguments_recorded=bool(data.get("arguments_recorded", True)),
            target=data.get("target"),
            tool=data.get("tool"),
        )


def _hour(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%dT%H")


def _shard(decision_id: str) -> int:
    return hashlib.sha256(decision_id.encode()).digest()[0] % SHARDS


class DecisionLog:
    """Repository over the decision-log table. It is handed its boto3 DynamoDB client."""

    def __init__(self, dynamodb: Any, table_name: str, retention_days: int = DEFAULT_RETENTION_DAYS) -> None:
        self.dynamodb = dynamodb
        self.table = table_name
        self.retention_seconds = retention_days * 86400

    def record(self, entry: DecisionRecord) -> None:
        self.dynamodb.put_item(
            TableName=self.table,
            Item={
                "pk": {"S": f"decisions#{_hour(entry.at)}#{_shard(entry.decision_id)}"},
                "sk": {"S": f"{int(entry.at * 1000):013d}#{entry.decision_id}"},
                "record": {"S": json.dumps(entry.to_dict(), separators=(",", ":"), ensure_ascii=False)},
                TTL_ATTRIBUTE: {"N": str(int(entry.at) + self.retention_seconds)},
            },
        )

    def read(self, since: float, until: float | None = None) -> Iterator[DecisionRecord]:
        """The records of decisions made in [since, until], hour by hour, oldest hours first."""
        until = time.time() if until is None else until
        hour = datetime.fromtimestamp(since, UTC).replace(minute=0, second=0, microsecond=0)
        while hour.timestamp() <= until:
            for shard in range(SHARDS):
                yield from self._query(f"decisions#{hour:%Y-%m-%dT%H}#{shard}", since, until)
            hour += timedelta(hours=1)

    def _query(self, pk: str, since: float, until: float) -> Iterator[DecisionRecord]:
        kwargs: dict[str, Any] = {
            "TableName": self.table,
            "KeyConditionExpression": "pk = :pk AND sk BETWEEN :low AND :high",
            "ExpressionAttributeValues": {
                ":pk": {"S": pk},
                ":low": {"S": f"{int(since * 1000):013d}"},
                ":high": {"S": f"{int(until * 1000):013d}~"},
            },
        }
        while True:
            page = self.dynamodb.query(**kwargs)
            for item in page.get("Items", []):
                yield DecisionRecord.from_dict(json.loads(item["record"]["S"]))
            if "LastEvaluatedKey" not in page:
                return
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
