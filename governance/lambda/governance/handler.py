"""The governance Lambda: parse the event, read the live configuration, count, decide, sign, audit, answer.

Every invocation ends in exactly one audit event, written before the answer is returned, whatever happens; when the
audit event cannot be written, the answer is a denial (outcome `error`): no allow leaves unaudited.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import threading
import time
import uuid
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools import Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.metrics.functions import is_metrics_disabled

from agent_runtime import aws, receipts, tracing
from agent_runtime.aws_lean import LeanDynamoDB
from agent_runtime.botocore_lean import lean
from agent_runtime.decision_log import DecisionLog, DecisionRecord
from agent_runtime.logs import JsonFormatter, configure_logging, correlation_id_var
from agent_runtime.tracing import configure_tracing
from governance.config import Settings
from governance.evaluate import (
    ERROR,
    REASON_AUDIT_FAILED,
    REASON_ERROR,
    SHADOW,
    Decision,
    DecisionRequest,
    InvalidRequest,
    evaluate,
)
from governance.policies import CompiledPolicySet
from governance.rate_limits import RateLimiter
from governance.store import CONFIG_REFRESH_SECONDS, Config, PolicyStore


class _AuditStream(logging.StreamHandler):
    """Writes each audit record straight to the file descriptor of the stdout of the moment, and lets a write error
    propagate (logging's own handlers swallow it), so that a decision whose audit was lost is not answered.

    Straight to the descriptor, not through stdout's buffer: a buffered write that fails on flush leaves the
    record in the buffer, and the next successful flush would then log as allowed a decision answered as an error.
    """

    def emit(self, record: logging.LogRecord) -> None:
        data = (self.format(record) + "\n").encode()
        stream = sys.stdout
        try:
            descriptor = stream.fileno()
        except (AttributeError, OSError, ValueError):  # a stream without one (a test's capture): write and flush
            stream.write(data.decode())
            stream.flush()
            return
        stream.flush()  # what other loggers left in the buffer goes first, keeping the lines in order
        pending = memoryview(data)
        while pending:
            pending = pending[os.write(descriptor, pending) :]

    def __init__(self) -> None:
        super().__init__()
        self.setFormatter(JsonFormatter("governance"))

    @property  # type: ignore[override]
    def stream(self) -> Any:
        return sys.stdout

    @stream.setter
    def stream(self, value: Any) -> None:
        pass


configure_logging("governance")
configure_tracing("governance")
log = logging.getLogger("governance")
audit_log = logging.getLogger("governance.audit")
audit_log.handlers[:] = [_AuditStream()]
audit_log.propagate = False
settings = Settings.from_env()
metrics = Metrics(namespace=settings.metrics_namespace, service="governance")


RECEIPT_KEY_TTL_SECONDS = 300
_IN_LAMBDA = bool(os.environ.get("AWS_LAMBDA_FUNCTION_NAME"))


@dataclass
class Runtime:
    """What a warm Lambda instance keeps between invocations."""

    store: PolicyStore
    limiter: RateLimiter
    decision_log: DecisionLog
    pool: ThreadPoolExecutor  # the decision's DynamoDB writes, made concurrently
    secrets: Any
    receipt_key_secret: str
    config_refresh_seconds: float = CONFIG_REFRESH_SECONDS
    policy_set: CompiledPolicySet | None = None
    _receipt_key: Any = None
    _receipt_key_loaded: float = float("-inf")
    _config: Config | None = None
    _config_read: float = float("-inf")

    @classmethod
    def from_settings(cls, settings: Settings) -> Runtime:
        # One client for the instance's life, its connections kept alive; lean: no per-call User-Agent rebuild
        # or client-side validation (four calls per decision).
        dynamodb = lean(aws.client("dynamodb", connect_timeout=1.0, read_timeout=2.0, max_attempts=2))
        writes = LeanDynamoDB(dynamodb)  # the counters' UpdateItem and the log's PutItem: a fraction of the CPU
        pool = ThreadPoolExecutor(max_workers=5, thread_name_prefix="decision")  # the log, up to four counters
        runtime = cls(
            store=PolicyStore(dynamodb, settings.policy_table),
            limiter=RateLimiter(writes, settings.rate_limit_table, pool),
            decision_log=DecisionLog(writes, settings.decision_log_table, settings.decision_log_retention_days),
            pool=pool,
            secrets=aws.client("secretsmanager"),
            receipt_key_secret=settings.receipt_key_secret,
            config_refresh_seconds=settings.config_refresh_seconds,
        )
        runtime.receipt_key()  # fail the cold start, not the first decision, when the key is unreadable
        return runtime

    def receipt_key(self) -> Any:
        """The current receipt signing key, re-read every few minutes so that a rotation is picked up."""
        if time.monotonic() - self._receipt_key_loaded > RECEIPT_KEY_TTL_SECONDS:
            pem = self.secrets.get_secret_value(SecretId=self.receipt_key_secret, VersionStage="AWSCURRENT")[
                "SecretString"
            ]
            self._receipt_key = receipts.load_private_key(pem)
            self._receipt_key_loaded = time.monotonic()
        return self._receipt_key

    def config(self) -> Config:
        """The live policy-set version and limits, read at most once per config_refresh_seconds."""
        if time.monotonic() - self._config_read >= self.config_refresh_seconds or self._config is None:
            with tracing.span("governance.config", attributes={"agent_runtime.cached": False}):
                self._config = self.store.read_config()
            self._config_read = time.monotonic()
        return self._config

    def policies(self, version: int) -> CompiledPolicySet:
        """The compiled policy set of `version`, parsed only when the version moved."""
        if self.policy_set is None or self.policy_set.version != version:
            self.policy_set = CompiledPolicySet(version, self.store.load(version))
        return self.policy_set


_runtime: Runtime | None = None
_runtime_lock = threading.Lock()


def runtime() -> Runtime:
    global _runtime
    with _runtime_lock:
        if _runtime is None:
            _runtime = Runtime.from_settings(settings)
        return _runtime


def decide(event: Any, decision_id: str) -> tuple[Decision, DecisionRequest | None]:
    """Everything between the event and the answer; any failure is a denial (outcome `error`)."""
    try:
        request = DecisionRequest.from_event(event)
    except InvalidRequest as exc:
        return Decision(ERROR, False, f"Invalid governance request: {exc}", [], 0), None
    correlation_id_var.set(request.correlation_id or None)
    try:
        rt = runtime()
        config = rt.config()
        policy_set = rt.policies(config.version)
        now = time.time()
        # The decision log is written alongside the rate-limit counters: the decision waits for no extra trip.
        logged = rt.pool.submit(rt.decision_log.record, decision_record(decision_id, request, config.version, now))
        tool = request.action if request.target else None
        limit = rt.limiter.check(request.principal, request.source_ip, config.limits, now, tool)
        with tracing.span("cedar.evaluate", attributes={"agent_runtime.policy_set_version": config.version}):
            decision = evaluate(
                request, policy_set, limit, now=datetime.fromtimestamp(now, UTC), environment=settings.environment
            )
        _settle(logged, decision_id)
        if decision.allowed:
            with tracing.span("receipt.sign"):
                decision.receipt = receipts.issue(
                    rt.receipt_key(),
                    decision_id=decision_id,
                    principal=request.principal,
                    intent=request.action,
                    digest=request.request_digest,
                    policy_set_version=decision.policy_set_version,
                    now=now,
                    ttl_seconds=settings.receipt_ttl_seconds,
                )
    except Exception:
        log.exception("governance could not decide", extra={"event": "governance_error"})
        return Decision(ERROR, False, REASON_ERROR, [], 0), request
    return decision, request


def decision_record(decision_id: str, request: DecisionRequest, version: int, now: float) -> DecisionRecord:
    """The Cedar request of this decision, as `agentctl policy replay` will evaluate it again. A tool call's
    arguments are in it only when the operator records them for the target."""
    context = request.cedar_context(datetime.fromtimestamp(now, UTC), settings.environment)
    recorded = request.target is None or request.arguments is not None
    if not recorded:
        context.pop("input", None)
    return DecisionRecord(
        decision_id=decision_id,
        at=now,
        principal=request.principal,
        action=request.action,
        resource=request.resource,
        parents=request.action_parents,
        context=context,
        policy_set_version=version,
        correlation_id=request.correlation_id,
        arguments_recorded=recorded,
        target=request.target,
        tool=request.tool,
    )


def _settle(logged: Future, decision_id: str) -> None:
    """The decision log is for replaying traffic, not a control: a record that could not be written is said and
    counted, and the decision stands (the audit event remains its record)."""
    try:
        logged.result(timeout=5)
    except Exception:
        metrics.add_metric(name="DecisionLogWriteFailures", unit=MetricUnit.Count, value=1)
        log.exception("decision log write failed", extra={"event": "decision_log_failed", "decision_id": decision_id})


def audit(decision: Decision, request: DecisionRequest | None) -> None:
    """The one audit event of a decision, written and flushed before the answer leaves; raises when it cannot be."""
    fields: dict[str, Any] = {
        "event": "audit",
        "decision_id": decision.decision_id,
        "outcome": SHADOW if decision.shadow else decision.outcome,
        "enforced_outcome": decision.outcome,
        "allowed": decision.allowed,
        "reason": decision.reason,
        "policy_ids": decision.policy_ids,
        "policy_set_version": decision.policy_set_version,
        "decision_time_ms": decision.decision_time_ms,
    }
    if request is not None:
        fields.update(
            correlation_id=request.correlation_id,
            principal=request.principal,
            intent=request.action,
            user_id=request.user_id,
            request_id=request.request_id,
            source_ip=request.source_ip,
        )
        if request.target:
            fields.update(target=request.target, tool=request.tool, arguments_sha256=request.arguments_sha256)
            if request.arguments is not None:  # only when the operator records this target's arguments
                fields["arguments"] = request.arguments
    if decision.shadow:
        fields["shadow"] = decision.shadow
    if decision.rate_limit is not None:
        fields["rate_limit"] = {
            "scope": decision.rate_limit.scope,
            "remaining": decision.rate_limit.remaining,
        }
    fields.update(decision.extra)
    audit_log.info("governance decision %s", fields["outcome"], extra=fields)


def record_metrics(decision: Decision) -> None:
    metrics.add_metric(name="DecisionCount", unit=MetricUnit.Count, value=1)
    if not decision.allowed:
        metrics.add_metric(name="DenialCount", unit=MetricUnit.Count, value=1)
    metrics.add_metric(name="DecisionLatencyMs", unit=MetricUnit.Milliseconds, value=decision.decision_time_ms)


def lambda_handler(event: Any, context: Any) -> dict[str, Any]:
    carrier = event.get("trace") if isinstance(event, dict) else None
    parent = tracing.extract(carrier if isinstance(carrier, dict) else {})
    try:
        with tracing.span("governance.decide", tracing.SERVER, {"faas.trigger": "other"}, parent=parent):
            return handle(event)
    finally:
        if _IN_LAMBDA:  # a frozen execution environment would hold the spans until the next call, or lose them
            tracing.flush()
        try:
            flush_metrics()
        except Exception as exc:  # a metric lost is said on stderr; it never turns a decision into an error
            _say_on_stderr({"event": "metrics_flush_failed", "error": f"{type(exc).__name__}: {exc}"[:300]})


def flush_metrics() -> None:
    """The decision's EMF object, as one line in one write. Powertools' own flush prints it with print(): the text
    and its newline are two writes, and a record another process writes to the same stream in between ends up
    on the same line (then neither parses)."""
    if metrics.metric_set and not is_metrics_disabled():
        sys.stdout.write(json.dumps(metrics.serialize_metric_set(), separators=(",", ":")) + "\n")
        sys.stdout.flush()
    metrics.clear_metrics()


def handle(event: Any) -> dict[str, Any]:
    started = time.perf_counter()
    decision_id = str(uuid.uuid4())
    if isinstance(event, (str, bytes)):
        try:
            event = json.loads(event)
        except ValueError:
            event = None
    if isinstance(event, dict) and event.get("kind") == "list_tools":
        return list_tools(event, decision_id)
    decision, request = decide(event, decision_id)
    decision.decision_id = decision_id
    if request is not None:
        tracing.annotate(tracing.decision_attributes(decision, request.principal))
    decision.decision_time_ms = round((time.perf_counter() - started) * 1000, 3)
    try:
        audit(decision, request)
    except Exception as exc:
        decision = Decision(ERROR, False, REASON_AUDIT_FAILED, [], decision.policy_set_version)
        decision.decision_id = decision_id
        decision.decision_time_ms = round((time.perf_counter() - started) * 1000, 3)
        _report_audit_failure(decision_id, exc)
    record_metrics(decision)
    return decision.to_response()


def _report_audit_failure(decision_id: str, exc: Exception) -> None:
    """Said on stderr (stdout is where the audit failed) and counted; neither may hide the denial."""
    metrics.add_metric(name="AuditWriteFailures", unit=MetricUnit.Count, value=1)
    _say_on_stderr(
        {"event": "audit_write_failed", "decision_id": decision_id, "error": f"{type(exc).__name__}: {exc}"[:300]}
    )


def _say_on_stderr(fields: dict[str, Any]) -> None:
    try:
        sys.stderr.write(json.dumps({"level": "ERROR", "service": "governance", **fields}) + "\n")
        sys.stderr.flush()
    except Exception:  # noqa: S110  # nosec B110 - nothing left to report to
        pass


_MAX_LISTED = 1000


def list_tools(event: dict[str, Any], decision_id: str) -> dict[str, Any]:
    """Which of the given tool actions the principal could be allowed to call (tools/list shows only those).

    Not a decision to act, so no receipt and no rate limit; one audit event records what was shown. Any failure
    shows nothing (fail closed: a tool not listed can still be called, and is then decided in full).
    """
    principal, tools = event.get("principal"), event.get("tools")
    visible: list[str] = []
    version = 0
    try:
        if not isinstance(principal, str) or not principal or not isinstance(tools, list) or len(tools) > _MAX_LISTED:
            raise InvalidRequest("a tool listing needs a principal and at most 1000 tools")
        rt = runtime()
        version = rt.config().version
        policy_set = rt.policies(version)
        for name in tools:
            target, sep, _ = str(name).partition("___")
            if sep and policy_set.could_allow(principal, name, ("Target", target), ("mcp_tools", f"target:{target}")):
                visible.append(name)
    except Exception:
        log.exception("tool listing failed", extra={"event": "governance_error"})
        visible = []
    audit_log.info(
        "tools listed",
        extra={
            "event": "audit",
            "kind": "list_tools",
            "decision_id": decision_id,
            "outcome": "list",
            "principal": principal if isinstance(principal, str) else "",
            "correlation_id": event.get("correlation_id", ""),
            "policy_set_version": version,
            "listed": len(visible),
            "of": len(tools) if isinstance(tools, list) else 0,
        },
    )
    return {"decision_id": decision_id, "visible": visible, "policy_set_version": version}
