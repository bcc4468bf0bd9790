"""A signed client call to Orbit, for operators and newcomers: no SigV4 code needed."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

import requests

from agent_runtime.keys import read_secret_versions
from agent_runtime.names import Names
from agent_runtime.sigv4 import Credential, sign

CLIENT_SERVICE = "execute-api"


class DispatchError(Exception):
    pass


@dataclass
class DispatchResult:
    status_code: int
    body: Any
    headers: dict[str, str]
    elapsed_ms: float


def stored_credential(sm: Any, names: Names, principal: str) -> Credential:
    """The current credential of a client, read from Secrets Manager (needs the operator's access)."""
    for credential in read_secret_versions(sm, names.client_secret(principal)):
        if credential.stage == "AWSCURRENT":
            return credential
    raise DispatchError(f"no stored credential for {principal!r}; create one with `agentctl keys create {principal}`")


def dispatch(
    url: str,
    credential: Credential,
    region: str,
    intent: str,
    context: dict[str, Any],
    correlation_id: str | None = None,
    timeout: float = 30.0,
) -> DispatchResult:
    """POST /dispatch signed for `region` (the credential scope Orbit checks)."""
    body = json.dumps({"intent": intent, "context": context}).encode()
    endpoint = url.rstrip("/") + "/dispatch"
    headers = {"Content-Type": "application/json"}
    if correlation_id:
        headers["X-Correlation-ID"] = correlation_id
    signed = sign("POST", endpoint, body, credential, service=CLIENT_SERVICE, region=region, headers=headers)
    started = time.perf_counter()
    try:
        response = requests.post(endpoint, data=body, headers=signed, timeout=timeout)
    except requests.RequestException as exc:
        raise DispatchError(f"could not reach Orbit at {url}: {type(exc).__name__}") from exc
    try:
        parsed: Any = response.json()
    except ValueError:
        parsed = response.text
    return DispatchResult(
        response.status_code, parsed, dict(response.headers), round((time.perf_counter() - started) * 1000, 1)
    )
