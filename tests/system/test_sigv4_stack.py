"""SigV4 through the running Orbit (gunicorn): requests made by real clients that we did not write are accepted,
and a battery of forged, tampered, stale and replayed ones gets 401 with the contract's code, never a 5xx."""

from __future__ import annotations

import http.client
import json
import subprocess
import uuid
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import pytest
import requests
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from requests_aws4auth import AWS4Auth

from agent_runtime import aws
from agent_runtime.keys import read_secret_versions
from agent_runtime.names import Names
from agent_runtime.sigv4 import Credential
from tests.conftest import BIN
from tests.signing import sign_request

pytestmark = pytest.mark.stack


def body() -> bytes:
    return json.dumps(
        {"intent": "call_reasoning", "context": {"user_id": "u1", "request_id": str(uuid.uuid4())}}
    ).encode()


def send(request: AWSRequest, data: bytes | None = None, extra: dict[str, str] | None = None) -> requests.Response:
    prepared = request.prepare()
    headers = {**dict(prepared.headers), **(extra or {})}
    return requests.post(prepared.url, data=prepared.body if data is None else data, headers=headers, timeout=10)


# --- real clients -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"q": "hello world"},  # a space: '+' on the wire, %20 in the signature
        {"path": "a:b/c", "empty": "", "plus": "1+1", "pct": "50%", "tilde": "~x", "utf": "héllo"},
        {"b": "2", "a": "1", "A": "0"},
    ],
)
def test_botocore_sigv4auth_with_queries(stack, quickstart, params):
    request = AWSRequest(
        method="POST",
        url=f"{stack.url('orbit')}/dispatch",
        data=body(),
        params=params,
        headers={"Content-Type": "application/json"},
    )
    SigV4Auth(Credentials(quickstart.access_key_id, quickstart.secret_access_key), "execute-api", "us-east-1").add_auth(
        request
    )
    response = send(request)
    assert response.status_code == 200, response.text


def test_botocore_raw_url_query_with_reserved_characters(stack, quickstart):
    url = f"{stack.url('orbit')}/dispatch?redirect=http://x/y:z&list=a,b;c"
    response = send(sign_request("POST", url, body(), quickstart))
    assert response.status_code == 200, response.text


def test_requests_aws4auth_with_content_sha256_and_non_default_port(stack, quickstart):
    auth = AWS4Auth(quickstart.access_key_id, quickstart.secret_access_key, "us-east-1", "execute-api")
    url = f"{stack.url('orbit')}/dispatch?mode=test%20run&x=%2F"
    response = requests.post(url, data=body(), auth=auth, headers={"Content-Type": "application/json"}, timeout=10)
    assert response.status_code == 200, response.text
    assert "x-amz-content-sha256" in response.request.headers["Authorization"]
    # The Host header carries the non-default port, and it was signed with it.
    assert urlsplit(url).port not in (80, 443)


def test_requests_aws4auth_localhost_host(stack, quickstart):
    auth = AWS4Auth(quickstart.access_key_id, quickstart.secret_access_key, "us-east-1", "execute-api")
    url = f"http://localhost:{stack.ports['orbit']}/dispatch"
    response = requests.post(url, data=body(), auth=auth, timeout=10)
    assert response.status_code == 200, response.text


