"""The promises of docs/security.md at their edges, tried as a client (or an attacker) would, through the running
stack: new keys under concurrency, more real SigV4 clients, refusals that say why, slow clients, unsigned inputs
to policy, replay across restarts, the body limit, what Orbit checks before it asks Governance, log injection."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import threading
import time
import uuid
from pathlib import Path

import pytest
import requests
from aws_requests_auth.aws_auth import AWSRequestsAuth

from agent_runtime import aws
from agent_runtime.keys import read_secret_versions
from agent_runtime.names import Names
from agent_runtime.sigv4 import Credential
from agentctl.local.config import LocalStack
from agentctl.local.lifecycle import wait_healthy
from agentctl.local.supervisor import program_states
from agentctl.settings import Ports
from tests.conftest import ROOT
from tests.signing import sign_request

pytestmark = pytest.mark.stack


def dispatch_body(intent: str = "call_reasoning", **context) -> bytes:
    return json.dumps({"intent": intent, "context": {"request_id": str(uuid.uuid4()), **context}}).encode()


def signed_post(
    url: str, data: bytes, credential: Credential, headers: dict[str, str] | None = None, **sign_options
) -> requests.Response:
    request = sign_request(
        "POST", url, data, credential, headers={"Content-Type": "application/json", **(headers or {})}, **sign_options
    ).prepare()
    return requests.post(request.url, data=request.body, headers=dict(request.headers), timeout=15)


def audit_events(stack) -> list[dict]:
    result = stack.agentctl("logs", "governance", "--audit", "--output", "json", "--since", "10m")
    return [json.loads(line) for line in result.stdout.splitlines() if line.strip()]


def together(count: int, work) -> list:
    """`work(i)` in `count` threads released at the same moment; results in order."""
    results: list = [None] * count
    barrier = threading.Barrier(count)

    def run(i: int) -> None:
        barrier.wait()
        results[i] = work(i)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


# --- a new credential is usable at once (issue: new keys accepted at once) ------------------------------------


def test_concurrent_first_requests_of_new_credentials_all_succeed(stack):
    for round_ in range(3):
        created = stack.create_key(f"fleet-{round_}-{uuid.uuid4().hex[:6]}")
        credential = Credential(created["access_key_id"], created["secret_access_key"], created["principal"])
        statuses = together(
            12,
            lambda _, c=credential: signed_post(f"{stack.url('orbit')}/dispatch", dispatch_body(), c).status_code,
        )
        assert statuses == [200] * 12, statuses


def test_a_flood_of_made_up_key_ids_refuses_no_real_key(stack, quickstart):
    created = stack.create_key(f"during-flood-{uuid.uuid4().hex[:6]}")
    real = Credential(created["access_key_id"], created["secret_access_key"], created["principal"])

    def request(i: int) -> int:
        credential = real if i % 8 == 0 else Credential(f"AKARMADEUP{i:010d}", "nope", "mallory")
        return signed_post(f"{stack.url('orbit')}/dispatch", dispatch_body(), credential).status_code

    statuses = together(40, request)
    assert [s for i, s in enumerate(statuses) if i % 8 == 0] == [200] * 5
    assert {s for i, s in enumerate(statuses) if i % 8} == {401}


# --- more real SigV4 clients, and refusals that say why ----------------------------------------------------------


def test_aws_requests_auth_sends_an_unsigned_content_sha256_and_is_accepted(stack, quickstart):
    port = stack.ports["orbit"]
    auth = AWSRequestsAuth(
        aws_access_key=quickstart.access_key_id,
        aws_secret_access_key=quickstart.secret_access_key,
        aws_host=f"127.0.0.1:{port}",
        aws_region="us-east-1",
        aws_service="execute-api",
    )
    response = requests.post(
        f"{stack.url('orbit')}/dispatch",
        data=dispatch_body(),
        auth=auth,
        headers={"Content-Type": "application/json"},
        timeout=10,
    )
    assert response.status_code == 200, response.text
    assert "x-amz-content-sha256" in response.request.headers
    assert "x-amz-content-sha256" not in response.request.headers["Authorization"]


def test_curl_aws_sigv4(stack, quickstart):
    result = subprocess.run(
        [
            "curl",
            "--silent",
            "--show-error",
            "--aws-sigv4",
            "aws:amz:us-east-1:execute-api",
            "--user",
            f"{quickstart.access_key_id}:{quickstart.secret_access_key}",
            "-H",
            "Content-Type: application/json",
            "--data-binary",
            dispatch_body().decode(),
            f"{stack.url('orbit')}/dispatch?source=curl",
        ],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["status"] == "success", result.stdout


def test_the_npm_aws4_signer(stack, quickstart, tmp_path: Path):
    script = tmp_path / "aws4-client.js"
    script.write_text(
        """
