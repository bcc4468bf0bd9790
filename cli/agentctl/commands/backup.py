"""agentctl backup: on-demand backups of the policies table; restore into a new table, verify, switch over."""

from __future__ import annotations

from datetime import UTC, datetime

import click

from agentctl.context import target
from agentctl.errors import EXIT_REFUSED, EXIT_UNHEALTHY, AgentctlError
from agentctl.ops import backup as ops
from agentctl.ops.policy import wait_until_live
from agentctl.output import (
    ALLOW_PROD_OPTION,
    OUTPUT_OPTION,
    YES_OPTION,
    confirm,
    emit,
    emit_json,
    emit_table,
    progress,
)

_LIST_COLUMNS = ["name", "created", "age_days", "status", "type", "expected_items", "size_bytes"]


@click.group()
def backup() -> None:
    """Backups of the policies table (DynamoDB on-demand backups, kept 30 days).

    Secrets are not exported to files: Secrets Manager keeps their versions, encrypted with KMS.
    """


@backup.command("create")
@click.option("--timeout", type=click.FloatRange(min=1), default=600, show_default=True, help="Seconds to wait.")
@OUTPUT_OPTION
def create(timeout: float, output: str) -> None:
    """Back the policies table up now; the name records its item count and content digest."""
    tgt = target()
    info = ops.create(tgt.client("dynamodb"), tgt.names, progress, timeout)
    data = info.to_dict()
    if output == "json":
        emit_json(data)
    else:
        emit_table([data], ["name", "status", "expected_items", "expected_digest", "created"])
        click.echo(f"\nARN: {info.arn}")


@backup.command("list")
@OUTPUT_OPTION
def list_backups(output: str) -> None:
    """Every backup of the policies table, newest first."""
    tgt = target()
    now = datetime.now(UTC)
    rows = [b.to_dict(now) for b in ops.list_backups(tgt.client("dynamodb"), tgt.names)]
    emit(rows, output, columns=None if output == "json" else _LIST_COLUMNS)


@backup.command("prune")
@click.option(
    "--keep-days",
    type=click.IntRange(min=1),
    default=ops.DEFAULT_KEEP_DAYS,
    show_default=True,
    help="Delete backups older than this many days.",
)
@click.option("--dry-run", is_flag=True, help="Only list what would be deleted.")
@YES_OPTION
@OUTPUT_OPTION
def prune(keep_days: int, dry_run: bool, yes: bool, output: str) -> None:
    """Delete backups older than --keep-days. The newest backup is always kept, and only backups made with
    DynamoDB's on-demand API (type USER) are deleted; AWS Backup manages its own."""
    tgt = target()
    dynamodb = tgt.client("dynamodb")
    now = datetime.now(UTC)
    backups = ops.list_backups(dynamodb, tgt.names)
    candidates = ops.prune_candidates(backups, keep_days, now)
    rows = [b.to_dict(now) for b in candidates]
    if dry_run or not candidates:
        if output == "json":
            emit_json({"deleted": [], "would_delete": rows, "kept": len(backups) - len(candidates)})
        else:
            click.echo(
                f"{len(candidates)} of {len(backups)} backup(s) older than {keep_days} days" + (":" if rows else "")
            )
            if rows:
                emit_table(rows, ["name", "created", "age_days"])
        return
    if output != "json":
        emit_table(rows, ["name", "created", "age_days"])
    confirm(f"Delete these {len(candidates)} backup(s) of {tgt.names.policies_table} in {tgt.env}?", yes)
    deleted = ops.prune(dynamodb, candidates, progress)
    if output == "json":
        emit_json({"deleted": [b.to_dict(now) for b in deleted], "kept": len(backups) - len(deleted)})
    else:
        click.echo(f"deleted {len(deleted)} backup(s); {len(backups) - len(deleted)} kept")


