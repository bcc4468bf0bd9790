"""The Lambda's configuration, from its environment, validated once at cold start."""

from __future__ import annotations

import os
from dataclasses import dataclass

from agent_runtime.names import Names
from governance.store import CONFIG_REFRESH_SECONDS


@dataclass(frozen=True)
class Settings:
    environment: str
    policy_table: str
    rate_limit_table: str
    receipt_key_secret: str
    receipt_ttl_seconds: int
    metrics_namespace: str
    config_refresh_seconds: float

    @classmethod
    def from_env(cls) -> Settings:
        names = Names.from_env()
        ttl = int(os.environ.get("GOVERNANCE_RECEIPT_TTL_SECONDS", "30"))
        if not 1 <= ttl <= 300:
            raise ValueError("GOVERNANCE_RECEIPT_TTL_SECONDS must be between 1 and 300")
        refresh = float(os.environ.get("GOVERNANCE_CONFIG_REFRESH_SECONDS", CONFIG_REFRESH_SECONDS))
        if not 0 <= refresh <= CONFIG_REFRESH_SECONDS:
            raise ValueError(f"GOVERNANCE_CONFIG_REFRESH_SECONDS must be between 0 and {CONFIG_REFRESH_SECONDS}")
        return cls(
            environment=os.environ.get("ENVIRONMENT", "local"),
            policy_table=os.environ.get("GOVERNANCE_POLICY_TABLE", names.policies_table),
            rate_limit_table=os.environ.get("GOVERNANCE_RATE_LIMIT_TABLE", names.rate_limits_table),
            receipt_key_secret=os.environ.get("GOVERNANCE_RECEIPT_KEY_SECRET", names.receipt_private_key_secret),
            receipt_ttl_seconds=ttl,
            metrics_namespace=names.metrics_namespace,
            config_refresh_seconds=refresh,
        )
