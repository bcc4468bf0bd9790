"""What every Flask service here shares: correlation ids, JSON errors, request logs, the raw request for SigV4."""

from __future__ import annotations

import json
import logging
import math
import re
import sys
import time
import uuid
from typing import Any

from flask import Blueprint, Flask, Request, Response, g, jsonify, request
from gunicorn.http.errors import NoMoreData, ParseException
from werkzeug.exceptions import HTTPException

import agent_runtime
from agent_runtime import tracing
from agent_runtime.errors import (
    ERROR_CODES,
    ApiError,
    payload_too_large,
    service_unavailable,
    utc_timestamp,
    validation_error,
)
from agent_runtime.logs import correlation_id_var, escape_controls
from agent_runtime.sigv4 import RawRequest, SigV4Verifier, VerifiedRequest

log = logging.getLogger("agent_runtime.access")

CORRELATION_HEADER = "X-Correlation-ID"
_CORRELATION_ENVIRON = "HTTP_X_CORRELATION_ID"
_CORRELATION_RE = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
_READ_CHUNK = 64 * 1024
_HTTP_CODES = {
    400: "VALIDATION_ERROR",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    413: "PAYLOAD_TOO_LARGE",
    415: "UNSUPPORTED_MEDIA_TYPE",
    429: "RATE_LIMIT_EXCEEDED",
    503: "SERVICE_UNAVAILABLE",
}


def correlation_id() -> str:
    return g.get("correlation_id") or "unknown"


def log_fields(**fields: Any) -> None:
    """Fields for the request's one access-log line (the decision, the engine...): one line per request says
    what happened, instead of a line per step (each line costs a write)."""
    g.setdefault("log_fields", {}).update(fields)


def printable(text: str, limit: int = 512) -> str:
    """Request data made safe for a log message: control characters escaped (a newline or a terminal escape
    sequence in a path must not forge a log line), and bounded in length."""
    return escape_controls(text[:limit])


def read_body(limit: int) -> bytes:
    """The whole request body, or 413 when it does not end within `limit` bytes: with Content-Length, before
    reading anything; with chunked transfer encoding, as soon as the limit is passed (never a silent cut)."""
    declared = request.content_length
    if declared is not None and declared > limit:
        raise payload_too_large(limit)
    stream = request.environ["wsgi.input"]
    chunks: list[bytes] = []
    size = 0
    while True:
        try:
            chunk = stream.read(min(_READ_CHUNK, limit + 1 - size))
        except (ParseException, NoMoreData) as exc:
            # Bad chunk framing, or a body that ends early: gunicorn marks the body failed, so the connection
            # is closed after this answer (where the next request would start is unknown).
            raise validation_error(f"The request body is malformed: {type(exc).__name__}") from exc
        if not chunk:
            return b"".join(chunks)
        size += len(chunk)
        if size > limit:
            raise payload_too_large(limit)
        chunks.append(chunk)


def raw_request(body: bytes) -> RawRequest:
    """The request as the client signed it: the undecoded target from the server, headers by lowercase name."""
    environ = request.environ
    target = environ.get("RAW_URI") or environ.get("REQUEST_URI")
    if target:
        if "://" in target.split("?", 1)[0]:  # absolute-form request-target
            target = "/" + target.split("://", 1)[1].partition("/")[2]
        raw_path, _, raw_query = target.partition("?")
    else:  # a WSGI server that does not expose the raw target (Flask's test client)
        raw_path, raw_query = environ.get("PATH_INFO") or "/", environ.get("QUERY_STRING", "")
    headers: dict[str, str] = {}
    for key, value in environ.items():
        if key.startswith("HTTP_"):
            headers[key[5:].replace("_", "-").lower()] = value
        elif key in ("CONTENT_TYPE", "CONTENT_LENGTH") and value:
            headers[key.replace("_", "-").lower()] = value
    return RawRequest(environ.get("REQUEST_METHOD", "GET"), raw_path, raw_query, headers, body)


def authenticate(verifier: SigV4Verifier, body: bytes, refusals: Any, *, record: bool = True) -> VerifiedRequest:
    """Verify the request's signature: 401 with the contract's code, or 503 when the key or replay store cannot
    answer (fail closed: nothing is accepted without a check). `refusals` counts refusals by code. With
    `record=False`, the caller spends the signature later (spend())."""
    with tracing.span("sigv4.verify") as span:
        verified = _refusing(refusals, lambda: verifier.verify(raw_request(body), record=record))
        span.set_attribute("agent_runtime.principal", verified.principal)
        return verified


def spend(verifier: SigV4Verifier, verified: VerifiedRequest, refusals: Any) -> None:
    """Spend a signature verified with record=False: 401 when it was already used."""
    _refusing(refusals, lambda: verifier.record(verified))


def _refusing(refusals: Any, check: Any) -> Any:
    try:
        return check()
    except ApiError as exc:
        refusals.labels(exc.code).inc()
        log.info(
            "authentication refused",
            extra={"event": "auth_refused", "code": exc.code, "reason": getattr(exc, "reason", "")},
        )
        raise
    except Exception as exc:  # Secrets Manager or the replay store failed: no way to decide, so refuse
        refusals.labels("SERVICE_UNAVAILABLE").inc()
        log.exception("authentication could not be checked", extra={"event": "auth_unavailable"})
        raise service_unavailable("Authentication is unavailable; try again later") from exc


_LARGEST_DOUBLE = int(sys.float_info.max)


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"number {text[:32]} is out of range")
    return value


