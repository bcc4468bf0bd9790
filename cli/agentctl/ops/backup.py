"""Backups of the policies table: create, list, prune, restore to a new table, verify, and switch over.

The policies table (governance/store.py) holds immutable items (`policy#<id>#<digest>`, `manifest#<N>`), the
`policyset` pointer and the `limits` item. Orbit and Axon find the table by PROJECT_NAME, so a restore never
renames tables. It restores to a new table, checks that the restored items are exactly the backup's (item count
and a content digest, both recorded in the names of the backups agentctl makes) and that the restored policy set
loads, and only then, if asked, switches over:

1. every restored immutable item missing from the live table is copied into it, each write conditional on the
   key being absent (an existing item with the same key is never overwritten);
2. one conditional transaction then makes the restored policy set live: a NEW manifest version M+1 with the
   restored policies and the pointer moved to it, conditional on the live version still being M (the same
   protocol as PolicyStore.commit, so a concurrent `policies push` makes it fail cleanly instead of being lost),
   plus the restored `limits`. When the live table has lost its pointer and nothing newer exists, the backup's
   own pointer is written back instead (conditional on it being absent), so the live table holds exactly the
   backup's items again.

Every step is safe to run again: a crash part-way leaves only unreferenced immutable items behind. This module
only plans; every write to the live table is PolicyStore's (governance/store.py), which owns the format.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError

from agent_runtime.names import Names
from agentctl.ops.errors import OpsError, Refused, Unhealthy
from agentctl.ops.policy import wait_until_live
from agentctl.ops.waiting import Progress, wait_for
from governance.store import (
    KEY,
    LIMITS_KEY,
    POLICYSET_KEY,
    ConcurrentChangeError,
    Config,
    PolicyStore,
    manifest_number,
)

NAME_PREFIX = "agentctl"
#: Backups made by agentctl are named agentctl-<UTC time>-n<items>-d<first 16 hex digits of the content digest>.
NAME_RE = re.compile(r"^agentctl-(?P<stamp>\d{8}T\d{6}Z)-n(?P<items>\d+)-d(?P<digest>[0-9a-f]{16})$")
RESTORED_INFIX = "-restored-"
DEFAULT_KEEP_DAYS = 30
_IMMUTABLE = ("policy#", "manifest#")


# --- items and their digest -------------------------------------------------------------------------------


def scan_items(dynamodb: Any, table: str) -> list[dict[str, Any]]:
    return PolicyStore(dynamodb, table).all_items()


def _canonical(value: Any) -> str:
    return json.dumps(
        value,
        sort_keys=True,
        separators=(",", ":"),
        default=lambda b: base64.b64encode(b).decode() if isinstance(b, (bytes, bytearray)) else str(b),
    )


def digest(items: list[dict[str, Any]]) -> str:
    """SHA-256 over the items in key order, each in a canonical JSON form of DynamoDB's typed representation."""
    hasher = hashlib.sha256()
    for item in sorted(items, key=lambda i: i[KEY]["S"]):
        hasher.update(_canonical(item).encode())
        hasher.update(b"\n")
    return hasher.hexdigest()


# --- backups ----------------------------------------------------------------------------------------------


@dataclass
class BackupInfo:
    name: str
    arn: str
    created: datetime
    status: str
    type: str
    size_bytes: int | None
    expected_items: int | None  # from the name of an agentctl backup
    expected_digest: str | None

    @classmethod
    def from_api(cls, item: dict[str, Any]) -> BackupInfo:
        match = NAME_RE.match(item["BackupName"])
        created = item["BackupCreationDateTime"]
        if created.tzinfo is None:
            created = created.replace(tzinfo=UTC)
        return cls(
            name=item["BackupName"],
            arn=item["BackupArn"],
            created=created.astimezone(UTC),
            status=item.get("BackupStatus", "?"),
            type=item.get("BackupType", "USER"),
            size_bytes=item.get("BackupSizeBytes"),
            expected_items=int(match["items"]) if match else None,
            expected_digest=match["digest"] if match else None,
        )

    def age_days(self, now: datetime) -> float:
        return round((now - self.created).total_seconds() / 86400, 1)

    def to_dict(self, now: datetime | None = None) -> dict[str, Any]:
        data = asdict(self)
        data["created"] = self.created.isoformat(timespec="seconds")
        if now is not None:
            data["age_days"] = self.age_days(now)
        return data


