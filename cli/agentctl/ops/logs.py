"""Log lines of a service: the local stack's log files, or the CloudWatch Logs group of the naming contract.

Locally, each worker of the governance Lambda API writes its own stream (as each Lambda instance does in AWS),
so that no record is ever cut into another; the streams are merged by time when read.

The services write one JSON object per line (agent_runtime.logs): timestamp, level, service, correlation_id,
event, message and the event's fields. Governance's decisions are the lines with "event": "audit". Lines that
are not JSON (gunicorn's own, Lambda's START/END/REPORT) are kept as they are.
"""

from __future__ import annotations

import heapq
import json
import re
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from operator import itemgetter
from pathlib import Path
from typing import Any

from agentctl.ops.errors import Refused

_RELATIVE = re.compile(r"^(?P<n>\d+)(?P<unit>[smhdw])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
AUDIT_PATTERN = '{ $.event = "audit" }'
#: (name, width, cut to the width?): the outcome is never cut (`rate_limited`), the free text is last.
AUDIT_COLUMNS = [
    ("time", 24, True),
    ("outcome", 13, False),
    ("principal", 16, True),
    ("intent", 18, True),
    ("version", 7, False),  # a policy-set version is short; its header is never cut
    ("ms", 8, True),
    ("correlation_id", 38, True),
    ("reason", 0, False),
]
_EPOCH = datetime.fromtimestamp(0, UTC)


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
            "reason": f.get("reason", "-") + _shadow_note(f.get("shadow")),
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


def _shadow_note(shadow: Any) -> str:
    """A shadow decision: which shadow policies would have changed the outcome, and to what."""
    if not isinstance(shadow, dict):
        return ""
    policies = ", ".join(map(str, shadow.get("policy_ids") or [])) or "the shadow policies"
    return f"; shadow: {policies} would {'allow' if shadow.get('would_allow') else 'deny'}"


def _cell(value: Any, width: int, cut: bool) -> str:
    text = str(value)
    if not width:
        return text
    return (text[: width - 1] if cut else text).ljust(width)


def audit_header() -> str:
    return " ".join(_cell(name, width, cut) for name, width, cut in AUDIT_COLUMNS)


def audit_line(event: LogEvent) -> str:
    row = event.audit_row()
    return " ".join(_cell(row[name], width, cut) for name, width, cut in AUDIT_COLUMNS)


class LogSource(ABC):
    """Where a service's log lines are: a file of the local stack, or a CloudWatch Logs group."""

    @abstractmethod
    def read(self, since: datetime, audit: bool) -> Iterator[LogEvent]:
        """The lines since `since` (only the audit events with `audit`)."""

    @abstractmethod
    def follow(self, since: datetime, audit: bool, keep_going: Callable[[], bool]) -> Iterator[LogEvent]:
        """The lines since `since`, then every new one, until keep_going() is False (or Ctrl-C)."""


# --- local files ------------------------------------------------------------------------------------------


@dataclass
class _Tail:
    """One file of a LogFiles, read as it grows; a file that shrinks (rotated) is read again from its start."""

    path: Path
    position: int = 0
    pending: str = ""
    last_seen: datetime = _EPOCH  # the time of its last timed line: untimed lines sort with their neighbours

    def new_lines(self, partial: bool = False) -> list[str]:
        """The complete lines appended since the last call (and the last incomplete one with `partial`)."""
        size = self.path.stat().st_size if self.path.exists() else 0
        if size < self.position:
            self.position, self.pending = 0, ""
        if size > self.position:
            with self.path.open(encoding="utf-8", errors="replace") as handle:
                handle.seek(self.position)
                self.pending += handle.read()
                self.position = handle.tell()
        *complete, self.pending = self.pending.split("\n")
        if partial and self.pending:
            complete.append(self.pending)
            self.pending = ""
        return complete

    def events(self, lines: list[str], since: datetime, audit: bool) -> Iterator[tuple[datetime, LogEvent]]:
        for line in lines:
            event = LogEvent.parse(line)
            self.last_seen = event.timestamp or self.last_seen
            if line.strip() and event.keep(since, audit):
                yield self.last_seen, event


@dataclass(frozen=True)
class LogFiles(LogSource):
    """A service's log files in one folder, merged by time: `<name>.log`, and for a service whose instances
    each write their own stream (the local Lambda API's workers), the files of `streams` as well."""

    folder: Path
    name: str
    streams: str | None = None  # a glob in `folder`
    interval: float = 0.5

    def _paths(self) -> list[Path]:
        paths = {self.folder / f"{self.name}.log"} | set(self.folder.glob(self.streams) if self.streams else ())
        return sorted(path for path in paths if path.is_file())

    def _tails(self) -> list[_Tail]:
        paths = self._paths()
        if not paths:
            raise Refused(f"no log file {self.folder / f'{self.name}.log'}: is the local stack deployed (make deploy)?")
        return [_Tail(path) for path in paths]

    def read(self, since: datetime, audit: bool) -> Iterator[LogEvent]:
        streams = [tail.events(tail.new_lines(partial=True), since, audit) for tail in self._tails()]
        for _, event in heapq.merge(*streams, key=itemgetter(0)):
            yield event

    def follow(self, since: datetime, audit: bool, keep_going: Callable[[], bool]) -> Iterator[LogEvent]:
        """What is there, then every line appended to any of the files (new files included), in time order."""
        tails = {tail.path: tail for tail in self._tails()}
        while True:
            for path in self._paths():
                tails.setdefault(path, _Tail(path))
            batch = [item for tail in tails.values() for item in tail.events(tail.new_lines(), since, audit)]
            batch.sort(key=itemgetter(0))
            yield from (event for _, event in batch)
            if not keep_going():
                return
            if not batch:
                time.sleep(self.interval)


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
