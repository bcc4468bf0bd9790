"""agent_runtime.logs: one JSON line per record, secrets redacted, and the records still serve gunicorn's format."""

from __future__ import annotations

import io
import json
import logging
import re

import pytest

from agent_runtime import logs, tracing


@pytest.fixture
def captured(monkeypatch: pytest.MonkeyPatch) -> io.StringIO:
    out = io.StringIO()
    monkeypatch.setattr("sys.stdout", out)
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    logs.configure_logging("axon", "INFO")
    yield out
    root.handlers[:] = handlers
    root.setLevel(level)


def test_a_record_is_one_json_line_with_its_fields_and_no_secret(captured: io.StringIO):
    token = logs.correlation_id_var.set("corr-1")
    try:
        with tracing.span("test.log") as span:
            logging.getLogger("agent_runtime.access").info(
                "%s %s",
                "POST",
                "/reason",
                extra={"event": "request", "status": 200, "secret_access_key": "s3cr3t"},  # pragma: allowlist secret
            )
            context = span.get_span_context()
    finally:
        logs.correlation_id_var.reset(token)
    (line,) = captured.getvalue().splitlines()
    record = json.loads(line)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", record.pop("timestamp"))
    expected_ids = (f"{context.trace_id:032x}", f"{context.span_id:016x}") if context.is_valid else (None, None)
    assert (record.pop("trace_id"), record.pop("span_id")) == expected_ids
    assert record == {
        "level": "INFO",
        "service": "axon",
        "correlation_id": "corr-1",
        "event": "request",
        "message": "POST /reason",
        "status": 200,
        "secret_access_key": "[REDACTED]",
    }


def test_records_still_render_gunicorns_own_format_after_the_lean_settings(captured: io.StringIO):
    """configure_logging stops the records looking up their caller, thread and process name; gunicorn's error log
    (its own handler and format) uses the process id, which must stay."""
    from gunicorn.glogging import Logger

    records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = records.append  # type: ignore[method-assign]
    logger = logging.getLogger("gunicorn.error.test")
    logger.addHandler(handler)
    try:
        logger.warning("hi")
    finally:
        logger.removeHandler(handler)
    (record,) = records
    assert record.funcName == "(unknown function)"  # the caller was not looked up
    text = logging.Formatter(Logger.error_fmt, Logger.datefmt).format(record)
    assert re.search(r"\[\d+\] \[WARNING\] hi$", text), text