def _require_table(dynamodb: Any, table: str) -> dict[str, Any]:
    try:
        description = dynamodb.describe_table(TableName=table)["Table"]
    except ClientError as exc:
        if exc.response["Error"]["Code"] == "ResourceNotFoundException":
            raise Refused(f"the table {table} does not exist") from exc
        raise
    if description["TableStatus"] != "ACTIVE":
        raise Refused(f"the table {table} is {description['TableStatus']}, not ACTIVE")
    return description


def backup_name(items: int, content_digest: str, now: datetime) -> str:
    return f"{NAME_PREFIX}-{now.strftime('%Y%m%dT%H%M%SZ')}-n{items}-d{content_digest[:16]}"


def create(dynamodb: Any, names: Names, progress: Progress, timeout: float = 600, attempts: int = 3) -> BackupInfo:
    """An on-demand backup whose name records the item count and content digest it holds.

    The table is read before and after the backup is taken; if it changed in between, the name might not
    describe the backup, so that backup is deleted and another one taken.
    """
    table = names.policies_table
    _require_table(dynamodb, table)
    for _ in range(attempts):
        items = scan_items(dynamodb, table)
        before = digest(items)
        name = backup_name(len(items), before, datetime.now(UTC))
        details = dynamodb.create_backup(TableName=table, BackupName=name)["BackupDetails"]
        if digest(scan_items(dynamodb, table)) == before:
            progress(f"backup {name} requested ({len(items)} items)")
            return wait_available(dynamodb, details["BackupArn"], timeout, progress)
        progress("the table changed while the backup was taken; taking another one")
        dynamodb.delete_backup(BackupArn=details["BackupArn"])
    raise OpsError(f"the table {table} kept changing during {attempts} backups; try again when it is quiet")


def describe(dynamodb: Any, arn: str) -> BackupInfo:
    description = dynamodb.describe_backup(BackupArn=arn)["BackupDescription"]
    details = description["BackupDetails"]
    return BackupInfo.from_api(details)


def wait_available(dynamodb: Any, arn: str, timeout: float, progress: Progress) -> BackupInfo:
    seen: dict[str, BackupInfo] = {}

    def check() -> tuple[bool, str]:
        seen["info"] = describe(dynamodb, arn)
        return seen["info"].status == "AVAILABLE", seen["info"].status

    wait_for("backup", check, timeout, progress)
    return seen["info"]


def list_backups(dynamodb: Any, names: Names) -> list[BackupInfo]:
    """Every backup of the policies table, newest first."""
    backups: list[BackupInfo] = []
    kwargs: dict[str, Any] = {"TableName": names.policies_table}
    while True:
        page = dynamodb.list_backups(**kwargs)
        backups.extend(BackupInfo.from_api(item) for item in page.get("BackupSummaries", []))
        if not page.get("LastEvaluatedBackupArn"):
            break
        kwargs["ExclusiveStartBackupArn"] = page["LastEvaluatedBackupArn"]
    return sorted(backups, key=lambda b: b.created, reverse=True)


def resolve(dynamodb: Any, names: Names, ref: str) -> BackupInfo:
    """A backup by ARN, by name, or `latest` (the newest AVAILABLE backup)."""
    if ref.startswith("arn:"):
        return describe(dynamodb, ref)
    backups = list_backups(dynamodb, names)
    if ref == "latest":
        available = [b for b in backups if b.status == "AVAILABLE"]
        if not available:
            raise Refused(f"the table {names.policies_table} has no AVAILABLE backup")
        return available[0]
    matches = [b for b in backups if b.name == ref]
    if not matches:
        raise Refused(f"no backup named {ref!r} of {names.policies_table} (see `agentctl backup list`)")
    if len(matches) > 1:
        raise Refused(f"{len(matches)} backups are named {ref!r}; give the ARN instead")
    return matches[0]


