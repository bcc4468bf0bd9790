"""Axon's settings: one frozen, typed object read from AXON_* variables and checked at start-up."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import ClassVar

from agent_runtime.names import Names
from agent_runtime.receipts import DEFAULT_MAX_LIFETIME_SECONDS
from agent_runtime.replay import REPLAY_STORES
from agent_runtime.settings import load, require

ENGINES = ("builtin", "bedrock")


@dataclass(frozen=True)
class AxonSettings:
    PREFIX: ClassVar[str] = "AXON_"

    engine: str = "builtin"
    bedrock_model_id: str = ""
    # The longest a reasoning engine call may take (the Bedrock client's read timeout). Orbit waits longer
    # (ORBIT_AXON_TIMEOUT_MS), so that a slow answer is not mistaken for a failed Axon.
    engine_timeout_seconds: float = 30.0
    # Orbit's 64 KiB body plus what Orbit adds around it (principal, decision id).
    max_body_bytes: int = 72 * 1024
    max_clock_skew_seconds: int = 300
    replay_store: str = "memory"  # see OrbitSettings.replay_store
    replay_table: str = ""
    replay_db: str = ""
    signing_key_secret: str = ""  # Orbit's key, which Axon verifies with
    signing_key: str | None = None  # injected by ECS from the same secret, used until the first load
    receipt_public_key_secret: str = ""
    receipt_public_key: str | None = None  # injected by ECS
    receipt_max_lifetime_seconds: int = DEFAULT_MAX_LIFETIME_SECONDS
    key_cache_ttl_seconds: float = 30.0
    key_cache_max_stale_seconds: float = 120.0
    key_refresh_interval_seconds: float = 1.0
    # Comma-separated Host header values Orbit may sign for (the name Orbit calls Axon by); empty: any.
    allowed_hosts: str = ""

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: object) -> AxonSettings:
        environ = os.environ if environ is None else environ
        names = Names.from_env()
        defaults = {
            "replay_table": names.replay_table,
            "signing_key_secret": names.orbit_signing_key_secret,
            "receipt_public_key_secret": names.receipt_public_key_secret,
        }
        return load(cls, environ, defaults, **overrides)

    def check(self) -> None:
        require(self, "engine", lambda v: v in ENGINES, f"must be one of {', '.join(ENGINES)}")
        require(self, "bedrock_model_id", lambda v: v or self.engine != "bedrock", "is required with engine bedrock")
        require(self, "engine_timeout_seconds", lambda v: 0 < v <= 600, "must be between 0 and 600")
        require(self, "max_body_bytes", lambda v: v > 0, "must be positive")
        require(self, "max_clock_skew_seconds", lambda v: 1 <= v <= 900, "must be between 1 and 900")
        require(self, "replay_store", lambda v: v in REPLAY_STORES, f"must be one of {', '.join(REPLAY_STORES)}")
        require(self, "replay_db", lambda v: v or self.replay_store != "sqlite", "is required with replay_store sqlite")
        require(self, "receipt_max_lifetime_seconds", lambda v: 1 <= v <= 300, "must be between 1 and 300")
        require(self, "key_cache_ttl_seconds", lambda v: v > 0, "must be positive")
        require(
            self,
            "key_cache_max_stale_seconds",
            lambda v: v >= self.key_cache_ttl_seconds,
            "must be at least KEY_CACHE_TTL_SECONDS",
        )

    @property
    def hosts(self) -> frozenset[str]:
        return frozenset(h.strip().lower() for h in self.allowed_hosts.split(",") if h.strip())
