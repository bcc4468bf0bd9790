"""One trace per call through the running stack: the client's trace context is honoured, Governance's decision is
in the same trace tree as Orbit and Axon, every log line joins its span, and nothing secret is in a span."""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path

import pytest
import requests

from agentctl.local.config import LocalStack
from agentctl.local.lifecycle import wait_healthy
from agentctl.local.supervisor import start_program, stop_program
from agentctl.settings import Ports
from tests.conftest import TEST_LIMITS, set_limits
from tests.signing import sign_request

pytestmark = pytest.mark.stack


def spans(stack, trace_id: str, names: set[str] = frozenset(), timeout: float = 10.0) -> list[dict]:
    """The spans of one trace in the stack's trace files, once those named are there (they are exported in
    batches, each when it ends)."""
    deadline = time.monotonic() + timeout
    while True:
        found = []
        for path in Path(stack.state_dir, "traces").glob("*.jsonl"):
            for line in path.read_text().splitlines():
                if trace_id in line:
                    record = json.loads(line)
                    if record["trace_id"] == trace_id:
                        found.append(record)
        if names <= {span["name"] for span in found} or time.monotonic() > deadline:
            return found
        time.sleep(0.2)


def dispatch(stack, credential, intent: str = "call_reasoning", headers: dict | None = None) -> requests.Response:
    body = json.dumps({"intent": intent, "context": {"request_id": str(uuid.uuid4())}}).encode()
    prepared = sign_request(
        "POST", f"{stack.url('orbit')}/dispatch", body, credential, headers={"Content-Type": "application/json"}
    ).prepare()
    return requests.post(
        prepared.url, data=prepared.body, headers={**dict(prepared.headers), **(headers or {})}, timeout=10
    )


def test_a_dispatch_is_one_trace_across_orbit_governance_and_axon(stack, quickstart):
    trace_id = uuid.uuid4().hex
    parent = f"00-{trace_id}-{uuid.uuid4().hex[:16]}-01"
    response = dispatch(stack, quickstart, headers={"traceparent": parent})
    assert response.status_code == 200, response.text
    assert response.headers["traceparent"].split("-")[1] == trace_id
    found = spans(stack, trace_id, {"orbit POST /dispatch", "axon POST /reason", "governance.decide"})
    by_name = {s["name"]: s for s in found}
    for name in [
        "orbit POST /dispatch",
        "sigv4.verify",
        "governance.invoke",
        "governance.decide",
        "governance.config",
        "ratelimit.global",
        "ratelimit.principal",
        "ratelimit.ip",
        "cedar.evaluate",
        "receipt.sign",
        "axon.call",
        "axon POST /reason",
        "receipt.verify",
        "engine.reason",
    ]:
        if name == "governance.config" and name not in by_name:
            continue  # read at most once a second: a warm instance may have it cached
        assert name in by_name, (name, sorted(by_name))
    root = by_name["orbit POST /dispatch"]
    ids = {s["span_id"]: s for s in found}
    # The tree: Governance's decision under Orbit's invoke, Axon's request under Orbit's call, all under the root.
    assert ids[by_name["governance.decide"]["parent_span_id"]]["name"] == "governance.invoke"
    assert ids[by_name["axon POST /reason"]["parent_span_id"]]["name"] == "axon.call"
    assert ids[by_name["ratelimit.ip"]["parent_span_id"]]["name"] == "governance.decide"
    assert root["parent_span_id"] == parent.split("-")[2]
    assert root["attributes"]["agent_runtime.outcome"] == "allow"
    assert root["attributes"]["agent_runtime.principal"] == "quickstart"
    decide = by_name["governance.decide"]
    assert decide["attributes"]["agent_runtime.decision_id"] == response.json()["governance"]["decision_id"]
    assert {s["service"] for s in found} == {"orbit", "governance", "axon"}
    text = json.dumps(found)
    assert quickstart.secret_access_key not in text
    assert "Signature=" not in text


def test_log_lines_join_their_spans(stack, quickstart):
    response = dispatch(stack, quickstart)
    trace_id = response.headers["traceparent"].split("-")[1]
    found = spans(stack, trace_id, {"orbit POST /dispatch", "governance.decide"})
    span_ids = {s["span_id"] for s in found}
    logged = []
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not logged:
        for service in ("orbit", "governance"):
            result = stack.agentctl("logs", service, "--since", "5m", "--output", "json")
            logged += [json.loads(line) for line in result.stdout.splitlines() if trace_id in line]
        time.sleep(0.3)
    assert logged
    deadline = time.monotonic() + 10
    while {line["span_id"] for line in logged} - span_ids and time.monotonic() < deadline:
        time.sleep(0.3)  # a span is exported when it ends, after the lines written in it
        span_ids = {s["span_id"] for s in spans(stack, trace_id)}
    assert {line["span_id"] for line in logged} <= span_ids
    audit = [line for line in logged if line.get("event") == "audit"]
    assert audit
    assert audit[0]["trace_id"] == trace_id


