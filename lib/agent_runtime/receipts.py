"""Signed decision receipts: Governance's proof, checked by Axon, that a call was allowed.

A receipt is `<base64url(claims JSON)>.<base64url(Ed25519 signature over the first part)>`. The claims bind
the decision id, the principal, the intent, a digest of exactly what Orbit sends to Axon, and a short
expiry. Axon verifies it with Governance's public key and spends it once, so a stolen Orbit key alone cannot
make Axon act: it would also need an allow that Governance signed for that very request.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from agent_runtime.sigv4 import ReplayGuard

RECEIPT_HEADER = "X-Governance-Receipt"
DEFAULT_TTL_SECONDS = 30
#: Whatever a token says, a verifier accepts it for at most this long after it was issued.
DEFAULT_MAX_LIFETIME_SECONDS = 60
_MAX_RECEIPT_LENGTH = 4096
_B64URL = re.compile(r"^[A-Za-z0-9_-]+$")


class ReceiptError(Exception):
    """Why a receipt is refused (for the log; the client only sees the code)."""


@dataclass(frozen=True)
class Receipt:
    decision_id: str
    principal: str
    intent: str
    request_digest: str
    issued_at: int
    expires_at: int
    policy_set_version: int


def request_digest(intent: str, context: dict[str, Any]) -> str:
    """SHA-256 of the canonical JSON of what Orbit forwards to Axon; both sides compute it the same way."""
    canonical = json.dumps({"intent": intent, "context": context}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def tool_call_digest(tool: str, arguments: dict[str, Any]) -> str:
    """SHA-256 of the canonical JSON of a tool call as its upstream receives it: the tool's own name (without the
    target prefix clients see) and the arguments."""
    canonical = json.dumps({"tool": tool, "arguments": arguments}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    """Strict base64url without padding: any other character, or a non-canonical encoding, is refused (the
    standard decoder would skip junk, so that two different tokens would carry the same signature)."""
    if not _B64URL.match(text):
        raise ValueError("not base64url")
    data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    if _b64(data) != text:
        raise ValueError("not the canonical base64url encoding")
    return data


def generate_key_pair() -> tuple[str, str]:
    """A new Ed25519 key pair as (private PEM, public PEM)."""
    private = Ed25519PrivateKey.generate()
    private_pem = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    public_pem = (
        private.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    return private_pem, public_pem


def public_pem_of(private_pem: str) -> str:
    return (
        load_private_key(private_pem)
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


def load_private_key(pem: str) -> Ed25519PrivateKey:
    key = serialization.load_pem_private_key(pem.encode(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError("the receipt signing key is not an Ed25519 key")
    return key


def load_public_key(pem: str) -> Ed25519PublicKey:
    key = serialization.load_pem_public_key(pem.encode())
    if not isinstance(key, Ed25519PublicKey):
        raise ValueError("the receipt verification key is not an Ed25519 key")
    return key


def issue(
    key: Ed25519PrivateKey,
    *,
    decision_id: str,
    principal: str,
    intent: str,
    digest: str,
    policy_set_version: int,
    now: float,
    ttl_seconds: int = DEFAULT_TTL_SECONDS,
) -> str:
    claims = {
        "did": decision_id,
        "sub": principal,
        "act": intent,
        "dig": digest,
        "psv": policy_set_version,
        "iat": int(now),
        "exp": int(now) + ttl_seconds,
    }
    body = _b64(json.dumps(claims, separators=(",", ":"), sort_keys=True).encode())
    return f"{body}.{_b64(key.sign(body.encode('ascii')))}"


def verify(
    token: str,
    keys: list[Ed25519PublicKey],
    *,
    principal: str | None,
    intent: str,
    digest: str,
    replay_guard: ReplayGuard | None,
    clock: Callable[[], float] = time.time,
    leeway_seconds: int = 5,
    max_lifetime_seconds: int = DEFAULT_MAX_LIFETIME_SECONDS,
) -> Receipt:
    """Check signature, expiry, binding and single use; raise ReceiptError otherwise.

    `keys` may hold two public keys during a rotation of Governance's key pair. A receipt is accepted until its
    expiry or `max_lifetime_seconds` after it was issued, whichever comes first (a signing key misused to issue
    long-lived receipts gains nothing), and never when it was issued before a replay guard that forgets on
    restart started (`not_before`).
    """
    if not token or len(token) > _MAX_RECEIPT_LENGTH or not token.isascii() or token.count(".") != 1:
        raise ReceiptError("malformed receipt")
    body, signature = token.split(".")
    try:
        raw_signature = _unb64(signature)
    except (binascii.Error, ValueError) as exc:
        raise ReceiptError("malformed receipt") from exc
    for key in keys:  # the signature first: nothing of a token that is not Governance's is parsed
        try:
            key.verify(raw_signature, body.encode("ascii"))
            break
        except InvalidSignature:
            continue
    else:
        raise ReceiptError("receipt signature is not Governance's")
    try:
        claims = json.loads(_unb64(body))
    except (binascii.Error, ValueError, RecursionError) as exc:
        raise ReceiptError("malformed receipt") from exc
    if not isinstance(claims, dict):
        raise ReceiptError("malformed receipt")
    try:
        receipt = Receipt(
            decision_id=str(claims["did"]),
            principal=str(claims["sub"]),
            intent=str(claims["act"]),
            request_digest=str(claims["dig"]),
            issued_at=int(claims["iat"]),
            expires_at=int(claims["exp"]),
            policy_set_version=int(claims["psv"]),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ReceiptError("receipt lacks a claim") from exc
    now = clock()
    # The leeway allows for clocks apart in "issued in the future" only: never a second past the expiry or the cap.
    valid_until = min(receipt.expires_at, receipt.issued_at + max_lifetime_seconds)
    if now > valid_until:
        raise ReceiptError("receipt expired")
    if receipt.issued_at > now + leeway_seconds:
        raise ReceiptError("receipt issued in the future")
    if receipt.issued_at < getattr(replay_guard, "not_before", 0.0):
        raise ReceiptError("receipt issued before this server started (its use records are not kept)")
    if (receipt.intent, receipt.request_digest) != (intent, digest) or principal not in (None, receipt.principal):
        raise ReceiptError("receipt was issued for another request")
    if replay_guard is not None and not replay_guard.first_use(f"receipt#{receipt.decision_id}", valid_until):
        raise ReceiptError("receipt already used")
    return receipt


def verify_tool_call(
    token: str,
    keys: list[Ed25519PublicKey],
    *,
    target: str,
    tool: str,
    arguments: dict[str, Any],
    replay_guard: ReplayGuard | None = None,
    clock: Callable[[], float] = time.time,
    max_lifetime_seconds: int = DEFAULT_MAX_LIFETIME_SECONDS,
) -> Receipt:
    """What an upstream MCP server runs to check that Orbit's governance allowed this very call.

    `token` is the `X-Governance-Receipt` header, `keys` Governance's public keys (from Orbit's
    `/.well-known/agent-runtime/receipt-keys`, see fetch_receipt_keys), `target` the name this server was added
    under (`agentctl tools add NAME`), `tool` and `arguments` the call as received. Pass a replay guard to accept each
    receipt once. Raises ReceiptError when the receipt does not prove an allow of this call.
    """
    return verify(
        token,
        keys,
        principal=None,
        intent=f"{target}___{tool}",
        digest=tool_call_digest(tool, arguments),
        replay_guard=replay_guard,
        clock=clock,
        max_lifetime_seconds=max_lifetime_seconds,
    )


def jwk(key: Ed25519PublicKey) -> dict[str, str]:
    """A public key as a JSON Web Key (RFC 8037), with its RFC 7638 thumbprint as `kid`."""
    x = _b64(key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw))
    thumbprint = json.dumps({"crv": "Ed25519", "kty": "OKP", "x": x}, separators=(",", ":"), sort_keys=True)
    kid = _b64(hashlib.sha256(thumbprint.encode()).digest())
    return {"kty": "OKP", "crv": "Ed25519", "x": x, "kid": kid, "use": "sig", "alg": "EdDSA"}


def keys_from_jwks(document: dict[str, Any]) -> list[Ed25519PublicKey]:
    """Governance's public keys from a JWK set (what /.well-known/agent-runtime/receipt-keys answers)."""
    found = []
    for entry in document.get("keys", []):
        if isinstance(entry, dict) and entry.get("kty") == "OKP" and entry.get("crv") == "Ed25519":
            found.append(Ed25519PublicKey.from_public_bytes(_unb64(str(entry.get("x", "")))))
    return found


