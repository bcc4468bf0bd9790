"""Orbit's calls to Axon: signed with Orbit's own key, on kept-alive connections, bounded in time, behind a circuit
breaker.

Every dispatch makes one, so it is lean: agent_runtime.http_lean (one kept-alive connection per thread, a small
response parser) and agent_runtime.sigv4.Signer (botocore's signature, byte for byte), where `requests` and
botocore's signer cost about half a millisecond of CPU per call.
"""

from __future__ import annotations

import json
import logging
import random
import time
from dataclasses import dataclass
from typing import Any

from agent_runtime import tracing
from agent_runtime.breaker import CircuitBreaker, CircuitOpen
from agent_runtime.http_lean import ConnectFailed, KeptAlive, Response
from agent_runtime.keys import KeyCache
from agent_runtime.metrics import gauge
from agent_runtime.receipts import RECEIPT_HEADER
from agent_runtime.sigv4 import Credential, Signer

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


#: Connection failures are retried this many times (the request never reached Axon: a retry cannot act twice).
CONNECT_RETRIES = 2


@dataclass(frozen=True)
class AxonAnswer:
    status_code: int
    body: dict[str, Any]


def _json(response: Response) -> Any:
    try:
        return json.loads(response.data)
    except ValueError:
        return None


def _engine_reported(response: Response) -> bool:
    """Axon answered, and says its reasoning engine failed (a model timeout, throttling): Axon itself is healthy,
    so the circuit breaker, which protects Orbit from an Axon that cannot answer, does not count it."""
    body = _json(response)
    return (
        response.status == 503
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
        self._http = KeptAlive(self._base_url, connect_timeout_seconds, timeout_seconds)
        self._signer: tuple[Credential, Signer] | None = None
        self.breaker = CircuitBreaker(fail_max, reset_seconds, on_state_change=_circuit_changed)

    def _send(self, method: str, path: str, body: bytes, headers: dict[str, str]) -> Response:
        """One signed request under the circuit breaker: connection failures, timeouts and 5xx count."""
        with self.breaker.guard(_AxonFailure):
            return self._send_signed(method, path, body, headers)

    def _signer_for(self, credential: Credential) -> Signer:
        """A signer of the current key (made again when the key rotates: it keeps the day's signing key)."""
        if self._signer is None or self._signer[0] != credential:
            self._signer = (
                credential,
                Signer(credential.access_key_id, credential.secret_access_key, AXON_SERVICE, self._region),
            )
        return self._signer[1]

    def _send_signed(self, method: str, path: str, body: bytes, headers: dict[str, str]) -> Response:
        signer = self._signer_for(self._keys.current())
        target = self._http.base_path + path
        for attempt in range(CONNECT_RETRIES + 1):
            signed = signer.sign(method, self._http.netloc, target, body, headers)
            try:
                response = self._http.request(method, target, signed, body, retry_stale=False)
                break
            except ConnectFailed as exc:
                if attempt == CONNECT_RETRIES:
                    raise _AxonFailure(
                        "ConnectTimeout" if isinstance(exc.__cause__, TimeoutError) else "ConnectionError"
                    ) from exc
                time.sleep(0.02 * 2**attempt + random.uniform(0, 0.02))  # noqa: S311  # nosec B311 - jitter
            except TimeoutError as exc:
                raise _AxonFailure("ReadTimeout") from exc
            except OSError as exc:
                raise _AxonFailure(f"ConnectionError: {type(exc).__name__}") from exc
        if response.status >= 500 and not _engine_reported(response):
            raise _AxonFailure(f"HTTP {response.status}")
        return response

    def call(self, method: str, path: str, body: bytes | None, headers: dict[str, str]) -> AxonAnswer:
        """Send a signed request (`body`: JSON bytes). A 401 (Axon already moved to a newer key) reloads the key
        and retries once."""
        headers = {**headers, **({"Content-Type": "application/json"} if body is not None else {})}
        body = body or b""
        try:
            response = self._send(method, path, body, headers)
            if response.status == 401:
                self._keys.invalidate()
                response = self._send(method, path, body, headers)
        except CircuitOpen as exc:
            raise AxonUnavailable("Axon circuit is open", retry_after=exc.retry_after) from exc
        except _AxonFailure as exc:
            raise AxonUnavailable(f"Axon call failed: {exc}") from exc
        data = _json(response)
        return AxonAnswer(response.status, data if isinstance(data, dict) else {})

    def reason(self, body: bytes, receipt: str, correlation_id: str) -> AxonAnswer:
        attributes = {"http.request.method": "POST", "server.address": self._base_url, "url.path": "/reason"}
        with tracing.span("axon.call", tracing.CLIENT, attributes) as span:
            headers = tracing.inject({"X-Correlation-ID": correlation_id, RECEIPT_HEADER: receipt})  # not signed
            answer = self.call("POST", "/reason", body, headers)
            span.set_attribute("http.response.status_code", answer.status_code)
            return answer
