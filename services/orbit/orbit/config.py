"""Orbit's configuration: defaults, then ORBIT_* environment variables, then the caller's overrides."""

from __future__ import annotations

from typing import Any

from agent_runtime.names import Names


def defaults(names: Names) -> dict[str, Any]:
    return {
        "ENVIRONMENT": "local",
        "AXON_URL": "http://127.0.0.1:8081",
        "AXON_TIMEOUT_MS": 5000,
        "AXON_CONNECT_TIMEOUT_MS": 500,
        "GOVERNANCE_FUNCTION": f"{names.governance_function}:{names.governance_alias}",
        "GOVERNANCE_TIMEOUT_MS": 2000,
        "MAX_BODY_BYTES": 64 * 1024,
        "MAX_CLOCK_SKEW_SECONDS": 300,
        # memory: one process per service (the local stack); dynamodb: several workers or tasks.
        "REPLAY_STORE": "memory",
        "REPLAY_TABLE": names.replay_table,
        "SIGNING_KEY_SECRET": names.orbit_signing_key_secret,
        "SIGNING_KEY": None,  # the key injected by ECS (task definition `secrets`), used until the first reload
        "CLIENT_KEY_PREFIX": names.client_secret_prefix,
        "KEY_CACHE_TTL_SECONDS": 30,  # a revoked key is refused within this time
        "KEY_REFRESH_INTERVAL_SECONDS": 1.0,  # at most one reload per key id (and of unknown ids) per interval
        # Number of proxies (the ALB) in front of Orbit whose X-Forwarded-For is trusted for the source IP.
        "TRUSTED_PROXY_HOPS": 0,
        "CIRCUIT_FAIL_MAX": 5,
        "CIRCUIT_RESET_SECONDS": 10,
    }
