"""Axon's application factory and its /reason endpoints."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from flask import Blueprint, Flask, current_app
from flask.typing import ResponseReturnValue

from agent_runtime import aws, receipts, tracing
from agent_runtime.errors import service_unavailable, utc_timestamp, validation_error
from agent_runtime.keys import KeyCache, SecretsSource, seed_from_env
from agent_runtime.logs import configure_logging
from agent_runtime.metrics import histogram, init_metrics
from agent_runtime.names import INTENT_RE
from agent_runtime.replay import make_replay_store
from agent_runtime.sigv4 import ReplayGuard, SigV4Verifier
from agent_runtime.tracing import configure_tracing
from agent_runtime.web import correlation_id, init_service, json_object, log_fields
from axon.config import AxonSettings
from axon.engines import HEARTBEAT, Engine, EngineError, EngineRejected, make_engine
from axon.mcp import bp as mcp_bp
from axon.proofs import check_receipt, verify_orbit

ORBIT_SIGNING_SERVICE = "axon"
log = logging.getLogger("axon.reason")
bp = Blueprint("reason", __name__)

engine_seconds = histogram("axon_engine_duration_seconds", "Reasoning engine latency in seconds", ("engine",))


@dataclass
class Services:
    settings: AxonSettings
    verifier: SigV4Verifier
    receipt_keys: receipts.PublicKeyCache
    receipt_guard: ReplayGuard
    engine: Engine


def _parse_reason(body: bytes) -> tuple[str, dict[str, Any], str]:
    data = json_object(body)
    intent, context, principal = data.get("intent"), data.get("context", {}), data.get("principal")
    if not isinstance(intent, str) or not INTENT_RE.match(intent):
        raise validation_error("intent is missing or invalid", "intent", "invalid value")
    if not isinstance(context, dict):
        raise validation_error("context must be a JSON object", "context", "not an object")
    if not isinstance(principal, str) or not principal:
        raise validation_error("principal is missing", "principal", "required field missing")
    return intent, context, principal


def _check_receipt(intent: str, context: dict[str, Any], principal: str) -> receipts.Receipt:
    digest = receipts.request_digest(intent, context)
    return check_receipt(
        lambda token, keys, guard, limit: receipts.verify(
            token,
            keys,
            principal=principal,
            intent=intent,
            digest=digest,
            replay_guard=guard,
            max_lifetime_seconds=limit,
        )
    )


@bp.get("/reason")
def heartbeat() -> ResponseReturnValue:
    """The specification's heartbeat: signed by Orbit, no reasoning, so no receipt."""
    verify_orbit()
    return {
        "status": "success",
        "message": HEARTBEAT,
        "correlation_id": correlation_id(),
        "timestamp": utc_timestamp(),
    }


@bp.post("/reason")
def reason() -> ResponseReturnValue:
    services: Services = current_app.extensions["axon"]
    _, body = verify_orbit()
    intent, context, principal = _parse_reason(body)
    receipt = _check_receipt(intent, context, principal)
    with (
        engine_seconds.labels(services.engine.name).time(),
        tracing.span(
            "engine.reason",
            attributes={"agent_runtime.engine": services.engine.name, "gen_ai.system": services.engine.name},
        ),
    ):
        try:
            message = services.engine.reason(intent, context)
        except EngineRejected as exc:
            log.info("engine rejected the request: %s", exc, extra={"event": "engine_rejected"})
            raise validation_error(f"The reasoning engine rejected the request: {exc}", "context", "rejected") from exc
        except EngineError as exc:
            log.error("engine failed: %s", exc, extra={"event": "engine_error"})
            error = service_unavailable("The reasoning engine is unavailable")
            # Axon itself is healthy: Orbit's circuit breaker does not count this answer against it.
            error.details = {"component": "engine", "reason": str(exc)[:200]}
            raise error from exc
    log_fields(intent=intent, principal=principal, decision_id=receipt.decision_id, engine=services.engine.name)
    return {
        "status": "success",
        "message": message,
        "correlation_id": correlation_id(),
        "timestamp": utc_timestamp(),
        "engine": services.engine.name,
        "decision_id": receipt.decision_id,
    }


def build_services(settings: AxonSettings) -> Services:
    secrets = aws.client("secretsmanager", connect_timeout=1.0, read_timeout=3.0)
    signing_keys = KeyCache(
        SecretsSource(secrets, secret_id=settings.signing_key_secret),
        ttl_seconds=settings.key_cache_ttl_seconds,
        max_stale_seconds=settings.key_cache_max_stale_seconds,
        refresh_interval=settings.key_refresh_interval_seconds,
        seed=seed_from_env(settings.signing_key),
    )
    replay = make_replay_store(settings.replay_store, table_name=settings.replay_table, db_path=settings.replay_db)
    return Services(
        settings=settings,
        verifier=SigV4Verifier(
            service=ORBIT_SIGNING_SERVICE,
            region=aws.region(),
            keys=signing_keys,
            replay_guard=replay,
            max_skew_seconds=settings.max_clock_skew_seconds,
            allowed_hosts=settings.hosts,
        ),
        receipt_keys=receipts.PublicKeyCache(
            receipts.public_key_loader(secrets, settings.receipt_public_key_secret),
            seed=settings.receipt_public_key,
        ),
        receipt_guard=replay,
        engine=make_engine(settings.engine, settings.bedrock_model_id, settings.engine_timeout_seconds),
    )


def create_app(settings: AxonSettings | None = None) -> Flask:
    configure_logging("axon")
    configure_tracing("axon")
    settings = settings or AxonSettings.from_env()
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes
    init_service(app, "axon")
    init_metrics(app, "axon")
    app.extensions["axon"] = build_services(settings)
    app.register_blueprint(bp)
    app.register_blueprint(mcp_bp)
    return app
