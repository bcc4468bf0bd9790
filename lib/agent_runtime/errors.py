"""The error contract (docs/api.md, "Errors"): every error is JSON with a code, never an HTML page or a traceback."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

# code -> HTTP status; the codes clients rely on (docs/api.md, the OpenAPI documents).
ERROR_CODES: dict[str, int] = {
    "VALIDATION_ERROR": 400,
    "MISSING_AUTHORIZATION": 401,
    "INVALID_SIGNATURE": 401,
    "GOVERNANCE_DENIED": 403,
    "NOT_FOUND": 404,
    "METHOD_NOT_ALLOWED": 405,
    "PAYLOAD_TOO_LARGE": 413,
    "UNSUPPORTED_MEDIA_TYPE": 415,
    "RATE_LIMIT_EXCEEDED": 429,
    "INTERNAL_ERROR": 500,
    "SERVICE_UNAVAILABLE": 503,
}


def utc_timestamp() -> str:
    """ISO 8601 in UTC with a Z, millisecond precision: the timestamp format of every response."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class ApiError(Exception):
    """An error answered to a client: HTTP status, a stable code, a message safe to show."""

    def __init__(
        self,
        status_code: int,
        code: str,
        message: str,
        *,
        details: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        if ERROR_CODES.get(code) != status_code:
            raise ValueError(f"error code {code} does not go with HTTP {status_code}")
        self.status_code = status_code
        self.code = code
        self.message = message
        self.details = details
        self.headers = headers or {}
        self.extra = extra or {}

    def to_dict(self, correlation_id: str) -> dict[str, Any]:
        body: dict[str, Any] = {
            "error": self.message,
            "code": self.code,
            "correlation_id": correlation_id,
            "timestamp": utc_timestamp(),
        }
        if self.details:
            body["details"] = self.details
        body.update(self.extra)
        return body


def validation_error(message: str, field: str | None = None, issue: str | None = None) -> ApiError:
    details = {"field": field, "issue": issue or message} if field else None
    return ApiError(400, "VALIDATION_ERROR", message, details=details)


def service_unavailable(message: str, retry_after: int | None = None) -> ApiError:
    headers = {"Retry-After": str(retry_after)} if retry_after is not None else None
    return ApiError(503, "SERVICE_UNAVAILABLE", message, headers=headers)


def payload_too_large(limit: int) -> ApiError:
    return ApiError(413, "PAYLOAD_TOO_LARGE", f"Request body is larger than {limit} bytes")
