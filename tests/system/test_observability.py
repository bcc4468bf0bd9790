"""What operators see: Prometheus metrics under gunicorn's multiprocess mode, one JSON log format with the
correlation id end to end and no secret in any log, and the circuit breaker around Axon."""

from __future__ import annotations

import json
import time
import uuid

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from agent_runtime import aws
from agent_runtime.keys import read_secret_versions
from agent_runtime.names import Names
from agentctl.local.config import LocalStack
from agentctl.local.lifecycle import wait_healthy
from agentctl.local.supervisor import start_program, stop_program
from agentctl.settings import Ports
from tests.signing import sign_request

pytestmark = pytest.mark.stack


def dispatch(stack, credential, correlation_id: str | None = None) -> requests.Response:
    data = json.dumps({"intent": "call_reasoning", "context": {"request_id": str(uuid.uuid4())}}).encode()
    headers = {"X-Correlation-ID": correlation_id} if correlation_id else {}
    request = sign_request("POST", f"{stack.url('orbit')}/dispatch", data, credential, headers=headers).prepare()
    return requests.post(request.url, data=request.body, headers=dict(request.headers), timeout=10)


def samples(url: str) -> dict[tuple[str, frozenset], float]:
    found = {}
    for family in text_string_to_metric_families(requests.get(f"{url}/metrics", timeout=5).text):
        for sample in family.samples:
            found[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return found


def value(found, name: str, **labels) -> float:
    return found.get((name, frozenset(labels.items())), 0.0)


def test_orbit_metrics_keep_the_specification_names(stack, quickstart):
    before = samples(stack.url("orbit"))
    assert dispatch(stack, quickstart).status_code == 200
    after = samples(stack.url("orbit"))
    key = {"method": "POST", "endpoint": "/dispatch", "status": "200"}
    assert value(after, "orbit_requests_total", **key) == value(before, "orbit_requests_total", **key) + 1
    assert value(after, "orbit_governance_decisions_total", decision="allowed") == (
        value(before, "orbit_governance_decisions_total", decision="allowed") + 1
    )
    assert value(after, "orbit_request_duration_seconds_count", endpoint="/dispatch") >= 1
    assert value(after, "orbit_governance_duration_seconds_count") >= 1
    axon = samples(stack.url("axon"))
    assert value(axon, "axon_requests_total", method="POST", endpoint="/reason", status="200") >= 1


def test_refusals_are_counted_by_kind(stack):
    before = samples(stack.url("orbit"))
    requests.post(f"{stack.url('orbit')}/dispatch", json={"intent": "call_reasoning"}, timeout=5)
    after = samples(stack.url("orbit"))
    assert value(after, "orbit_auth_failures_total", code="MISSING_AUTHORIZATION") == (
        value(before, "orbit_auth_failures_total", code="MISSING_AUTHORIZATION") + 1
    )


def _log_lines(stack, program: str) -> list[dict]:
    lines = []
    streams = sorted((stack.state_dir / "logs").glob(f"{program}*.log"))  # governance: one per Lambda API worker
    for line in (line for path in streams for line in path.read_text(errors="replace").splitlines()):
        if line.startswith("{"):
            try:
                lines.append(json.loads(line))
            except ValueError:
                continue
    return lines


def test_one_json_log_format_and_the_correlation_id_everywhere(stack, quickstart):
    correlation_id = f"trace-{uuid.uuid4()}"
    assert dispatch(stack, quickstart, correlation_id).status_code == 200
    time.sleep(0.3)
    for program in ("orbit", "governance", "axon"):
        mine = [line for line in _log_lines(stack, program) if line.get("correlation_id") == correlation_id]
        assert mine, f"{program} logged nothing with the correlation id"
        for line in mine:
            assert {"timestamp", "level", "service", "correlation_id", "event", "message"} <= set(line), line
    requests_logged = {
        p: [line for line in _log_lines(stack, p) if line.get("correlation_id") == correlation_id]
        for p in ("orbit", "axon")
    }
    # One access-log line per request says what happened in it: the decision in Orbit's, the engine in Axon's.
    (orbit_line,) = [line for line in requests_logged["orbit"] if line["event"] == "request"]
    assert (orbit_line["outcome"], orbit_line["intent"], orbit_line["principal"]) == (
        "allow",
        "call_reasoning",
        "quickstart",
    )
    (axon_line,) = [line for line in requests_logged["axon"] if line["event"] == "request"]
    assert axon_line["decision_id"] == orbit_line["decision_id"]
    assert axon_line["engine"] == "builtin"


def test_no_secret_reaches_any_log(stack, quickstart):
    sm = aws.client("secretsmanager")
    names = Names(stack.project)
    secrets = [quickstart.secret_access_key]
    secrets += [c.secret_access_key for c in read_secret_versions(sm, names.orbit_signing_key_secret)]
    private = sm.get_secret_value(SecretId=names.receipt_private_key_secret, VersionStage="AWSCURRENT")["SecretString"]
    secrets.append(private.splitlines()[1])  # the key material line of the PEM
    dispatch(stack, quickstart)
    requests.post(
        f"{stack.url('orbit')}/dispatch",
        data=b"{}",
        timeout=5,
        headers={
            "Authorization": "AWS4-HMAC-SHA256 Credential=x/20260101/us-east-1/execute-api/aws4_request,"
            " SignedHeaders=host;x-amz-date, Signature=" + "a" * 64,
            "X-Amz-Date": "20260101T000000Z",
        },
    )
    for log in (stack.state_dir / "logs").glob("*.log"):
        text = log.read_text(errors="replace")
        for secret in secrets:
            assert secret not in text, f"a secret is in {log.name}"
        assert "Signature=" not in text, f"a signature is in {log.name}"


def test_circuit_breaker_opens_answers_503_at_once_with_retry_after_then_closes(stack, quickstart):
    local = LocalStack(stack.state_dir, Ports(**stack.ports), stack.project)
    stop_program(local, "axon")
    try:
        statuses = [dispatch(stack, quickstart).status_code for _ in range(6)]
        assert statuses == [503] * 6
        started = time.monotonic()
        open_answer = dispatch(stack, quickstart)
        elapsed = time.monotonic() - started
        assert open_answer.status_code == 503
        assert open_answer.json()["code"] == "SERVICE_UNAVAILABLE"
        assert 1 <= int(open_answer.headers["Retry-After"]) <= 2
        assert elapsed < 1.0
        assert value(samples(stack.url("orbit")), "orbit_axon_circuit_state") == 1
    finally:
        start_program(local, "axon")
        wait_healthy(local, "axon")
    deadline = time.monotonic() + 10
    status = 503
    while status != 200 and time.monotonic() < deadline:
        time.sleep(0.5)
        status = dispatch(stack, quickstart).status_code
    assert status == 200
    assert value(samples(stack.url("orbit")), "orbit_axon_circuit_state") == 0
