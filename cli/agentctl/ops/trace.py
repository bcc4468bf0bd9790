"""One call's trace read back, and drawn as a waterfall: locally from the stack's trace files, in AWS from X-Ray.

A trace is asked for by its trace id (32 hex digits, as in `traceparent`), its X-Ray id (`1-5f84c7a2-...`), or the
correlation id of the request (`X-Correlation-ID`, in every log line and error). The spans are exported in batches
as each process finishes them, so a trace read right after its call may still be missing its last spans: the
reader waits (briefly) until every span's parent is there.

In AWS the correlation id is found through the X-Ray annotation the collectors index
(`agent_runtime.correlation_id`, as the annotation `agent_runtime_correlation_id`), and the latest dispatch through
`http.route`; both as GetTraceSummaries filter expressions over a time window.
"""

from __future__ import annotations

import re
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from agent_runtime import tracing
from agentctl.ops.errors import OpsError, Refused

_TRACE_ID = re.compile(r"^[0-9a-fA-F]{32}$")
_XRAY_ID = re.compile(r"^1-[0-9a-fA-F]{8}-[0-9a-fA-F]{24}$")
_CORRELATION_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")  # what Orbit accepts in X-Correlation-ID
#: Attributes a waterfall line shows, in this order, under a short label.
SHOWN = [
    ("http.response.status_code", "status"),
    ("agent_runtime.outcome", "outcome"),
    ("agent_runtime.principal", "principal"),
    ("gen_ai.tool.name", "tool"),
    ("agent_runtime.policy_ids", "policies"),
    ("agent_runtime.decision_id", "decision"),
    ("agent_runtime.code", "code"),
    ("rpc.method", "rpc"),
    ("aws.operation", "op"),
    ("error.type", "error"),
]
BAR_WIDTH = 24


@dataclass(frozen=True)
class TraceQuery:
    """What the operator asked for: one of a trace id, a correlation id, or the latest dispatch."""

    trace_id: str | None = None
    correlation_id: str | None = None
    latest: bool = False

    def describe(self) -> str:
        if self.trace_id:
            return f"trace {self.trace_id}"
        if self.correlation_id:
            return f"correlation id {self.correlation_id}"
        return "the latest dispatch"


def parse_query(identifier: str | None, last: bool) -> TraceQuery:
    """A trace id in either form, or a correlation id; or --last. Refused: both, neither, or a malformed id."""
    if last == (identifier is not None):
        raise Refused("give a trace id or a correlation id, or --last for the latest dispatch (not both)")
    if last:
        return TraceQuery(latest=True)
    value = identifier.strip()
    if _TRACE_ID.match(value):
        return TraceQuery(trace_id=value.lower())
    if _XRAY_ID.match(value):
        return TraceQuery(trace_id=tracing.otel_trace_id(value.lower()))
    if _CORRELATION_ID.match(value):
        return TraceQuery(correlation_id=value)
    raise Refused(
        "not a trace id (32 hex digits or 1-xxxxxxxx-xxxxxxxxxxxxxxxxxxxxxxxx) nor a correlation id "
        "(1-128 of A-Z a-z 0-9 . _ : -)"
    )


class TraceSource(ABC):
    """Where a platform's traces are."""

    @abstractmethod
    def trace_id_of(self, query: TraceQuery) -> str | None:
        """The trace id the query names (None: no such trace)."""

    @abstractmethod
    def spans(self, trace_id: str) -> list[dict[str, Any]]:
        """The spans of one trace as the local files hold them (agent_runtime.tracing.json_line)."""