@backup.command("restore")
@click.argument("backup_ref", metavar="BACKUP")
@click.option(
    "--target-table",
    default=None,
    help="New table to restore into; must start with <table>-restored- (default: <table>-restored-<time>).",
)
@click.option(
    "--switch-over/--no-switch-over",
    default=True,
    show_default=True,
    help="After verification, make the restored policy set live (asks first unless --yes).",
)
@click.option("--keep-restored-table", is_flag=True, help="Keep the restored table after the switch-over.")
@click.option("--timeout", type=click.FloatRange(min=1), default=1800, show_default=True, help="Seconds to wait.")
@YES_OPTION
@ALLOW_PROD_OPTION
@OUTPUT_OPTION
def restore(
    backup_ref: str,
    target_table: str | None,
    switch_over: bool,
    keep_restored_table: bool,
    timeout: float,
    yes: bool,
    allow_prod: bool,
    output: str,
) -> None:
    """Restore BACKUP (a name, an ARN, or `latest`) into a new table, verify it, then offer the switch-over.

    Verification: the restored items are counted and digested and compared with what the backup recorded,
    and the restored policy set must load. The switch-over copies the restored items back into the live table
    without overwriting anything and makes the restored policy set live as a new version, in one conditional
    transaction (Orbit, Axon and Governance keep using the same table name).
    """
    tgt = target()
    if switch_over and tgt.env == "prod" and not allow_prod:
        raise AgentctlError(
            "refusing to switch prod over without --allow-prod (or restore and verify only: --no-switch-over)",
            EXIT_REFUSED,
        )
    if target_table is not None:
        ops.check_restored_copy(tgt.names, target_table)
    dynamodb = tgt.client("dynamodb")
    info = ops.resolve(dynamodb, tgt.names, backup_ref)
    table = target_table or ops.restored_table_name(tgt.names, datetime.now(UTC))
    restored = ops.restore(dynamodb, tgt.names, info, table, timeout, progress)
    report: dict = {"restore": restored.to_dict(), "switch_over": None}
    say = (lambda line: click.echo(line, err=True)) if output == "json" else click.echo
    say(
        f"restored {info.name} into {table}: {restored.items} items, digest {restored.digest[:16]}, "
        f"policy-set version {restored.policy_set_version}"
    )
    if not restored.verified:
        if output == "json":
            emit_json(report)
        raise AgentctlError(
            f"the restored table {table} does not match the backup: {'; '.join(restored.problems)}. "
            "Nothing was switched; the table is kept for inspection",
            EXIT_UNHEALTHY,
        )
    expected = f"{restored.expected_items} recorded" if restored.expected_items is not None else "no count recorded"
    digest_note = "digest matches" if restored.expected_digest else "no digest recorded (not an agentctl backup)"
    say(f"verified: {restored.items} items ({expected}), {digest_note}, the policy set loads")

    if not switch_over:
        if output == "json":
            emit_json(report)
        say(f"not switched over (--no-switch-over); `agentctl backup drop-restored {table}` deletes the copy")
        return
    plan = ops.plan_switch_over(dynamodb, tgt.names, restored)
    for line in plan.summary():
        say(line)
    report["switch_over"] = {"plan": plan.to_dict(), "result": None}
    if plan.action != "none" or plan.copy:
        try:
            confirm(f"Switch {tgt.names.policies_table} in {tgt.env} over to the restored policy set?", yes)
        except AgentctlError as exc:
            raise AgentctlError(
                f"not switched over; the restored table {table} is kept "
                f"(`agentctl backup drop-restored {table}` deletes it)",
                EXIT_REFUSED,
            ) from exc
        result = ops.switch_over(dynamodb, tgt.names, plan, progress)
        wait_until_live()  # Governance instances pick the restored set up within a second
        report["switch_over"]["result"] = result
        say(f"switched over: live policy-set version {result['live_version']} ({len(result['policies'])} policies)")
    if not keep_restored_table:
        ops.drop_restored(dynamodb, tgt.names, table)
        say(f"deleted the restored copy {table}")
    if output == "json":
        emit_json(report)


@backup.command("drop-restored")
@click.argument("table")
@YES_OPTION
def drop_restored(table: str, yes: bool) -> None:
    """Delete TABLE, a copy made by `backup restore` (any other table is refused)."""
    tgt = target()
    ops.check_restored_copy(tgt.names, table)
    confirm(f"Delete the restored table {table} in {tgt.env}?", yes)
    ops.drop_restored(tgt.client("dynamodb"), tgt.names, table)
    click.echo(f"deleted {table}")


COMMANDS = (backup,)