def test_a_denied_and_a_refused_call_are_traced_too(stack, quickstart):
    denied = dispatch(stack, quickstart, intent="summarize")  # no policy permits it
    assert denied.status_code == 403
    trace_id = denied.headers["traceparent"].split("-")[1]
    found = {s["name"]: s for s in spans(stack, trace_id, {"orbit POST /dispatch", "governance.decide"})}
    assert found["orbit POST /dispatch"]["attributes"]["agent_runtime.outcome"] == "deny"
    assert "axon.call" not in found
    unsigned = requests.post(f"{stack.url('orbit')}/dispatch", json={"intent": "x"}, timeout=10)
    assert unsigned.status_code == 401
    trace_id = unsigned.headers["traceparent"].split("-")[1]
    refused = {s["name"]: s for s in spans(stack, trace_id, {"orbit POST /dispatch", "sigv4.verify"})}
    assert refused["sigv4.verify"]["status"] == "ERROR"
    assert refused["orbit POST /dispatch"]["attributes"]["http.response.status_code"] == 401


def test_an_x_ray_header_from_the_load_balancer_is_honoured(stack, quickstart):
    epoch, rest = f"{int(time.time()):08x}", uuid.uuid4().hex[:24]
    header = f"Root=1-{epoch}-{rest};Parent={uuid.uuid4().hex[:16]};Sampled=1"
    response = dispatch(stack, quickstart, headers={"X-Amzn-Trace-Id": header})
    assert response.headers["traceparent"].split("-")[1] == epoch + rest


# --- agentctl trace: the span tree read back --------------------------------------------------------------


def trace_json(stack, *args: str) -> dict:
    return json.loads(stack.agentctl("trace", *args, "--output", "json").stdout)


def test_agentctl_trace_by_correlation_id_shows_the_whole_tree_with_the_decision(stack, quickstart):
    correlation_id = f"trace-test-{uuid.uuid4()}"
    response = dispatch(stack, quickstart, headers={"X-Correlation-ID": correlation_id})
    assert response.status_code == 200, response.text
    trace_id = response.headers["traceparent"].split("-")[1]
    report = trace_json(stack, correlation_id)
    assert report["trace_id"] == trace_id
    assert report["correlation_id"] == correlation_id
    assert report["outcome"] == "allow"
    assert report["decision_id"] == response.json()["governance"]["decision_id"]
    assert report["services"] == ["axon", "governance", "orbit"]
    names = [span["name"] for span in report["spans"]]
    assert names[0] == "orbit POST /dispatch"  # the root first, then depth first by start time
    depth = {span["name"]: span["depth"] for span in report["spans"]}
    assert depth["governance.decide"] == depth["governance.invoke"] + 1
    assert depth["engine.reason"] > depth["axon POST /reason"] > depth["axon.call"] > 0
    offsets = [span["offset_ms"] for span in report["spans"]]
    assert offsets[0] == 0
    assert all(offset >= 0 for offset in offsets)
    root = report["spans"][0]
    assert all(s["offset_ms"] + s["duration_ms"] <= root["duration_ms"] + 1 for s in report["spans"])
    # The same trace by its trace id and by its X-Ray id; the readable waterfall names the slow path.
    assert trace_json(stack, trace_id)["spans"] == report["spans"]
    assert trace_json(stack, report["xray_trace_id"])["trace_id"] == trace_id
    table = stack.agentctl("trace", trace_id).stdout.splitlines()
    assert table[0].startswith(f"trace {trace_id} ")
    assert "outcome: allow" in table[0]
    assert any("governance.decide" in line and "outcome=allow" in line for line in table)
    assert any(line.strip().startswith("0.00") and "orbit POST /dispatch [orbit]" in line for line in table)
    assert sum("*" in line.split("█")[0] for line in table[2:]) >= 3, table  # the slowest span of each level


def test_agentctl_trace_last_denied_rate_limited_and_governance_down(stack, quickstart):
    denied = dispatch(stack, quickstart, intent="summarize")
    assert denied.status_code == 403
    report = trace_json(stack, "--last")
    assert report["trace_id"] == denied.headers["traceparent"].split("-")[1]
    assert report["outcome"] == "deny"
    assert "axon.call" not in [span["name"] for span in report["spans"]]

    set_limits(stack, {"global": 1000, "per_principal": 1, "per_ip": 1000})
    try:
        responses = [dispatch(stack, quickstart) for _ in range(3)]
    finally:
        set_limits(stack, TEST_LIMITS)
    limited = next(r for r in responses if r.status_code == 429)
    report = trace_json(stack, limited.headers["traceparent"].split("-")[1])
    assert report["outcome"] == "rate_limited"
    assert "axon.call" not in [span["name"] for span in report["spans"]]

    local = LocalStack(stack.state_dir, Ports(**stack.ports), stack.project)
    stop_program(local, "governance")
    try:
        down = dispatch(stack, quickstart)
    finally:
        start_program(local, "governance")
        wait_healthy(local, "governance")
    assert down.status_code == 503
    report = trace_json(stack, down.headers["traceparent"].split("-")[1])
    assert report["services"] == ["orbit"]
    assert "governance.invoke" in report["errors"]


def test_agentctl_trace_refuses_bad_ids_in_one_line(stack):
    for args, needle in [
        (["not a valid id!"], "not a trace id"),
        ([], "--last"),
        (["0123456789abcdef0123456789abcdef", "--last"], "not both"),  # pragma: allowlist secret (a trace id)
        (["0123456789abcdef0123456789abcdef", "--wait", "0"], "no trace found"),  # pragma: allowlist secret
    ]:
        result = stack.agentctl("trace", *args, check=False)
        assert result.returncode != 0, args
        assert needle in result.stderr, (args, result.stderr)
        assert len(result.stderr.strip().splitlines()) == 1
        assert "Traceback" not in result.stderr
