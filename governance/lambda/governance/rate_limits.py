"""Rate limits counted in DynamoDB, so that they hold across every Lambda instance.

Fixed one-minute windows: one counter item per scope and window (`global#<window>`, `principal#<name>#<window>`,
`ip#<address>#<window>`), incremented atomically with UpdateItem ADD and expired by DynamoDB's TTL. A call counts
against its principal and its source IP even when refused, so a client hammering past its limit stays limited
until the window turns; but a call refused by its own principal or IP limit is taken back from the global count,
so that one client cannot use up everyone's global budget.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from agent_runtime import tracing
from agent_runtime.tables import TTL_ATTRIBUTE
from governance.store import Limits

WINDOW_SECONDS = 60


@dataclass(frozen=True)
class RateLimitResult:
    allowed: bool
    limit: int
    remaining: int
    reset: int  # epoch second at which the window turns
    scope: str  # the scope that decided: global, principal, ip, or tool (an MCP tool's own limit)

    def headers(self) -> dict[str, str]:
        return {"limit": str(self.limit), "remaining": str(self.remaining), "reset": str(self.reset)}


class RateLimiter:
    def __init__(self, dynamodb: Any, table_name: str, pool: ThreadPoolExecutor) -> None:
        self.dynamodb = dynamodb
        self.table = table_name
        # The counters are independent items: update them concurrently, one round trip of latency.
        self._pool = pool
        # The counters' spans say the same of each call: made once (a tuple, the form a span keeps a list in).
        self._span_attributes = {
            "rpc.system": "aws-api",
            "rpc.service": "DynamoDB",
            "rpc.method": "UpdateItem",
            "aws.dynamodb.table_names": (table_name,),
        }

    def _increment(self, key: str, expires_at: int, scope: str, parent: Any) -> int:
        """Count one call; the counter's new value."""
        with tracing.span(f"ratelimit.{scope}", tracing.CLIENT, self._span_attributes, parent=parent):
            response = self._update(key, expires_at, 1, "UPDATED_NEW")
        return int(response["Attributes"]["count"]["N"])

    def _take_back(self, key: str, expires_at: int) -> None:
        """Take one call back from a counter. Its new value is not needed, so not asked for: an answer without
        Attributes cannot turn the decision into an error."""
        with tracing.span("ratelimit.global", tracing.CLIENT, self._span_attributes):
            self._update(key, expires_at, -1, "NONE")

    def _update(self, key: str, expires_at: int, by: int, returns: str) -> Any:
        return self.dynamodb.update_item(
            TableName=self.table,
            Key={"pk": {"S": key}},
            UpdateExpression="ADD #n :by SET #ttl = if_not_exists(#ttl, :ttl)",
            ExpressionAttributeNames={"#n": "count", "#ttl": TTL_ATTRIBUTE},
            ExpressionAttributeValues={":by": {"N": str(by)}, ":ttl": {"N": str(expires_at)}},
            ReturnValues=returns,
        )

    def check(
        self, principal: str, source_ip: str, limits: Limits, now: float, tool: str | None = None
    ) -> RateLimitResult:
        """Count the call in every scope (and, for an MCP tool with a limit of its own, in the principal's count
        of that tool); the scope with the least room decides."""
        window = int(now // WINDOW_SECONDS) * WINDOW_SECONDS
        reset = window + WINDOW_SECONDS
        expires_at = reset + WINDOW_SECONDS  # keep a window one more minute, then let TTL take it
        scopes = [
            ("global", f"global#{window}", limits.global_limit),
            ("principal", f"principal#{principal}#{window}", limits.for_principal(principal)),
            ("ip", f"ip#{source_ip}#{window}", limits.per_ip),
        ]
        tool_limit = limits.for_tool(tool) if tool else None
        if tool_limit is not None:
            scopes.append(("tool", f"tool#{tool}#{principal}#{window}", tool_limit))
        parent = tracing.current_context()  # the counters are updated on other threads: their spans need it
        # Every counter but the first on the pool, the first on this thread meanwhile (which would only wait): the
        # same one round trip of latency, one thread hand-off less of CPU.
        others = [self._pool.submit(self._increment, key, expires_at, scope, parent) for scope, key, _ in scopes[1:]]
        counts = [self._increment(scopes[0][1], expires_at, scopes[0][0], parent)]
        counts += [future.result() for future in others]
        # The scope with the least room left is the one a client is told about.
        results = [
            RateLimitResult(count <= limit, limit, max(limit - count, 0), reset, scope)
            for (scope, _, limit), count in zip(scopes, counts, strict=True)
        ]
        refused = [r for r in results if not r.allowed]
        if any(r.scope != "global" for r in refused):
            self._take_back(scopes[0][1], expires_at)  # refused by its own limit: not on everyone's budget
        if refused:
            return min(refused, key=lambda r: r.limit)
        return min(results, key=lambda r: (r.remaining, r.limit))
