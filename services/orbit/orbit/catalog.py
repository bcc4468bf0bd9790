"""The tools Orbit governs: the targets stored by agentctl (read through ToolStore, cached a few seconds) plus the
built-in `axon` target, each with its upstream client, circuit breaker and argument validators."""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import Any

import jsonschema
import referencing
import requests
from jsonschema.validators import validator_for
from requests.adapters import HTTPAdapter

from agent_runtime import aws
from agent_runtime.breaker import CircuitBreaker
from agent_runtime.keys import KeyCache
from agent_runtime.mcp_client import Authenticator, McpUpstream
from agent_runtime.sigv4 import sign
from agent_runtime.tools import Target, Tool, ToolStore, builtin_axon_target, split_tool_action

log = logging.getLogger(__name__)

_BEARER_TTL_SECONDS = 300.0


@dataclass
class Upstream:
    target: Target
    client: McpUpstream
    breaker: CircuitBreaker


class ToolCatalog:
    def __init__(
        self,
        store: ToolStore,
        *,
        axon_url: str,
        signing_keys: KeyCache,
        secrets: Any,
        ttl_seconds: float,
        fail_max: int,
        reset_seconds: float,
    ) -> None:
        self._store = store
        self._builtin = builtin_axon_target(axon_url)
        self._signing_keys = signing_keys
        self._secrets = secrets
        self._ttl = ttl_seconds
        self._fail_max = fail_max
        self._reset_seconds = reset_seconds
        self._lock = threading.Lock()
        self._reload = threading.Lock()
        self._targets: dict[str, Target] = {self._builtin.name: self._builtin}
        self._loaded_at = float("-inf")
        self._upstreams: dict[tuple[str, str, str, str], Upstream] = {}
        self._validators: dict[tuple[str, str, str], Any] = {}
        self._bearer: dict[str, tuple[str, float]] = {}
        self._http = requests.Session()
        self._http.trust_env = False  # no proxy from the environment between Orbit and its upstreams
        self._http.mount("http://", HTTPAdapter(pool_connections=8, pool_maxsize=64))
        self._http.mount("https://", HTTPAdapter(pool_connections=8, pool_maxsize=64))

    # --- what exists --------------------------------------------------------------------------------------

    def targets(self) -> dict[str, Target]:
        """The targets now, reloaded from the store when older than the TTL (one reload at a time; the others go
        on with what is cached; a failed reload keeps the last list)."""
        if time.monotonic() - self._loaded_at > self._ttl and self._reload.acquire(blocking=False):
            try:
                stored = {t.name: t for t in self._store.targets()}
                with self._lock:
                    self._targets = {**stored, self._builtin.name: self._builtin}
            except Exception:
                log.exception(
                    "the tools table could not be read; serving the last tool list", extra={"event": "tools_stale"}
                )
            finally:
                self._loaded_at = time.monotonic()
                self._reload.release()
        with self._lock:
            return dict(self._targets)

    def tools(self) -> list[Tool]:
        return [tool for target in self.targets().values() for tool in target.tools]

    def resolve(self, name: Any) -> tuple[Target, Tool] | None:
        parts = split_tool_action(name) if isinstance(name, str) else None
        if parts is None:
            return None
        target = self.targets().get(parts[0])
        tool = target.tool(parts[1]) if target else None
        return (target, tool) if target and tool else None

    def validator(self, tool: Tool, generation: str) -> Any:
        """A JSON Schema validator of the tool's arguments: the dialect its `$schema` names (2020-12 by default),
        and no remote `$ref` is ever fetched (an empty registry)."""
        key = (tool.target, generation, tool.name)
        with self._lock:
            validator = self._validators.get(key)
        if validator is None:
            cls = validator_for(tool.input_schema, default=jsonschema.Draft202012Validator)
            validator = cls(tool.input_schema, registry=referencing.Registry())
            with self._lock:
                self._validators[key] = validator
        return validator

    # --- calling ------------------------------------------------------------------------------------------

    def upstream(self, target: Target) -> Upstream:
        key = (target.name, target.url, target.auth, target.sigv4_service)
        with self._lock:
            upstream = self._upstreams.get(key)
            if upstream is None:
                client = McpUpstream(
                    target.url,
                    http=self._http,
                    timeout_seconds=target.timeout_ms / 1000,
                    authenticate=self._authenticator(target),
                )
                upstream = Upstream(target, client, CircuitBreaker(self._fail_max, self._reset_seconds))
                self._upstreams[key] = upstream
            return upstream

    def _authenticator(self, target: Target) -> Authenticator | None:
        if target.auth == "sigv4":
            region = aws.region()

            def sigv4(method: str, url: str, body: bytes, headers: dict[str, str]) -> dict[str, str]:
                credential = self._signing_keys.current()
                return sign(method, url, body, credential, service=target.sigv4_service, region=region, headers=headers)

            return sigv4
        if target.auth == "bearer":

            def bearer(method: str, url: str, body: bytes, headers: dict[str, str]) -> dict[str, str]:
                return {**headers, "Authorization": f"Bearer {self._bearer_token(target)}"}

            return bearer
        return None

    def _bearer_token(self, target: Target) -> str:
        secret_id = target.bearer_secret or ""
        with self._lock:
            cached = self._bearer.get(secret_id)
        if cached and time.monotonic() - cached[1] < _BEARER_TTL_SECONDS:
            return cached[0]
        token = self._secrets.get_secret_value(SecretId=secret_id)["SecretString"]
        with self._lock:
            self._bearer[secret_id] = (token, time.monotonic())
        return token
