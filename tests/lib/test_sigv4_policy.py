"""The verifier's rules (docs/security.md, "Authentication"): every forgery refused with 401, never a crash."""

from __future__ import annotations

import hashlib
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from agent_runtime.replay import MemoryReplayStore
from agent_runtime.sigv4 import Credential, SignatureError, SigV4Verifier, StaticKeys, parse_authorization
from tests.signing import sign_request, to_raw

KEY = Credential("AKARTESTKEY000000001", "s3cr3t-value-for-tests-only", "alice")
URL = "https://orbit.example.com/dispatch"
BODY = b'{"intent": "call_reasoning", "context": {"user_id": "u1"}}'
NOW = datetime(2026, 11, 29, 12, 0, 0, tzinfo=UTC)


def verifier(**kwargs) -> SigV4Verifier:
    options = {
        "service": "execute-api",
        "region": "us-east-1",
        "keys": StaticKeys([KEY]),
        "replay_guard": MemoryReplayStore(clock=lambda: NOW.timestamp() - 3600),  # started an hour ago
        "clock": lambda: NOW.timestamp(),
    }
    options.update(kwargs)
    return SigV4Verifier(**options)


def signed(**kwargs):
    options = {"when": NOW, "headers": {"Content-Type": "application/json"}}
    options.update(kwargs)
    return to_raw(sign_request("POST", URL, BODY, KEY, **options))


def refused(request, v=None, code="INVALID_SIGNATURE") -> str:
    with pytest.raises(SignatureError) as raised:
        (v or verifier()).verify(request)
    assert raised.value.status_code == 401
    assert raised.value.code == code
    return raised.value.reason


def test_a_genuine_request_is_accepted():
    verified = verifier().verify(signed())
    assert verified.principal == "alice"
    assert verified.credential.access_key_id == KEY.access_key_id


def test_missing_authorization():
    request = signed()
    headers = {k: v for k, v in request.headers.items() if k != "authorization"}
    refused(replace(request, headers=headers), code="MISSING_AUTHORIZATION")


def test_presigned_query_authentication_is_refused_clearly():
    request = signed()
    headers = {k: v for k, v in request.headers.items() if k != "authorization"}
    query = "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKID%2F20261129%2Fus-east-1%2Fexecute-api%2Faws4_request"
    with pytest.raises(SignatureError) as raised:
        verifier().verify(replace(request, headers=headers, raw_query=query + "&X-Amz-Signature=" + "0" * 64))
    assert raised.value.code == "INVALID_SIGNATURE"
    assert "Presigned" in raised.value.message


@pytest.mark.parametrize(
    ("region", "service", "reason"),
    [
        ("eu-west-1", "execute-api", "credential scope region eu-west-1, expected us-east-1"),
        ("us-east-1", "axon", "credential scope service axon, expected execute-api"),
    ],
)
def test_wrong_region_or_service(region, service, reason):
    assert refused(signed(region=region, service=service)) == reason


def test_scope_date_not_the_timestamp_date():
    assert refused(signed(scope_date="20261128")) == "credential scope date 20261128 differs from x-amz-date 20261129"


@pytest.mark.parametrize("seconds", [300, -300])
def test_exactly_at_the_edge_of_the_window_is_accepted(seconds):
    assert verifier().verify(signed(when=NOW + timedelta(seconds=seconds))).principal == "alice"


@pytest.mark.parametrize(("seconds", "side"), [(412, "after"), (-301, "before")])
def test_past_the_window_is_refused_with_the_skew(seconds, side):
    reason = refused(signed(when=NOW + timedelta(seconds=seconds)))
    assert reason == f"x-amz-date is {abs(seconds)} s {side} server time (window 300 s)"


def test_configurable_window():
    v = verifier(max_skew_seconds=60)
    assert v.verify(signed(when=NOW - timedelta(seconds=60)))
    refused(signed(when=NOW - timedelta(seconds=61)), v)


@pytest.mark.parametrize("value", ["20261129T120000", "2026-11-29T12:00:00Z", "20261329T120000Z", "x" * 16])
def test_malformed_timestamps(value):
    request = signed()
    refused(replace(request, headers={**request.headers, "x-amz-date": value}))


def test_unsigned_host_is_refused():
    assert refused(signed(unsigned=("host",))) == "signed headers must include host"


