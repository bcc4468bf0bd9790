"""The Lambda's settings: one frozen, typed object read from GOVERNANCE_* variables and checked at cold start."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import ClassVar

from agent_runtime.decision_log import DEFAULT_RETENTION_DAYS
from agent_runtime.names import Names
from agent_runtime.settings import load, require
from governance.store import CONFIG_REFRESH_SECONDS


@dataclass(frozen=True)
class Settings:
    PREFIX: ClassVar[str] = "GOVERNANCE_"

    environment: str = "local"  # from ENVIRONMENT (the Cedar context's `environment`)
    policy_table: str = ""
    rate_limit_table: str = ""
    receipt_key_secret: str = ""
    receipt_ttl_seconds: int = 30
    metrics_namespace: str = ""
    config_refresh_seconds: float = CONFIG_REFRESH_SECONDS
    decision_log_table: str = ""  # every decision's Cedar request, for agentctl policy replay
    decision_log_retention_days: int = DEFAULT_RETENTION_DAYS

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: object) -> Settings:
        environ = os.environ if environ is None else environ
        names = Names.from_env()
        defaults = {
            "environment": environ.get("ENVIRONMENT") or "local",
            "policy_table": names.policies_table,
            "rate_limit_table": names.rate_limits_table,
            "receipt_key_secret": names.receipt_private_key_secret,
            "metrics_namespace": names.metrics_namespace,
            "decision_log_table": names.decision_log_table,
        }
        return load(cls, environ, defaults, **overrides)

    def check(self) -> None:
        require(self, "receipt_ttl_seconds", lambda v: 1 <= v <= 300, "must be between 1 and 300")
        require(
            self,
            "config_refresh_seconds",
            lambda v: 0 <= v <= CONFIG_REFRESH_SECONDS,
            f"must be between 0 and {CONFIG_REFRESH_SECONDS}",
        )
        require(self, "decision_log_retention_days", lambda v: 1 <= v <= 365, "must be between 1 and 365")