def prune_candidates(backups: list[BackupInfo], keep_days: int, now: datetime) -> list[BackupInfo]:
    """Backups older than keep_days that agentctl may delete: USER backups only (AWS Backup manages its own),
    never the newest AVAILABLE backup, whatever its age."""
    cutoff = now - timedelta(days=keep_days)
    newest = next((b for b in backups if b.status == "AVAILABLE"), None)
    return [
        b for b in backups if b.created < cutoff and b.type == "USER" and b.status == "AVAILABLE" and b is not newest
    ]


def prune(dynamodb: Any, candidates: list[BackupInfo], progress: Progress) -> list[BackupInfo]:
    for backup in candidates:
        dynamodb.delete_backup(BackupArn=backup.arn)
        progress(f"deleted {backup.name} ({backup.created:%Y-%m-%d})")
    return candidates


# --- restore ----------------------------------------------------------------------------------------------


@dataclass
class Restored:
    backup: BackupInfo
    table: str
    items: int
    digest: str
    expected_items: int | None
    expected_digest: str | None
    policy_set_version: int | None = None
    policies: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def verified(self) -> bool:
        return not self.problems

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["backup"] = self.backup.to_dict()
        data["verified"] = self.verified
        return data


def restored_table_name(names: Names, now: datetime) -> str:
    return f"{names.policies_table}{RESTORED_INFIX}{now.strftime('%Y%m%d%H%M%S')}"


def _table_exists(dynamodb: Any, table: str) -> bool:
    try:
        dynamodb.describe_table(TableName=table)
        return True
    except ClientError as exc:
        if exc.response["Error"]["Code"] == "ResourceNotFoundException":
            return False
        raise


def restore(
    dynamodb: Any, names: Names, backup: BackupInfo, target: str, timeout: float, progress: Progress
) -> Restored:
    """Restore `backup` into the new table `target`, wait for it, and verify what it holds."""
    if backup.status != "AVAILABLE":
        raise Refused(f"the backup {backup.name} is {backup.status}, not AVAILABLE")
    if _table_exists(dynamodb, target):
        raise Refused(f"the table {target} exists already; restore into a new table")
    dynamodb.restore_table_from_backup(TargetTableName=target, BackupArn=backup.arn)
    progress(f"restoring {backup.name} into {target}")
    wait_for(
        f"table {target}",
        lambda: (
            (status := dynamodb.describe_table(TableName=target)["Table"]["TableStatus"]) == "ACTIVE",
            status,
        ),
        timeout,
        progress,
    )
    return verify(dynamodb, backup, target)


def verify(dynamodb: Any, backup: BackupInfo, table: str) -> Restored:
    """Count and digest of the restored items against what the backup recorded, and the policy set loads."""
    items = scan_items(dynamodb, table)
    content_digest = digest(items)
    expected_items = backup.expected_items
    if expected_items is None:  # not an agentctl backup: DynamoDB's recorded count of the source table
        details = dynamodb.describe_backup(BackupArn=backup.arn)["BackupDescription"].get("SourceTableDetails", {})
        expected_items = details.get("ItemCount")
    result = Restored(backup, table, len(items), content_digest, expected_items, backup.expected_digest)
    if expected_items is not None and expected_items != len(items):
        result.problems.append(f"{len(items)} items restored, the backup recorded {expected_items}")
    if backup.expected_digest is not None and not content_digest.startswith(backup.expected_digest):
        result.problems.append(
            f"content digest {content_digest[:16]} differs from the backup's recorded {backup.expected_digest}"
        )
    try:
        version, policies = PolicyStore(dynamodb, table).current()
        result.policy_set_version = version
        result.policies = [p.policy_id for p in policies]
    except Exception as exc:
        result.problems.append(f"the restored policy set does not load: {exc}")
    return result


