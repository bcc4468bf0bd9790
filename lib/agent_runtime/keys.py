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
from collections import OrderedDict
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


def read_secret_versions(sm: Any, secret_id: str, stages: Iterable[str] = (CURRENT, PREVIOUS)) -> list[Credential]:
    """The current and (if any) previous credential held by one secret, current first."""
    found = []
    for stage in (CURRENT, PREVIOUS):
        credential = _read_version(sm, secret_id, stage) if stage in stages else None
        if credential is not None:
            found.append(credential)
    return found


def list_secret_names(sm: Any, prefix: str) -> list[str]:
    return sorted(_list_secrets(sm, prefix))


def _list_secrets(sm: Any, prefix: str) -> dict[str, dict[str, list[str]]]:
    """Every secret under `prefix` -> its version ids and their staging labels, in one paginated listing."""
    found: dict[str, dict[str, list[str]]] = {}
    paginator = sm.get_paginator("list_secrets")
    for page in paginator.paginate(Filters=[{"Key": "name", "Values": [prefix]}]):
        for entry in page["SecretList"]:
            if entry["Name"].startswith(prefix):
                found[entry["Name"]] = entry.get("SecretVersionsToStages", {})
    return found


def _fingerprint(versions_to_stages: dict[str, list[str]]) -> tuple[str, ...]:
    """What changes when a credential of a secret changes: the versions that hold AWSCURRENT or AWSPREVIOUS."""
    return tuple(
        sorted(
            f"{stage}={version}"
            for version, stages in versions_to_stages.items()
            for stage in stages
            if stage in (CURRENT, PREVIOUS)
        )
    )


class KeySource(Protocol):
    """Where a KeyCache reads credentials: a cheap listing of what each secret holds, then the secrets that
    changed since the last look."""

    def versions(self, confirm: bool = False) -> dict[str, tuple[str, ...]]:
        """Every secret of the source -> a fingerprint of its versions (changes whenever a credential does).
        With `confirm`, each one is read consistently, not only listed (see SecretsSource)."""
        ...

    def load_one(self, secret_id: str) -> list[Credential]: ...


@dataclass(frozen=True)
class SecretsSource:
    """The secret named `secret_id`, or every secret under `prefix` (the client credentials)."""

    sm: Any
    secret_id: str | None = None
    prefix: str | None = None

    def versions(self, confirm: bool = False) -> dict[str, tuple[str, ...]]:
        """ListSecrets is eventually consistent in AWS ("might not reflect changes from the last five minutes"):
        a revoked credential can still be listed, with its old stages. With `confirm`, every listed secret is
        described (DescribeSecret is consistent), so a deleted one is dropped and a rotated one re-read: the key
        cache confirms at every TTL reload, which is what bounds a revocation by the TTL."""
        if self.secret_id is not None:
            return self._described([self.secret_id])
        listed = _list_secrets(self.sm, self.prefix or "")
        if confirm:
            return self._described(sorted(listed))
        return {name: _fingerprint(v) for name, v in listed.items()}

    def _described(self, secret_ids: list[str]) -> dict[str, tuple[str, ...]]:
        found = {}
        for secret_id in secret_ids:
            try:
                described = self.sm.describe_secret(SecretId=secret_id)
            except ClientError as exc:
                if exc.response["Error"]["Code"] == "ResourceNotFoundException":
                    continue
                raise
            if described.get("DeletedDate") is None:  # scheduled for deletion: no longer a credential
                found[secret_id] = _fingerprint(described.get("VersionIdsToStages", {}))
        return found

    def load_one(self, secret_id: str) -> list[Credential]:
        return read_secret_versions(self.sm, secret_id)


class KeyStoreUnavailable(Exception):
    """The keys could not be read for longer than the cache may serve what it holds: refuse (fail closed)."""


class _Allowance:
    """A token bucket: `burst` reloads at once, then one per `interval` seconds."""

    def __init__(self, interval: float, burst: int, now: float) -> None:
        self._interval = interval
        self._burst = burst
        self._tokens = float(burst)
        self._at = now

    def _refill(self, now: float) -> None:
        if self._interval > 0:
            self._tokens = min(self._burst, self._tokens + max(0.0, now - self._at) / self._interval)
        else:
            self._tokens = self._burst
        self._at = now

    def wait_time(self, now: float) -> float:
        """Seconds until a token is available (0: one is available now)."""
        self._refill(now)
        return 0.0 if self._tokens >= 1 else (1 - self._tokens) * self._interval

    def take(self, now: float) -> bool:
        self._refill(now)
        if self._tokens >= 1:
            self._tokens -= 1
            return True
        return False


