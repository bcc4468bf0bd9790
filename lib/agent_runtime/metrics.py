"""Prometheus metrics for the Flask services, correct under several gunicorn workers.

With PROMETHEUS_MULTIPROC_DIR set (gunicorn_conf sets and cleans it), every worker writes its samples to
that folder and GET /metrics aggregates them (prometheus_client's multiprocess mode); without it, the
process's own registry is served.
"""

from __future__ import annotations

import os
import threading
import time
from functools import cache

from flask import Blueprint, Flask, Response, g, request
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client import REGISTRY as DEFAULT_REGISTRY

# Latency buckets in seconds, dense where this service lives (1-50 ms).
LATENCY_BUCKETS = (
    0.001,
    0.0025,
    0.005,
    0.0075,
    0.01,
    0.015,
    0.025,
    0.05,
    0.075,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
)
_lock = threading.Lock()
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


@cache
def counter(name: str, documentation: str, labels: tuple[str, ...] = ()) -> Counter:
    """Metrics are process-wide singletons; create_app() may run more than once in a process (tests)."""
    with _lock:
        return Counter(name, documentation, labels)


@cache
def histogram(name: str, documentation: str, labels: tuple[str, ...] = ()) -> Histogram:
    with _lock:
        return Histogram(name, documentation, labels, buckets=LATENCY_BUCKETS)


@cache
def gauge(name: str, documentation: str, labels: tuple[str, ...] = (), mode: str = "livemax") -> Gauge:
    with _lock:
        return Gauge(name, documentation, labels, multiprocess_mode=mode)


def _render() -> bytes:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry)
    return generate_latest(DEFAULT_REGISTRY)


def init_metrics(app: Flask, prefix: str) -> None:
    """`<prefix>_requests_total{method,endpoint,status}`, `<prefix>_request_duration_seconds{endpoint}`, /metrics."""
    requests_total = counter(f"{prefix}_requests_total", "Total number of requests", ("method", "endpoint", "status"))
    duration = histogram(f"{prefix}_request_duration_seconds", "Request latency in seconds", ("endpoint",))

    @app.before_request
    def _start_timer() -> None:
        g.metrics_started = time.perf_counter()

    @app.after_request
    def _count(response: Response) -> Response:
        # Label by route template and known methods, not by what the client sent, so that nobody can grow the
        # label set (gunicorn accepts any method name).
        endpoint = request.url_rule.rule if request.url_rule is not None else "unmatched"
        method = request.method if request.method in _METHODS else "other"
        requests_total.labels(method, endpoint, str(response.status_code)).inc()
        started = g.get("metrics_started")
        if started is not None:
            duration.labels(endpoint).observe(time.perf_counter() - started)
        return response

    bp = Blueprint("metrics", __name__)

    @bp.get("/metrics")
    def metrics() -> Response:
        return Response(_render(), mimetype=CONTENT_TYPE_LATEST)

    app.register_blueprint(bp)