# --- switch-over ------------------------------------------------------------------------------------------


@dataclass
class SwitchOver:
    live_table: str
    restored_table: str
    backup_arn: str
    live_version: int
    live_policies: dict[str, str]
    restored_version: int
    restored_policies: dict[str, str]
    limits_change: dict[str, Any] | None
    copy: list[str]  # keys of restored immutable items missing from the live table
    conflicts: list[str]  # keys present in both with different content (kept as they are in the live table)
    action: str  # "none", "restore-pointer" or "new-version"
    new_version: int | None
    items: dict[str, dict[str, Any]] = field(default_factory=dict, repr=False)  # restored items by key

    @property
    def added(self) -> list[str]:
        return sorted(set(self.restored_policies) - set(self.live_policies))

    @property
    def removed(self) -> list[str]:
        return sorted(set(self.live_policies) - set(self.restored_policies))

    @property
    def changed(self) -> list[str]:
        return sorted(
            p
            for p in set(self.live_policies) & set(self.restored_policies)
            if self.live_policies[p] != self.restored_policies[p]
        )

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("items")
        data.update(added=self.added, removed=self.removed, changed=self.changed)
        return data

    def summary(self) -> list[str]:
        lines = [
            f"live table {self.live_table}: policy-set version {self.live_version} "
            f"({len(self.live_policies)} policies)",
            f"restored {self.restored_table}: version {self.restored_version} ({len(self.restored_policies)} policies)",
        ]
        for label, ids in (("added back", self.added), ("removed", self.removed), ("changed", self.changed)):
            if ids:
                lines.append(f"  policies {label}: {', '.join(ids)}")
        if self.limits_change:
            lines.append(f"  limits: {self.limits_change['live']} -> {self.limits_change['restored']}")
        if self.copy:
            lines.append(f"  {len(self.copy)} immutable item(s) missing from the live table will be copied back")
        if self.conflicts:
            lines.append(f"  kept as they are (differ from the backup): {', '.join(self.conflicts)}")
        if self.action == "new-version":
            lines.append(
                f"  the restored policy set becomes live as NEW version {self.new_version} "
                f"(conditional on the live version still being {self.live_version})"
            )
        elif self.action == "restore-pointer":
            lines.append(
                f"  the live table lost its policy-set pointer: it is written back as in the backup "
                f"(version {self.restored_version})"
            )
        else:
            lines.append("  the live table already serves the restored policy set and limits: nothing to switch")
        return lines


def _limits(item: dict[str, Any] | None) -> dict[str, Any] | None:
    if item is None:
        return None
    return {k: v for k, v in item.items() if k not in (KEY, "updated_at")}


def _immutable_differences(
    restored: dict[str, dict[str, Any]], live: dict[str, dict[str, Any]]
) -> tuple[list[str], list[str]]:
    """(restored immutable items missing from the live table, those present there with other content)."""
    copy, conflicts = [], []
    for key, item in restored.items():
        if not key.startswith(_IMMUTABLE):
            continue
        if key not in live:
            copy.append(key)
        elif _canonical(live[key]) != _canonical(item):
            conflicts.append(key)
    return sorted(copy), sorted(conflicts)


def _action(
    live_items: dict[str, Any], live: Config, restored: Config, same_policies: bool, conflicts: list[str]
) -> tuple[str, int | None]:
    """What makes the restored set live: the backup's own pointer back (the live table lost its pointer and
    holds nothing newer), nothing (it is live already), or a new version above every version there is."""
    highest_live = max((n for n in map(manifest_number, live_items) if n is not None), default=0)
    if POLICYSET_KEY not in live_items and highest_live <= restored.version and restored.manifest_key not in conflicts:
        return "restore-pointer", None
    if same_policies and POLICYSET_KEY in live_items:
        return "none", None
    return "new-version", max(live.version, highest_live, restored.version) + 1


