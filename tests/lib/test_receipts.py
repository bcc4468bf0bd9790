"""Signed decision receipts: only Governance's allow, for this very request, once, before it expires."""

from __future__ import annotations

import pytest

from agent_runtime import receipts
from agent_runtime.replay import MemoryReplayStore

PRIVATE_PEM, PUBLIC_PEM = receipts.generate_key_pair()
PRIVATE = receipts.load_private_key(PRIVATE_PEM)
PUBLIC = receipts.load_public_key(PUBLIC_PEM)
NOW = 1_800_000_000.0
DIGEST = receipts.request_digest("call_reasoning", {"user_id": "u1"})


def issue(**overrides) -> str:
    options = {
        "decision_id": "d-1",
        "principal": "alice",
        "intent": "call_reasoning",
        "digest": DIGEST,
        "policy_set_version": 3,
        "now": NOW,
        "ttl_seconds": 30,
    }
    options.update(overrides)
    return receipts.issue(PRIVATE, **options)


def check(token: str, *, keys=None, guard=None, now=NOW + 1, principal="alice", intent="call_reasoning", digest=DIGEST):
    return receipts.verify(
        token,
        keys or [PUBLIC],
        principal=principal,
        intent=intent,
        digest=digest,
        replay_guard=guard if guard is not None else MemoryReplayStore(),
        clock=lambda: now,
    )


def test_a_fresh_receipt_verifies():
    receipt = check(issue())
    assert (receipt.decision_id, receipt.principal, receipt.policy_set_version) == ("d-1", "alice", 3)


def test_digest_is_canonical():
    assert receipts.request_digest("i", {"b": 1, "a": [1, 2]}) == receipts.request_digest("i", {"a": [1, 2], "b": 1})
    assert receipts.request_digest("i", {"a": 1}) != receipts.request_digest("i", {"a": 2})


@pytest.mark.parametrize(
    ("why", "token", "kwargs"),
    [
        (
            "forged",
            receipts.issue(
                receipts.load_private_key(receipts.generate_key_pair()[0]),
                decision_id="d",
                principal="alice",
                intent="call_reasoning",
                digest=DIGEST,
                policy_set_version=1,
                now=NOW,
            ),
            {},
        ),
        ("expired", issue(), {"now": NOW + 30 + 6}),
        ("from the future", issue(now=NOW + 60), {}),
        ("other principal", issue(), {"principal": "mallory"}),
        ("other intent", issue(), {"intent": "execute_tool"}),
        ("other body", issue(), {"digest": receipts.request_digest("call_reasoning", {"user_id": "u2"})}),
        ("empty", "", {}),
        ("garbage", "not.a-receipt", {}),
        ("three parts", "a.b.c", {}),
        ("not ascii", "é.é", {}),
        ("huge", "a" * 5000 + ".b", {}),
    ],
)
def test_refused(why, token, kwargs):
    with pytest.raises(receipts.ReceiptError):
        check(token, **kwargs)


def test_altered_claims_are_refused():
    body, signature = issue().split(".")
    other_body = issue(principal="mallory").split(".")[0]
    with pytest.raises(receipts.ReceiptError, match="not Governance's"):
        check(f"{other_body}.{signature}", principal="mallory")
    assert body != other_body


def test_a_receipt_is_spent_once():
    guard = MemoryReplayStore(clock=lambda: NOW - 10)
    token = issue()
    check(token, guard=guard)
    with pytest.raises(receipts.ReceiptError, match="already used"):
        check(token, guard=guard)


def test_previous_public_key_still_verifies_during_rotation():
    new_private, new_public = receipts.generate_key_pair()
    old_token = issue()
    keys = [receipts.load_public_key(new_public), PUBLIC]
    assert check(old_token, keys=keys).decision_id == "d-1"
    assert receipts.public_pem_of(new_private) == new_public


@pytest.mark.parametrize(
    "tamper",
    [
        lambda sig: sig[:10] + "!" + sig[10:],  # junk the lenient decoder would skip
        lambda sig: sig + "==",  # padding
        lambda sig: sig[:10] + " " + sig[10:],
        lambda sig: sig[:-1] + {"A": "B", "Q": "R", "g": "h", "w": "x"}.get(sig[-1], sig[-1]),  # unused bits set
    ],
)
def test_a_signature_part_that_is_not_strict_base64url_is_refused(tamper):
    body, signature = issue().split(".")
    tampered = f"{body}.{tamper(signature)}"
    assert tampered != f"{body}.{signature}"
    with pytest.raises(receipts.ReceiptError, match="malformed"):
        check(tampered)


def test_a_verifier_caps_the_lifetime_whatever_the_token_says():
    long_lived = issue(ttl_seconds=3600)
    assert check(long_lived, now=NOW + 30).decision_id == "d-1"
    with pytest.raises(receipts.ReceiptError, match="expired"):
        check(long_lived, now=NOW + receipts.DEFAULT_MAX_LIFETIME_SECONDS + 6)


def test_a_receipt_issued_before_a_forgetful_guard_started_is_refused():
    guard = MemoryReplayStore(clock=lambda: NOW + 2)  # Axon restarted after the receipt was issued
    with pytest.raises(receipts.ReceiptError, match="before this server started"):
        check(issue(), guard=guard, now=NOW + 3)
    with pytest.raises(receipts.ReceiptError, match="before this server started"):  # the second it started in
        check(issue(now=NOW + 2, decision_id="d-2"), guard=guard, now=NOW + 3)
    assert check(issue(now=NOW + 3, decision_id="d-3"), guard=guard, now=NOW + 3).decision_id == "d-3"


def test_no_receipt_is_accepted_a_second_past_its_expiry_or_the_lifetime_cap():
    assert check(issue(ttl_seconds=30), now=NOW + 30).decision_id == "d-1"
    with pytest.raises(receipts.ReceiptError, match="expired"):
        check(issue(ttl_seconds=30), now=NOW + 31)
    long_lived = issue(ttl_seconds=3600)  # a signing key misused to issue long-lived receipts
    assert check(long_lived, now=NOW + receipts.DEFAULT_MAX_LIFETIME_SECONDS).decision_id == "d-1"
    with pytest.raises(receipts.ReceiptError, match="expired"):
        check(long_lived, now=NOW + receipts.DEFAULT_MAX_LIFETIME_SECONDS + 1)
    assert check(issue(now=NOW + 4), now=NOW).decision_id == "d-1"  # the leeway is for clocks apart, at issue only


def test_nothing_of_a_token_is_parsed_before_its_signature_is_governances():
    body = receipts._b64(b"[" * 3000)  # JSON nested deeper than the parser can go
    with pytest.raises(receipts.ReceiptError, match="not Governance's"):
        check(f"{body}.{receipts._b64(b'x' * 64)}")
