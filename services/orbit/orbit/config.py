"""Orbit's settings: one frozen, typed object read from ORBIT_* variables and checked at start-up."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from agent_runtime.names import Names
from agent_runtime.replay import REPLAY_STORES
from agent_runtime.settings import load, require


@dataclass(frozen=True)
class OrbitSettings:
    PREFIX: ClassVar[str] = "ORBIT_"

    axon_url: str = "http://127.0.0.1:8081"
    # How long Orbit waits for Axon's answer: longer than Axon's engine may take (AXON_ENGINE_TIMEOUT_SECONDS),
    # so that a slow but healthy engine is an answer, not a timeout (Terraform derives it from the engine).
    axon_timeout_ms: int = 5000
    axon_connect_timeout_ms: int = 500
    governance_function: str = ""  # default: <project>-governance:live
    # A cold Governance answers in about 2 s (bench/cold_start.py, docs/architecture.md#timeouts): 3 s leaves room.
    governance_timeout_ms: int = 3000
    max_body_bytes: int = 64 * 1024
    # The largest body Axon accepts (AXON_MAX_BODY_BYTES): what Orbit would send is sized before Governance is asked.
    axon_max_body_bytes: int = 72 * 1024
    # The Cedar schema whose actions are the intents a client may ask for (the one policies are validated against).
    schema_path: str = str(Path(__file__).resolve().parents[3] / "governance" / "policies" / "schema.cedarschema")
    max_clock_skew_seconds: int = 300
    # memory: one process, forgets on restart (refuses requests signed before it started); sqlite: a file kept
    # across restarts, shared by the workers of one host (the local stack); dynamodb: several tasks (AWS).
    replay_store: str = "memory"
    replay_table: str = ""  # default: <project>-replay-cache
    replay_db: str = ""  # the sqlite file
    signing_key_secret: str = ""  # default: <project>/orbit-signing-key
    signing_key: str | None = None  # the key injected by ECS (task definition `secrets`), used until the first load
    client_key_prefix: str = ""  # default: <project>/clients/
    key_cache_ttl_seconds: float = 30.0  # a revoked key is refused within this time...
    key_cache_max_stale_seconds: float = 120.0  # ...and within this one even when Secrets Manager cannot be read
    key_refresh_interval_seconds: float = 1.0  # at most one reload per key id (and of unknown ids) per interval
    tools_table: str = ""  # default: <project>-tools (agentctl tools)
    tools_cache_seconds: float = 5.0  # a tool added, synced or removed is served within this time
    receipt_public_key_secret: str = ""  # Governance's public key, published for upstream tool servers
    receipt_public_key: str | None = None  # injected by ECS, used until the first load
    # Comma-separated Host header values a client may sign for (e.g. the load balancer's name); empty: any.
    allowed_hosts: str = ""
    # Number of proxies (the ALB) in front of Orbit whose X-Forwarded-For is trusted for the source IP.
    trusted_proxy_hops: int = 0
    circuit_fail_max: int = 5
    circuit_reset_seconds: float = 10.0

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: object) -> OrbitSettings:
        environ = os.environ if environ is None else environ
        names = Names.from_env()
        defaults = {
            "governance_function": f"{names.governance_function}:{names.governance_alias}",
            "replay_table": names.replay_table,
            "signing_key_secret": names.orbit_signing_key_secret,
            "client_key_prefix": names.client_secret_prefix,
            "tools_table": names.tools_table,
            "receipt_public_key_secret": names.receipt_public_key_secret,
        }
        return load(cls, environ, defaults, **overrides)

    def check(self) -> None:
        for name in (
            "axon_timeout_ms",
            "axon_connect_timeout_ms",
            "governance_timeout_ms",
            "max_body_bytes",
            "axon_max_body_bytes",
        ):
            require(self, name, lambda v: v > 0, "must be positive")
        require(self, "max_clock_skew_seconds", lambda v: 1 <= v <= 900, "must be between 1 and 900")
        require(self, "replay_store", lambda v: v in REPLAY_STORES, f"must be one of {', '.join(REPLAY_STORES)}")
        require(self, "replay_db", lambda v: v or self.replay_store != "sqlite", "is required with replay_store sqlite")
        require(self, "axon_url", lambda v: v.startswith(("http://", "https://")), "must be an http(s) URL")
        require(self, "key_cache_ttl_seconds", lambda v: v > 0, "must be positive")
        require(
            self,
            "key_cache_max_stale_seconds",
            lambda v: v >= self.key_cache_ttl_seconds,
            "must be at least KEY_CACHE_TTL_SECONDS",
        )
        require(self, "schema_path", lambda v: Path(v).is_file(), "must name the Cedar schema file")
        require(self, "trusted_proxy_hops", lambda v: 0 <= v <= 5, "must be between 0 and 5")
        require(self, "tools_cache_seconds", lambda v: 0 <= v <= 300, "must be between 0 and 300")
        require(self, "circuit_fail_max", lambda v: v >= 1, "must be at least 1")

    @property
    def hosts(self) -> frozenset[str]:
        return frozenset(h.strip().lower() for h in self.allowed_hosts.split(",") if h.strip())
