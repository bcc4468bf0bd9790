"""Distributed tracing with OpenTelemetry: one trace per call, from the client through Orbit, Governance and Axon
(or an MCP upstream), with the policy decision in it.

- Context comes in as W3C `traceparent`/`tracestate` from the client, or as X-Ray's `X-Amzn-Trace-Id` from the load
  balancer; it goes out in the same headers to Axon and MCP upstreams, and inside the Lambda event to Governance
  (`trace` in the payload: an invoke has no headers of its own). Trace ids are X-Ray-compatible (their first 32
  bits are the start time), so X-Ray accepts them unchanged.
- Export: to `OTEL_EXPORTER_OTLP_ENDPOINT` when set (the ADOT collector in AWS), else, when the service runs in a
  local stack, to JSON-lines files in its state folder (`traces/<service>-<pid>.jsonl`, read by `agentctl trace`);
  else nowhere, and no span is made at all. `OTEL_SDK_DISABLED=true` turns tracing off; sampling follows
  `OTEL_TRACES_SAMPLER` / `OTEL_TRACES_SAMPLER_ARG` (parent-based, every trace by default).
- Spans carry the semantic conventions' attributes and agent_runtime.* ones (decision id, outcome, policy ids,
  principal, correlation id): never a secret, a signature, a receipt or a raw tool argument.
"""

from __future__ import annotations

import atexit
import collections
import contextlib
import json
import logging
import os
import threading
import time
from collections.abc import Mapping, MutableMapping, Sequence
from pathlib import Path
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.propagate import set_global_textmap
from opentelemetry.propagators.aws import AwsXRayPropagator
from opentelemetry.propagators.composite import CompositePropagator
from opentelemetry.sdk.extension.aws.trace import AwsXRayIdGenerator
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Event, ReadableSpan, sampling
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import NonRecordingSpan, SpanContext, SpanKind, Status, StatusCode, TraceFlags
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

import agent_runtime

SERVER, CLIENT, INTERNAL = SpanKind.SERVER, SpanKind.CLIENT, SpanKind.INTERNAL
TRACE_DIR_ENV = "AGENT_RUNTIME_TRACE_DIR"
STATE_ENV = "AGENT_RUNTIME_STATE_DIR"

_propagator = CompositePropagator([TraceContextTextMapPropagator(), AwsXRayPropagator()])
_w3c = TraceContextTextMapPropagator()
_lock = threading.Lock()
_log = logging.getLogger(__name__)