def plan_switch_over(dynamodb: Any, names: Names, restored: Restored) -> SwitchOver:
    if not restored.verified:
        raise Refused(f"the restored table {restored.table} did not verify: {'; '.join(restored.problems)}")
    live_table = names.policies_table
    _require_table(dynamodb, live_table)
    restored_items = {item[KEY]["S"]: item for item in scan_items(dynamodb, restored.table)}
    if POLICYSET_KEY not in restored_items:
        raise Refused(f"the backup {restored.backup.name} holds no policy set; there is nothing to switch over to")
    live_items = {item[KEY]["S"]: item for item in scan_items(dynamodb, live_table)}
    live_store, restored_store = PolicyStore(dynamodb, live_table), PolicyStore(dynamodb, restored.table)
    live_config, restored_config = live_store.read_config(), restored_store.read_config()
    try:
        live_policies = live_store.manifest(live_config.version)
    except Exception:  # a pointer to a lost manifest: treat the live set as empty
        live_policies = {}
    restored_policies = restored_store.manifest(restored_config.version)
    copy, conflicts = _immutable_differences(restored_items, live_items)
    live_limits, restored_limits = _limits(live_items.get(LIMITS_KEY)), _limits(restored_items.get(LIMITS_KEY))
    action, new_version = _action(
        live_items, live_config, restored_config, live_policies == restored_policies, conflicts
    )
    return SwitchOver(
        live_table=live_table,
        restored_table=restored.table,
        backup_arn=restored.backup.arn,
        live_version=live_config.version,
        live_policies=live_policies,
        restored_version=restored_config.version,
        restored_policies=restored_policies,
        limits_change=(
            {"live": live_limits, "restored": restored_limits}
            if restored_limits is not None and live_limits != restored_limits
            else None
        ),
        copy=copy,
        conflicts=conflicts,
        action=action,
        new_version=new_version,
        items=restored_items,
    )


def switch_over(store: PolicyStore, plan: SwitchOver, progress: Progress) -> dict[str, Any]:
    """Carry out the plan (see the module's docstring), then check that the live table serves the restored set."""
    copied, present = store.put_missing(plan.items[key] for key in plan.copy)
    if copied:
        progress(f"copied {len(copied)} immutable item(s) back into {store.table}")
    limits = plan.items[LIMITS_KEY] if plan.limits_change else None
    try:
        if plan.action == "restore-pointer":
            store.restore_pointer(plan.items[POLICYSET_KEY], limits)
        elif plan.action == "new-version":
            store.publish(
                plan.restored_policies,
                expected=plan.live_version,
                version=plan.new_version,
                restored_from=plan.backup_arn,
                restored_version=plan.restored_version,
                limits_item=limits,
            )
        elif limits is not None:
            store.put_limits_item(limits)
    except ConcurrentChangeError as exc:
        raise OpsError(
            "the live policy set changed during the switch-over; nothing was switched (the copied items "
            "are unreferenced and harmless): run the restore's switch-over again"
        ) from exc
    if plan.action != "none" or limits is not None:
        progress(f"switched {store.table} to the restored policy set ({plan.action})")

    version, policies = store.current()
    if store.manifest(version) != plan.restored_policies:
        raise Unhealthy(f"after the switch-over the live policy set (version {version}) differs from the backup's")
    return {
        "action": plan.action,
        "live_version": version,
        "policies": [p.policy_id for p in policies],
        "copied": copied,
        "kept": [*plan.conflicts, *present],  # written meanwhile (a rerun, or another writer): the live item stays
        "limits_restored": bool(plan.limits_change),
    }


def check_restored_copy(names: Names, table: str) -> None:
    if not table.startswith(f"{names.policies_table}{RESTORED_INFIX}"):
        raise Refused(f"{table} is not a restored copy ({names.policies_table}{RESTORED_INFIX}...); not deleting it")


def drop_restored(dynamodb: Any, names: Names, table: str) -> None:
    """Delete a table that `backup restore` restored into (refuses any other table)."""
    check_restored_copy(names, table)
    dynamodb.delete_table(TableName=table)


