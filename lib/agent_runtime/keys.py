"""Signing keys kept in Secrets Manager: issuing, rotating, revoking, and the verifiers' key cache.

Each credential is one secret whose value is JSON {"principal", "access_key_id", "secret_access_key"}. The
access key id is stable for the life of the credential; a rotation stores a new secret under the same id as a
new version. Secrets Manager's staging labels carry the rotation state: AWSCURRENT is the secret clients
should use, AWSPREVIOUS the one before it (still accepted, so that a rotation fails no request in flight), and
any older version is retired (refused).
"""

from __future__ import annotations

import json
import logging
import secrets
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Protocol

from botocore.exceptions import ClientError

from agent_runtime.names import Names
from agent_runtime.sigv4 import Credential

log = logging.getLogger(__name__)

CURRENT = "AWSCURRENT"
PREVIOUS = "AWSPREVIOUS"
_ACCESS_KEY_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"  # pragma: allowlist secret (base32 alphabet)
PRINCIPAL_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$"


class KeyAdminError(Exception):
    """A key operation that cannot be done (unknown principal, already exists, ...)."""


def generate_credential(principal: str, access_key_id: str | None = None) -> Credential:
    """A 40-character secret, under a new access key id (AKAR + 16 base32 characters) unless one is given."""
    access_key_id = access_key_id or "AKAR" + "".join(secrets.choice(_ACCESS_KEY_ALPHABET) for _ in range(16))
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
    """The current and (if any) previous credential held by one secret, current first."""
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


class KeySource(Protocol):
    """Where a KeyCache reads credentials: every secret at once, or one of them again."""

    def load_all(self) -> dict[str, list[Credential]]: ...

    def load_one(self, secret_id: str) -> list[Credential]: ...


@dataclass(frozen=True)
class SecretsSource:
    """The secrets named `secret_id`, or every secret under `prefix` (the client credentials)."""

    sm: Any
    secret_id: str | None = None
    prefix: str | None = None

    def load_all(self) -> dict[str, list[Credential]]:
        names = [self.secret_id] if self.secret_id else list_secret_names(self.sm, self.prefix or "")
        return {name: self.load_one(name) for name in names}

    def load_one(self, secret_id: str) -> list[Credential]:
        return read_secret_versions(self.sm, secret_id)


class _Allowance:
    """A token bucket: `burst` reloads at once, then one per `interval` seconds."""

    def __init__(self, interval: float, burst: int, now: float) -> None:
        self._interval = interval
        self._burst = burst
        self._tokens = float(burst)
        self._at = now

    def take(self, now: float) -> bool:
        if self._interval > 0:
            self._tokens = min(self._burst, self._tokens + (now - self._at) / self._interval)
        else:
            self._tokens = self._burst
        self._at = now
        if self._tokens >= 1:
            self._tokens -= 1
            return True
        return False