class JsonLinesExporter(SpanExporter):
    """Spans as JSON lines in a file of this process (no other writer, so lines never interleave)."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        self._file = path.open("a", encoding="utf-8")

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        lines = [json_line(span) for span in spans]
        try:
            self._file.write("\n".join(lines) + "\n")
            self._file.flush()
        except OSError:
            return SpanExportResult.FAILURE
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        self._file.close()


# --- the lean tracer ----------------------------------------------------------------------------------------
#
# The OpenTelemetry SDK spends 60 to 80 microseconds of CPU on one span (sampler objects, a locked attribute map
# that checks every value, a ReadableSpan copy at the end, processor metrics, the context manager layers), and a
# dispatch makes about fourteen: two milliseconds per call at 100 % sampling. The spans here are the same spans
# (OpenTelemetry's API: trace.Span, SpanContext, the context and propagators; the SDK's Resource, sampler from
# OTEL_TRACES_SAMPLER, X-Ray id generator and exporters), made and exported with less: a plain attribute dict, the
# parent's sampling decision followed without a sampler call, no span made at all when not sampled (a
# non-recording span carries the context on), and ended spans queued as they are for the export thread.

_SCALARS = (str, bool, int, float)
_SCALAR_TYPES = frozenset(_SCALARS)
_UNSET = Status(StatusCode.UNSET)
_SAMPLED, _NOT_SAMPLED = TraceFlags(TraceFlags.SAMPLED), TraceFlags(TraceFlags.DEFAULT)


def _clean(value: Any) -> Any:
    """An attribute value as OpenTelemetry allows it (a scalar, or a sequence of scalars), else None (dropped)."""
    if isinstance(value, _SCALARS):
        return value
    if isinstance(value, (list, tuple)) and all(isinstance(item, _SCALARS) for item in value):
        return tuple(value)
    return None


class LeanSpan(trace.Span):
    """A recording span: what the exporters read of the SDK's ReadableSpan, set by the API's methods."""

    def __init__(
        self, tracer: LeanTracer, name: str, context: SpanContext, parent: SpanContext | None, kind: SpanKind,
        attributes: Mapping[str, Any] | None,
    ) -> None:  # fmt: skip
        self._tracer = tracer
        self.name = name
        self.context = context
        self.parent = parent
        self.kind = kind
        self.resource = tracer.resource
        self.events: list[Event] = []
        self.status = _UNSET
        self.start_time = time.time_ns()
        self.end_time: int | None = None
        self.attributes: dict[str, Any] = {}
        if attributes:
            self.set_attributes(attributes)

    def get_span_context(self) -> SpanContext:
        return self.context

    def is_recording(self) -> bool:
        return self.end_time is None

    def set_attribute(self, key: str, value: Any) -> None:
        value = _clean(value)
        if value is not None and self.end_time is None:
            self.attributes[key] = value

    def set_attributes(self, attributes: Mapping[str, Any]) -> None:
        if self.end_time is not None:
            return
        mine = self.attributes
        for key, value in attributes.items():
            if type(value) in _SCALAR_TYPES:  # the common case, without a call per attribute
                mine[key] = value
            else:
                value = _clean(value)
                if value is not None:
                    mine[key] = value

    def add_event(self, name: str, attributes: Mapping[str, Any] | None = None, timestamp: int | None = None) -> None:
        if self.end_time is None:
            self.events.append(Event(name, dict(attributes or {}), timestamp or time.time_ns()))

    def update_name(self, name: str) -> None:
        self.name = name

    def set_status(self, status: Status | StatusCode, description: str | None = None) -> None:
        if self.end_time is None:
            self.status = status if isinstance(status, Status) else Status(status, description)

    def record_exception(
        self, exception: BaseException, attributes: Any = None, timestamp: Any = None, escaped: bool = False
    ) -> None:
        event = {"exception.type": type(exception).__name__, "exception.message": str(exception)[:300]}
        self.add_event("exception", {**event, **dict(attributes or {})}, timestamp)

    def end(self, end_time: int | None = None) -> None:
        if self.end_time is None:
            self.end_time = end_time or time.time_ns()
            self._tracer.batches.add(self)

    def readable(self) -> ReadableSpan:
        """The SDK's form of this span, for exporters that need it (OTLP)."""
        return ReadableSpan(
            name=self.name, context=self.context, parent=self.parent, resource=self.resource,
            attributes=self.attributes, events=self.events, kind=self.kind, status=self.status,
            start_time=self.start_time, end_time=self.end_time, instrumentation_scope=self._tracer.scope,
        )  # fmt: skip


# This process's id, kept by a fork hook: a span's end compares it with its export thread's process (a forked
# worker starts its own thread) without a getpid system call per span.
_pid = os.getpid()


def _forked() -> None:
    global _pid
    _pid = os.getpid()


os.register_at_fork(after_in_child=_forked)


class Batches:
    """Ended spans, exported in batches by a thread of this process (started at the first span of a process, so
    a forked worker has its own): every `delay` seconds, or at once when a batch is full; at most `max_queue`
    spans wait (more are dropped and counted)."""

    def __init__(self, exporter: SpanExporter, delay: float = 0.5, batch: int = 512, max_queue: int = 2048) -> None:
        self.exporter = exporter
        self._readable = not isinstance(exporter, JsonLinesExporter)  # the JSON lines read the lean span as is
        self._delay, self._batch, self._max_queue = delay, batch, max_queue
        self._queue: collections.deque[LeanSpan] = collections.deque()
        self._wake = threading.Event()
        self._export_lock = threading.Lock()
        self._pid: int | None = None
        self._stopped = False
        self.dropped = 0

    def add(self, span: LeanSpan) -> None:
        if self._pid != _pid:
            self._start()
        if len(self._queue) >= self._max_queue:
            self.dropped += 1
            return
        self._queue.append(span)
        if len(self._queue) >= self._batch:
            self._wake.set()

    def _start(self) -> None:
        with _lock:
            if self._pid != _pid and not self._stopped:
                self._pid = _pid
                self._wake = threading.Event()
                threading.Thread(target=self._run, name="span-export", daemon=True).start()

    def _run(self) -> None:
        while not self._stopped:
            self._wake.wait(self._delay)
            self._wake.clear()
            self.export()

    def export(self) -> None:
        """Export every span queued now."""
        with self._export_lock:
            while self._queue:
                batch = [self._queue.popleft() for _ in range(min(self._batch, len(self._queue)))]
                try:
                    self.exporter.export([s.readable() for s in batch] if self._readable else batch)
                except Exception:  # an export that fails loses its spans, never the request
                    _log.exception("span export failed")

    def shutdown(self) -> None:
        self._stopped = True
        self._wake.set()
        self.export()
        self.exporter.shutdown()