def fetch_receipt_keys(orbit_url: str, timeout: float = 5.0) -> list[Ed25519PublicKey]:
    """Governance's current and previous public keys, as Orbit publishes them (an upstream caches them and fetches
    again when a receipt names no key it holds: a key rotation)."""
    import requests

    response = requests.get(f"{orbit_url.rstrip('/')}/.well-known/agent-runtime/receipt-keys", timeout=timeout)
    response.raise_for_status()
    return keys_from_jwks(response.json())


class PublicKeyCache:
    """Governance's public keys (current and previous version of the secret), reloaded after `ttl_seconds`.

    A receipt that no cached key verifies triggers one reload at most every `miss_refresh_seconds`, so a
    rotation of Governance's key pair is picked up at once and a flood of forgeries costs no extra calls.
    """

    def __init__(
        self,
        load: Callable[[], list[str]],
        *,
        ttl_seconds: float = 300.0,
        miss_refresh_seconds: float = 1.0,
        seed: str | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._load = load
        self._ttl = ttl_seconds
        self._miss_interval = miss_refresh_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._keys: list[Ed25519PublicKey] = [load_public_key(seed)] if seed else []
        self._loaded_at: float | None = None
        self._last_miss = float("-inf")

    def _reload_locked(self) -> None:
        self._keys = [load_public_key(pem) for pem in self._load()]
        self._loaded_at = self._clock()

    def keys(self) -> list[Ed25519PublicKey]:
        with self._lock:
            if self._loaded_at is None or self._clock() - self._loaded_at > self._ttl:
                try:
                    self._reload_locked()
                except Exception:
                    if not self._keys:
                        raise
                    self._loaded_at = self._clock()
            return list(self._keys)

    def reload_after_miss(self) -> bool:
        """Reload now unless a miss reloaded recently; True when a reload happened."""
        with self._lock:
            now = self._clock()
            if now - self._last_miss < self._miss_interval:
                return False
            self._last_miss = now
            self._reload_locked()
            return True


def public_key_loader(sm: Any, secret_id: str) -> Callable[[], list[str]]:
    """The PEMs of the AWSCURRENT and AWSPREVIOUS versions of the public-key secret."""

    def load() -> list[str]:
        pems = []
        for stage in ("AWSCURRENT", "AWSPREVIOUS"):
            try:
                pems.append(sm.get_secret_value(SecretId=secret_id, VersionStage=stage)["SecretString"])
            except ClientError as exc:
                if stage == "AWSCURRENT" or exc.response["Error"]["Code"] != "ResourceNotFoundException":
                    raise
        return pems

    return load
