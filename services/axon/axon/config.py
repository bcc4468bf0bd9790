"""Axon's configuration: defaults, then AXON_* environment variables, then the caller's overrides."""

from __future__ import annotations

from typing import Any

from agent_runtime.names import Names


def defaults(names: Names) -> dict[str, Any]:
    return {
        "ENVIRONMENT": "local",
        "ENGINE": "builtin",
        "BEDROCK_MODEL_ID": "",
        # Orbit's 64 KiB body plus what Orbit adds around it (principal, decision id).
        "MAX_BODY_BYTES": 72 * 1024,
        "MAX_CLOCK_SKEW_SECONDS": 300,
        "REPLAY_STORE": "memory",
        "REPLAY_TABLE": names.replay_table,
        "SIGNING_KEY_SECRET": names.orbit_signing_key_secret,
        "SIGNING_KEY": None,  # injected by ECS from the same secret, used until the first reload
        "RECEIPT_PUBLIC_KEY_SECRET": names.receipt_public_key_secret,
        "RECEIPT_PUBLIC_KEY": None,  # injected by ECS
        "KEY_CACHE_TTL_SECONDS": 30,  # a revoked key is refused within this time
        "KEY_REFRESH_INTERVAL_SECONDS": 1.0,  # at most one reload per key id (and of unknown ids) per interval
    }