@dataclass(frozen=True)
class _Held:
    fingerprint: tuple[str, ...] | None  # None: re-read at the next listing
    credentials: tuple[Credential, ...]


_SEED = "<seed>"  # the pseudo-secret holding keys injected through the environment


class KeyCache:
    """Access key id -> its credentials (current, then previous), for a verifier or a signer. Thread-safe.

    Loading is incremental: one listing of the secrets (ListSecrets, or DescribeSecret for a single secret) says
    which secrets changed since the last load, and only those are read again. So a reload costs one call when
    nothing changed, and a flood of made-up key ids costs little.

    - Everything is reloaded when older than `ttl_seconds` (a revocation takes effect within that time); one
      reload at a time, while the other requests use the cached keys.
    - When the keys cannot be read, the cached ones are served for at most `max_stale_seconds` after the last
      successful load; past that, every request is refused (KeyStoreUnavailable: fail closed), so throttling or an
      outage of Secrets Manager cannot keep a revoked key alive.
    - A request for an unknown key id waits for a reload that started after it arrived (and triggers it if none
      is running), then is judged on what that reload found: a credential is usable by every request from the
      moment it is created. Concurrent requests share one reload. Such reloads are rate-limited (a burst of
      `refresh_burst`, then one per `refresh_interval` seconds): a request waits for the next allowed reload, up to
      `unknown_wait_seconds`, instead of being refused. An id still unknown after a reload is remembered for
      `negative_ttl_seconds`, so repeating a made-up id costs nothing.
    - A known key id whose signature matches neither cached secret (its owner may have just rotated) triggers a
      reload of that one secret, rate-limited the same way per key id; concurrent requests wait for the reload
      in flight instead of starting their own.
    """

    _NEGATIVE_CACHE_SIZE = 10_000

    def __init__(
        self,
        source: KeySource,
        *,
        ttl_seconds: float = 30.0,
        refresh_interval: float = 1.0,
        refresh_burst: int = 3,
        unknown_wait_seconds: float = 2.0,
        negative_ttl_seconds: float = 5.0,
        max_stale_seconds: float = 120.0,
        seed: Iterable[Credential] = (),
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._source = source
        self._ttl = ttl_seconds
        self._interval = refresh_interval
        self._burst = refresh_burst
        self._unknown_wait = unknown_wait_seconds
        self._negative_ttl = negative_ttl_seconds
        self._max_stale = max(max_stale_seconds, ttl_seconds)
        self._clock = clock
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._held: dict[str, _Held] = {}
        self._by_id: dict[str, list[Credential]] = {}
        self._secret_of: dict[str, str] = {}
        seeded = list(seed)
        if seeded:
            self._held[_SEED] = _Held(None, tuple(seeded))
            self._index()
        now = clock()
        self._loaded_at: float | None = None  # when the last successful load started
        self._confirmed_at: float | None = None  # when the last successful confirmed load started
        self._valid_since: float | None = now if seeded else None  # what may still be served, and since when
        self._failed_at = float("-inf")
        self._loading_since: float | None = None  # when the load in flight started
        self._touched_at: dict[str, float] = {}  # secret -> when a targeted refresh last replaced it
        self._unknown_reloads = _Allowance(refresh_interval, refresh_burst, now)
        self._negative: OrderedDict[str, float] = OrderedDict()
        self._key_refreshes: dict[str, _Allowance] = {}
        self._refresh_locks: dict[str, threading.Lock] = {}
        self._refreshed_at: dict[str, float] = {}

    # --- loading ----------------------------------------------------------------------------------------------

    def _index(self) -> None:
        by_id: dict[str, list[Credential]] = {}
        secret_of: dict[str, str] = {}
        for secret_id, held in self._held.items():
            for credential in held.credentials:
                by_id.setdefault(credential.access_key_id, []).append(credential)
                secret_of[credential.access_key_id] = secret_id
        self._by_id, self._secret_of = by_id, secret_of

    def _load(self, started: float, *, confirm: bool) -> bool:
        """One incremental load (the caller set `_loading_since`). True on success; a failure is logged, not raised.
        A confirmed load reads each secret's versions consistently: only it renews the TTL and the stale bound."""
        try:
            listing = self._source.versions(confirm=confirm)
            with self._lock:
                held = {k: v for k, v in self._held.items() if k != _SEED}
            fresh = {
                name: held[name]
                if name in held and held[name].fingerprint == fingerprint
                else _Held(fingerprint, tuple(self._source.load_one(name)))
                for name, fingerprint in listing.items()
            }
        except Exception:
            log.exception("key reload failed; serving cached keys", extra={"event": "key_cache_stale"})
            with self._changed:
                self._failed_at = self._clock()
                self._loading_since = None
                self._changed.notify_all()
            return False
        with self._changed:
            for name in fresh.keys() & self._held.keys():
                if self._touched_at.get(name, float("-inf")) >= started:  # refreshed while this load ran: newer
                    fresh[name] = self._held[name]
            self._held = fresh
            self._index()
            self._loaded_at = started
            if confirm:
                self._confirmed_at = self._valid_since = started
            self._loading_since = None
            self._changed.notify_all()
        return True

    def _load_after(self, arrived: float, deadline: float, *, budgeted: bool) -> bool:
        """Wait until a load that started at or after `arrived` has succeeded, starting one when none runs (within
        the unknown-id budget when `budgeted`, and never right after a failed one). False when that could not
        happen before `deadline`, or when the load this call started failed."""
        give_up_at = time.monotonic() + max(0.0, deadline - self._clock())  # real time: bounded even if the clock
        with self._changed:
            while True:
                if self._loaded_at is not None and self._loaded_at >= arrived:
                    return True
                now = self._clock()
                remaining = give_up_at - time.monotonic()
                if now >= deadline or remaining <= 0:
                    return False
                if self._loading_since is None:
                    wait = max(
                        self._unknown_reloads.wait_time(now) if budgeted else 0.0,
                        self._failed_at + self._interval - now,
                    )
                    if wait <= 0:
                        if budgeted:
                            self._unknown_reloads.take(now)
                        self._loading_since = started = now
                        break
                    self._changed.wait(min(wait, remaining))
                else:
                    self._changed.wait(remaining)
        loaded = self._load(started, confirm=not budgeted)
        return loaded and self._loaded_at is not None and self._loaded_at >= arrived

    def _ensure_fresh(self) -> None:
        """Reload when older than the TTL. One reload at a time: meanwhile the other requests use the cached keys;
        with nothing servable (no load yet, or the last success is older than max_stale), wait for a load."""
        now = self._clock()
        with self._lock:
            if self._confirmed_at is not None and now - self._confirmed_at <= self._ttl:
                return
            servable = self._valid_since is not None and now - self._valid_since <= self._max_stale
            in_flight = self._loading_since
            start = in_flight is None and now - self._failed_at >= self._interval
            if start:
                self._loading_since = now
        if start:
            self._load(now, confirm=True)
        elif not servable:  # nothing to serve meanwhile: wait for the load in flight (or start one)
            self._load_after(in_flight if in_flight is not None else now, now + self._unknown_wait, budgeted=False)
        with self._lock:
            if self._valid_since is None or self._clock() - self._valid_since > self._max_stale:
                raise KeyStoreUnavailable("the signing keys cannot be read from Secrets Manager")

    # --- lookups ----------------------------------------------------------------------------------------------

    def candidates(self, access_key_id: str) -> list[Credential]:
        """The credentials to try for this key id (empty when unknown, after a reload that started after the
        request arrived)."""
        self._ensure_fresh()
        arrived = self._clock()
        with self._lock:
            found = self._by_id.get(access_key_id)
            if found:
                return list(found)
            if self._negative.get(access_key_id, float("-inf")) > arrived:
                return []
        reloaded = self._load_after(arrived, arrived + self._unknown_wait, budgeted=True)
        with self._lock:
            found = self._by_id.get(access_key_id)
            if found:
                return list(found)
            if reloaded:
                self._negative[access_key_id] = self._clock() + self._negative_ttl
                self._negative.move_to_end(access_key_id)
                while len(self._negative) > self._NEGATIVE_CACHE_SIZE:
                    self._negative.popitem(last=False)
            return []

    def refresh(self, access_key_id: str) -> bool:
        """Reload the secret of a known key id after a mismatch. True when the caller should try again."""
        arrived = self._clock()
        with self._lock:
            secret_id = self._secret_of.get(access_key_id)
            if secret_id is None or secret_id == _SEED:
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
                self._held[secret_id] = _Held(None, tuple(credentials))  # the next listing reads it again
                self._touched_at[secret_id] = self._clock()
                self._index()
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
        """Forget the fingerprints, so that the next use reloads every secret (the peer moved to a newer key)."""
        with self._lock:
            self._loaded_at = self._confirmed_at = None
            self._held = {k: _Held(None, v.credentials) for k, v in self._held.items()}


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
