"""agentctl backup: on-demand backups of the policies table; restore into a new table, verify, switch over."""

from __future__ import annotations

from datetime import UTC, datetime

import click

from agentctl.context import target
from agentctl.errors import EXIT_REFUSED, AgentctlError
from agentctl.ops import backup as ops
from agentctl.ops.errors import Unhealthy
from agentctl.output import (
    ALLOW_PROD_OPTION,
    OUTPUT_OPTION,
    YES_OPTION,
    confirm,
    emit,
    emit_json,
    emit_table,
    seconds_option,
)

_LIST_COLUMNS = ["name", "created", "age_days", "status", "type", "expected_items", "size_bytes"]


@click.group()
def backup() -> None:
    """Backups of the policies table (DynamoDB on-demand backups, kept 30 days).

    Secrets are not exported to files: Secrets Manager keeps their versions, encrypted with KMS.
    """


@backup.command("create")
@seconds_option("--timeout", 600, "Seconds to wait.")
@OUTPUT_OPTION
def create(timeout: float, output: str) -> None:
    """Back the policies table up now; the name records its item count and content digest."""
    platform = target()
    info = ops.create(platform.clients.dynamodb, platform.names, platform.progress, timeout)
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
    platform = target()
    now = datetime.now(UTC)
    rows = [b.to_dict(now) for b in ops.list_backups(platform.clients.dynamodb, platform.names)]
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
    platform = target()
    dynamodb = platform.clients.dynamodb
    now = datetime.now(UTC)
    backups = ops.list_backups(dynamodb, platform.names)
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
    confirm(f"Delete these {len(candidates)} backup(s) of {platform.names.policies_table} in {platform.env}?", yes)
    deleted = ops.prune(dynamodb, candidates, platform.progress)
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
@seconds_option("--timeout", 1800, "Seconds to wait.")
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
    platform = target()
    say = (lambda line: click.echo(line, err=True)) if output == "json" else click.echo
    job = ops.plan_restore(
        platform.clients.dynamodb,
        platform.names,
        backup_ref,
        target_table,
        switch=switch_over,
        keep_restored=keep_restored_table,
        prod=(platform.env == "prod", allow_prod),
        say=say,
        progress=platform.progress,
    )
    try:
        job.restore(timeout)
    except Unhealthy:
        if output == "json":
            emit_json(job.report)
        raise
    if job.needs_confirmation:
        try:
            confirm(f"Switch {platform.names.policies_table} in {platform.env} over to the restored policy set?", yes)
        except AgentctlError as exc:
            raise AgentctlError(
                f"not switched over; the restored table {job.table} is kept "
                f"(`agentctl backup drop-restored {job.table}` deletes it)",
                EXIT_REFUSED,
            ) from exc
    report = job.finish()
    if output == "json":
        emit_json(report)


@backup.command("drop-restored")
@click.argument("table")
@YES_OPTION
def drop_restored(table: str, yes: bool) -> None:
    """Delete TABLE, a copy made by `backup restore` (any other table is refused)."""
    platform = target()
    ops.check_restored_copy(platform.names, table)
    confirm(f"Delete the restored table {table} in {platform.env}?", yes)
    ops.drop_restored(platform.clients.dynamodb, platform.names, table)
    click.echo(f"deleted {table}")


COMMANDS = (backup,)
