"""Typed settings: every service reads its own variables, converted and checked once, with errors that name them."""

from __future__ import annotations

import pytest

from agent_runtime.settings import SettingsError
from axon.config import AxonSettings
from governance.config import Settings as GovernanceSettings
from orbit.config import OrbitSettings


def test_orbit_reads_only_orbit_variables():
    settings = OrbitSettings.from_env({"ORBIT_AXON_TIMEOUT_MS": "35000", "AXON_AXON_TIMEOUT_MS": "1"})
    assert settings.axon_timeout_ms == 35000
    assert OrbitSettings.from_env({"AXON_REPLAY_STORE": "dynamodb"}).replay_store == "memory"


def test_defaults_follow_the_project_name(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("PROJECT_NAME", "acme-rt")
    assert OrbitSettings.from_env({}).governance_function == "acme-rt-governance:live"
    public_key = AxonSettings.from_env({}).receipt_public_key_secret
    assert public_key == "acme-rt/governance-receipt-public-key"  # pragma: allowlist secret (a secret's name)
    assert GovernanceSettings.from_env({}).policy_table == "acme-rt-governance-policies"


@pytest.mark.parametrize(
    ("cls", "environ", "message"),
    [
        (OrbitSettings, {"ORBIT_AXON_TIMEOUT_MS": "5s"}, "ORBIT_AXON_TIMEOUT_MS must be an integer, not '5s'"),
        (OrbitSettings, {"ORBIT_GOVERNANCE_TIMEOUT_MS": "0"}, "ORBIT_GOVERNANCE_TIMEOUT_MS must be positive"),
        (OrbitSettings, {"ORBIT_REPLAY_STORE": "redis"}, "ORBIT_REPLAY_STORE must be one of memory, sqlite, dynamodb"),
        (OrbitSettings, {"ORBIT_REPLAY_STORE": "sqlite"}, "ORBIT_REPLAY_DB is required with replay_store sqlite"),
        (OrbitSettings, {"ORBIT_SCHEMA_PATH": "/nonexistent"}, "ORBIT_SCHEMA_PATH must name the Cedar schema file"),
        (AxonSettings, {"AXON_ENGINE": "gpt"}, "AXON_ENGINE must be one of builtin, bedrock"),
        (AxonSettings, {"AXON_ENGINE": "bedrock"}, "AXON_BEDROCK_MODEL_ID is required with engine bedrock"),
        (AxonSettings, {"AXON_KEY_CACHE_TTL_SECONDS": "many"}, "AXON_KEY_CACHE_TTL_SECONDS must be a number"),
        (
            AxonSettings,
            {"AXON_KEY_CACHE_MAX_STALE_SECONDS": "10"},
            "AXON_KEY_CACHE_MAX_STALE_SECONDS must be at least KEY_CACHE_TTL_SECONDS",
        ),
        (GovernanceSettings, {"GOVERNANCE_RECEIPT_TTL_SECONDS": "900"}, "GOVERNANCE_RECEIPT_TTL_SECONDS must be"),
    ],
)
def test_a_bad_value_stops_the_start_naming_the_variable(cls, environ, message):
    with pytest.raises(SettingsError, match=message.replace("(", r"\(").replace(")", r"\)")):
        cls.from_env(environ)


def test_settings_are_frozen():
    settings = OrbitSettings.from_env({})
    with pytest.raises(AttributeError):
        settings.axon_url = "http://elsewhere"  # type: ignore[misc]