def _within_a_double(text: str) -> int:
    value = int(text)
    if abs(value) > _LARGEST_DOUBLE:  # a JSON reader in another language would read it as a double: infinity
        raise ValueError(f"number {text[:32]} is out of range")
    return value


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def json_object(body: bytes) -> dict[str, Any]:
    """The body as a JSON object, or a 400 that says what is wrong with it (never a 500). Strict JSON: NaN,
    Infinity and numbers beyond a double are refused (they would not survive the way on to Axon)."""
    try:
        data = json.loads(body or b"null", parse_float=_finite, parse_int=_within_a_double, parse_constant=_no_constant)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise validation_error("Request body is not valid JSON", "body", "invalid JSON") from None
    if not isinstance(data, dict):
        raise validation_error("Request body must be a JSON object", "body", "not an object")
    return data


def _error_response(error: ApiError) -> Response:
    response = jsonify(error.to_dict(correlation_id()))
    response.status_code = error.status_code
    for name, value in error.headers.items():
        response.headers[name] = value
    return response


def _health_blueprint(service: str) -> Blueprint:
    bp = Blueprint("health", __name__)

    @bp.get("/health")
    def health() -> Any:
        return {
            "status": "healthy",
            "service": service,
            "timestamp": utc_timestamp(),
            "version": agent_runtime.__version__,
        }

    return bp


_UNTRACED = frozenset({"/health", "/metrics"})  # probes and scrapes: no trace of their own
# The headers a client's trace context comes in, as the propagators ask for them, and their WSGI environ keys.
_PROPAGATION_HEADERS = (
    ("traceparent", "HTTP_TRACEPARENT"),
    ("tracestate", "HTTP_TRACESTATE"),
    ("X-Amzn-Trace-Id", "HTTP_X_AMZN_TRACE_ID"),
)


def _start_server_span(service: str, req: Request, state: Any) -> None:
    """The request's server span (`orbit POST /dispatch`), child of the context the client sent."""
    path = req.path
    if path in _UNTRACED:
        return
    rule = req.url_rule
    route = rule.rule if rule is not None else "<unmatched>"
    environ = req.environ
    parent = tracing.extract({name: environ[key] for name, key in _PROPAGATION_HEADERS if key in environ})
    method = req.method
    span = tracing.start_span(
        f"{service} {method} {route}",
        tracing.SERVER,
        {
            "http.request.method": method,
            "http.route": route,
            "url.scheme": req.scheme,
            "url.path": printable(path, 256),
            "client.address": req.remote_addr or "",
            "agent_runtime.correlation_id": state.correlation_id,
        },
        parent,
    )
    state.span = span
    state.span_token = tracing.activate(span, parent)


def _end_server_span(error: BaseException | None) -> None:
    state = g._get_current_object()
    span = state.pop("span", None)
    if span is None:
        return
    status = state.get("status_code")
    if status is not None:
        span.set_attribute("http.response.status_code", status)
    if error is not None or (status or 0) >= 500:
        span.set_status(tracing.Status(tracing.StatusCode.ERROR))
    span.end()
    tracing.detach(state.pop("span_token"))


def init_service(app: Flask, service: str) -> None:
    """Correlation ids in and out, a server span per request (its trace id in the response's `traceparent`), JSON
    for every error, one access-log line per request, GET /health."""
    app.url_map.strict_slashes = False
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.register_blueprint(_health_blueprint(service))

    # The hooks run on every request: they look the request and `g` up once (each use of Flask's proxies is a
    # context lookup) and read headers from the WSGI environ.
    @app.before_request
    def _start() -> None:
        req, state = request._get_current_object(), g._get_current_object()  # type: ignore[attr-defined]
        incoming = req.environ.get(_CORRELATION_ENVIRON, "")
        state.correlation_id = incoming if _CORRELATION_RE.match(incoming) else str(uuid.uuid4())
        state.started = time.perf_counter()
        correlation_id_var.set(state.correlation_id)
        _start_server_span(service, req, state)

    @app.teardown_request
    def _teardown(error: BaseException | None) -> None:
        _end_server_span(error)

    @app.after_request
    def _finish(response: Response) -> Response:
        req, state = request._get_current_object(), g._get_current_object()  # type: ignore[attr-defined]
        headers = response.headers
        headers[CORRELATION_HEADER] = correlation_id()
        status = state.status_code = response.status_code
        span = state.get("span")
        if span is not None:
            parent = tracing.traceparent(span)
            if parent:
                headers["traceparent"] = parent
        headers.setdefault("Cache-Control", "no-store")
        headers.setdefault("X-Content-Type-Options", "nosniff")
        started = state.get("started")
        if started is not None and req.path != "/health":
            path, method = printable(req.path), printable(req.method, 16)
            log.info(
                "%s %s %s",
                method,
                path,
                status,
                extra={
                    "event": "request",
                    "method": method,
                    "path": path,
                    "status": status,
                    "duration_ms": round((time.perf_counter() - started) * 1000, 2),
                    **state.get("log_fields", {}),
                },
            )
        return response

    @app.errorhandler(ApiError)
    def _api_error(error: ApiError) -> Response:
        return _error_response(error)

    @app.errorhandler(HTTPException)
    def _http_error(error: HTTPException) -> Response:
        status = error.code or 500
        code = _HTTP_CODES.get(status, "INTERNAL_ERROR" if status >= 500 else "VALIDATION_ERROR")
        status = ERROR_CODES[code]
        message = {
            404: "No such endpoint",
            405: f"Method {request.method} is not allowed here",
            413: "Request body is too large",
        }.get(error.code or 0, error.description or "Request could not be processed")
        api_error = ApiError(status, code, message)
        response = _error_response(api_error)
        for name, value in error.get_headers():
            if name.lower() == "allow":
                response.headers["Allow"] = value
        return response

    @app.errorhandler(Exception)
    def _unexpected(error: Exception) -> Response:
        log.exception("unhandled error", extra={"event": "unhandled_error"})
        return _error_response(ApiError(500, "INTERNAL_ERROR", "Internal error"))
