"""One structured JSON log format for Orbit, Axon, the governance Lambda and the local tools.

Each line: timestamp, level, service, correlation_id, trace_id and span_id (the span the line was written in,
so that logs and traces join), event, message and the event's fields. Hand-written
(about forty lines) rather than python-json-logger because the two things we need, a per-request
correlation id from a contextvar and the redaction of secret-bearing fields, are most of the code either way.
"""

from __future__ import annotations

import contextvars
import json
import logging
import os
import re
import sys
from datetime import UTC, datetime
from typing import Any

from agent_runtime import tracing

# C0 and C1 controls (a newline, a terminal escape sequence) and the Unicode line separators.
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def escape_controls(text: str) -> str:
    """Control characters as visible `\\xNN`: untrusted text in a log line, or a log line shown on a terminal,
    can then neither forge another line nor drive the terminal."""
    return _CONTROL_RE.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


correlation_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("correlation_id", default=None)

# Fields that may carry key material; their values never reach a log line.
_REDACTED_FIELDS = frozenset(
    {
        "authorization",
        "signature",
        "secret",
        "secret_access_key",
        "password",
        "token",
        "private_key",
        "receipt",
        "credential",
        "x-amz-security-token",
    }
)
# Attributes every LogRecord has; anything else on a record is an event field passed through `extra=`.
_RECORD_ATTRIBUTES = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}


def redact(fields: dict[str, Any]) -> dict[str, Any]:
    return {key: "[REDACTED]" if key.lower() in _REDACTED_FIELDS else value for key, value in fields.items()}


# One encoder for every line: json.dumps with arguments builds a new encoder per call.
_encode = json.JSONEncoder(default=str, separators=(",", ":")).encode


class JsonFormatter(logging.Formatter):
    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        fields = {key: value for key, value in vars(record).items() if key not in _RECORD_ATTRIBUTES}
        trace_id, span_id = tracing.ids()
        line: dict[str, Any] = {
            "timestamp": datetime.fromtimestamp(record.created, UTC)
            .isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "level": record.levelname,
            "service": self.service,
            "correlation_id": fields.pop("correlation_id", None) or correlation_id_var.get(),
            "trace_id": trace_id,
            "span_id": span_id,
            "event": fields.pop("event", None) or record.name,
            "message": record.getMessage(),
        }
        line.update(redact(fields))
        if record.exc_info:
            # Stack traces stay in our logs; they never reach a client.
            line["exception"] = self.formatException(record.exc_info)
        return _encode(line)


def configure_logging(service: str, level: str | None = None) -> None:
    """Send every logger's records to stdout as JSON lines (idempotent)."""
    root = logging.getLogger()
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(JsonFormatter(service))
    root.handlers[:] = [handler]
    root.setLevel((level or os.environ.get("LOG_LEVEL", "INFO")).upper())
    # Neither the JSON lines nor gunicorn's own log format name a source line, a thread or a process name, so
    # the records need not look them up (the logging HOWTO's "Optimization"; finding the caller walks the stack
    # on every record). gunicorn's format shows the process id, which stays.
    logging._srcfile = None
    logging.logThreads = logging.logMultiprocessing = False
    # botocore logs request details (headers included) at DEBUG; keep it quiet even when we debug.
    for noisy in ("botocore", "boto3", "urllib3", "werkzeug"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