const aws4 = require("aws4");
const http = require("http");
const [port, key, secret, body] = process.argv.slice(2);
const opts = aws4.sign(
  { host: "127.0.0.1", port: Number(port), method: "POST", path: "/dispatch?via=aws4", service: "execute-api",
    region: "us-east-1", body, headers: { "Content-Type": "application/json" } },
  { accessKeyId: key, secretAccessKey: secret }
);
const req = http.request(opts, (res) => {
  let data = "";
  res.on("data", (c) => (data += c));
  res.on("end", () => { console.log(JSON.stringify({ status: res.statusCode, body: JSON.parse(data) })); });
});
req.end(body);
"""
    )
    result = subprocess.run(
        [
            "node",
            str(script),
            str(stack.ports["orbit"]),
            quickstart.access_key_id,
            quickstart.secret_access_key,
            dispatch_body().decode(),
        ],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
        env={**os.environ, "NODE_PATH": str(ROOT / "node_modules")},
    )
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout)
    assert answer["status"] == 200, answer


def test_a_refusal_says_which_rule_failed(stack, quickstart):
    url = f"{stack.url('orbit')}/dispatch"
    wrong_region = signed_post(url, dispatch_body(), quickstart, region="eu-west-1").json()
    assert wrong_region["details"]["reason"] == "credential scope region eu-west-1, expected us-east-1"
    unknown = signed_post(url, dispatch_body(), Credential("AKARNOSUCHKEY0000000", "x", "nobody")).json()
    assert unknown["details"]["reason"] == "unknown access key id"
    wrong_secret = Credential(quickstart.access_key_id, "not-the-secret", "quickstart")
    answer = signed_post(url, dispatch_body(), wrong_secret).json()
    assert answer["code"] == "INVALID_SIGNATURE"
    assert answer["details"]["reason"].startswith("signature does not match")
    assert answer["details"]["canonical_request"].startswith("POST\n/dispatch\n")
    assert answer["details"]["string_to_sign"].startswith("AWS4-HMAC-SHA256\n")
    assert quickstart.secret_access_key not in json.dumps(answer)


# --- slow clients --------------------------------------------------------------------------------------------


def _trickle(port: int, request: bytes, stop: threading.Event) -> None:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=2) as sock:
        for byte in request:
            if stop.is_set():
                return
            sock.sendall(bytes([byte]))
            stop.wait(1.0)


@pytest.mark.parametrize("service", ["orbit", "axon"])
def test_slow_clients_do_not_stop_normal_requests(stack, quickstart, service):
    """More slow connections than the services have threads (16), each sending a byte a second: the signed
    requests of everyone else keep being answered promptly."""
    port = stack.ports[service]
    stop = threading.Event()
    slow = b"POST /dispatch HTTP/1.1\r\nHost: x\r\nContent-Length: 500\r\n\r\n" + b"x" * 499
    tricklers = [threading.Thread(target=_trickle, args=(port, slow, stop), daemon=True) for _ in range(24)]
    for trickler in tricklers:
        trickler.start()
    try:
        time.sleep(2)
        orbit_key = read_secret_versions(aws.client("secretsmanager"), Names(stack.project).orbit_signing_key_secret)[0]
        latencies = []
        for _ in range(8):
            started = time.monotonic()
            if service == "orbit":
                response = signed_post(f"{stack.url('orbit')}/dispatch", dispatch_body(), quickstart)
            else:  # Axon's heartbeat, signed as Orbit signs it
                unique = {"X-Correlation-ID": str(uuid.uuid4())}  # signed: each heartbeat is a new request
                request = sign_request(
                    "GET", f"{stack.url('axon')}/reason", b"", orbit_key, service="axon", headers=unique
                ).prepare()
                response = requests.get(request.url, headers=dict(request.headers), timeout=15)
            latencies.append(time.monotonic() - started)
            assert response.status_code == 200, response.text
        assert max(latencies) < 3.0, latencies
    finally:
        stop.set()
        for trickler in tricklers:
            trickler.join(timeout=5)


# --- only what the client signed (or a service set) reaches a policy ---------------------------------------------


def _push(stack, tmp_path: Path, name: str, text: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    path = tmp_path / f"{name}.cedar"
    path.write_text(text)
    return stack.agentctl("policy", "push", str(path), "--yes", check=check)


def test_an_unsigned_header_cannot_satisfy_a_policy(stack, quickstart, tmp_path: Path):
    refused = _push(
        stack,
        tmp_path,
        "by-correlation",
        '@id("by-correlation")\npermit(principal, action == Action::"plan", resource)\n'
        '  when { context.correlation_id == "open-sesame" };\n',
        check=False,
    )
    assert refused.returncode != 0
    assert "correlation_id" in refused.stderr
    _push(
        stack,
        tmp_path,
        "by-request-id",
        '@id("by-request-id")\npermit(principal, action == Action::"summarize", resource)\n'
        '  when { context.request_id == "open-sesame" };\n',
    )
    try:
        url = f"{stack.url('orbit')}/dispatch"

        def unsigned() -> bytes:  # no request_id in the body; a new user_id makes each a new signed request
            return json.dumps({"intent": "summarize", "context": {"user_id": str(uuid.uuid4())}}).encode()

        assert signed_post(url, unsigned(), quickstart).status_code == 403
        # The header is added after signing: it must not become the request_id a policy reads.
        request = sign_request("POST", url, unsigned(), quickstart, headers={"Content-Type": "application/json"})
        prepared = request.prepare()
        tampered = {**dict(prepared.headers), "X-Correlation-ID": "open-sesame"}
        attack = requests.post(url, data=prepared.body, headers=tampered, timeout=10)
        assert attack.status_code == 403, attack.text
        assert attack.headers["X-Correlation-ID"] == "open-sesame"  # still echoed, for tracing
        signed = json.dumps({"intent": "summarize", "context": {"request_id": "open-sesame"}}).encode()
        assert signed_post(url, signed, quickstart).status_code == 200  # the control: signed, it does match
    finally:
        stack.agentctl("policy", "delete", "by-request-id", "--yes")


# --- replay across a restart ---------------------------------------------------------------------------------


def _restart(stack, program: str) -> None:
    local = LocalStack(stack.state_dir, Ports(**stack.ports), stack.project)
    old = next(p["pid"] for p in program_states(local) if p["name"] == program)
    os.kill(old, signal.SIGKILL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        states = {p["name"]: p for p in program_states(local)}
        if states[program]["state"] == "RUNNING" and states[program]["pid"] != old:
            break
        time.sleep(0.2)
    wait_healthy(local, program, timeout=60)


def test_a_captured_request_is_refused_after_orbit_restarts(stack, quickstart):
    url = f"{stack.url('orbit')}/dispatch"
    captured = sign_request(
        "POST", url, dispatch_body(), quickstart, headers={"Content-Type": "application/json"}
    ).prepare()
    first = requests.post(url, data=captured.body, headers=dict(captured.headers), timeout=10)
    assert first.status_code == 200, first.text
    _restart(stack, "orbit")
    again = requests.post(url, data=captured.body, headers=dict(captured.headers), timeout=10)
    assert (again.status_code, again.json()["code"]) == (401, "INVALID_SIGNATURE"), again.text


def test_a_spent_receipt_is_refused_after_axon_restarts(stack):
    from tests.system.test_governance_stack import _governance_allow, _to_axon

    context = {"user_id": "u-restart"}
    payload = {"intent": "call_reasoning", "context": context, "principal": "quickstart"}
    receipt = _governance_allow(stack, "quickstart", "call_reasoning", context)
    assert _to_axon(stack, payload, receipt).status_code == 200
    _restart(stack, "axon")
    again = _to_axon(stack, payload, receipt)  # a fresh signature: only the receipt is replayed
    assert again.status_code in (401, 403), again.text
    assert again.json()["code"] in ("GOVERNANCE_DENIED", "INVALID_SIGNATURE")


# --- the body limit, and what Orbit checks before it asks Governance ----------------------------------------------


def _chunked_post(url: str, signed_over: bytes, sent: bytes, credential: Credential) -> requests.Response:
    request = sign_request("POST", url, signed_over, credential, headers={"Content-Type": "application/json"})
    headers = {k: v for k, v in dict(request.prepare().headers).items() if k.lower() != "content-length"}

    def chunks():
        for start in range(0, len(sent), 16 * 1024):
            yield sent[start : start + 16 * 1024]

    return requests.post(url, data=chunks(), headers=headers, timeout=15)


def test_a_chunked_body_over_the_limit_is_413_never_cut(stack, quickstart):
    url = f"{stack.url('orbit')}/dispatch"
    big = json.dumps({"intent": "call_reasoning", "context": {"prompt": "x" * 70_000}}).encode()
    assert _chunked_post(url, big, big, quickstart).status_code == 413
    # Signed over the first 64 KiB only: before, the cut body verified and the call went through.
    assert _chunked_post(url, big[: 64 * 1024], big, quickstart).status_code == 413


def _decided(stack, correlation_id: str) -> bool:
    return any(e.get("correlation_id") == correlation_id for e in audit_events(stack))


def test_what_cannot_reach_axon_is_refused_before_governance_is_asked(stack, quickstart):
    url = f"{stack.url('orbit')}/dispatch"
    cases = {
        "surrogate": (b'{"intent": "call_reasoning", "context": {"prompt": "\\ud800"}}', 400),
        # 9,000 numbers written short ("1E5") that Axon would receive long ("100000.0"): 36 KB becomes 81 KB.
        "growing": (
            json.dumps({"intent": "call_reasoning", "context": {"n": ["1E5"] * 9000}}).replace('"1E5"', "1E5"),
            413,
        ),
        "undeclared": (b'{"intent": "drop_all_tables", "context": {}}', 400),
        "nan": (b'{"intent": "call_reasoning", "context": {"x": NaN}}', 400),
    }
    for name, (body, status) in cases.items():
        data = body if isinstance(body, bytes) else body.encode()
        correlation_id = f"before-governance-{name}-{uuid.uuid4().hex[:8]}"
        response = signed_post(url, data, quickstart, headers={"X-Correlation-ID": correlation_id})
        assert response.status_code == status, (name, response.text)
        assert response.status_code < 500
        if name == "undeclared":
            assert "drop_all_tables" in response.json()["error"]
        assert not _decided(stack, correlation_id), f"{name}: Governance was asked"


# --- log injection -----------------------------------------------------------------------------------------


def test_control_characters_in_a_path_never_reach_a_log_message_raw(stack):
    marker = uuid.uuid4().hex[:8]
    path = f"/x{marker}%0a%1b[32m200%20OK%0d"
    requests.get(f"{stack.url('orbit')}{path}", timeout=10)
    result = stack.agentctl("logs", "orbit", "--since", "5m", "--output", "json")
    lines = [json.loads(line) for line in result.stdout.splitlines() if marker in line]
    assert lines, "the request was not logged"
    for line in lines:
        assert not any(ord(c) < 32 or c == "\x7f" for c in line["message"] + line.get("path", "")), line
        assert "\\x0a" in line["message"]
