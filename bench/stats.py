"""Percentiles and latency summaries, without numpy (the lock does not carry it)."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any


def percentile(values: Sequence[float], q: float, *, presorted: bool = False) -> float:
    """The q-th percentile (0 <= q <= 100) with linear interpolation between closest ranks.

    The same definition as numpy's default ("linear", Hyndman & Fan type 7): rank = q/100 * (n - 1).
    """
    if not values:
        raise ValueError("percentile of an empty sequence")
    if not 0 <= q <= 100:
        raise ValueError(f"q must be between 0 and 100, not {q}")
    data = values if presorted else sorted(values)
    rank = q / 100 * (len(data) - 1)
    low = math.floor(rank)
    high = math.ceil(rank)
    if low == high:
        return float(data[low])
    return float(data[low] + (data[high] - data[low]) * (rank - low))


def summarize(samples_seconds: Iterable[float], scale: float = 1000.0, digits: int = 2) -> dict[str, Any]:
    """count, mean and p50/p95/p99/max of samples given in seconds, reported in ms (scale 1000) or µs (1e6)."""
    data = sorted(samples_seconds)
    if not data:
        return {"count": 0, "mean": None, "p50": None, "p95": None, "p99": None, "max": None}

    def r(value: float) -> float:
        return round(value * scale, digits)

    return {
        "count": len(data),
        "mean": r(sum(data) / len(data)),
        "p50": r(percentile(data, 50, presorted=True)),
        "p95": r(percentile(data, 95, presorted=True)),
        "p99": r(percentile(data, 99, presorted=True)),
        "max": r(data[-1]),
    }


def growth(start: float, end: float) -> float:
    """Relative growth from start to end (0.1 is +10 %)."""
    if start <= 0:
        raise ValueError("growth from a non-positive start")
    return (end - start) / start
