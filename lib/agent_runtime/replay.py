"""Single-use records: accepted SigV4 signatures and spent decision receipts.

`first_use(key, expires_at)` records a key and answers True the first time, False afterwards, until the
record expires. Two stores:
- MemoryReplayStore: per process. Correct only when one process serves the service (the local stack runs
  one gunicorn worker with threads; gunicorn_conf refuses several workers with this store).
- DynamoReplayStore: a conditional put with a TTL attribute in the replay table, so that a replay sent to
  another worker or task is still caught.
"""

from __future__ import annotations

import heapq
import threading
import time
from collections.abc import Callable
from typing import Any

from botocore.exceptions import ClientError

from agent_runtime import aws
from agent_runtime.sigv4 import ReplayGuard
from agent_runtime.tables import TTL_ATTRIBUTE


class MemoryReplayStore(ReplayGuard):
    def __init__(self, clock: Callable[[], float] = time.time, max_entries: int = 1_000_000) -> None:
        self._clock = clock
        self._max_entries = max_entries
        self._lock = threading.Lock()
        self._seen: dict[str, float] = {}
        self._expiry: list[tuple[float, str]] = []

    def first_use(self, key: str, expires_at: float) -> bool:
        with self._lock:
            now = self._clock()
            while self._expiry and self._expiry[0][0] <= now:
                _, old = heapq.heappop(self._expiry)
                if self._seen.get(old, now + 1) <= now:
                    del self._seen[old]
            if key in self._seen:
                return False
            if len(self._seen) >= self._max_entries:
                # Refusing is the safe failure: never forget a live record to make room.
                raise RuntimeError("replay store is full")
            self._seen[key] = expires_at
            heapq.heappush(self._expiry, (expires_at, key))
            return True

    def __len__(self) -> int:
        return len(self._seen)


class DynamoReplayStore(ReplayGuard):
    def __init__(self, dynamodb: Any, table_name: str, clock: Callable[[], float] = time.time) -> None:
        self._dynamodb = dynamodb
        self._table = table_name
        self._clock = clock

    def first_use(self, key: str, expires_at: float) -> bool:
        now = int(self._clock())
        try:
            self._dynamodb.put_item(
                TableName=self._table,
                Item={"pk": {"S": key}, TTL_ATTRIBUTE: {"N": str(int(expires_at) + 1)}},
                # DynamoDB deletes expired items lazily: an expired record must not block a new one.
                ConditionExpression="attribute_not_exists(pk) OR #ttl < :now",
                ExpressionAttributeNames={"#ttl": TTL_ATTRIBUTE},
                ExpressionAttributeValues={":now": {"N": str(now)}},
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return False
            raise
        return True


def make_replay_store(kind: str, table_name: str) -> ReplayGuard:
    """The store named by a service's REPLAY_STORE setting."""
    if kind == "memory":
        return MemoryReplayStore()
    if kind == "dynamodb":
        return DynamoReplayStore(aws.client("dynamodb", connect_timeout=1.0, read_timeout=2.0), table_name)
    raise ValueError(f"REPLAY_STORE must be 'memory' or 'dynamodb', not {kind!r}")