def _awscurl(*args: str, key: Credential) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            str(BIN / "awscurl"),
            "--region",
            "us-east-1",
            f"--access_key={key.access_key_id}",
            # joined with "=": a secret may begin with "-", which argparse would take for an option
            f"--secret_key={key.secret_access_key}",
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def test_awscurl_post(stack, quickstart):
    result = _awscurl(
        "--service",
        "execute-api",
        "-X",
        "POST",
        "-H",
        "Content-Type: application/json",
        "-d",
        body().decode(),
        f"{stack.url('orbit')}/dispatch",
        key=quickstart,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["status"] == "success"


def test_awscurl_get_with_orbit_key_on_axon_heartbeat(stack):
    # Axon's GET /reason accepts only Orbit's signature: sign it the way an operator's tool would.
    # (awscurl URL-encodes an already encoded query a second time, e.g. %20 as %2520, which AWS refuses too:
    # see docs/security.md. Plain query values are signed correctly.)
    orbit_key = read_secret_versions(aws.client("secretsmanager"), Names(stack.project).orbit_signing_key_secret)[0]
    result = _awscurl("--service", "axon", f"{stack.url('axon')}/reason?probe=1&alpha=x-y.z", key=orbit_key)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["message"] == "Axon heartbeat OK"


def test_botocore_with_session_token_is_accepted(stack, quickstart):
    # Our credentials have no session token; a client that sends (and signs) one is not harmed by it.
    response = send(sign_request("POST", f"{stack.url('orbit')}/dispatch", body(), quickstart, token="tok"))
    assert response.status_code == 200, response.text


def test_chunked_body(stack, quickstart):
    data = body()
    request = sign_request(
        "POST", f"{stack.url('orbit')}/dispatch", data, quickstart, headers={"Content-Type": "application/json"}
    )
    headers = {k: v for k, v in request.prepare().headers.items() if k.lower() != "content-length"}
    response = requests.post(request.url, data=iter([data[:10], data[10:]]), headers=headers, timeout=10)
    assert response.request.headers.get("Transfer-Encoding") == "chunked"
    assert response.status_code == 200, response.text


def test_content_length_with_chunked_is_refused_as_json(stack, quickstart):
    # Both framings at once is how request smuggling starts: gunicorn refuses it, and the answer is still JSON.
    data = body()
    request = sign_request("POST", f"{stack.url('orbit')}/dispatch", data, quickstart)
    headers = {**dict(request.prepare().headers), "Content-Length": str(len(data))}
    response = requests.post(request.url, data=iter([data]), headers=headers, timeout=10)
    assert response.status_code == 400
    assert response.headers["Content-Type"] == "application/json"
    assert response.json()["code"] == "VALIDATION_ERROR"


def test_expect_100_continue(stack, quickstart):
    data = body()
    request = sign_request("POST", f"{stack.url('orbit')}/dispatch", data, quickstart)
    headers = {**dict(request.prepare().headers), "Expect": "100-continue", "Content-Length": str(len(data))}
    connection = http.client.HTTPConnection("127.0.0.1", stack.ports["orbit"], timeout=10)
    try:
        connection.request("POST", "/dispatch", body=data, headers=headers)
        response = connection.getresponse()
        assert response.status == 200, response.read()
    finally:
        connection.close()


def test_forwarded_headers_are_not_trusted_for_signing(stack, quickstart):
    url = f"{stack.url('orbit')}/dispatch"
    # Unsigned X-Forwarded-* headers change nothing...
    ok = send(
        sign_request("POST", url, body(), quickstart),
        extra={"X-Forwarded-Host": "evil.example.com", "X-Forwarded-Proto": "https"},
    )
    assert ok.status_code == 200, ok.text
    # ...and a signature made for another host does not become valid through them.
    other = sign_request("POST", "http://evil.example.com/dispatch", body(), quickstart)
    headers = {**dict(other.prepare().headers), "X-Forwarded-Host": "evil.example.com"}
    refused = requests.post(url, data=other.body, headers=headers, timeout=10)
    assert refused.status_code == 401


# --- the battery of forgeries -----------------------------------------------------------------------------


def _forgeries(stack, key: Credential) -> dict[str, tuple[AWSRequest, bytes | None, dict[str, str]]]:
    url = f"{stack.url('orbit')}/dispatch"
    now = datetime.now(UTC)
    unknown = Credential("AKARNOTAKEY000000000", "nope", "mallory")

    def bad_signature(value: str) -> tuple[AWSRequest, None, dict[str, str]]:
        request = sign_request("POST", url, body(), key)
        auth = request.headers["Authorization"]
        return request, None, {"Authorization": auth[: auth.rindex("=") + 1] + value}

    return {
        "wrong region": (sign_request("POST", url, body(), key, region="eu-west-1"), None, {}),
        "signed for axon": (sign_request("POST", url, body(), key, service="axon"), None, {}),
        "311 s in the past": (sign_request("POST", url, body(), key, when=now - timedelta(seconds=311)), None, {}),
        "311 s in the future": (sign_request("POST", url, body(), key, when=now + timedelta(seconds=311)), None, {}),
        "scope date": (sign_request("POST", url, body(), key, scope_date="20200101"), None, {}),
        "host unsigned": (sign_request("POST", url, body(), key, unsigned=("host",)), None, {}),
        "x-amz header unsigned": (sign_request("POST", url, body(), key), None, {"X-Amz-Meta-Role": "admin"}),
        "content sha256 wrong": (
            sign_request("POST", url, body(), key, headers={"X-Amz-Content-SHA256": "0" * 64}),
            None,
            {},
        ),
        "unsigned payload": (
            sign_request("POST", url, body(), key, headers={"X-Amz-Content-SHA256": "UNSIGNED-PAYLOAD"}),
            None,
            {},
        ),
        "signature 63 hex": bad_signature("a" * 63),
        "signature uppercase": bad_signature("A" * 64),
        "signature not ascii": bad_signature("é" * 64),
        "unknown key": (sign_request("POST", url, body(), unknown), None, {}),
        "body tampered": (sign_request("POST", url, body(), key), b'{"intent": "call_reasoning"}', {}),
        "sigv4a": (sign_request("POST", url, body(), key), None, {"Authorization": "AWS4-ECDSA-P256-SHA256 x"}),
    }


def test_forged_requests_get_401_with_the_right_code(stack, quickstart):
    results = {}
    for name, (request, data, extra) in _forgeries(stack, quickstart).items():
        response = send(request, data, extra)
        results[name] = (response.status_code, response.json().get("code"))
    wrong = {name: r for name, r in results.items() if r != (401, "INVALID_SIGNATURE")}
    assert not wrong, wrong


def test_replayed_request_is_refused(stack, quickstart):
    request = sign_request("POST", f"{stack.url('orbit')}/dispatch", body(), quickstart)
    first = send(request)
    assert first.status_code == 200, first.text
    replay = send(request)
    assert replay.status_code == 401
    assert replay.json()["code"] == "INVALID_SIGNATURE"


def test_missing_and_presigned(stack):
    url = f"{stack.url('orbit')}/dispatch"
    missing = requests.post(url, data=body(), timeout=10)
    assert (missing.status_code, missing.json()["code"]) == (401, "MISSING_AUTHORIZATION")
    presigned = requests.post(
        url + "?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKID%2F20261129%2Fus-east-1%2Fexecute-api"
        "%2Faws4_request&X-Amz-Date=20261129T000000Z&X-Amz-SignedHeaders=host&X-Amz-Signature=" + "0" * 64,
        data=body(),
        timeout=10,
    )
    assert presigned.status_code == 401
    assert presigned.json()["code"] == "INVALID_SIGNATURE"
    assert "Presigned" in presigned.json()["error"]


def test_oversized_body_is_413_before_anything_else(stack, quickstart):
    data = json.dumps({"intent": "call_reasoning", "context": {"blob": "x" * 70_000}}).encode()
    response = send(sign_request("POST", f"{stack.url('orbit')}/dispatch", data, quickstart))
    assert response.status_code == 413
    assert response.json()["code"] == "PAYLOAD_TOO_LARGE"
