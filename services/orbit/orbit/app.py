"""Orbit's application factory."""

from __future__ import annotations

from dataclasses import dataclass

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from agent_runtime import aws, receipts
from agent_runtime.keys import KeyCache, SecretsSource, seed_from_env
from agent_runtime.logs import configure_logging
from agent_runtime.metrics import init_metrics
from agent_runtime.replay import make_replay_store
from agent_runtime.sigv4 import SigV4Verifier
from agent_runtime.tools import ToolStore
from agent_runtime.tracing import configure_tracing
from agent_runtime.web import init_service
from orbit.axon_client import AxonClient
from orbit.catalog import ToolCatalog
from orbit.config import OrbitSettings
from orbit.dispatch import bp as dispatch_bp
from orbit.governance_client import GovernanceClient
from orbit.intents import IntentCatalog
from orbit.mcp import bp as mcp_bp

CLIENT_SIGNING_SERVICE = "execute-api"


@dataclass
class Services:
    settings: OrbitSettings
    verifier: SigV4Verifier
    governance: GovernanceClient
    axon: AxonClient
    intents: IntentCatalog
    catalog: ToolCatalog
    receipt_keys: receipts.PublicKeyCache


def build_services(settings: OrbitSettings) -> Services:
    secrets = aws.client("secretsmanager", connect_timeout=1.0, read_timeout=3.0)
    region = aws.region()
    client_keys = KeyCache(
        SecretsSource(secrets, prefix=settings.client_key_prefix),
        ttl_seconds=settings.key_cache_ttl_seconds,
        max_stale_seconds=settings.key_cache_max_stale_seconds,
        refresh_interval=settings.key_refresh_interval_seconds,
    )
    signing_keys = KeyCache(
        SecretsSource(secrets, secret_id=settings.signing_key_secret),
        ttl_seconds=settings.key_cache_ttl_seconds,
        max_stale_seconds=settings.key_cache_max_stale_seconds,
        seed=seed_from_env(settings.signing_key),
    )
    timeout = settings.governance_timeout_ms / 1000
    # One attempt: a governance call that timed out may still have counted against a rate limit.
    lambda_client = aws.client("lambda", connect_timeout=min(timeout, 1.0), read_timeout=timeout, max_attempts=1)
    return Services(
        settings=settings,
        verifier=SigV4Verifier(
            service=CLIENT_SIGNING_SERVICE,
            region=region,
            keys=client_keys,
            replay_guard=make_replay_store(
                settings.replay_store, table_name=settings.replay_table, db_path=settings.replay_db
            ),
            max_skew_seconds=settings.max_clock_skew_seconds,
            allowed_hosts=settings.hosts,
        ),
        governance=GovernanceClient(lambda_client, settings.governance_function),
        axon=AxonClient(
            settings.axon_url,
            signing_keys,
            region,
            timeout_seconds=settings.axon_timeout_ms / 1000,
            connect_timeout_seconds=settings.axon_connect_timeout_ms / 1000,
            fail_max=settings.circuit_fail_max,
            reset_seconds=settings.circuit_reset_seconds,
        ),
        intents=IntentCatalog.from_file(settings.schema_path),
        catalog=ToolCatalog(
            ToolStore(aws.client("dynamodb", connect_timeout=1.0, read_timeout=2.0), settings.tools_table),
            axon_url=settings.axon_url,
            signing_keys=signing_keys,
            secrets=secrets,
            ttl_seconds=settings.tools_cache_seconds,
            fail_max=settings.circuit_fail_max,
            reset_seconds=settings.circuit_reset_seconds,
        ),
        receipt_keys=receipts.PublicKeyCache(
            receipts.public_key_loader(secrets, settings.receipt_public_key_secret),
            seed=settings.receipt_public_key,
        ),
    )


def create_app(settings: OrbitSettings | None = None) -> Flask:
    configure_logging("orbit")
    configure_tracing("orbit")
    settings = settings or OrbitSettings.from_env()
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes
    if settings.trusted_proxy_hops:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=settings.trusted_proxy_hops)  # type: ignore[method-assign]
    init_service(app, "orbit")
    init_metrics(app, "orbit")
    app.extensions["orbit"] = build_services(settings)
    app.register_blueprint(dispatch_bp)
    app.register_blueprint(mcp_bp)
    return app