class KeyCache:
    """Access key id -> its credentials (current, then previous), for a verifier or a signer. Thread-safe.

    - Everything is reloaded when older than `ttl_seconds` (a revocation takes effect within that time).
    - An unknown access key id triggers at most one full reload; such reloads are rate-limited (a burst of
      `refresh_burst`, then one per `refresh_interval` seconds), so a flood of made-up key ids cannot become a
      flood of Secrets Manager calls.
    - A known key id whose signature matches neither cached secret (its owner may have just rotated) triggers a
      reload of that one secret, rate-limited the same way per key id; concurrent requests wait for the reload
      in flight instead of starting their own.
    """

    def __init__(
        self,
        source: KeySource,
        *,
        ttl_seconds: float = 30.0,
        refresh_interval: float = 1.0,
        refresh_burst: int = 3,
        seed: Iterable[Credential] = (),
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._source = source
        self._ttl = ttl_seconds
        self._interval = refresh_interval
        self._burst = refresh_burst
        self._clock = clock
        self._lock = threading.Lock()
        self._reload_lock = threading.Lock()
        self._by_id: dict[str, list[Credential]] = {}
        self._secret_of: dict[str, str] = {}
        for credential in seed:
            self._by_id.setdefault(credential.access_key_id, []).append(credential)
        self._loaded_at: float | None = None
        self._full_refreshes = _Allowance(refresh_interval, refresh_burst, clock())
        self._key_refreshes: dict[str, _Allowance] = {}
        self._refresh_locks: dict[str, threading.Lock] = {}
        self._refreshed_at: dict[str, float] = {}

    def _install(self, loaded: dict[str, list[Credential]]) -> None:
        by_id: dict[str, list[Credential]] = {}
        secret_of: dict[str, str] = {}
        for secret_id, credentials in loaded.items():
            for credential in credentials:
                by_id.setdefault(credential.access_key_id, []).append(credential)
                secret_of[credential.access_key_id] = secret_id
        self._by_id, self._secret_of = by_id, secret_of
        self._loaded_at = self._clock()

    def _ensure_fresh(self) -> None:
        """Reload when stale. One reload at a time: while it runs, the other requests use the cached keys (or,
        before the first load, wait for it)."""
        with self._lock:
            if self._loaded_at is not None and self._clock() - self._loaded_at <= self._ttl:
                return
            have_keys = bool(self._by_id)
        if not self._reload_lock.acquire(blocking=not have_keys):
            return
        try:
            with self._lock:
                if self._loaded_at is not None and self._clock() - self._loaded_at <= self._ttl:
                    return  # another thread reloaded while this one waited
            try:
                loaded = self._source.load_all()
            except Exception:
                with self._lock:
                    if self._loaded_at is None and not self._by_id:
                        raise
                    # Keep serving the keys we have: an outage of Secrets Manager must not refuse every request.
                    log.exception("key reload failed; serving cached keys", extra={"event": "key_cache_stale"})
                    self._loaded_at = self._clock()
                return
            with self._lock:
                self._install(loaded)
        finally:
            self._reload_lock.release()

    def candidates(self, access_key_id: str) -> list[Credential]:
        """The credentials to try for this key id; an unknown id causes one rate-limited full reload."""
        self._ensure_fresh()
        with self._lock:
            found = self._by_id.get(access_key_id)
            if found:
                return list(found)
            if not self._full_refreshes.take(self._clock()):
                return []
        loaded = self._source.load_all()
        with self._lock:
            self._install(loaded)
            return list(self._by_id.get(access_key_id, []))

    def refresh(self, access_key_id: str) -> bool:
        """Reload the secret of a known key id after a mismatch. True when the caller should try again."""
        arrived = self._clock()
        with self._lock:
            secret_id = self._secret_of.get(access_key_id)
            if secret_id is None:
                return False
            key_lock = self._refresh_locks.setdefault(access_key_id, threading.Lock())
            allowance = self._key_refreshes.setdefault(access_key_id, _Allowance(self._interval, self._burst, arrived))
        with key_lock:
            if self._refreshed_at.get(access_key_id, float("-inf")) >= arrived:
                return True  # a reload finished while we waited: try again with it
            if not allowance.take(self._clock()):
                return False
            credentials = self._source.load_one(secret_id)
            with self._lock:
                others = {k: v for k, v in self._by_id.items() if self._secret_of.get(k) != secret_id}
                for credential in credentials:
                    others.setdefault(credential.access_key_id, []).append(credential)
                    self._secret_of[credential.access_key_id] = secret_id
                self._by_id = others
            self._refreshed_at[access_key_id] = self._clock()
            return True

    def current(self) -> Credential:
        """The AWSCURRENT credential (for a signer whose cache holds one secret)."""
        self._ensure_fresh()
        with self._lock:
            for credentials in self._by_id.values():
                for credential in credentials:
                    if credential.stage == CURRENT:
                        return credential
        raise KeyAdminError("no current signing key")

    def invalidate(self) -> None:
        with self._lock:
            self._loaded_at = None


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
    versions: int  # 1, or 2 while the previous secret is still accepted
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


def rotate_secret(sm: Any, secret_id: str) -> Credential:
    """Store a new secret under the same access key id as AWSCURRENT; the old one becomes AWSPREVIOUS."""
    current = _read_version(sm, secret_id, CURRENT)
    if current is None:
        raise KeyAdminError(f"no credential named {secret_id!r}")
    credential = generate_credential(current.principal, current.access_key_id)
    sm.put_secret_value(SecretId=secret_id, SecretString=credential_to_json(credential))
    return credential


def rotate_client_key(sm: Any, names: Names, principal: str) -> Credential:
    return rotate_secret(sm, names.client_secret(principal))


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
        described = sm.describe_secret(SecretId=name)
        infos.append(
            KeyInfo(
                principal=current.principal,
                secret_name=name,
                access_key_id=current.access_key_id,
                versions=len(versions),
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
