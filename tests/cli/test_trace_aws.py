"""agentctl trace in AWS: the trace read back from X-Ray (the emulator's), found by trace id, X-Ray id, correlation
id or as the latest dispatch, and drawn as the same waterfall as locally. The segments are what the ADOT collector
sends for the spans of a dispatch (tests/xray_collector.py)."""

from __future__ import annotations

import json
import os
import time

import boto3
import pytest

from tests import xray_collector
from tests.cli.conftest import run


def dispatch_spans(correlation_id: str, started: float, outcome: str = "allow") -> list[dict]:
    """The spans of one dispatch across Orbit, Governance and Axon, as the services record them."""
    trace_id = f"{int(started):08x}" + os.urandom(12).hex()
    ns = int(started * 1e9)

    def span(span_id: str, parent: str | None, name: str, service: str, start_ms: float, end_ms: float, **attrs):
        return {
            "trace_id": trace_id,
            "span_id": span_id * 16,
            "parent_span_id": parent * 16 if parent else None,
            "name": name,
            "kind": "SERVER" if parent in (None, "3") else "INTERNAL",
            "start_ns": ns + int(start_ms * 1e6),
            "end_ns": ns + int(end_ms * 1e6),
            "status": "UNSET",
            "service": service,
            "attributes": attrs,
        }

    common = {"agent_runtime.correlation_id": correlation_id}
    return [
        span("1", None, "orbit POST /dispatch", "orbit", 0, 9, **common, **{"http.route": "/dispatch"},
             **{"http.response.status_code": 200, "agent_runtime.outcome": outcome}),
        span("2", "1", "governance.invoke", "orbit", 0.5, 4),
        span("3", "2", "governance.decide", "governance", 1, 3.5, **common, **{"agent_runtime.outcome": outcome}),
        span("4", "1", "axon.call", "orbit", 4.5, 8.5),
        span("5", "4", "axon POST /reason", "axon", 5, 8, **common),
    ]  # fmt: skip


@pytest.fixture
def xray(emulation):
    return boto3.client("xray")


def test_trace_is_read_back_from_x_ray_by_any_of_its_ids(emulation, xray):
    now = time.time()
    wanted = dispatch_spans("corr-wanted", now - 60)
    other = dispatch_spans("corr-other", now - 30, outcome="deny")
    xray_collector.put(xray, wanted)
    xray_collector.put(xray, other)
    trace_id = wanted[0]["trace_id"]

    report = json.loads(run("--env", "dev", "trace", "corr-wanted", "--output", "json").stdout)
    assert emulation.trace_filters[-1] == 'annotation.agent_runtime_correlation_id = "corr-wanted"'
    assert report["trace_id"] == trace_id
    assert report["services"] == ["axon", "governance", "orbit"]
    # X-Ray names a service's segment by its service, and each of its subsegments by its span.
    assert [(s["name"], s["depth"]) for s in report["spans"]] == [
        ("orbit", 0),
        ("governance.invoke", 1),
        ("governance", 2),
        ("axon.call", 1),
        ("axon", 2),
    ]
    assert report["spans"][2]["offset_ms"] == pytest.approx(1, abs=0.01)
    assert report["spans"][2]["duration_ms"] == pytest.approx(2.5, abs=0.01)
    by_xray_id = json.loads(run("--env", "dev", "trace", report["xray_trace_id"], "-o", "json").stdout)
    assert by_xray_id["spans"] == report["spans"]
    assert json.loads(run("--env", "dev", "trace", trace_id, "-o", "json").stdout)["spans"] == report["spans"]

    latest = json.loads(run("--env", "dev", "trace", "--last", "--output", "json").stdout)
    assert emulation.trace_filters[-1] == 'annotation.http_route = "/dispatch"'
    assert latest["trace_id"] == other[0]["trace_id"]
    assert latest["outcome"] == "deny"

    table = run("--env", "dev", "trace", "corr-other").stdout.splitlines()
    assert table[0].startswith(f"trace {other[0]['trace_id']} ")
    assert any("  governance [governance]" in line and "outcome=deny" in line for line in table)


def test_an_unknown_trace_is_one_line_and_exit_1(emulation, xray):
    result = run("--env", "dev", "trace", "no-such-correlation-id", "--wait", "0")
    assert result.exit_code != 0
    assert "no trace found for correlation id no-such-correlation-id" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