class TraceFiles(TraceSource):
    """The local stack's trace files (<state folder>/traces/<service>-<pid>.jsonl)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def trace_id_of(self, query: TraceQuery) -> str | None:
        if not self.folder.is_dir():
            raise OpsError(f"no trace files in {self.folder}: is tracing off (OTEL_SDK_DISABLED) or the stack new?")
        if query.trace_id:
            return query.trace_id
        if query.latest:
            return tracing.latest_local(self.folder, "/dispatch")
        found = tracing.read_local(self.folder, correlation_id=query.correlation_id)
        return found[0]["trace_id"] if found else None

    def spans(self, trace_id: str) -> list[dict[str, Any]]:
        return tracing.read_local(self.folder, trace_id=trace_id)


class XRayTraces(TraceSource):
    """X-Ray, where the ADOT collectors send the spans of an AWS environment."""

    def __init__(self, xray: Any, window: timedelta = timedelta(hours=6)) -> None:
        self.xray = xray
        self.window = window

    def trace_id_of(self, query: TraceQuery) -> str | None:
        if query.trace_id:
            return query.trace_id
        if query.latest:
            expression = 'annotation.http_route = "/dispatch"'
        else:
            expression = f'annotation.agent_runtime_correlation_id = "{query.correlation_id}"'
        summaries = self._summaries(expression)
        if not summaries:
            return None
        newest = max(summaries, key=lambda s: (s.get("StartTime") or datetime.min.replace(tzinfo=UTC), s["Id"]))
        return tracing.otel_trace_id(newest["Id"])

    def _summaries(self, expression: str) -> list[dict[str, Any]]:
        end = datetime.now(UTC)
        pages = self.xray.get_paginator("get_trace_summaries").paginate(
            StartTime=end - self.window, EndTime=end, FilterExpression=expression, Sampling=False
        )
        return [summary for page in pages for summary in page.get("TraceSummaries", [])]

    def spans(self, trace_id: str) -> list[dict[str, Any]]:
        answer = self.xray.batch_get_traces(TraceIds=[tracing.xray_trace_id(trace_id)])
        return tracing.spans_from_xray(answer.get("Traces", []))


def complete(spans: list[dict[str, Any]]) -> bool:
    """Every span's parent is in the trace, but for one root (whose parent, if any, is the caller's)."""
    ids = {span["span_id"] for span in spans}
    roots = [span for span in spans if span["parent_span_id"] not in ids]
    return len(roots) == 1


def read_trace(
    source: TraceSource, query: TraceQuery, wait: float, sleep: Callable[[float], None] = time.sleep
) -> tuple[str, list[dict[str, Any]]]:
    """The trace id and spans the query names, waiting up to `wait` seconds for spans still being exported."""
    deadline = time.monotonic() + wait
    while True:
        trace_id = source.trace_id_of(query)
        spans = source.spans(trace_id) if trace_id else []
        if (spans and complete(spans)) or time.monotonic() >= deadline:
            break
        sleep(0.25)
    if not spans:
        raise OpsError(f"no trace found for {query.describe()} (in AWS, X-Ray is searched over the last 6 hours)")
    return trace_id, spans


# --- the waterfall ---------------------------------------------------------------------------------------


@dataclass
class Row:
    depth: int
    span: dict[str, Any]
    offset_ms: float
    duration_ms: float


def rows(spans: list[dict[str, Any]]) -> list[Row]:
    """The spans depth first, children by start time, each with its offset from the trace's start."""
    ids = {span["span_id"] for span in spans}
    children: dict[str | None, list[dict[str, Any]]] = {}
    for span in spans:
        parent = span["parent_span_id"] if span["parent_span_id"] in ids else None
        children.setdefault(parent, []).append(span)
    start = min(span["start_ns"] for span in spans)
    ordered: list[Row] = []

    def visit(parent: str | None, depth: int) -> None:
        for span in sorted(children.get(parent, []), key=lambda s: (s["start_ns"], s["name"])):
            offset, duration = (span["start_ns"] - start) / 1e6, (span["end_ns"] - span["start_ns"]) / 1e6
            ordered.append(Row(depth, span, offset, duration))
            visit(span["span_id"], depth + 1)

    visit(None, 0)
    return ordered


