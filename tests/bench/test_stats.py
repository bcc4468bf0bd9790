"""The percentile and summary math of the bench."""

from __future__ import annotations

import pytest

from bench.stats import growth, percentile, summarize


@pytest.mark.parametrize(
    ("values", "q", "expected"),
    [
        ([1, 2, 3, 4], 50, 2.5),  # numpy.percentile([1, 2, 3, 4], 50) == 2.5
        ([1, 2, 3, 4], 0, 1.0),
        ([1, 2, 3, 4], 100, 4.0),
        ([10, 20, 30, 40, 50], 90, 46.0),  # rank 3.6 -> 40 + 0.6 * 10
        ([15, 20, 35, 40, 50], 40, 29.0),  # rank 1.6 -> 20 + 0.6 * 15
        ([7], 99, 7.0),
        ([3, 1, 2], 50, 2.0),  # unsorted input is sorted
    ],
)
def test_percentile_matches_the_linear_definition(values, q, expected):
    assert percentile(values, q) == pytest.approx(expected)


def test_percentile_of_1_to_100():
    values = list(range(1, 101))
    assert percentile(values, 50) == pytest.approx(50.5)
    assert percentile(values, 95) == pytest.approx(95.05)
    assert percentile(values, 99) == pytest.approx(99.01)


def test_percentile_refuses_nonsense():
    with pytest.raises(ValueError, match="empty"):
        percentile([], 50)
    with pytest.raises(ValueError, match="between 0 and 100"):
        percentile([1], 101)


def test_summarize_reports_milliseconds_and_microseconds():
    seconds = [0.001 * i for i in range(1, 101)]  # 1 .. 100 ms
    ms = summarize(seconds)
    assert ms == {"count": 100, "mean": 50.5, "p50": 50.5, "p95": 95.05, "p99": 99.01, "max": 100.0}
    assert summarize([0.000_050] * 10, scale=1e6, digits=1)["p99"] == 50.0


def test_summarize_of_nothing():
    assert summarize([]) == {"count": 0, "mean": None, "p50": None, "p95": None, "p99": None, "max": None}


def test_growth():
    assert growth(100, 110) == pytest.approx(0.10)
    assert growth(100, 95) == pytest.approx(-0.05)
    with pytest.raises(ValueError, match="non-positive"):
        growth(0, 1)
