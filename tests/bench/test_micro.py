"""The bench's in-process micro-benchmarks run (a few calls each): `make bench` is not part of `make test`, so a
change to what they measure (such as when a replay store starts judging) must break here, not in the next bench."""

from __future__ import annotations

from pathlib import Path

from bench import micro

SCHEMA = Path(__file__).resolve().parents[2] / "governance" / "policies" / "schema.cedarschema"


def test_sigv4_verification_runs():
    result = micro.sigv4_verify(20)
    assert result["body_bytes"] == 1024
    assert result["us"]["cpu"]["count"] == 20
    assert result["us"]["cpu"]["p50"] > 0


def test_the_signature_work_of_a_dispatch_runs():
    result = micro.dispatch_signatures(20)
    assert "axon_verify_receipt_us" in result
    assert all(entry["cpu"]["count"] == 20 for entry in result.values())


def test_cedar_evaluation_runs_without_the_limiter():
    result = micro.governance_decision(SCHEMA.read_text(encoding="utf-8"), sizes=(10,), evaluations=20)
    assert result["10"]["mix"]["evaluate_us"]["cpu"]["count"] == 20
    assert result["10"]["unsliced"]["policies_in_slice"] == 10
