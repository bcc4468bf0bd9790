"""The whole path through real processes: client → Orbit (gunicorn) → Governance (Lambda API) → Axon (gunicorn)."""

from __future__ import annotations

import json
import re
import time
import uuid

import pytest
import requests
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from agentctl.local.config import LocalStack
from agentctl.local.lifecycle import wait_healthy
from agentctl.local.supervisor import start_program, stop_program
from agentctl.settings import Ports

pytestmark = pytest.mark.stack


def body_of(**context: str) -> dict:
    """A dispatch body. Each carries a fresh request_id: two byte-identical requests signed in the same second
    have the same signature, and the second one is, by design, refused as a replay."""
    return {"intent": "call_reasoning", "context": {"user_id": "u1", "request_id": str(uuid.uuid4()), **context}}


def signed(url: str, credential, body: bytes, service: str = "execute-api", method: str = "POST") -> AWSRequest:
    request = AWSRequest(method=method, url=url, data=body, headers={"Content-Type": "application/json"})
    SigV4Auth(Credentials(credential.access_key_id, credential.secret_access_key), service, "us-east-1").add_auth(
        request
    )
    return request


def send(request: AWSRequest, body: bytes | None = None) -> requests.Response:
    return requests.request(
        request.method,
        request.url,
        data=request.body if body is None else body,
        headers=dict(request.headers),
        timeout=10,
    )


def axon_reason_count(stack) -> float:
    """How many /reason requests Axon has executed (answered 200), from its Prometheus metrics."""
    text = requests.get(f"{stack.url('axon')}/metrics", timeout=5).text
    pattern = r'^axon_requests_total\{(?=[^}]*endpoint="/reason")(?=[^}]*status="200")[^}]*\} ([0-9.e+]+)$'
    return sum(float(m.group(1)) for m in re.finditer(pattern, text, re.M))


def local_stack(stack) -> LocalStack:
    return LocalStack(stack.state_dir, Ports(**stack.ports), stack.project)


def test_botocore_signed_dispatch_succeeds(stack, quickstart):
    body = json.dumps(body_of()).encode()
    response = send(signed(f"{stack.url('orbit')}/dispatch", quickstart, body))
    assert response.status_code == 200, response.text
    data = response.json()
    assert data["status"] == "success"
    assert data["message"] == "Axon heartbeat OK"
    assert data["governance"]["allowed"] is True
    assert data["governance"]["reason"] == "Request authorized"
    assert isinstance(data["governance"]["decision_time_ms"], float)
    assert data["correlation_id"] == response.headers["X-Correlation-ID"]
    assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$", data["timestamp"])


def test_correlation_id_is_echoed(stack, quickstart):
    body = json.dumps(body_of()).encode()
    request = signed(f"{stack.url('orbit')}/dispatch", quickstart, body)
    request.headers["X-Correlation-ID"] = "trace-42"
    response = send(request)  # X-Correlation-ID is not signed: Orbit must accept an unsigned non-amz header
    assert response.status_code == 200, response.text
    assert response.headers["X-Correlation-ID"] == "trace-42"
    assert response.json()["correlation_id"] == "trace-42"


def test_unsigned_dispatch_is_refused(stack):
    response = requests.post(f"{stack.url('orbit')}/dispatch", json=body_of(), timeout=10)
    assert response.status_code == 401
    error = response.json()
    assert error["code"] == "MISSING_AUTHORIZATION"
    assert error["correlation_id"]
    assert error["timestamp"]
    assert error["error"]


def test_body_changed_after_signing_is_refused(stack, quickstart):
    body = json.dumps(body_of()).encode()
    request = signed(f"{stack.url('orbit')}/dispatch", quickstart, body)
    tampered = body.replace(b'"u1"', b'"admin"')
    response = send(request, body=tampered)
    assert response.status_code == 401
    assert response.json()["code"] == "INVALID_SIGNATURE"


def test_axon_refuses_a_request_not_signed_by_orbit(stack, quickstart):
    before = axon_reason_count(stack)
    body = json.dumps({**body_of(), "principal": "quickstart"}).encode()
    unsigned = requests.post(f"{stack.url('axon')}/reason", data=body, timeout=10)
    assert unsigned.status_code == 401
    assert unsigned.json()["code"] == "MISSING_AUTHORIZATION"
    # A client's own valid key is not Orbit's key: Axon still refuses.
    client_signed = send(signed(f"{stack.url('axon')}/reason", quickstart, body, service="axon"))
    assert client_signed.status_code == 401
    assert client_signed.json()["code"] == "INVALID_SIGNATURE"
    heartbeat = requests.get(f"{stack.url('axon')}/reason", timeout=10)
    assert heartbeat.status_code == 401
    assert axon_reason_count(stack) == before


def test_governance_down_means_503_and_nothing_reaches_axon(stack, quickstart):
    local = local_stack(stack)
    stop_program(local, "governance")
    try:
        before = axon_reason_count(stack)
        body = json.dumps(body_of()).encode()
        started = time.monotonic()
        response = send(signed(f"{stack.url('orbit')}/dispatch", quickstart, body))
        elapsed = time.monotonic() - started
        assert response.status_code == 503, response.text
        assert response.json()["code"] == "SERVICE_UNAVAILABLE"
        assert elapsed < 5, "Orbit must fail fast, not hang, when Governance is down"
        assert axon_reason_count(stack) == before
    finally:
        start_program(local, "governance")
        wait_healthy(local, "governance")
    # And once Governance is back, the same call goes through.
    response = send(signed(f"{stack.url('orbit')}/dispatch", quickstart, json.dumps(body_of()).encode()))
    assert response.status_code == 200, response.text


def test_agentctl_dispatch_and_health(stack):
    result = stack.agentctl(
        "dispatch", "--intent", "call_reasoning", "--context", '{"user_id": "u1"}', "--output", "json"
    )
    data = json.loads(result.stdout)
    assert data["status_code"] == 200
    assert data["body"]["governance"]["allowed"] is True
    health = json.loads(stack.agentctl("health", "--output", "json").stdout)
    assert health["healthy"] is True
    components = {c["component"]: c["healthy"] for c in health["checks"]}
    assert components["Governance Lambda"]
    assert components["Orbit service"]
    assert components["Axon service"]


def test_keys_create_gives_a_working_credential(stack):
    created = stack.create_key("e2e-client")
    assert set(created) == {"principal", "access_key_id", "secret_access_key"}
    assert created["principal"] == "e2e-client"
    credential = Credentials(created["access_key_id"], created["secret_access_key"])
    body = json.dumps(body_of()).encode()
    request = AWSRequest(
        method="POST", url=f"{stack.url('orbit')}/dispatch", data=body, headers={"Content-Type": "application/json"}
    )
    SigV4Auth(credential, "execute-api", "us-east-1").add_auth(request)
    response = send(request)
    assert response.status_code == 200, response.text
    # A second create for the same principal is refused, and nothing changes.
    again = stack.agentctl("keys", "create", "e2e-client", check=False)
    assert again.returncode != 0
    assert "already exists" in again.stderr
    assert "Traceback" not in again.stderr


def test_a_large_utf8_request_within_the_limit_goes_through(stack, quickstart):
    """60 KB of UTF-8 (within Orbit's 64 KiB) must reach Axon whole: Orbit forwards it without escaping it to
    three times its size."""
    body = json.dumps(body_of(note="é" * 29_000), ensure_ascii=False).encode()
    assert 55_000 < len(body) < 64 * 1024
    response = send(signed(f"{stack.url('orbit')}/dispatch", quickstart, body))
    assert response.status_code == 200, response.text
