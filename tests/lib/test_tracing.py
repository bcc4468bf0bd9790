"""Tracing: spans exported to the local files and read back, W3C and X-Ray contexts, X-Ray's format read back,
and nothing at all when tracing is off."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent_runtime import tracing


@pytest.fixture
def traced(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    folder = tmp_path / "traces"
    monkeypatch.setenv(tracing.TRACE_DIR_ENV, str(folder))
    for name in ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_SDK_DISABLED"):
        monkeypatch.delenv(name, raising=False)
    tracing.configure_tracing("unit")
    yield folder
    monkeypatch.setenv("OTEL_SDK_DISABLED", "true")
    tracing.configure_tracing("unit")  # shut the provider down


def test_spans_are_exported_to_the_local_files_and_read_back(traced: Path):
    parent = tracing.extract({"traceparent": "00-" + "ab" * 16 + "-" + "cd" * 8 + "-01"})
    with (
        tracing.span(
            "outer",
            tracing.SERVER,
            {"agent_runtime.correlation_id": "corr-1", "http.route": "/dispatch"},
            parent=parent,
        ),
        tracing.span("inner", attributes={"k": "v"}),
    ):
        assert tracing.ids()[0] == "ab" * 16
        carrier = tracing.inject({})
    assert carrier["traceparent"].startswith("00-" + "ab" * 16 + "-")
    tracing.flush()
    spans = tracing.read_local(traced, trace_id="ab" * 16)
    assert {s["name"] for s in spans} == {"outer", "inner"}
    by_name = {s["name"]: s for s in spans}
    assert by_name["inner"]["parent_span_id"] == by_name["outer"]["span_id"]
    assert by_name["outer"]["parent_span_id"] == "cd" * 8
    assert by_name["outer"]["service"] == "unit"
    assert tracing.read_local(traced, correlation_id="corr-1") == spans
    assert tracing.latest_local(traced) == "ab" * 16
    assert tracing.read_local(traced, trace_id="00" * 16) == []


def test_a_span_line_is_the_record_agentctl_trace_reads(traced: Path):
    """The exporter writes each line by hand: every field, escaping and `null` must come out as JSON."""
    captured: list = []
    tracer = tracing._tracer
    assert tracer is not None
    tracer.batches.add = captured.append  # keep the ended spans here instead of exporting them
    try:
        with (
            tracing.span('root \u00e9"\n', tracing.SERVER, {"list": ["a", "b"], "n": 3, "f": 1.5, "t": True}),
            tracing.span("child", tracing.CLIENT, {"ü": "\u2028"}) as child,
        ):
            child.set_status(tracing.Status(tracing.StatusCode.ERROR))
        unfinished = tracer.start_span("open", None, tracing.INTERNAL, None)
    finally:
        del tracer.batches.add
    child_span, root_span = captured
    lines = [json.loads(tracing.json_line(span)) for span in (root_span, child_span, unfinished)]
    root, child_line, open_line = lines
    trace_id = f"{root_span.context.trace_id:032x}"
    assert root == {
        "trace_id": trace_id,
        "span_id": f"{root_span.context.span_id:016x}",
        "parent_span_id": None,
        "name": 'root \u00e9"\n',
        "kind": "SERVER",
        "start_ns": root_span.start_time,
        "end_ns": root_span.end_time,
        "status": "UNSET",
        "service": "unit",
        "attributes": {"list": ["a", "b"], "n": 3, "f": 1.5, "t": True},
    }
    assert (child_line["trace_id"], child_line["parent_span_id"]) == (trace_id, root["span_id"])
    assert (child_line["kind"], child_line["status"], child_line["attributes"]) == ("CLIENT", "ERROR", {"ü": "\u2028"})
    assert (open_line["end_ns"], open_line["kind"], open_line["attributes"]) == (None, "INTERNAL", {})
    for span in (root_span, child_span):  # one line, whatever the name and attributes hold
        line = tracing.json_line(span)
        assert "\n" not in line
        assert "\u2028" not in line


def test_an_x_ray_header_starts_the_same_trace(traced: Path):
    parent = tracing.extract(
        {"X-Amzn-Trace-Id": "Root=1-5f84c7a2-0123456789abcdef01234567;Parent=53995c3f42cd8ad8;Sampled=1"}
    )
    with tracing.span("from-alb", tracing.SERVER, parent=parent):
        trace_id, _ = tracing.ids()
    assert trace_id == "5f84c7a20123456789abcdef01234567"
    assert tracing.xray_trace_id(trace_id) == "1-5f84c7a2-0123456789abcdef01234567"
    assert tracing.otel_trace_id("1-5f84c7a2-0123456789abcdef01234567") == trace_id


def test_new_trace_ids_are_valid_for_x_ray(traced: Path):
    import time

    with tracing.span("root"):
        trace_id, _ = tracing.ids()
    assert abs(int(trace_id[:8], 16) - time.time()) < 60  # X-Ray refuses ids whose first 32 bits are not the time


def test_an_unsampled_trace_makes_no_span_but_carries_its_context_on(traced: Path):
    parent = tracing.extract({"traceparent": "00-" + "ef" * 16 + "-" + "cd" * 8 + "-00"})
    with tracing.span("outer", tracing.SERVER, parent=parent) as outer, tracing.span("inner") as inner:
        assert not outer.is_recording()
        assert not inner.is_recording()
        carrier = tracing.inject({})
    assert carrier["traceparent"].startswith("00-" + "ef" * 16 + "-")
    assert carrier["traceparent"].endswith("-00")  # Axon and Governance are told not to sample either
    tracing.flush()
    assert tracing.read_local(traced, trace_id="ef" * 16) == []


def test_a_span_ended_by_an_exception_has_the_error_status(traced: Path):
    seen: list[str | None] = []

    def fail() -> None:
        with tracing.span("failing", attributes={"ids": ["a", "b"], "none": None}):
            seen.append(tracing.ids()[0])
            raise LookupError("no")

    with pytest.raises(LookupError, match="no"):
        fail()
    trace_id = seen[0]
    assert trace_id is not None
    tracing.flush()
    (span,) = tracing.read_local(traced, trace_id=trace_id)
    assert span["status"] == "ERROR"
    assert span["attributes"] == {"ids": ["a", "b"]}  # a list kept, a None dropped (OpenTelemetry's rules)


def test_spans_are_readable_by_the_otlp_exporter(traced: Path):
    from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans

    with tracing.span("orbit POST /dispatch", tracing.SERVER, {"http.route": "/dispatch"}) as server:
        with tracing.span("governance.invoke", tracing.CLIENT, {"rpc.method": "Invoke"}) as client:
            pass
        server.set_attribute("agent_runtime.policy_ids", ["p1"])
    request = encode_spans([server.readable(), client.readable()])
    (resource_spans,) = request.resource_spans
    encoded = {span.name: span for span in resource_spans.scope_spans[0].spans}
    assert set(encoded) == {"orbit POST /dispatch", "governance.invoke"}
    assert encoded["governance.invoke"].parent_span_id == encoded["orbit POST /dispatch"].span_id
    attributes = {a.key for a in encoded["orbit POST /dispatch"].attributes}
    assert attributes == {"http.route", "agent_runtime.policy_ids"}
    assert {a.key: a.value.string_value for a in resource_spans.resource.attributes}["service.name"] == "unit"


def test_tracing_off_makes_no_span_and_no_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv(tracing.TRACE_DIR_ENV, str(tmp_path / "traces"))
    monkeypatch.setenv("OTEL_SDK_DISABLED", "true")
    tracing.configure_tracing("unit")
    with tracing.span("nothing"):
        assert tracing.ids() == (None, None)
    tracing.flush()
    assert not (tmp_path / "traces").exists()


def test_x_ray_segments_read_back_as_spans():
    document = {
        "id": "70de5b6f19ff9a0a",  # pragma: allowlist secret (a span id)
        "name": "orbit",
        "start_time": 1700000000.0,
        "end_time": 1700000000.0125,
        "annotations": {"agent_runtime_correlation_id": "c-1"},
        "http": {"response": {"status": 200}},
        "subsegments": [
            {
                "id": "70de5b6f19ff9a0b",  # pragma: allowlist secret (a span id)
                "name": "governance.invoke",
                "start_time": 1700000000.001,
                "end_time": 1700000000.004,
                "fault": True,
            }
        ],
    }
    answer = [
        {
            "Id": "1-5f84c7a2-0123456789abcdef01234567",
            "Segments": [{"Id": "70de5b6f19ff9a0a", "Document": json.dumps(document)}],
        }
    ]
    spans = tracing.spans_from_xray(answer)
    assert [(s["name"], s["parent_span_id"], s["status"]) for s in spans] == [
        ("orbit", None, "UNSET"),
        ("governance.invoke", "70de5b6f19ff9a0a", "ERROR"),  # pragma: allowlist secret
    ]
    assert spans[0]["trace_id"] == "5f84c7a20123456789abcdef01234567"  # pragma: allowlist secret
    assert spans[0]["attributes"]["http.response.status_code"] == 200
    assert spans[1]["end_ns"] - spans[1]["start_ns"] == pytest.approx(3_000_000, abs=1000)


def test_a_forked_child_exports_from_an_export_thread_of_its_own(traced: Path):
    """A fork copies no thread: the child's first span must start the child's export thread (the fork hook)."""
    import os
    import threading

    with tracing.span("in the parent"):
        pass
    assert any(t.name == "span-export" for t in threading.enumerate())
    pid = os.fork()
    if pid == 0:  # the child: exit 0 only if its span started an export thread in it
        code = 1
        try:
            with tracing.span("in the child"):
                pass
            code = 0 if any(t.name == "span-export" and t.is_alive() for t in threading.enumerate()) else 3
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
