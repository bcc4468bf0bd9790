"""Log lines of a service: the local stack's log files, or the CloudWatch Logs group of the naming contract.

The services write one JSON object per line (agent_runtime.logs): timestamp, level, service, correlation_id,
event, message and the event's fields. Governance's decisions are the lines with "event": "audit". Lines that
are not JSON (gunicorn's own, Lambda's START/END/REPORT) are kept as they are.
"""

from __future__ import annotations

import json
import re
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from agentctl.ops.errors import Refused

_RELATIVE = re.compile(r"^(?P<n>\d+)(?P<unit>[smhdw])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
AUDIT_PATTERN = '{ $.event = "audit" }'
AUDIT_COLUMNS = [
    ("time", 24),
    ("outcome", 12),
    ("principal", 16),
    ("intent", 18),
    ("version", 7),
    ("ms", 8),
    ("correlation_id", 38),
    ("reason", 0),
]


def parse_since(value: str, now: datetime | None = None) -> datetime:
    """`30s`, `10m`, `2h`, `1d`, `1w` ago, or an ISO 8601 time (UTC when it has no offset)."""
    now = now or datetime.now(UTC)
    match = _RELATIVE.match(value.strip())
    if match:
        return now - timedelta(**{_UNITS[match["unit"]]: int(match["n"])})
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError as exc:
        raise Refused(f"--since {value!r}: give a duration such as 10m, 2h, 1d, or an ISO 8601 time") from exc
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


@dataclass
class LogEvent:
    raw: str
    fields: dict[str, Any] | None
    timestamp: datetime | None
    event_id: str | None = None

    @classmethod
    def parse(cls, line: str, timestamp_ms: int | None = None, event_id: str | None = None) -> LogEvent:
        line = line.rstrip("\n")
        fields: dict[str, Any] | None = None
        start = line.find("{")
        if start != -1:
            try:
                parsed = json.loads(line[start:])
                fields = parsed if isinstance(parsed, dict) else None
            except ValueError:
                fields = None
        when: datetime | None = None
        if fields and isinstance(fields.get("timestamp"), str):
            try:
                when = datetime.fromisoformat(fields["timestamp"].replace("Z", "+00:00"))
            except ValueError:
                when = None
        if when is None and timestamp_ms is not None:
            when = datetime.fromtimestamp(timestamp_ms / 1000, UTC)
        return cls(line, fields, when, event_id)

    @property
    def is_audit(self) -> bool:
        return self.fields is not None and self.fields.get("event") == "audit"

    def keep(self, since: datetime | None, audit: bool) -> bool:
        if audit and not self.is_audit:
            return False
        # Lines without a time (gunicorn's own) are kept: they are rare and often the interesting ones.
        return since is None or self.timestamp is None or self.timestamp >= since

    def to_dict(self) -> dict[str, Any]:
        return self.fields if self.fields is not None else {"message": self.raw}

    def audit_row(self) -> dict[str, Any]:
        f = self.fields or {}
        return {
            "time": f.get("timestamp", "-"),
            "outcome": f.get("outcome", "-"),
            "principal": f.get("principal", "-"),
            "intent": f.get("intent", "-"),
            "version": f.get("policy_set_version", "-"),
            "ms": f.get("decision_time_ms", "-"),
            "correlation_id": f.get("correlation_id") or "-",
            "reason": f.get("reason", "-"),
        }

    def line(self) -> str:
        """A readable line: time, level, service, event, message, and the correlation id."""
        f = self.fields
        if not f:
            return self.raw
        correlation = f" [{f['correlation_id']}]" if f.get("correlation_id") else ""
        return (
            f"{f.get('timestamp', '-'):<24} {f.get('level', '-'):<7} {f.get('service', '-'):<10} "
            f"{f.get('event', '-'):<14} {f.get('message', '')}{correlation}"
        )


def audit_header() -> str:
    return " ".join(name.ljust(width) if width else name for name, width in AUDIT_COLUMNS)


def audit_line(event: LogEvent) -> str:
    row = event.audit_row()
    return " ".join(
        str(row[name])[: width - 1].ljust(width) if width else str(row[name]) for name, width in AUDIT_COLUMNS
    )


class LogSource(ABC):
    """Where a service's log lines are: a file of the local stack, or a CloudWatch Logs group."""

    @abstractmethod
    def read(self, since: datetime, audit: bool) -> Iterator[LogEvent]:
        """The lines since `since` (only the audit events with `audit`)."""

    @abstractmethod
    def follow(self, since: datetime, audit: bool, keep_going: Callable[[], bool]) -> Iterator[LogEvent]:
        """The lines since `since`, then every new one, until keep_going() is False (or Ctrl-C)."""


# --- local files ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LogFile(LogSource):
    path: Path
    interval: float = 0.5

    def read(self, since: datetime, audit: bool) -> Iterator[LogEvent]:
        if not self.path.exists():
            raise Refused(f"no log file {self.path}: is the local stack deployed (make deploy)?")
        with self.path.open(encoding="utf-8", errors="replace") as lines:
            for line in lines:
                event = LogEvent.parse(line)
                if line.strip() and event.keep(since, audit):
                    yield event

    def follow(self, since: datetime, audit: bool, keep_going: Callable[[], bool]) -> Iterator[LogEvent]:
        """A file that shrinks (rotated by supervisord) is read again from its start."""
        yield from self.read(since, audit)
        position = self.path.stat().st_size
        pending = ""
        while keep_going():
            size = self.path.stat().st_size if self.path.exists() else 0
            if size < position:
                position = 0
            if size <= position:
                time.sleep(self.interval)
                continue
            with self.path.open(encoding="utf-8", errors="replace") as handle:
                handle.seek(position)
                pending += handle.read()
                position = handle.tell()
            *complete, pending = pending.split("\n")
            for line in complete:
                event = LogEvent.parse(line)
                if line.strip() and event.keep(since, audit):
                    yield event


# --- CloudWatch Logs --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LogGroup(LogSource):
    logs: Any
    group: str
    interval: float = 2.0

    def _filter(self, start_ms: int, audit: bool) -> Iterator[dict[str, Any]]:
        kwargs: dict[str, Any] = {"logGroupName": self.group, "startTime": start_ms}
        if audit:
            kwargs["filterPattern"] = AUDIT_PATTERN
        while True:
            try:
                page = self.logs.filter_log_events(**kwargs)
            except self.logs.exceptions.ResourceNotFoundException as exc:
                raise Refused(f"the log group {self.group} does not exist in this account and region") from exc
            yield from page.get("events", [])
            if not page.get("nextToken"):
                return
            kwargs["nextToken"] = page["nextToken"]

    def read(self, since: datetime, audit: bool) -> Iterator[LogEvent]:
        for item in self._filter(int(since.timestamp() * 1000), audit):
            event = LogEvent.parse(item.get("message", ""), item.get("timestamp"), item.get("eventId"))
            if event.keep(None, audit):  # the filter pattern is a first cut; the parsed event decides
                yield event

    def follow(self, since: datetime, audit: bool, keep_going: Callable[[], bool]) -> Iterator[LogEvent]:
        """Poll the group for new events; events seen already are not repeated."""
        start_ms = int(since.timestamp() * 1000)
        seen: dict[str, int] = {}  # event id -> its timestamp, forgotten once it is older than the window
        while True:
            newest = start_ms
            for item in self._filter(start_ms, audit):
                event_id = item.get("eventId") or f"{item.get('timestamp')}:{item.get('message')}"
                if event_id in seen:
                    continue
                stamp = int(item.get("timestamp", start_ms))
                seen[event_id] = stamp
                newest = max(newest, stamp)
                event = LogEvent.parse(item.get("message", ""), item.get("timestamp"), item.get("eventId"))
                if event.keep(None, audit):
                    yield event
            # Events can arrive late with an older timestamp: look back a little, the ids keep them unique.
            start_ms = max(start_ms, newest - 5000)
            seen = {key: stamp for key, stamp in seen.items() if stamp >= start_ms}
            if not keep_going():
                return
            time.sleep(self.interval)
