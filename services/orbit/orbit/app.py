"""Orbit's application factory."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from agent_runtime import aws
from agent_runtime.keys import KeyCache, SecretsSource, seed_from_env
from agent_runtime.logs import configure_logging
from agent_runtime.metrics import init_metrics
from agent_runtime.names import Names
from agent_runtime.replay import make_replay_store
from agent_runtime.sigv4 import SigV4Verifier
from agent_runtime.web import init_service
from orbit import config as orbit_config
from orbit.axon_client import AxonClient
from orbit.dispatch import bp as dispatch_bp
from orbit.governance_client import GovernanceClient

CLIENT_SIGNING_SERVICE = "execute-api"


@dataclass
class Services:
    verifier: SigV4Verifier
    governance: GovernanceClient
    axon: AxonClient


def build_services(cfg: dict[str, Any]) -> Services:
    secrets = aws.client("secretsmanager", connect_timeout=1.0, read_timeout=3.0)
    region = aws.region()
    client_keys = KeyCache(
        SecretsSource(secrets, prefix=cfg["CLIENT_KEY_PREFIX"]),
        ttl_seconds=cfg["KEY_CACHE_TTL_SECONDS"],
        refresh_interval=cfg["KEY_REFRESH_INTERVAL_SECONDS"],
    )
    signing_keys = KeyCache(
        SecretsSource(secrets, secret_id=cfg["SIGNING_KEY_SECRET"]),
        ttl_seconds=cfg["KEY_CACHE_TTL_SECONDS"],
        seed=seed_from_env(cfg["SIGNING_KEY"]),
    )
    timeout = cfg["GOVERNANCE_TIMEOUT_MS"] / 1000
    # One attempt: a governance call that timed out may still have counted against a rate limit.
    lambda_client = aws.client("lambda", connect_timeout=min(timeout, 1.0), read_timeout=timeout, max_attempts=1)
    return Services(
        verifier=SigV4Verifier(
            service=CLIENT_SIGNING_SERVICE,
            region=region,
            keys=client_keys,
            replay_guard=make_replay_store(cfg["REPLAY_STORE"], cfg["REPLAY_TABLE"]),
            max_skew_seconds=cfg["MAX_CLOCK_SKEW_SECONDS"],
        ),
        governance=GovernanceClient(lambda_client, cfg["GOVERNANCE_FUNCTION"]),
        axon=AxonClient(
            cfg["AXON_URL"],
            signing_keys,
            region,
            timeout_seconds=cfg["AXON_TIMEOUT_MS"] / 1000,
            connect_timeout_seconds=cfg["AXON_CONNECT_TIMEOUT_MS"] / 1000,
            fail_max=cfg["CIRCUIT_FAIL_MAX"],
            reset_seconds=cfg["CIRCUIT_RESET_SECONDS"],
        ),
    )


def create_app(config: dict[str, Any] | None = None) -> Flask:
    configure_logging("orbit")
    app = Flask(__name__)
    app.config.from_mapping(orbit_config.defaults(Names.from_env()))
    app.config["ENVIRONMENT"] = os.environ.get("ENVIRONMENT", app.config["ENVIRONMENT"])
    app.config.from_prefixed_env("ORBIT")
    if config:
        app.config.from_mapping(config)
    app.config["MAX_CONTENT_LENGTH"] = app.config["MAX_BODY_BYTES"]

    hops = int(app.config["TRUSTED_PROXY_HOPS"])
    if hops:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops)  # type: ignore[method-assign]

    init_service(app, "orbit")
    init_metrics(app, "orbit")
    app.extensions["orbit"] = build_services(app.config)
    app.register_blueprint(dispatch_bp)
    return app
