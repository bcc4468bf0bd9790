"""Signing keys kept in Secrets Manager: issuing, rotating, revoking, and the verifiers' key cache.

Each credential is one secret whose value is JSON {"principal", "access_key_id", "secret_access_key"}.
Secrets Manager's staging labels carry the rotation state: AWSCURRENT is the key clients should use,
AWSPREVIOUS the one before it (still accepted, so that a rotation fails no request in flight), and any older
version is retired (refused). A rotation issues a new access key id as well as a new secret, like IAM.
"""

from __future__ import annotations

import json
import logging
import secrets
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from agent_runtime.names import Names
from agent_runtime.sigv4 import Credential

log = logging.getLogger(__name__)

CURRENT = "AWSCURRENT"
PREVIOUS = "AWSPREVIOUS"
_ACCESS_KEY_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
PRINCIPAL_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$"


class KeyAdminError(Exception):
    """A key operation that cannot be done (unknown principal, already exists, ...)."""


def generate_credential(principal: str) -> Credential:
    """A fresh access key id (AKAR + 16 base32 characters) and a 40-character secret."""
    access_key_id = "AKAR" + "".join(secrets.choice(_ACCESS_KEY_ALPHABET) for _ in range(16))
    return Credential(access_key_id, secrets.token_urlsafe(30), principal)


def credential_to_json(credential: Credential) -> str:
    return json.dumps(
        {
            "principal": credential.principal,
            "access_key_id": credential.access_key_id,
            "secret_access_key": credential.secret_access_key,
        }
    )


def credential_from_json(text: str, stage: str = CURRENT) -> Credential:
    data = json.loads(text)
    return Credential(str(data["access_key_id"]), str(data["secret_access_key"]), str(data["principal"]), stage)


# --- reading ----------------------------------------------------------------------------------------------


def _read_version(sm: Any, secret_id: str, stage: str) -> Credential | None:
    try:
        value = sm.get_secret_value(SecretId=secret_id, VersionStage=stage)
    except ClientError as exc:
        if exc.response["Error"]["Code"] in ("ResourceNotFoundException", "InvalidRequestException"):
            return None
        raise
    return credential_from_json(value["SecretString"], stage)


def read_secret_versions(sm: Any, secret_id: str) -> list[Credential]:
    """The current and (if any) previous credential held by one secret."""
    found = []
    for stage in (CURRENT, PREVIOUS):
        credential = _read_version(sm, secret_id, stage)
        if credential is not None:
            found.append(credential)
    return found


def list_secret_names(sm: Any, prefix: str) -> list[str]:
    names: list[str] = []
    paginator = sm.get_paginator("list_secrets")
    for page in paginator.paginate(Filters=[{"Key": "name", "Values": [prefix]}]):
        names.extend(s["Name"] for s in page["SecretList"] if s["Name"].startswith(prefix))
    return sorted(names)


