"""The two proofs Axon asks of every call that makes it act: Orbit's signature, and Governance's receipt for that
very call (POST /reason and the `reason` tool of POST /mcp alike)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from flask import current_app, request

from agent_runtime import receipts, tracing
from agent_runtime.errors import ApiError, service_unavailable
from agent_runtime.metrics import counter
from agent_runtime.sigv4 import VerifiedRequest
from agent_runtime.web import authenticate, read_body

log = logging.getLogger("axon.proofs")

receipt_rejections_total = counter(
    "axon_receipt_rejections_total", "Requests refused for a missing or invalid governance receipt"
)
auth_failures_total = counter("axon_auth_failures_total", "Requests refused by authentication", ("code",))

#: Checks the request's receipt with Governance's public keys, the replay guard and the lifetime cap.
ReceiptCheck = Callable[[str, list[Any], Any, int], receipts.Receipt]


def verify_orbit() -> tuple[VerifiedRequest, bytes]:
    """The request's body, once its signature is Orbit's (401 otherwise)."""
    services = current_app.extensions["axon"]
    body = read_body(services.settings.max_body_bytes)
    return authenticate(services.verifier, body, auth_failures_total), body


def check_receipt(check: ReceiptCheck) -> receipts.Receipt:
    """Governance's receipt of this request, checked by `check`; 403 when it proves no allow of this call, 503
    when it cannot be checked now. A receipt signed by a key Axon does not hold yet (Governance rotated its key
    pair) reloads the keys once, then is judged again."""
    services = current_app.extensions["axon"]
    token = request.headers.get(receipts.RECEIPT_HEADER, "")
    limit = services.settings.receipt_max_lifetime_seconds

    def verify() -> receipts.Receipt:
        return check(token, services.receipt_keys.keys(), services.receipt_guard, limit)

    try:
        try:
            with tracing.span("receipt.verify"):
                return verify()
        except receipts.ReceiptError as first:
            if str(first) != "receipt signature is not Governance's" or not services.receipt_keys.reload_after_miss():
                raise
            return verify()
    except receipts.ReceiptError as exc:
        receipt_rejections_total.inc()
        log.warning("receipt refused: %s", exc, extra={"event": "receipt_refused", "reason": str(exc)})
        raise ApiError(403, "GOVERNANCE_DENIED", "No valid governance receipt for this request") from exc
    except Exception as exc:  # the public key or the replay store cannot be read: refuse, do not guess
        log.exception("receipt could not be checked", extra={"event": "receipt_unavailable"})
        raise service_unavailable("The governance receipt cannot be checked now; try again later") from exc