class LeanTracer:
    """Makes LeanSpans: ids from the X-Ray generator, sampled as OTEL_TRACES_SAMPLER says (a parent-based sampler's
    answer for a child is its parent's flag, so it is not asked)."""

    def __init__(self, resource: Resource, exporter: SpanExporter) -> None:
        self.resource = resource
        self.scope = InstrumentationScope("agent_runtime", agent_runtime.__version__)
        self.batches = Batches(exporter)
        self._ids = AwsXRayIdGenerator()
        self._sampler = sampling._get_from_env_or_default()
        self._parent_based = isinstance(self._sampler, sampling.ParentBased)

    def start_span(
        self, name: str, context: Any = None, kind: SpanKind = SpanKind.INTERNAL,
        attributes: Mapping[str, Any] | None = None, **_: Any,
    ) -> trace.Span:  # fmt: skip
        parent = trace.get_current_span(context).get_span_context()
        if parent.is_valid:
            trace_id, trace_state = parent.trace_id, parent.trace_state
        else:
            trace_id, trace_state, parent = self._ids.generate_trace_id(), None, None
        if parent is not None and self._parent_based:
            sampled = parent.trace_flags.sampled
        else:
            result = self._sampler.should_sample(context, trace_id, name, kind, attributes)
            sampled, trace_state = result.decision.is_sampled(), result.trace_state or trace_state
        flags = _SAMPLED if sampled else _NOT_SAMPLED
        span_context = SpanContext(trace_id, self._ids.generate_span_id(), False, flags, trace_state)
        if not sampled:
            return NonRecordingSpan(span_context)
        return LeanSpan(self, name, span_context, parent, kind, attributes)


_tracer: LeanTracer | None = None


# One encoder for every span: json.dumps with arguments builds a new encoder per call (a third of the export's CPU).
_encode = json.JSONEncoder(separators=(",", ":"), default=str).encode
_KIND_NAMES = {kind: kind.name for kind in SpanKind}
_STATUS_NAMES = {code: code.name for code in StatusCode}


def json_line(span: ReadableSpan) -> str:
    """A span as one JSON line of the local trace files (what `agentctl trace` reads): trace_id, span_id,
    parent_span_id, name, kind, start_ns, end_ns, status, service, attributes. Written directly, only the name,
    service and attributes going through the encoder: half the CPU of encoding a dict per span."""
    context, parent = span.context, span.parent
    parent_id = f'"{parent.span_id:016x}"' if parent else "null"
    service = span.resource.attributes.get("service.name") if span.resource else None
    end = "null" if span.end_time is None else span.end_time
    return (
        f'{{"trace_id":"{context.trace_id:032x}","span_id":"{context.span_id:016x}","parent_span_id":{parent_id},'
        f'"name":{_encode(span.name)},"kind":"{_KIND_NAMES[span.kind]}","start_ns":{span.start_time},'
        f'"end_ns":{end},"status":"{_STATUS_NAMES[span.status.status_code]}","service":{_encode(service)},'
        f'"attributes":{_encode(dict(span.attributes or {}))}}}'
    )


def _exporter(service: str) -> SpanExporter | None:
    if os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") or os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"):
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        return OTLPSpanExporter()  # the endpoint, headers and timeout from the standard OTEL_* variables
    folder = os.environ.get(TRACE_DIR_ENV) or (
        str(Path(os.environ[STATE_ENV]) / "traces") if os.environ.get(STATE_ENV) else None
    )
    if folder:
        return JsonLinesExporter(Path(folder) / f"{service}-{os.getpid()}.jsonl")
    return None