def test_unsigned_x_amz_header_is_refused():
    request = signed()
    reason = refused(replace(request, headers={**request.headers, "x-amz-meta-role": "admin"}))
    assert reason == "header x-amz-meta-role is present but not signed"


def test_an_unsigned_security_token_is_refused():
    request = signed()
    reason = refused(replace(request, headers={**request.headers, "x-amz-security-token": "stolen"}))
    assert reason == "header x-amz-security-token is present but not signed"


def test_unsigned_content_sha256_of_the_body_received_is_accepted():
    """aws-requests-auth sends x-amz-content-sha256 without signing it; AWS accepts that, so do we."""
    request = signed()
    actual = hashlib.sha256(BODY).hexdigest()
    assert verifier().verify(replace(request, headers={**request.headers, "x-amz-content-sha256": actual}))


@pytest.mark.parametrize("value", [hashlib.sha256(b"other").hexdigest(), "UNSIGNED-PAYLOAD", "x"])
def test_unsigned_content_sha256_that_is_not_the_body_hash_is_refused(value):
    request = signed()
    refused(replace(request, headers={**request.headers, "x-amz-content-sha256": value}))


def test_signed_header_missing_from_the_request():
    request = signed()
    headers = {k: v for k, v in request.headers.items() if k != "content-type"}
    assert "missing" in refused(replace(request, headers=headers))


def test_content_sha256_must_match_the_body():
    wrong = hashlib.sha256(b"something else").hexdigest()
    request = signed(headers={"Content-Type": "application/json", "X-Amz-Content-SHA256": wrong})
    assert refused(request) == "x-amz-content-sha256 is not the SHA-256 of the body received"


def test_content_sha256_matching_the_body_is_accepted():
    request = signed(headers={"X-Amz-Content-SHA256": hashlib.sha256(BODY).hexdigest()})
    assert verifier().verify(request).principal == "alice"


@pytest.mark.parametrize("mode", ["UNSIGNED-PAYLOAD", "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"])
def test_unsigned_and_streaming_payloads_are_refused(mode):
    assert "not accepted" in refused(signed(headers={"X-Amz-Content-SHA256": mode}))


def test_body_changed():
    request = signed()
    refused(replace(request, body=BODY.replace(b"u1", b"u2")))


@pytest.mark.parametrize(
    "signature",
    ["0" * 63, "0" * 65, "G" * 64, "A" * 64, "é" * 64, "0" * 63 + "\u0660", "", "0" * 64 + " "],
)
def test_malformed_signatures_are_401_not_500(signature):
    request = signed()
    auth = request.headers["authorization"]
    forged = auth[: auth.rindex("Signature=") + len("Signature=")] + signature
    refused(replace(request, headers={**request.headers, "authorization": forged}))


@pytest.mark.parametrize(
    "mutate",
    [
        lambda a: a.replace("AWS4-HMAC-SHA256", "AWS4-ECDSA-P256-SHA256"),  # SigV4a
        lambda a: a.replace("AWS4-HMAC-SHA256", "AWS4-HMAC-SHA1"),
        lambda a: a.replace("Credential=", "Credentials="),
        lambda a: a + ", Signature=" + "0" * 64,  # duplicated field
        lambda a: a.split(", Signature=")[0],  # missing field
        lambda a: a.replace("/aws4_request", "/aws4_request/extra"),  # 6 scope parts
        lambda a: a.replace("/execute-api/aws4_request", "/aws4_request"),  # 4 scope parts
        lambda a: a.replace("aws4_request", "aws5_request"),  # terminator
        lambda a: a.replace("SignedHeaders=content-type;host", "SignedHeaders=host;content-type"),  # unsorted
        lambda a: a.replace("SignedHeaders=content-type", "SignedHeaders=Content-Type"),  # not lowercase
        lambda a: a.replace("SignedHeaders=", "SignedHeaders=;"),
        lambda a: "garbage",
        lambda a: "",
        lambda a: "AWS4-HMAC-SHA256",
        lambda a: a.replace(",", ",,"),
    ],
)
def test_malformed_authorization_headers_are_401_not_500(mutate):
    request = signed()
    refused(replace(request, headers={**request.headers, "authorization": mutate(request.headers["authorization"])}))