# --- the restore, as `backup restore` runs it ---------------------------------------------------------------


@dataclass
class RestoreJob:
    """Restore a backup into a new table and verify it (nothing live changes), then, if asked, switch over.

    `restore` runs the first part and plans the switch-over; the caller confirms `needs_confirmation` before
    `finish`. `report` grows as the job goes (also when it stops), and `say` gets one line per milestone.
    """

    dynamodb: Any
    names: Names
    backup: BackupInfo
    table: str
    switch: bool
    keep_restored: bool
    say: Callable[[str], None]
    progress: Progress
    report: dict[str, Any] = field(default_factory=lambda: {"restore": None, "switch_over": None})
    plan: SwitchOver | None = None

    def restore(self, timeout: float) -> Restored:
        """Restore and verify; Unhealthy when the restored table does not match the backup (it is kept)."""
        restored = restore(self.dynamodb, self.names, self.backup, self.table, timeout, self.progress)
        self.report["restore"] = restored.to_dict()
        self.say(
            f"restored {self.backup.name} into {self.table}: {restored.items} items, digest {restored.digest[:16]}, "
            f"policy-set version {restored.policy_set_version}"
        )
        if not restored.verified:
            raise Unhealthy(
                f"the restored table {self.table} does not match the backup: {'; '.join(restored.problems)}. "
                "Nothing was switched; the table is kept for inspection"
            )
        expected = f"{restored.expected_items} recorded" if restored.expected_items is not None else "no count recorded"
        digest_note = "digest matches" if restored.expected_digest else "no digest recorded (not an agentctl backup)"
        self.say(f"verified: {restored.items} items ({expected}), {digest_note}, the policy set loads")
        if self.switch:
            self.plan = plan_switch_over(self.dynamodb, self.names, restored)
            for line in self.plan.summary():
                self.say(line)
            self.report["switch_over"] = {"plan": self.plan.to_dict(), "result": None}
        return restored

    @property
    def needs_confirmation(self) -> bool:
        """The switch-over changes the live table."""
        return self.plan is not None and (self.plan.action != "none" or bool(self.plan.copy))

    def finish(self) -> dict[str, Any]:
        """Switch over (when planned and needed), wait until it is live, and delete the copy unless kept."""
        if self.plan is None:
            self.say(
                f"not switched over (--no-switch-over); `agentctl backup drop-restored {self.table}` deletes the copy"
            )
            return self.report
        if self.needs_confirmation:
            result = switch_over(PolicyStore(self.dynamodb, self.names.policies_table), self.plan, self.progress)
            wait_until_live()  # Governance instances pick the restored set up within a second
            self.report["switch_over"]["result"] = result
            self.say(
                f"switched over: live policy-set version {result['live_version']} ({len(result['policies'])} policies)"
            )
        if not self.keep_restored:
            drop_restored(self.dynamodb, self.names, self.table)
            self.say(f"deleted the restored copy {self.table}")
        return self.report


def plan_restore(
    dynamodb: Any,
    names: Names,
    ref: str,
    target_table: str | None,
    *,
    switch: bool,
    keep_restored: bool,
    prod: tuple[bool, bool],
    say: Callable[[str], None],
    progress: Progress,
) -> RestoreJob:
    """Which backup, into which new table. Refused: a table that is not a restored copy's name, and a
    switch-over of prod unless allowed (`prod`: is it prod, is it allowed)."""
    is_prod, prod_allowed = prod
    if switch and is_prod and not prod_allowed:
        raise Refused(
            "refusing to switch prod over without --allow-prod (or restore and verify only: --no-switch-over)"
        )
    if target_table is not None:
        check_restored_copy(names, target_table)
    backup = resolve(dynamodb, names, ref)
    table = target_table or restored_table_name(names, datetime.now(UTC))
    return RestoreJob(dynamodb, names, backup, table, switch, keep_restored, say, progress)
