"""The governance configuration in DynamoDB: versioned policy sets and rate-limit settings.

Items of the policies table (hash key `policy_id`):
- `policy#<id>#<digest>`: one policy's content, immutable (a change is a new item);
- `manifest#<N>`: policy-set version N, a map of policy id -> policy item key, immutable;
- `policyset`: the live version number and its manifest key;
- `limits`: the rate limits (per minute).

A change writes the new policy items (invisible until referenced), then in one transaction the next
manifest and the `policyset` pointer, conditional on the version it started from. So every reader sees a
whole version or the one before, and an old version can be read back to explain an old decision.

This class is the only writer of the table: a policy push (`commit`), the limits, and a backup's switch-over
(agentctl.ops.backup plans it and calls `put_missing`, `publish` and `restore_pointer`) all go through it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError

from governance.policies import Policy

#: The table's hash key.
KEY = "policy_id"
POLICYSET_KEY = "policyset"
#: How long a warm Governance instance reuses the configuration it read (policy-set version and limits). A change
#: is in force on every instance this long after it is written; agentctl waits that long before saying "live".
CONFIG_REFRESH_SECONDS = 1.0
LIMITS_KEY = "limits"
DEFAULT_LIMITS = {"global": 1000, "per_principal": 100, "per_ip": 100}
_MAX_BATCH_GET = 100


class StoreError(Exception):
    pass


class ConcurrentChangeError(StoreError):
    pass


@dataclass(frozen=True)
class Limits:
    """Requests per minute; `principals` overrides per_principal for named principals; `tools` sets, for an MCP
    tool (`<target>___<tool>`), how many calls of it each principal may make."""

    global_limit: int = DEFAULT_LIMITS["global"]
    per_principal: int = DEFAULT_LIMITS["per_principal"]
    per_ip: int = DEFAULT_LIMITS["per_ip"]
    principals: dict[str, int] = field(default_factory=dict)
    tools: dict[str, int] = field(default_factory=dict)

    def for_principal(self, principal: str) -> int:
        return self.principals.get(principal, self.per_principal)

    def for_tool(self, action: str) -> int | None:
        return self.tools.get(action)

    def to_dict(self) -> dict[str, Any]:
        return {
            "global": self.global_limit,
            "per_principal": self.per_principal,
            "per_ip": self.per_ip,
            "principals": dict(sorted(self.principals.items())),
            "tools": dict(sorted(self.tools.items())),
        }


@dataclass(frozen=True)
class Config:
    version: int
    manifest_key: str | None
    limits: Limits


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _manifest_key(version: int) -> str:
    return f"manifest#{version}"


def manifest_number(key: str) -> int | None:
    """N of a `manifest#N` key (None for any other key)."""
    prefix, _, number = key.partition("#")
    return int(number) if prefix == "manifest" and number.isdigit() else None


def _policy_item_key(policy: Policy) -> str:
    return f"policy#{policy.policy_id}#{policy.digest}"


def _limits_from_item(item: dict[str, Any] | None) -> Limits:
    if not item:
        return Limits()
    principals = {k: int(v["N"]) for k, v in item.get("principals", {}).get("M", {}).items()}
    tools = {k: int(v["N"]) for k, v in item.get("tools", {}).get("M", {}).items()}
    return Limits(
        global_limit=int(item["global"]["N"]),
        per_principal=int(item["per_principal"]["N"]),
        per_ip=int(item["per_ip"]["N"]),
        principals=principals,
        tools=tools,
    )


class PolicyStore:
    """Repository over the policies table. It is handed its boto3 DynamoDB client."""

    def __init__(self, dynamodb: Any, table_name: str) -> None:
        self.dynamodb = dynamodb
        self.table = table_name

    # --- reading ------------------------------------------------------------------------------------------

    def read_config(self) -> Config:
        """The live version and limits, in one strongly consistent round trip."""
        response = self.dynamodb.batch_get_item(
            RequestItems={
                self.table: {
                    "Keys": [{KEY: {"S": POLICYSET_KEY}}, {KEY: {"S": LIMITS_KEY}}],
                    "ConsistentRead": True,
                }
            }
        )
        if response.get("UnprocessedKeys"):
            raise StoreError("DynamoDB did not return the governance configuration")
        items = {i[KEY]["S"]: i for i in response["Responses"].get(self.table, [])}
        pointer = items.get(POLICYSET_KEY)
        return Config(
            version=int(pointer["version"]["N"]) if pointer else 0,
            manifest_key=pointer["manifest_key"]["S"] if pointer else None,
            limits=_limits_from_item(items.get(LIMITS_KEY)),
        )

    def _get(self, key: str) -> dict[str, Any] | None:
        return self.dynamodb.get_item(TableName=self.table, Key={KEY: {"S": key}}, ConsistentRead=True).get("Item")

    def manifest(self, version: int) -> dict[str, str]:
        """Policy id -> policy item key of a version (0 is the empty set)."""
        if version == 0:
            return {}
        item = self._get(_manifest_key(version))
        if item is None:
            raise StoreError(f"policy-set version {version} does not exist")
        return {k: v["S"] for k, v in item["policies"]["M"].items()}

    def load(self, version: int) -> list[Policy]:
        keys = self.manifest(version).values()
        policies = [_policy_from_item(item) for item in self._get_many(keys)]
        if len(policies) != len(keys):
            raise StoreError(f"policy-set version {version} references missing policies")
        return sorted(policies, key=lambda p: p.policy_id)

    def _get_many(self, keys: Iterable[str]) -> list[dict[str, Any]]:
        """The items of `keys` that exist, in batches."""
        keys = sorted(set(keys))
        items: list[dict[str, Any]] = []
        for start in range(0, len(keys), _MAX_BATCH_GET):
            pending: list[dict[str, Any]] = [{KEY: {"S": k}} for k in keys[start : start + _MAX_BATCH_GET]]
            while pending:
                response = self.dynamodb.batch_get_item(
                    RequestItems={self.table: {"Keys": pending, "ConsistentRead": True}}
                )
                items.extend(response["Responses"].get(self.table, []))
                pending = response.get("UnprocessedKeys", {}).get(self.table, {}).get("Keys", [])
        return items

    def current(self) -> tuple[int, list[Policy]]:
        version = self.read_config().version
        return version, self.load(version)

    def all_items(self) -> list[dict[str, Any]]:
        """Every item of the table as DynamoDB holds it, in key order (backups verify and copy these)."""
        items: list[dict[str, Any]] = []
        for page in self.dynamodb.get_paginator("scan").paginate(TableName=self.table, ConsistentRead=True):
            items.extend(page.get("Items", []))
        return sorted(items, key=lambda item: item[KEY]["S"])

    # --- writing ------------------------------------------------------------------------------------------

    def commit(
        self, upserts: Iterable[Policy] = (), deletes: Iterable[str] = (), *, replace: bool = False
    ) -> tuple[int, bool]:
        """Apply a change as one new version. Returns (version, changed); no change makes no version."""
        upserts = list(upserts)
        config = self.read_config()
        manifest = self.manifest(config.version)
        new_manifest = {} if replace else dict(manifest)
        for policy_id in deletes:
            if policy_id not in new_manifest:
                raise StoreError(f"no policy with id {policy_id!r}")
            del new_manifest[policy_id]
        for policy in upserts:
            new_manifest[policy.policy_id] = _policy_item_key(policy)
        if new_manifest == manifest:
            return config.version, False
        self.put_missing(_policy_to_item(policy) for policy in upserts)
        return self.publish(new_manifest, expected=config.version), True

    def put_missing(self, items: Iterable[dict[str, Any]]) -> tuple[list[str], list[str]]:
        """Write each item unless an item with its key exists already (immutable items are never overwritten).
        Returns (the keys written, the keys that were there)."""
        written, present = [], []
        for item in items:
            key = item[KEY]["S"]
            try:
                self.dynamodb.put_item(
                    TableName=self.table, Item=item, ConditionExpression=f"attribute_not_exists({KEY})"
                )
                written.append(key)
            except ClientError as exc:
                if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
                    raise
                present.append(key)
        return written, present

    def publish(
        self,
        manifest: dict[str, str],
        *,
        expected: int,
        version: int | None = None,
        restored_from: str | None = None,
        restored_version: int | None = None,
        limits_item: dict[str, Any] | None = None,
    ) -> int:
        """Make `manifest` (policy id -> policy item key, every item written already) the live policy set.

        One transaction writes the manifest as version `version` (default expected + 1; never over an existing
        manifest) and moves the pointer to it, conditional on the live version still being `expected` (0: no
        pointer yet). A restore records where the set came from, and may put its `limits_item` back in the same
        transaction. ConcurrentChangeError when the condition fails: then nothing was written.
        """
        version = expected + 1 if version is None else version
        manifest_item: dict[str, Any] = {
            KEY: {"S": _manifest_key(version)},
            "policies": {"M": {k: {"S": v} for k, v in manifest.items()}},
            "created_at": {"S": _now()},
        }
        pointer: dict[str, Any] = {
            KEY: {"S": POLICYSET_KEY},
            "version": {"N": str(version)},
            "manifest_key": {"S": _manifest_key(version)},
            "updated_at": {"S": _now()},
        }
        if restored_from is not None:
            manifest_item["restored_from"] = pointer["restored_from"] = {"S": restored_from}
        if restored_version is not None:
            manifest_item["restored_version"] = {"N": str(restored_version)}
        condition = (
            {"ConditionExpression": f"attribute_not_exists({KEY})"}
            if expected == 0
            else {
                "ConditionExpression": "version = :expected",
                "ExpressionAttributeValues": {":expected": {"N": str(expected)}},
            }
        )
        writes = [
            self._put(manifest_item, {"ConditionExpression": f"attribute_not_exists({KEY})"}),
            self._put(pointer, condition),
        ]
        self._transact(writes, limits_item)
        return version

    def restore_pointer(self, pointer: dict[str, Any], limits_item: dict[str, Any] | None = None) -> None:
        """Write a backup's `policyset` pointer back as it was, conditional on the table having none (a table
        that lost its pointer); the backup's `limits_item` may go back in the same transaction."""
        self._transact([self._put(pointer, {"ConditionExpression": f"attribute_not_exists({KEY})"})], limits_item)

    def put_limits_item(self, limits_item: dict[str, Any]) -> None:
        """Put a backup's `limits` item back as it was."""
        self._transact([], limits_item)

    def _put(self, item: dict[str, Any], condition: dict[str, Any] | None = None) -> dict[str, Any]:
        return {"Put": {"TableName": self.table, "Item": item, **(condition or {})}}

    def _transact(self, writes: list[dict[str, Any]], limits_item: dict[str, Any] | None) -> None:
        if limits_item is not None:
            if limits_item[KEY]["S"] != LIMITS_KEY:
                raise StoreError(f"not a limits item: {limits_item[KEY]['S']}")
            writes = [*writes, self._put(limits_item)]
        try:
            self.dynamodb.transact_write_items(TransactItems=writes)
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "TransactionCanceledException":
                raise ConcurrentChangeError(
                    "the policy set changed while this change was being written; nothing was stored, retry"
                ) from exc
            raise

    def first_stored(self, policies: Iterable[Policy]) -> dict[str, datetime]:
        """Policy id -> when its exact text was first stored (`put_missing` never rewrites an item, so its
        `created_at` is that time), for those of `policies` the store holds."""
        items = self._get_many(_policy_item_key(p) for p in policies)
        return {item["id"]["S"]: datetime.fromisoformat(item["created_at"]["S"]) for item in items}

    def set_limits(self, limits: Limits) -> None:
        """Replace the limits unconditionally (bootstrap and tests); operators go through update_limits."""
        self.update_limits(lambda _: limits)

    def update_limits(self, change: Callable[[Limits], Limits], attempts: int = 3) -> Limits:
        """Read, change and write the limits, conditional on nobody else having written them meanwhile."""
        for _ in range(attempts):
            item = self._get(LIMITS_KEY)
            revision = int(item["revision"]["N"]) if item and "revision" in item else 0
            limits = change(_limits_from_item(item))
            condition: dict[str, Any] = (
                {"ConditionExpression": f"attribute_not_exists({KEY})"}
                if item is None
                else {
                    "ConditionExpression": "attribute_not_exists(revision) OR revision = :revision",
                    "ExpressionAttributeValues": {":revision": {"N": str(revision)}},
                }
            )
            try:
                self.dynamodb.put_item(
                    TableName=self.table,
                    Item={
                        KEY: {"S": LIMITS_KEY},
                        "global": {"N": str(limits.global_limit)},
                        "per_principal": {"N": str(limits.per_principal)},
                        "per_ip": {"N": str(limits.per_ip)},
                        "principals": {"M": {k: {"N": str(v)} for k, v in limits.principals.items()}},
                        "tools": {"M": {k: {"N": str(v)} for k, v in limits.tools.items()}},
                        "revision": {"N": str(revision + 1)},
                        "updated_at": {"S": _now()},
                    },
                    **condition,
                )
            except ClientError as exc:
                if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                    continue
                raise
            return limits
        raise ConcurrentChangeError("the limits changed while this change was being written; retry")


def _policy_to_item(policy: Policy) -> dict[str, Any]:
    return {
        KEY: {"S": _policy_item_key(policy)},
        "id": {"S": policy.policy_id},
        "text": {"S": policy.text},
        "json": {"S": json.dumps(policy.json, sort_keys=True)},
        "mode": {"S": policy.mode},
        "effect": {"S": policy.effect},
        "source": {"S": policy.source or "-"},
        "line": {"N": str(policy.line)},
        "created_at": {"S": _now()},
    }


def _policy_from_item(item: dict[str, Any]) -> Policy:
    return Policy(
        policy_id=item["id"]["S"],
        text=item["text"]["S"],
        json=json.loads(item["json"]["S"]),
        mode=item["mode"]["S"],
        source=item.get("source", {}).get("S", ""),
        line=int(item.get("line", {}).get("N", "0")),
    )
