"""The error contract shared by the services: JSON for every error, never a stack trace, correlation ids."""

from __future__ import annotations

import pytest
from flask import Flask

from agent_runtime.errors import ApiError
from agent_runtime.metrics import init_metrics
from agent_runtime.web import init_service, json_object


@pytest.fixture
def client():
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = 100
    init_service(app, "test")
    init_metrics(app, "webtest")

    @app.post("/echo")
    def echo():
        from flask import request

        return {"size": len(request.get_data())}

    @app.get("/boom")
    def boom():
        raise RuntimeError("secret internals")

    @app.get("/refuse")
    def refuse():
        raise ApiError(429, "RATE_LIMIT_EXCEEDED", "slow down", headers={"Retry-After": "7"}, details={"a": 1})

    return app.test_client()


def _is_error(response, status: int, code: str) -> dict:
    assert response.status_code == status
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert body["code"] == code
    assert body["correlation_id"] == response.headers["X-Correlation-ID"]
    assert body["timestamp"].endswith("Z")
    return body


def test_not_found_and_method_not_allowed_are_json(client):
    _is_error(client.get("/nowhere"), 404, "NOT_FOUND")
    response = client.get("/echo")
    _is_error(response, 405, "METHOD_NOT_ALLOWED")
    assert "POST" in response.headers["Allow"]


def test_unexpected_errors_never_leak(client):
    body = _is_error(client.get("/boom"), 500, "INTERNAL_ERROR")
    assert "secret internals" not in str(body)
    assert "Traceback" not in str(body)


def test_api_errors_carry_headers_and_details(client):
    response = client.get("/refuse")
    body = _is_error(response, 429, "RATE_LIMIT_EXCEEDED")
    assert response.headers["Retry-After"] == "7"
    assert body["details"] == {"a": 1}


def test_oversized_body_is_413_json(client):
    _is_error(client.post("/echo", data=b"x" * 101), 413, "PAYLOAD_TOO_LARGE")
    assert client.post("/echo", data=b"x" * 100).get_json() == {"size": 100}


@pytest.mark.parametrize(
    ("sent", "kept"), [("abc-123_x.y:z", True), ("bad id", False), ("x" * 129, False), ("<script>", False), ("", False)]
)
def test_correlation_ids_are_echoed_only_when_safe(client, sent, kept):
    response = client.get("/health", headers={"X-Correlation-ID": sent} if sent else {})
    assert (response.headers["X-Correlation-ID"] == sent) is kept
    assert len(response.headers["X-Correlation-ID"]) <= 128


def test_error_codes_are_bound_to_their_status():
    with pytest.raises(ValueError, match="does not go with"):
        ApiError(400, "INVALID_SIGNATURE", "no")


def test_health_shape(client):
    body = client.get("/health").get_json()
    assert set(body) == {"status", "service", "timestamp", "version"}
    assert (body["status"], body["service"]) == ("healthy", "test")


def test_made_up_methods_do_not_grow_the_metric_labels(client):
    for method in ("FOOBAR", "BAZQUX", "GET"):
        client.open("/health", method=method)
    text = client.get("/metrics").get_data(as_text=True)
    assert "FOOBAR" not in text
    assert "BAZQUX" not in text
    assert 'method="other"' in text


@pytest.mark.parametrize(
    "body",
    [
        b"[" * 100_000,
        b'{"a":' * 50_000,
        b"\xff",
        b"[1, 2]",
        b"null",
        b'{"n": NaN}',
        b'{"n": 1e400}',
        b'{"n": ' + b"9" * 400 + b"}",  # an integer beyond a double: infinity to a reader in another language
        b'{"n": -' + b"9" * 400 + b"}",
    ],
)
def test_bodies_that_are_not_json_objects_are_400(body):
    with pytest.raises(ApiError) as raised:
        json_object(body)
    assert (raised.value.status_code, raised.value.code) == (400, "VALIDATION_ERROR")


def test_large_numbers_within_a_double_are_kept_exactly():
    assert json_object(b'{"n": 18446744073709551616, "m": -9007199254740993}') == {
        "n": 18446744073709551616,
        "m": -9007199254740993,
    }


@pytest.mark.parametrize(
    "headers",
    [
        {"TraceParent": "00-" + "ab" * 16 + "-" + "cd" * 8 + "-01", "TRACESTATE": "vendor=v1,other=o2"},
        {"x-amzn-trace-id": "Root=1-" + "ab" * 4 + "-" + "ab" * 12 + ";Parent=" + "cd" * 8 + ";Sampled=1"},
    ],
)
def test_a_request_continues_the_trace_its_headers_carry_whatever_their_case(tmp_path, monkeypatch, headers):
    """The server span's parent is read from the WSGI environ: any spelling of the header names counts, and
    tracestate travels on to what the service calls next."""
    from agent_runtime import tracing

    monkeypatch.setenv(tracing.TRACE_DIR_ENV, str(tmp_path))
    monkeypatch.delenv("OTEL_SDK_DISABLED", raising=False)
    tracing.configure_tracing("webtest")
    try:
        app = Flask(__name__)
        init_service(app, "webtest")

        @app.get("/onward")
        def onward():
            return tracing.inject({})

        response = app.test_client().get("/onward", headers=headers)
    finally:
        monkeypatch.setenv("OTEL_SDK_DISABLED", "true")
        tracing.configure_tracing("webtest")
    onward_headers = response.get_json()
    assert onward_headers["traceparent"].split("-")[1] == "ab" * 16
    assert response.headers["traceparent"].split("-")[1] == "ab" * 16
    if "TRACESTATE" in headers:
        assert onward_headers["tracestate"] == "vendor=v1,other=o2"
