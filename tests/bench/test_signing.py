"""The bench's lean signer: botocore's signatures, byte for byte, accepted by the services' verifier."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from agent_runtime.replay import make_replay_store
from agent_runtime.sigv4 import Credential, RawRequest, Signer, SigV4Verifier, StaticKeys
from bench.loadgen import RequestFactory, Target
from tests.signing import sign_request

KEY = Credential("AKARBENCHTEST0000001", "bench-test-secret-not-real-0123456789", "bench")
WHEN = datetime(2026, 11, 29, 12, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("method", "path", "body", "headers", "service"),
    [
        ("POST", "/dispatch", b'{"intent":"call_reasoning","context":{}}', {"Content-Type": "application/json"},
         "execute-api"),
        ("GET", "/reason", b"", {"X-Correlation-ID": "bench-1-2"}, "axon"),
        ("GET", "/", b"", {}, "execute-api"),
    ],
)  # fmt: skip
def test_same_signature_as_botocore(method, path, body, headers, service):
    host = "127.0.0.1:8080"
    ours = Signer(KEY.access_key_id, KEY.secret_access_key, service, "us-east-1").sign(
        method, host, path, body, headers, now=WHEN.timestamp()
    )
    theirs = sign_request(
        method, f"http://{host}{path}", body, KEY, service=service, when=WHEN, headers=headers
    ).headers
    assert ours["Authorization"] == theirs["Authorization"]
    assert ours["X-Amz-Date"] == theirs["X-Amz-Date"]


def test_the_signing_key_is_derived_once_per_day():
    signer = Signer(KEY.access_key_id, KEY.secret_access_key, "axon", "us-east-1")
    signer.sign("GET", "h:1", "/", b"", now=WHEN.timestamp())
    first = signer._keys
    signer.sign("GET", "h:1", "/", b"", now=WHEN.timestamp() + 60)
    assert signer._keys is first
    signer.sign("GET", "h:1", "/", b"", now=WHEN.timestamp() + 86400)
    assert list(signer._keys) == ["20261130"]


@pytest.mark.parametrize("kind", ["dispatch", "get"])
def test_every_generated_request_is_unique_and_verifies(kind):
    """A thousand requests built in the same second: all different signatures, none refused as a replay."""
    target = Target(
        "t",
        "127.0.0.1",
        8080,
        "POST" if kind == "dispatch" else "GET",
        "/dispatch" if kind == "dispatch" else "/reason",
        kind=kind,
        service="execute-api",
        access_key_id=KEY.access_key_id,
        secret_access_key=KEY.secret_access_key,
    )
    verifier = SigV4Verifier(
        service="execute-api",
        region="us-east-1",
        keys=StaticKeys([KEY]),
        replay_guard=make_replay_store("memory", table_name=""),
    )
    factory = RequestFactory(target, "w0-t0")
    signatures = set()
    for seq in range(1000):
        body, headers = factory.build(seq)
        lowered = {k.lower(): v for k, v in headers.items()}
        if body:
            lowered["content-length"] = str(len(body))
        verified = verifier.verify(RawRequest(target.method, target.path, "", lowered, body))
        assert verified.principal == "bench"
        signatures.add(verified.signature)
    assert len(signatures) == 1000