class KeyCache:
    """Access key id -> Credential, for a verifier. Thread-safe.

    Reloaded from `load()` when older than `ttl_seconds`; an unknown access key id triggers at most one
    reload, and such reloads happen at most once per `miss_refresh_interval` seconds, so that a flood of
    made-up key ids cannot turn into a flood of Secrets Manager calls.
    """

    def __init__(
        self,
        load: Callable[[], Iterable[Credential]],
        *,
        ttl_seconds: float = 60.0,
        miss_refresh_interval: float = 1.0,
        seed: Iterable[Credential] = (),
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._load = load
        self._ttl = ttl_seconds
        self._miss_interval = miss_refresh_interval
        self._clock = clock
        self._lock = threading.Lock()
        self._by_id: dict[str, Credential] = {c.access_key_id: c for c in seed}
        self._loaded_at: float | None = None
        self._last_miss_refresh = float("-inf")
        self.reloads = 0

    def _reload_locked(self) -> None:
        self._by_id = {c.access_key_id: c for c in self._load()}
        self._loaded_at = self._clock()
        self.reloads += 1

    def _ensure_fresh_locked(self) -> None:
        if self._loaded_at is None or self._clock() - self._loaded_at > self._ttl:
            try:
                self._reload_locked()
            except Exception:
                if self._loaded_at is None and not self._by_id:
                    raise
                # Keep serving the keys we have: an outage of Secrets Manager must not refuse every request.
                log.exception("key reload failed; serving cached keys", extra={"event": "key_cache_stale"})
                self._loaded_at = self._clock()

    def resolve(self, access_key_id: str) -> Credential | None:
        with self._lock:
            self._ensure_fresh_locked()
            credential = self._by_id.get(access_key_id)
            if credential is not None:
                return credential
            now = self._clock()
            if now - self._last_miss_refresh < self._miss_interval:
                return None
            self._last_miss_refresh = now
            self._reload_locked()
            return self._by_id.get(access_key_id)

    def current(self) -> Credential:
        """The AWSCURRENT credential (for a signer of a single-secret cache)."""
        with self._lock:
            self._ensure_fresh_locked()
            for credential in self._by_id.values():
                if credential.stage == CURRENT:
                    return credential
        raise KeyAdminError("no current signing key")

    def invalidate(self) -> None:
        with self._lock:
            self._loaded_at = None


def secret_loader(sm: Any, secret_id: str) -> Callable[[], list[Credential]]:
    return lambda: read_secret_versions(sm, secret_id)


def prefix_loader(sm: Any, prefix: str) -> Callable[[], list[Credential]]:
    def load() -> list[Credential]:
        found: list[Credential] = []
        for name in list_secret_names(sm, prefix):
            found.extend(read_secret_versions(sm, name))
        return found

    return load


def seed_from_env(value: str | dict[str, Any] | None) -> list[Credential]:
    """A key injected by ECS through the task definition's `secrets` map, used until the first reload.

    Flask's from_prefixed_env may already have parsed the JSON into a dict.
    """
    if not value:
        return []
    try:
        return [credential_from_json(value if isinstance(value, str) else json.dumps(value))]
    except (ValueError, KeyError, TypeError):
        log.warning("ignoring a malformed key in the environment", extra={"event": "key_seed_invalid"})
        return []


# --- administration (agentctl) ----------------------------------------------------------------------------


@dataclass(frozen=True)
class KeyInfo:
    principal: str
    secret_name: str
    access_key_id: str
    previous_access_key_id: str | None
    created: str | None
    last_rotated: str | None


def _kms_args(kms_key_id: str | None) -> dict[str, str]:
    return {"KmsKeyId": kms_key_id} if kms_key_id else {}


def create_client_key(sm: Any, names: Names, principal: str, kms_key_id: str | None = None) -> Credential:
    credential = generate_credential(principal)
    try:
        sm.create_secret(
            Name=names.client_secret(principal),
            Description=f"agent-runtime client credential of {principal}",
            SecretString=credential_to_json(credential),
            Tags=[
                {"Key": "agent-runtime:kind", "Value": "client-credential"},
                {"Key": "agent-runtime:principal", "Value": principal},
            ],
            **_kms_args(kms_key_id),
        )
    except ClientError as exc:
        if exc.response["Error"]["Code"] == "ResourceExistsException":
            raise KeyAdminError(f"a credential for {principal!r} already exists; rotate it instead") from exc
        raise
    return credential


def rotate_secret(sm: Any, secret_id: str, principal: str) -> Credential:
    """Store a new version as AWSCURRENT; Secrets Manager moves the old one to AWSPREVIOUS."""
    credential = generate_credential(principal)
    try:
        sm.put_secret_value(SecretId=secret_id, SecretString=credential_to_json(credential))
    except ClientError as exc:
        if exc.response["Error"]["Code"] == "ResourceNotFoundException":
            raise KeyAdminError(f"no credential named {secret_id!r}") from exc
        raise
    return credential


def rotate_client_key(sm: Any, names: Names, principal: str) -> Credential:
    return rotate_secret(sm, names.client_secret(principal), principal)


def revoke_client_key(sm: Any, names: Names, principal: str) -> None:
    """Delete the credential now, all versions, without a recovery window: a revocation is final."""
    try:
        sm.describe_secret(SecretId=names.client_secret(principal))
        sm.delete_secret(SecretId=names.client_secret(principal), ForceDeleteWithoutRecovery=True)
    except ClientError as exc:
        if exc.response["Error"]["Code"] == "ResourceNotFoundException":
            raise KeyAdminError(f"no credential for {principal!r}") from exc
        raise


def list_client_keys(sm: Any, names: Names) -> list[KeyInfo]:
    """Metadata of every client credential; never a secret."""
    infos = []
    for name in list_secret_names(sm, names.client_secret_prefix):
        versions = {c.stage: c for c in read_secret_versions(sm, name)}
        current = versions.get(CURRENT)
        if current is None:
            continue
        previous = versions.get(PREVIOUS)
        described = sm.describe_secret(SecretId=name)
        infos.append(
            KeyInfo(
                principal=current.principal,
                secret_name=name,
                access_key_id=current.access_key_id,
                previous_access_key_id=previous.access_key_id if previous else None,
                created=_iso(described.get("CreatedDate")),
                last_rotated=_iso(described.get("LastChangedDate")),
            )
        )
    return infos


def _iso(value: Any) -> str | None:
    return value.isoformat() if hasattr(value, "isoformat") else None


def ensure_signing_key(sm: Any, secret_id: str, principal: str, kms_key_id: str | None = None) -> bool:
    """Create a service signing key if it does not exist yet. True when created."""
    try:
        sm.describe_secret(SecretId=secret_id)
        return False
    except ClientError as exc:
        if exc.response["Error"]["Code"] != "ResourceNotFoundException":
            raise
    sm.create_secret(
        Name=secret_id,
        Description=f"agent-runtime signing key of {principal}",
        SecretString=credential_to_json(generate_credential(principal)),
        **_kms_args(kms_key_id),
    )
    return True
