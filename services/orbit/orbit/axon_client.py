"""Orbit's calls to Axon: signed with Orbit's own key, pooled, bounded in time, behind a circuit breaker."""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from typing import Any

import pybreaker
import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from agent_runtime.keys import KeyCache
from agent_runtime.metrics import gauge
from agent_runtime.receipts import RECEIPT_HEADER
from agent_runtime.sigv4 import sign

log = logging.getLogger(__name__)

AXON_SERVICE = "axon"
_CIRCUIT_STATES = {"closed": 0, "open": 1, "half-open": 2}


class AxonUnavailable(Exception):
    """Axon could not answer; `retry_after` is set when the circuit is open."""

    def __init__(self, message: str, retry_after: int | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class _AxonFailure(Exception):
    """A failure that counts against the circuit (connection, timeout, 5xx)."""


@dataclass(frozen=True)
class AxonAnswer:
    status_code: int
    body: dict[str, Any]


class _CircuitGauge(pybreaker.CircuitBreakerListener):
    def state_change(self, cb: pybreaker.CircuitBreaker, old_state: Any, new_state: Any) -> None:
        state = new_state.name if new_state is not None else "closed"
        circuit_state.set(_CIRCUIT_STATES.get(state, 0))
        log.warning("axon circuit %s", state, extra={"event": "circuit_state", "state": state})


circuit_state = gauge("orbit_axon_circuit_state", "Axon circuit breaker: 0 closed, 1 open, 2 half-open")


class AxonClient:
    def __init__(
        self,
        base_url: str,
        signing_keys: KeyCache,
        region: str,
        *,
        timeout_seconds: float,
        connect_timeout_seconds: float,
        fail_max: int,
        reset_seconds: float,
    ) -> None:
        self._base_url = base_url.rstrip("/")
        self._keys = signing_keys
        self._region = region
        self._timeout = (connect_timeout_seconds, timeout_seconds)
        self._reset_seconds = reset_seconds
        self._session = requests.Session()
        # No proxy from the environment between Orbit and Axon (and no per-call lookup of proxy settings).
        self._session.trust_env = False
        # Only connection failures are retried: the request never reached Axon, so a retry cannot act twice.
        retry = Retry(total=2, connect=2, read=0, status=0, other=0, backoff_factor=0.02, backoff_jitter=0.02)
        self._session.mount("http://", HTTPAdapter(pool_connections=4, pool_maxsize=64, max_retries=retry))
        self._session.mount("https://", HTTPAdapter(pool_connections=4, pool_maxsize=64, max_retries=retry))
        self._circuit = pybreaker.CircuitMemoryStorage(pybreaker.STATE_CLOSED)
        self.breaker = pybreaker.CircuitBreaker(
            fail_max=fail_max,
            reset_timeout=reset_seconds,
            listeners=[_CircuitGauge()],
            name="axon",
            state_storage=self._circuit,
        )

    def _send(self, method: str, path: str, body: bytes, headers: dict[str, str]) -> requests.Response:
        url = f"{self._base_url}{path}"
        try:
            response = self._session.request(
                method,
                url,
                data=body,
                headers=sign(
                    method,
                    url,
                    body,
                    self._keys.current(),
                    service=AXON_SERVICE,
                    region=self._region,
                    headers=headers,
                ),
                timeout=self._timeout,
            )
        except requests.RequestException as exc:
            raise _AxonFailure(f"{type(exc).__name__}") from exc
        if response.status_code >= 500:
            raise _AxonFailure(f"HTTP {response.status_code}")
        return response

    def call(self, method: str, path: str, payload: dict[str, Any] | None, headers: dict[str, str]) -> AxonAnswer:
        """Send a signed request. A 401 (Axon already moved to a newer key) reloads the key and retries once."""
        body = json.dumps(payload).encode() if payload is not None else b""
        headers = {**headers, **({"Content-Type": "application/json"} if payload is not None else {})}
        try:
            response = self.breaker.call(self._send, method, path, body, headers)
            if response.status_code == 401:
                self._keys.invalidate()
                response = self.breaker.call(self._send, method, path, body, headers)
        except pybreaker.CircuitBreakerError as exc:
            opened = self._circuit.opened_at
            remaining = self._reset_seconds
            if opened is not None:
                remaining = max(1.0, self._reset_seconds - (time.time() - opened.timestamp()))
            raise AxonUnavailable("Axon circuit is open", retry_after=int(remaining + 0.999)) from exc
        except _AxonFailure as exc:
            raise AxonUnavailable(f"Axon call failed: {exc}") from exc
        try:
            data = response.json()
        except ValueError:
            data = {}
        return AxonAnswer(response.status_code, data if isinstance(data, dict) else {})

    def reason(self, payload: dict[str, Any], receipt: str, correlation_id: str) -> AxonAnswer:
        return self.call("POST", "/reason", payload, {"X-Correlation-ID": correlation_id, RECEIPT_HEADER: receipt})
