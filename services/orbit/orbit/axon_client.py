"""Orbit's calls to Axon: signed with Orbit's own key, pooled, bounded in time, behind a circuit breaker."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from agent_runtime import tracing
from agent_runtime.breaker import CircuitBreaker, CircuitOpen
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


def _engine_reported(response: requests.Response) -> bool:
    """Axon answered, and says its reasoning engine failed (a model timeout, throttling): Axon itself is healthy,
    so the circuit breaker, which protects Orbit from an Axon that cannot answer, does not count it."""
    try:
        body = response.json()
    except ValueError:
        return False
    return (
        response.status_code == 503
        and isinstance(body, dict)
        and isinstance(body.get("details"), dict)
        and body["details"].get("component") == "engine"
    )


circuit_state = gauge("orbit_axon_circuit_state", "Axon circuit breaker: 0 closed, 1 open, 2 half-open")


def _circuit_changed(state: str) -> None:
    circuit_state.set(_CIRCUIT_STATES[state])
    log.warning("axon circuit %s", state, extra={"event": "circuit_state", "state": state})


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
        self._session = requests.Session()
        # No proxy from the environment between Orbit and Axon (and no per-call lookup of proxy settings).
        self._session.trust_env = False
        # Only connection failures are retried: the request never reached Axon, so a retry cannot act twice.
        retry = Retry(total=2, connect=2, read=0, status=0, other=0, backoff_factor=0.02, backoff_jitter=0.02)
        self._session.mount("http://", HTTPAdapter(pool_connections=4, pool_maxsize=64, max_retries=retry))
        self._session.mount("https://", HTTPAdapter(pool_connections=4, pool_maxsize=64, max_retries=retry))
        self.breaker = CircuitBreaker(fail_max, reset_seconds, on_state_change=_circuit_changed)

    def _send(self, method: str, path: str, body: bytes, headers: dict[str, str]) -> requests.Response:
        """One signed request under the circuit breaker: connection failures, timeouts and 5xx count."""
        with self.breaker.guard(_AxonFailure):
            return self._send_signed(method, path, body, headers)

    def _send_signed(self, method: str, path: str, body: bytes, headers: dict[str, str]) -> requests.Response:
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
        if response.status_code >= 500 and not _engine_reported(response):
            raise _AxonFailure(f"HTTP {response.status_code}")
        return response

    def call(self, method: str, path: str, body: bytes | None, headers: dict[str, str]) -> AxonAnswer:
        """Send a signed request (`body`: JSON bytes). A 401 (Axon already moved to a newer key) reloads the key
        and retries once."""
        headers = {**headers, **({"Content-Type": "application/json"} if body is not None else {})}
        body = body or b""
        try:
            response = self._send(method, path, body, headers)
            if response.status_code == 401:
                self._keys.invalidate()
                response = self._send(method, path, body, headers)
        except CircuitOpen as exc:
            raise AxonUnavailable("Axon circuit is open", retry_after=exc.retry_after) from exc
        except _AxonFailure as exc:
            raise AxonUnavailable(f"Axon call failed: {exc}") from exc
        try:
            data = response.json()
        except ValueError:
            data = {}
        return AxonAnswer(response.status_code, data if isinstance(data, dict) else {})

    def reason(self, body: bytes, receipt: str, correlation_id: str) -> AxonAnswer:
        attributes = {"http.request.method": "POST", "server.address": self._base_url, "url.path": "/reason"}
        with tracing.span("axon.call", tracing.CLIENT, attributes) as span:
            headers = tracing.inject({"X-Correlation-ID": correlation_id, RECEIPT_HEADER: receipt})  # not signed
            answer = self.call("POST", "/reason", body, headers)
            span.set_attribute("http.response.status_code", answer.status_code)
            return answer