def test_parse_accepts_spaces_or_none_after_commas():
    request = signed()
    auth = request.headers["authorization"]
    assert parse_authorization(auth.replace(", ", ","))
    assert parse_authorization(auth.replace(", ", " ,  "))


def test_unknown_access_key():
    other = Credential("AKARUNKNOWN000000000", "whatever", "mallory")
    assert refused(to_raw(sign_request("POST", URL, BODY, other, when=NOW))) == "unknown access key id"


def test_a_mismatch_shows_what_the_server_computed_and_no_secret():
    wrong_secret = Credential(KEY.access_key_id, "not-the-secret", "alice")
    request = to_raw(sign_request("POST", URL, BODY, wrong_secret, when=NOW, headers={"Content-Type": "a/b"}))
    with pytest.raises(SignatureError) as raised:
        verifier().verify(request)
    details = raised.value.details
    assert details["reason"] == "signature does not match: check the secret key and the canonical request"
    lines = details["canonical_request"].split("\n")
    assert lines[:3] == ["POST", "/dispatch", ""]
    assert lines[-1] == hashlib.sha256(BODY).hexdigest()
    assert details["string_to_sign"].split("\n")[:3] == [
        "AWS4-HMAC-SHA256",
        "20261129T120000Z",
        "20261129/us-east-1/execute-api/aws4_request",
    ]
    body = str(raised.value.to_dict("c"))
    assert KEY.secret_access_key not in body
    assert request.headers["authorization"].rsplit("=", 1)[1] not in body  # nor the signature presented


@pytest.mark.parametrize(
    ("mutate", "reason"),
    [
        (lambda a: a.replace("AWS4-HMAC-SHA256", "AWS4-ECDSA-P256-SHA256"), "is not supported, expected"),
        (lambda a: a.split(", Signature=")[0], "lacks Signature"),
        (lambda a: a + ", Signature=" + "0" * 64, "repeats Signature"),
        (lambda a: a.replace("/aws4_request", "/aws4_request/x"), "(5 parts)"),
        (lambda a: a.replace("aws4_request", "aws5_request"), "terminator 'aws5_request', expected aws4_request"),
        (lambda a: a.replace("SignedHeaders=content-type;host", "SignedHeaders=host;content-type"), "sorted"),
        (lambda a: a[: a.rindex("=") + 1] + "0" * 63, "64 lowercase hex characters"),
    ],
)
def test_each_malformed_authorization_says_why(mutate, reason):
    request = signed()
    headers = {**request.headers, "authorization": mutate(request.headers["authorization"])}
    assert reason in refused(replace(request, headers=headers))


def test_a_missing_signed_header_is_named():
    request = signed()
    headers = {k: v for k, v in request.headers.items() if k != "content-type"}
    assert refused(replace(request, headers=headers)) == "signed header content-type is missing from the request"


def test_replay_is_refused_and_recorded_only_after_success():
    v = verifier()
    request = signed()
    tampered = replace(request, body=b"{}")
    refused(tampered, v)  # a failed attempt with the same signature is not recorded...
    assert v.verify(request).principal == "alice"  # ...so the genuine request still goes through once
    assert refused(request, v) == "this signature was already used: sign every request anew"


def test_replay_record_expires_after_the_window():
    clock = {"now": NOW.timestamp()}
    store = MemoryReplayStore(clock=lambda: clock["now"])
    assert store.first_use("k", NOW.timestamp() + 301)
    assert not store.first_use("k", NOW.timestamp() + 301)
    clock["now"] += 302
    assert store.first_use("k", clock["now"] + 301)
    assert len(store) == 1


def test_session_token_signed_is_accepted_and_ignored():
    request = to_raw(sign_request("POST", URL, BODY, KEY, when=NOW, token="session-token"))
    assert "x-amz-security-token" in request.headers
    assert verifier().verify(request).principal == "alice"


def test_previous_key_version_accepted_and_retired_refused():
    previous = Credential(KEY.access_key_id, "the-previous-secret", "alice", "AWSPREVIOUS")
    retired = Credential(KEY.access_key_id, "the-retired-secret", "alice", "AWSPREVIOUS")
    v = verifier(keys=StaticKeys([KEY, previous]))
    assert v.verify(to_raw(sign_request("POST", URL, BODY, previous, when=NOW))).credential.stage == "AWSPREVIOUS"
    refused(to_raw(sign_request("POST", URL, BODY, retired, when=NOW)), v)