def configure_tracing(service: str) -> None:
    """Set up this process's tracer (idempotent; a forked worker calls it again for its own file)."""
    global _tracer
    set_global_textmap(_propagator)
    with _lock:
        previous, _tracer = _tracer, None
    if previous is not None:
        previous.batches.shutdown()
    if os.environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return
    exporter = _exporter(service)
    if exporter is None:
        return
    resource = Resource.create(
        {
            "service.name": os.environ.get("OTEL_SERVICE_NAME") or service,
            "service.version": agent_runtime.__version__,
            "cloud.provider": "aws",
        }
    )
    with _lock:
        _tracer = LeanTracer(resource, exporter)


@atexit.register
def _export_at_exit() -> None:
    """What is still queued when the process exits (the export thread is a daemon: it would be lost)."""
    with contextlib.suppress(Exception):
        flush()


def flush(timeout_millis: int = 2000) -> None:
    """Export what is buffered now (the Lambda, before its environment may be frozen)."""
    if _tracer is not None:
        _tracer.batches.export()


class span:  # noqa: N801 - used as the function it replaced: `with tracing.span(...) as current:`
    """A span around a block, current within it; an exception ends it with an error status. Without a tracer
    (tracing off), nothing is made and the context is left as it is. (A class, not a generator-based context
    manager: a few microseconds less per span.)"""

    __slots__ = ("_args", "_span", "_token")

    def __init__(
        self, name: str, kind: SpanKind = INTERNAL, attributes: Mapping[str, Any] | None = None, parent: Any = None
    ) -> None:
        self._args = (name, parent, kind, attributes)
        self._span: trace.Span = trace.INVALID_SPAN
        self._token: Any = None

    def __enter__(self) -> trace.Span:
        tracer = _tracer
        if tracer is not None:
            self._span = tracer.start_span(*self._args)
            self._token = otel_context.attach(trace.set_span_in_context(self._span))
        return self._span

    def __exit__(self, kind: Any, exc: BaseException | None, traceback: Any) -> None:
        if self._token is None:
            return
        if exc is not None:
            self._span.set_status(Status(StatusCode.ERROR, type(exc).__name__))
        otel_context.detach(self._token)
        self._span.end()


def extract(carrier: Mapping[str, str]) -> Any:
    """The context a request carries (W3C traceparent, or X-Ray's header)."""
    return _propagator.extract(carrier)


def inject(carrier: MutableMapping[str, str]) -> MutableMapping[str, str]:
    """Add the current context to outgoing headers (or an event), as W3C traceparent/tracestate."""
    _w3c.inject(carrier)
    return carrier


def attach(ctx: Any) -> Any:
    return otel_context.attach(ctx)


def detach(token: Any) -> None:
    otel_context.detach(token)


def current_context() -> Any:
    return otel_context.get_current()


def activate(span_: trace.Span, parent: Any = None) -> Any:
    """Make `span_` current (until detach(token))."""
    return otel_context.attach(trace.set_span_in_context(span_, parent))


def start_span(name: str, kind: SpanKind, attributes: Mapping[str, Any] | None, parent: Any) -> trace.Span:
    """A span the caller ends itself (a request's server span, ended after the response is made)."""
    if _tracer is None:
        return trace.INVALID_SPAN
    return _tracer.start_span(name, parent, kind, attributes)


def annotate(attributes: Mapping[str, Any]) -> None:
    """Add attributes to the current span (the request's server span, outside any child)."""
    current = trace.get_current_span()
    if current.is_recording():
        current.set_attributes({k: v for k, v in attributes.items() if v is not None})


def decision_attributes(decision: Any, principal: str) -> dict[str, Any]:
    """What a span says of a governance decision: its id, outcome and the policies that made it."""
    return {
        "agent_runtime.decision_id": decision.decision_id,
        "agent_runtime.outcome": decision.outcome,
        "agent_runtime.policy_ids": list(decision.policy_ids),
        "agent_runtime.principal": principal,
    }


