"""bench.compare: the medians each side reports."""

from __future__ import annotations

import pytest

from bench import compare


def _run(orbit: float, rate: float) -> dict:
    return {"throughput_rps": rate, "cpu_ms_per_request": {"orbit": orbit, "axon": 1.0, "governance": 3.0,
                                                           "emulator": 9.0}}  # fmt: skip


def test_each_process_and_the_throughput_have_their_median():
    figures = compare.medians([_run(2.0, 50.0), _run(9.0, 70.0), _run(2.5, 60.0)])
    assert figures == {"orbit": 2.5, "axon": 1.0, "governance": 3.0, "emulator": 9.0, "throughput_rps": 60.0}


def test_a_reference_that_does_not_exist_fails_with_one_line(capsys: pytest.CaptureFixture[str]):
    assert compare.main(["no-such-ref-0123"]) == 1
    assert "failed:" in capsys.readouterr().err
