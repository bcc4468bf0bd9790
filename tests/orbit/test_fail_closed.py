"""Orbit fails closed: whatever Governance does wrong (error, timeout, nonsense), the answer is 503 and Axon
receives nothing. Governance is replaced here by a small server speaking the Lambda Invoke API badly on
purpose; Axon by a server that counts what reaches it. Orbit itself is the real app, talking to the emulator."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from moto.server import ThreadedMotoServer

from agent_runtime.keys import create_client_key, ensure_signing_key
from agent_runtime.names import Names
from agent_runtime.sigv4 import Credential
from tests.conftest import free_ports
from tests.signing import sign_request

NAMES = Names("fail-closed")
GOOD = {
    "decision_id": "d",
    "allowed": True,
    "outcome": "allow",
    "reason": "Request authorized",
    "policy_ids": [],
    "policy_set_version": 1,
    "decision_time_ms": 1.0,
    "receipt": "r.s",
}


class Behaviour:
    mode = "error"


def _lambda_handler_class(behaviour: Behaviour):
    class FakeLambda(BaseHTTPRequestHandler):
        def log_message(self, *args) -> None:
            return

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            mode = behaviour.mode
            headers = {"Content-Type": "application/json"}
            status, body = 200, json.dumps(GOOD)
            if mode == "slow":
                time.sleep(1.5)
            elif mode == "function-error":
                headers["X-Amz-Function-Error"] = "Unhandled"
                body = json.dumps({"errorMessage": "boom", "errorType": "RuntimeError"})
            elif mode == "not-json":
                body = "<html>surprise</html>"
            elif mode == "wrong-types":
                body = json.dumps({**GOOD, "allowed": "yes"})
            elif mode == "allow-without-receipt":
                body = json.dumps({k: v for k, v in GOOD.items() if k != "receipt"})
            elif mode == "inconsistent":
                body = json.dumps({**GOOD, "outcome": "deny"})
            elif mode == "missing-fields":
                body = json.dumps({"allowed": True})
            elif mode == "throttled":
                status, body = 429, json.dumps({"message": "Rate exceeded"})
                headers["x-amzn-ErrorType"] = "TooManyRequestsException"
            elif mode == "error":
                status, body = 500, json.dumps({"message": "service error"})
                headers["x-amzn-ErrorType"] = "ServiceException"
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            data = body.encode()
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    return FakeLambda


class CountingAxon(BaseHTTPRequestHandler):
    hits = 0

    def log_message(self, *args) -> None:
        return

    def do_POST(self) -> None:
        CountingAxon.hits += 1
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request, client_address) -> None:
        """Orbit hangs up on the slow fake before it answers: that broken pipe is the point, not an error."""


def _serve(handler) -> tuple[ThreadingHTTPServer, int]:
    server = _QuietServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, server.server_address[1]


@pytest.fixture(scope="module")
def orbit() -> Iterator[tuple]:
    behaviour = Behaviour()
    (moto_port,) = free_ports(1)
    moto = ThreadedMotoServer("127.0.0.1", moto_port, verbose=False)
    moto.start()
    fake_lambda, lambda_port = _serve(_lambda_handler_class(behaviour))
    axon, axon_port = _serve(CountingAxon)
    patch = pytest.MonkeyPatch()
    env = {
        "AWS_ENDPOINT_URL": f"http://127.0.0.1:{moto_port}",
        "AWS_ENDPOINT_URL_LAMBDA": f"http://127.0.0.1:{lambda_port}",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",  # pragma: allowlist secret (the emulator's fake key)
        "AWS_REGION": "us-east-1",
        "PROJECT_NAME": NAMES.project,
    }
    for key, value in env.items():
        patch.setenv(key, value)
    try:
        from agent_runtime import aws
        from orbit.app import create_app
        from orbit.config import OrbitSettings

        sm = aws.client("secretsmanager")
        ensure_signing_key(sm, NAMES.orbit_signing_key_secret, "orbit")
        client_key = create_client_key(sm, NAMES, "prober")
        app = create_app(OrbitSettings.from_env(axon_url=f"http://127.0.0.1:{axon_port}", governance_timeout_ms=400))
        yield app.test_client(), client_key, behaviour
    finally:
        patch.undo()
        for server in (fake_lambda, axon):
            server.shutdown()
            server.server_close()
        moto.stop()


def _dispatch(client, key):
    body = json.dumps({"intent": "call_reasoning", "context": {"request_id": str(time.time_ns())}}).encode()
    request = sign_request("POST", "http://localhost/dispatch", body, key).prepare()
    return client.post("/dispatch", data=request.body, headers=dict(request.headers))


@pytest.mark.parametrize(
    "mode",
    [
        "error",
        "throttled",
        "slow",
        "function-error",
        "not-json",
        "wrong-types",
        "allow-without-receipt",
        "inconsistent",
        "missing-fields",
    ],
)
def test_governance_misbehaving_means_503_and_nothing_reaches_axon(orbit, mode):
    client, key, behaviour = orbit
    behaviour.mode = mode
    before = CountingAxon.hits
    started = time.monotonic()
    response = _dispatch(client, key)
    elapsed = time.monotonic() - started
    assert response.status_code == 503, response.get_data(as_text=True)
    assert response.get_json()["code"] == "SERVICE_UNAVAILABLE"
    assert CountingAxon.hits == before
    assert elapsed < 1.4, f"the governance timeout (400 ms) was not enforced: {elapsed:.2f}s"


def test_a_sane_allow_does_reach_axon(orbit):
    """The control: the same setup with a well-formed allow does call Axon (so the test above can fail)."""
    client, key, behaviour = orbit
    behaviour.mode = "good"
    before = CountingAxon.hits
    response = _dispatch(client, key)
    assert CountingAxon.hits == before + 1
    # The counting Axon answers without a message: Orbit does not pretend that was a success.
    assert response.status_code == 503


def test_unreadable_keys_mean_503_not_500(monkeypatch):
    """Secrets Manager unreachable before the first key load: Orbit cannot check the signature, so it refuses,
    with the contract's 503 (not a 500)."""
    (dead_port,) = free_ports(1)
    for key, value in {
        "AWS_ENDPOINT_URL": f"http://127.0.0.1:{dead_port}",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",  # pragma: allowlist secret (the emulator's fake key)
        "AWS_REGION": "us-east-1",
        "PROJECT_NAME": NAMES.project,
    }.items():
        monkeypatch.setenv(key, value)
    from orbit.app import create_app

    app = create_app()
    key = Credential("AKARNOTLOADED", "whatever", "someone")
    response = _dispatch(app.test_client(), key)
    assert response.status_code == 503
    assert response.get_json()["code"] == "SERVICE_UNAVAILABLE"