def summary(trace_id: str, spans: list[dict[str, Any]]) -> dict[str, Any]:
    """What the trace says at a glance, and its spans in waterfall order (the --output json form)."""
    ordered = rows(spans)
    attributes: dict[str, Any] = {}
    for row in ordered:
        for key in ("agent_runtime.outcome", "agent_runtime.decision_id", "agent_runtime.correlation_id"):
            if attributes.get(key) is None:  # the first span that has it (the root's, when it has it)
                attributes[key] = row.span["attributes"].get(key)
    root = ordered[0]
    return {
        "trace_id": trace_id,
        "xray_trace_id": tracing.xray_trace_id(trace_id),
        "correlation_id": attributes["agent_runtime.correlation_id"],
        "outcome": attributes["agent_runtime.outcome"],
        "decision_id": attributes["agent_runtime.decision_id"],
        "root": root.span["name"],
        "duration_ms": round(max(r.offset_ms + r.duration_ms for r in ordered), 3),
        "services": sorted({r.span.get("service") or "-" for r in ordered}),
        "errors": [r.span["name"] for r in ordered if r.span.get("status") == "ERROR"],
        "spans": [
            {**r.span, "depth": r.depth, "offset_ms": round(r.offset_ms, 3), "duration_ms": round(r.duration_ms, 3)}
            for r in ordered
        ],
    }


def _bar(offset: float, duration: float, total: float) -> str:
    scale = BAR_WIDTH / total if total > 0 else 0
    begin = min(BAR_WIDTH - 1, int(offset * scale))
    length = max(1, round(duration * scale))
    return (" " * begin + "█" * length).ljust(BAR_WIDTH)[:BAR_WIDTH]


def _attributes(span: dict[str, Any]) -> str:
    shown = []
    for key, label in SHOWN:
        value = span["attributes"].get(key)
        if value not in (None, "", [], ()):
            shown.append(f"{label}={','.join(map(str, value)) if isinstance(value, list | tuple) else value}")
    if span.get("status") == "ERROR":
        shown.append("ERROR")
    return " ".join(shown)


def waterfall(report: dict[str, Any]) -> list[str]:
    """The readable form: a header, then a line per span (offset, duration, bar, name, key attributes); the
    slowest span of each level is marked with `*` so the slow path reads top to bottom."""
    total = report["duration_ms"]
    header = (
        f"trace {report['trace_id']} ({report['xray_trace_id']})  {total:.2f} ms  "
        f"services: {', '.join(report['services'])}  outcome: {report['outcome'] or '-'}  "
        f"correlation id: {report['correlation_id'] or '-'}"
    )
    slowest = _slowest_children(report["spans"])
    lines = [header, f"{'offset ms':>10} {'ms':>9}  {'':<{BAR_WIDTH}}  span"]
    for span in report["spans"]:
        mark = "*" if span["span_id"] in slowest else " "
        name = f"{'  ' * span['depth']}{span['name']}"
        service = f" [{span['service']}]" if span["depth"] == 0 or _service_changes(span, report["spans"]) else ""
        lines.append(
            f"{span['offset_ms']:>10.2f} {span['duration_ms']:>9.2f}{mark} "
            f"{_bar(span['offset_ms'], span['duration_ms'], total)}  {name}{service}  {_attributes(span)}".rstrip()
        )
    return lines


def _slowest_children(spans: list[dict[str, Any]]) -> set[str]:
    by_parent: dict[str | None, dict[str, Any]] = {}
    for span in spans:
        best = by_parent.get(span["parent_span_id"])
        if best is None or span["duration_ms"] > best["duration_ms"]:
            by_parent[span["parent_span_id"]] = span
    return {span["span_id"] for span in by_parent.values()}


def _service_changes(span: dict[str, Any], spans: list[dict[str, Any]]) -> bool:
    parent = next((s for s in spans if s["span_id"] == span["parent_span_id"]), None)
    return parent is not None and parent.get("service") != span.get("service")
