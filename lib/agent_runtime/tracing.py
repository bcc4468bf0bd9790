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

import contextlib
import json
import os
import threading
from collections.abc import Iterator, Mapping, MutableMapping, Sequence
from pathlib import Path
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.propagate import set_global_textmap
from opentelemetry.propagators.aws import AwsXRayPropagator
from opentelemetry.propagators.composite import CompositePropagator
from opentelemetry.sdk.extension.aws.trace import AwsXRayIdGenerator
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.trace import SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

import agent_runtime

SERVER, CLIENT, INTERNAL = SpanKind.SERVER, SpanKind.CLIENT, SpanKind.INTERNAL
TRACE_DIR_ENV = "AGENT_RUNTIME_TRACE_DIR"
STATE_ENV = "AGENT_RUNTIME_STATE_DIR"

_propagator = CompositePropagator([TraceContextTextMapPropagator(), AwsXRayPropagator()])
_w3c = TraceContextTextMapPropagator()
_tracer: trace.Tracer = trace.NoOpTracer()
_provider: TracerProvider | None = None
_lock = threading.Lock()


class JsonLinesExporter(SpanExporter):
    """Spans as JSON lines in a file of this process (no other writer, so lines never interleave)."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        self._file = path.open("a", encoding="utf-8")

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        lines = [_encode(span_record(span)) for span in spans]
        try:
            self._file.write("\n".join(lines) + "\n")
            self._file.flush()
        except OSError:
            return SpanExportResult.FAILURE
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        self._file.close()


# One encoder for every span: json.dumps with arguments builds a new encoder per call (a third of the export's CPU).
_encode = json.JSONEncoder(separators=(",", ":"), default=str).encode
_KIND_NAMES = {kind: kind.name for kind in SpanKind}
_STATUS_NAMES = {code: code.name for code in StatusCode}


def span_record(span: ReadableSpan) -> dict[str, Any]:
    """The JSON form of a span in the local trace files (what `agentctl trace` reads)."""
    context, parent = span.context, span.parent
    return {
        "trace_id": f"{context.trace_id:032x}",
        "span_id": f"{context.span_id:016x}",
        "parent_span_id": f"{parent.span_id:016x}" if parent else None,
        "name": span.name,
        "kind": _KIND_NAMES[span.kind],
        "start_ns": span.start_time,
        "end_ns": span.end_time,
        "status": _STATUS_NAMES[span.status.status_code],
        "service": (span.resource.attributes.get("service.name") if span.resource else None),
        "attributes": dict(span.attributes or {}),
    }


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
    global _tracer, _provider
    set_global_textmap(_propagator)
    with _lock:
        if _provider is not None:
            _provider.shutdown()
            _provider, _tracer = None, trace.NoOpTracer()
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
        _provider = TracerProvider(resource=resource, id_generator=AwsXRayIdGenerator())
        _provider.add_span_processor(BatchSpanProcessor(exporter, schedule_delay_millis=500))
        _tracer = _provider.get_tracer("agent_runtime", agent_runtime.__version__)


def flush(timeout_millis: int = 2000) -> None:
    """Export what is buffered now (the Lambda, before its environment may be frozen)."""
    if _provider is not None:
        _provider.force_flush(timeout_millis)


@contextlib.contextmanager
def span(
    name: str, kind: SpanKind = INTERNAL, attributes: Mapping[str, Any] | None = None, parent: Any = None
) -> Iterator[trace.Span]:
    """A span around a block, current within it; an exception ends it with an error status."""
    with _tracer.start_as_current_span(
        name, context=parent, kind=kind, attributes=attributes, record_exception=False
    ) as current:
        try:
            yield current
        except BaseException as exc:
            current.set_status(Status(StatusCode.ERROR, type(exc).__name__))
            raise


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
    return _tracer.start_span(name, context=parent, kind=kind, attributes=attributes, record_exception=False)


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