def ids() -> tuple[str | None, str | None]:
    """The current trace and span ids, as hex, for log lines (None outside a sampled span)."""
    context = trace.get_current_span().get_span_context()
    if not context.is_valid:
        return None, None
    return f"{context.trace_id:032x}", f"{context.span_id:016x}"


def traceparent(span_: trace.Span) -> str | None:
    """The W3C traceparent of a span, for a response header."""
    context = span_.get_span_context()
    if not context.is_valid:
        return None
    return f"00-{context.trace_id:032x}-{context.span_id:016x}-{int(context.trace_flags):02x}"


# --- reading traces back (agentctl trace) -----------------------------------------------------------------


def read_local(folder: Path, trace_id: str | None = None, correlation_id: str | None = None) -> list[dict[str, Any]]:
    """Spans from the local trace files: those of `trace_id`, or of the trace whose spans carry `correlation_id`."""
    spans_read: list[dict[str, Any]] = []
    for path in sorted(folder.glob("*.jsonl")):
        with path.open(encoding="utf-8") as lines:
            for line in lines:
                if (trace_id and trace_id in line) or (correlation_id and correlation_id in line):
                    spans_read.append(json.loads(line))
    if trace_id:
        return [s for s in spans_read if s["trace_id"] == trace_id]
    traces = {
        s["trace_id"] for s in spans_read if s["attributes"].get("agent_runtime.correlation_id") == correlation_id
    }
    if not traces:
        return []
    return read_local(folder, trace_id=sorted(traces)[-1])


def latest_local(folder: Path, route: str = "/dispatch") -> str | None:
    """The trace id of the latest request to `route` in the local trace files."""
    latest: tuple[int, str] | None = None
    for path in folder.glob("*.jsonl"):
        with path.open(encoding="utf-8") as lines:
            for line in lines:
                if f'"http.route":"{route}"' not in line:
                    continue
                record = json.loads(line)
                if record["kind"] == "SERVER" and (latest is None or record["start_ns"] > latest[0]):
                    latest = (record["start_ns"], record["trace_id"])
    return latest[1] if latest else None


def xray_trace_id(trace_id: str) -> str:
    """`1-5f84c7a2-...` (X-Ray's form) of a 32-hex-digit OpenTelemetry trace id made by the X-Ray id generator."""
    return f"1-{trace_id[:8]}-{trace_id[8:]}"


def otel_trace_id(value: str) -> str:
    """The 32-hex-digit form of a trace id given in either form."""
    return value[2:10] + value[11:] if value.startswith("1-") else value.lower()


def spans_from_xray(traces: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """X-Ray's BatchGetTraces answer as spans in the local files' form (segments and their subsegments)."""
    found: list[dict[str, Any]] = []
    for xray_trace in traces:
        trace_id = otel_trace_id(xray_trace["Id"])
        for segment in xray_trace.get("Segments", []):
            document = json.loads(segment["Document"]) if isinstance(segment["Document"], str) else segment["Document"]
            _flatten(document, trace_id, document.get("parent_id"), document.get("name"), found)
    return found


def _flatten(document: dict[str, Any], trace_id: str, parent: str | None, service: str | None, out: list) -> None:
    attributes = {**document.get("annotations", {}), **_metadata(document)}
    http = document.get("http", {})
    if "response" in http and "status" in http["response"]:
        attributes["http.response.status_code"] = http["response"]["status"]
    out.append(
        {
            "trace_id": trace_id,
            "span_id": document["id"],
            "parent_span_id": parent,
            "name": document.get("name", ""),
            "kind": "SERVER" if document.get("type") != "subsegment" and parent is None else "INTERNAL",
            "start_ns": int(float(document["start_time"]) * 1e9),
            "end_ns": int(float(document.get("end_time", document["start_time"])) * 1e9),
            "status": "ERROR" if document.get("fault") or document.get("error") else "UNSET",
            "service": service,
            "attributes": attributes,
        }
    )
    for child in document.get("subsegments", []):
        _flatten(child, trace_id, document["id"], service, out)


def _metadata(document: dict[str, Any]) -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for values in document.get("metadata", {}).values():
        if isinstance(values, dict):
            flat.update(values)
    return flat
