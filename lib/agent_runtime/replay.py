"""Single-use records: accepted SigV4 signatures and spent decision receipts.

`first_use(key, expires_at)` records a key and answers True the first time, False afterwards, until the
record expires. Three stores, one per way the services are run:
- DynamoReplayStore (`dynamodb`, AWS): a conditional put with a TTL attribute in the replay table, so that a replay
  sent to another worker or task is still caught, and records survive any restart.
- SqliteReplayStore (`sqlite`, the local stack): a file shared by every worker of one host, kept across restarts
  (WAL: a committed record survives the process that wrote it).
- MemoryReplayStore (`memory`, a service started by hand): one process only (gunicorn_conf refuses several
  workers with it), and forgotten on restart, so it refuses any request or receipt dated before the process
  started (`not_before`): a restart reopens no replay window.
"""

from __future__ import annotations

import heapq
import math
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from agent_runtime import aws
from agent_runtime.aws_lean import LeanDynamoDB
from agent_runtime.botocore_lean import lean
from agent_runtime.sigv4 import ReplayGuard
from agent_runtime.tables import TTL_ATTRIBUTE


class MemoryReplayStore(ReplayGuard):
    def __init__(self, clock: Callable[[], float] = time.time, max_entries: int = 1_000_000) -> None:
        self._clock = clock
        # SigV4 dates (and receipts' iat) have one-second resolution: a request dated in the second this process
        # started may have been served, in that same second, by the process it replaced. Only what is dated from
        # the next whole second on is judged here; anything older is refused as signed before the start.
        self.not_before = float(math.floor(clock()) + 1)
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


class SqliteReplayStore(ReplayGuard):
    """Records in a SQLite file, shared by the processes of one host and kept across their restarts.

    One connection per thread; WAL with synchronous=NORMAL, so a committed record survives a crash of the process
    (what a restart is), and concurrent workers write without blocking readers. Expired records are purged now
    and then, in the same transaction as an insert.
    """

    _PURGE_EVERY = 1000

    def __init__(self, path: str | Path, clock: Callable[[], float] = time.time) -> None:
        self._path = str(path)
        self._clock = clock
        self._local = threading.local()
        self._inserts = 0
        Path(self._path).parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        with self._connection() as db:
            db.execute("CREATE TABLE IF NOT EXISTS replay (key TEXT PRIMARY KEY, expires REAL NOT NULL)")
            db.execute("CREATE INDEX IF NOT EXISTS replay_expires ON replay (expires)")

    def _connection(self) -> sqlite3.Connection:
        db = getattr(self._local, "db", None)
        if db is None:
            db = sqlite3.connect(self._path, timeout=5.0, isolation_level=None, check_same_thread=True)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            self._local.db = db
        return db

    def first_use(self, key: str, expires_at: float) -> bool:
        now = self._clock()
        db = self._connection()
        with db:
            cursor = db.execute(
                # A record that expired is replaced: the key may be used again only after its window closed.
                "INSERT INTO replay (key, expires) VALUES (?, ?) "
                "ON CONFLICT (key) DO UPDATE SET expires = excluded.expires WHERE replay.expires <= ?",
                (key, expires_at, now),
            )
            self._inserts += 1
            if self._inserts % self._PURGE_EVERY == 0:
                db.execute("DELETE FROM replay WHERE expires <= ?", (now,))
        return cursor.rowcount == 1


REPLAY_STORES = ("memory", "sqlite", "dynamodb")


def make_replay_store(kind: str, *, table_name: str, db_path: str = "") -> ReplayGuard:
    """The store named by a service's REPLAY_STORE setting (checked by the service's settings)."""
    if kind == "memory":
        store = MemoryReplayStore()
        # It judges only what is signed from `not_before` on: the service starts serving then (at most a second
        # from now), so that its first clients are not refused for having signed in the second it started.
        time.sleep(max(0.0, store.not_before - time.time()))
        return store
    if kind == "sqlite":
        return SqliteReplayStore(db_path)
    if kind == "dynamodb":
        # One conditional PutItem per request (two in Axon: the signature and the receipt): lean, a fraction of
        # botocore's CPU; a conditional-check failure is still botocore's ClientError.
        client = lean(aws.client("dynamodb", connect_timeout=1.0, read_timeout=2.0))
        return DynamoReplayStore(LeanDynamoDB(client), table_name)
    raise ValueError(f"REPLAY_STORE must be one of {', '.join(REPLAY_STORES)}, not {kind!r}")
