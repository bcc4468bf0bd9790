"""Server-side verification of AWS Signature Version 4 (header-based).

Why hand-written: botocore and requests-aws4auth only *sign*; no maintained Python library verifies SigV4 on
the server, and re-signing through botocore's signer would canonicalise Flask's decoded view of the request
instead of the bytes the client signed. The canonicalisation rules here follow the AWS documentation and the
official test vectors (tests/vectors/aws-sigv4), and reuse botocore's own dot-segment removal so
that client and server normalise paths identically.

The verifier is strict where AWS is lax: it requires `host`, `x-amz-date` and every `x-amz-*` header to be
signed, binds the body through its SHA-256, refuses unsigned or streaming payloads and presigned URLs, and
refuses a signature it has already accepted (replay protection, see agent_runtime.replay).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol
from urllib.parse import quote, unquote_to_bytes

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.utils import normalize_url_path

from agent_runtime.errors import ApiError

ALGORITHM = "AWS4-HMAC-SHA256"
DEFAULT_MAX_SKEW_SECONDS = 300
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()

_SIGNATURE_RE = re.compile(r"^[0-9a-f]{64}$")
_AMZ_DATE_RE = re.compile(r"^\d{8}T\d{6}Z$")
_HEADER_NAME_RE = re.compile(r"^[!#$%&'*+\-.^_`|~0-9a-z]+$")
_AUTH_FIELDS = ("Credential", "SignedHeaders", "Signature")

log = logging.getLogger(__name__)


class SignatureError(ApiError):
    """A request whose signature cannot be accepted. The client is told which rule failed (`details.reason`), and
    for a signature mismatch the canonical request and string to sign the server computed, as AWS does: enough to
    find the bug in a client's signer, never a secret (neither the key nor the expected signature)."""

    def __init__(
        self,
        reason: str,
        *,
        code: str = "INVALID_SIGNATURE",
        message: str | None = None,
        computed: dict[str, str] | None = None,
    ) -> None:
        super().__init__(
            401,
            code,
            message
            or (
                "Request signature is missing"
                if code == "MISSING_AUTHORIZATION"
                else "Request signature could not be verified"
            ),
            details={"reason": reason, **(computed or {})},
        )
        self.reason = reason


@dataclass(frozen=True)
class Credential:
    """One version of a signing key."""

    access_key_id: str
    secret_access_key: str
    principal: str
    stage: str = "AWSCURRENT"

    def __repr__(self) -> str:  # never let the secret reach a log line through repr()
        return f"Credential(access_key_id={self.access_key_id!r}, principal={self.principal!r}, stage={self.stage!r})"


@dataclass(frozen=True)
class RawRequest:
    """The parts of an HTTP request that SigV4 signs, exactly as they arrived on the wire.

    `raw_path` and `raw_query` are the undecoded request-target (WSGI `RAW_URI` split at `?`); `headers`
    maps lowercase names to values, with repeated headers already joined by ',' (as WSGI servers do).
    """

    method: str
    raw_path: str
    raw_query: str
    headers: Mapping[str, str]
    body: bytes


@dataclass(frozen=True)
class VerifiedRequest:
    """What a successful verification proves."""

    credential: Credential
    signature: str
    amz_date: datetime
    signed_headers: tuple[str, ...] = field(default=())

    @property
    def principal(self) -> str:
        return self.credential.principal


class KeyResolver(Protocol):
    """Where the verifier finds keys (agent_runtime.keys.KeyCache in the services)."""

    def candidates(self, access_key_id: str) -> list[Credential]:
        """The credentials to try for this key id (current first, then previous); empty when unknown."""
        ...

    def refresh(self, access_key_id: str) -> bool:
        """After a mismatch: reload this key id's secret if allowed. True when worth trying again."""
        ...


class StaticKeys:
    """A fixed set of credentials (tests, and tools that verify with a key they hold)."""

    def __init__(self, credentials: Iterable[Credential]) -> None:
        self._by_id: dict[str, list[Credential]] = {}
        for credential in credentials:
            self._by_id.setdefault(credential.access_key_id, []).append(credential)

    def candidates(self, access_key_id: str) -> list[Credential]:
        return list(self._by_id.get(access_key_id, []))

    def refresh(self, access_key_id: str) -> bool:
        return False


class ReplayGuard:
    """What the verifier needs from a replay store: record a key once; False when it was already there."""

    def first_use(self, key: str, expires_at: float) -> bool:  # pragma: no cover - interface
        raise NotImplementedError


# --- canonicalisation -------------------------------------------------------------------------------------


def _wire_bytes(text: str) -> bytes:
    """WSGI hands over the request-target as latin-1 decoded bytes; get the bytes back."""
    try:
        return text.encode("latin-1")
    except UnicodeEncodeError:
        return text.encode("utf-8")


def canonical_uri(raw_path: str) -> str:
    """Normalise dot segments and repeated slashes, then URI-encode once more (non-S3 rule)."""
    path = _wire_bytes(raw_path or "/").decode("utf-8", errors="surrogateescape")
    normalized = normalize_url_path(path) or "/"
    return quote(normalized.encode("utf-8", errors="surrogateescape"), safe="/~")


def canonical_query(raw_query: str) -> str:
    """Decode each name and value (`+` is a space), re-encode per RFC 3986, sort by name then value."""
    if not raw_query:
        return ""
    pairs = []
    for piece in _wire_bytes(raw_query).split(b"&"):
        if not piece:
            continue
        name, _, value = piece.partition(b"=")
        pairs.append(
            (
                quote(unquote_to_bytes(name.replace(b"+", b" ")), safe="-_.~"),
                quote(unquote_to_bytes(value.replace(b"+", b" ")), safe="-_.~"),
            )
        )
    return "&".join(f"{name}={value}" for name, value in sorted(pairs))


def query_as_sent(raw_query: str) -> str:
    """botocore's form for a URL it was handed already encoded: names and values as sent, sorted.

    botocore signs `?next=http://x/y:z` without re-encoding it, where AWS's rule (canonical_query) encodes
    `:` and `/`. Both forms are deterministic functions of the bytes on the wire and both decode to the same
    parameters, so accepting a signature over either adds no way to forge; the verifier tries this form only
    when it differs from the canonical one.
    """
    pairs = [piece.partition("=") for piece in raw_query.split("&") if piece]
    return "&".join(f"{name}={value}" for name, _, value in sorted(pairs))


def query_forms(raw_query: str) -> list[str]:
    canonical = canonical_query(raw_query)
    as_sent = query_as_sent(raw_query)
    return [canonical] if as_sent == canonical else [canonical, as_sent]


def canonical_header_value(value: str) -> str:
    """Trim, and collapse every run of whitespace (including folded lines) to one space."""
    return " ".join(value.split())


def canonical_request(
    request: RawRequest, signed_headers: Iterable[str], payload_hash: str, query: str | None = None
) -> str:
    names = list(signed_headers)
    header_lines = "".join(f"{name}:{canonical_header_value(request.headers[name])}\n" for name in names)
    return "\n".join(
        [
            request.method.upper(),
            canonical_uri(request.raw_path),
            canonical_query(request.raw_query) if query is None else query,
            header_lines,
            ";".join(names),
            payload_hash,
        ]
    )


def signing_key(secret_access_key: str, date_stamp: str, region: str, service: str) -> bytes:
    key = ("AWS4" + secret_access_key).encode("utf-8")
    for part in (date_stamp, region, service, "aws4_request"):
        key = hmac.new(key, part.encode("utf-8"), hashlib.sha256).digest()
    return key


def string_to_sign(amz_date: str, scope: str, canonical: str) -> str:
    return "\n".join([ALGORITHM, amz_date, scope, hashlib.sha256(canonical.encode("utf-8")).hexdigest()])


# --- parsing ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AuthorizationHeader:
    access_key_id: str
    date_stamp: str
    region: str
    service: str
    terminator: str
    signed_headers: tuple[str, ...]
    signature: str


def parse_authorization(value: str) -> AuthorizationHeader:
    """Parse `AWS4-HMAC-SHA256 Credential=..., SignedHeaders=..., Signature=...` strictly."""
    if not value.isascii():
        raise SignatureError("the Authorization header is not ASCII")
    algorithm, _, rest = value.strip().partition(" ")
    if algorithm != ALGORITHM:
        raise SignatureError(f"algorithm {algorithm[:32]!r} is not supported, expected {ALGORITHM}")
    fields: dict[str, str] = {}
    for part in rest.split(","):
        name, sep, field_value = part.strip().partition("=")
        if not sep or name not in _AUTH_FIELDS:
            raise SignatureError(f"the Authorization header has a malformed field {name[:32]!r}")
        if name in fields:
            raise SignatureError(f"the Authorization header repeats {name}")
        fields[name] = field_value
    missing = [name for name in _AUTH_FIELDS if name not in fields]
    if missing:
        raise SignatureError(f"the Authorization header lacks {', '.join(missing)}")

    scope = fields["Credential"].split("/")
    if len(scope) != 5 or not all(scope):
        raise SignatureError("the credential must be KEY/DATE/REGION/SERVICE/aws4_request (5 parts)")
    access_key_id, date_stamp, region, service, terminator = scope

    signed_headers = tuple(fields["SignedHeaders"].split(";"))
    if not all(signed_headers) or not all(_HEADER_NAME_RE.match(name) for name in signed_headers):
        raise SignatureError("SignedHeaders must be lowercase header names separated by ';'")
    if list(signed_headers) != sorted(set(signed_headers)):
        raise SignatureError("SignedHeaders must be sorted and unique")

    signature = fields["Signature"]
    if not _SIGNATURE_RE.match(signature):
        raise SignatureError("the signature must be 64 lowercase hex characters")
    return AuthorizationHeader(access_key_id, date_stamp, region, service, terminator, signed_headers, signature)


def parse_amz_date(value: str) -> datetime:
    if not _AMZ_DATE_RE.match(value):
        raise SignatureError("x-amz-date must be YYYYMMDDTHHMMSSZ (UTC)")
    try:
        return datetime.strptime(value, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    except ValueError as exc:
        raise SignatureError("x-amz-date is not a valid date") from exc


# --- verification -----------------------------------------------------------------------------------------


class SigV4Verifier:
    """Verifies header-signed SigV4 requests for one service name and region.

    `keys` gives the credentials of an access key id (current, then previous version); `replay_guard` records
    each accepted signature once (None disables replay protection: the official test vectors only).
    """

    def __init__(
        self,
        *,
        service: str,
        region: str,
        keys: KeyResolver,
        replay_guard: ReplayGuard | None,
        max_skew_seconds: int = DEFAULT_MAX_SKEW_SECONDS,
        clock: Callable[[], float] = time.time,
        allowed_hosts: frozenset[str] = frozenset(),
    ) -> None:
        self.service = service
        self.region = region
        self.keys = keys
        self.replay_guard = replay_guard
        self.max_skew_seconds = max_skew_seconds
        self.clock = clock
        # The Host values a request may be signed for (empty: any). A request signed for another service that
        # shares the key (another environment's Axon, say) is then refused even within its time window.
        self.allowed_hosts = allowed_hosts

    def verify(self, request: RawRequest, *, record: bool = True) -> VerifiedRequest:
        """The request's proven principal, or SignatureError. With `record=False` the signature is not spent yet:
        the caller calls record() once it knows the request acts (an MCP tools/call; not a tools/list, which MCP
        clients send byte for byte alike)."""
        headers = request.headers
        authorization = headers.get("authorization")
        if authorization is None:
            if "x-amz-signature" in request.raw_query.lower() or "x-amz-credential" in request.raw_query.lower():
                raise SignatureError(
                    "presigned (query-string) authentication is not accepted",
                    message="Presigned (query-string) authentication is not accepted; sign the Authorization header",
                )
            raise SignatureError("the request has no Authorization header", code="MISSING_AUTHORIZATION")

        auth = parse_authorization(authorization)
        self._check_signed_header_policy(auth, headers)
        if self.allowed_hosts and headers["host"].strip().lower() not in self.allowed_hosts:
            expected = ", ".join(sorted(self.allowed_hosts))
            raise SignatureError(f"host {headers['host'][:64]!r} is not this service's (expected {expected})")
        amz_date_text = headers["x-amz-date"].strip()
        amz_date = parse_amz_date(amz_date_text)
        self._check_scope(auth, amz_date)
        self._check_clock(amz_date)
        payload_hash = self._payload_hash(request)

        candidates = self.keys.candidates(auth.access_key_id)
        if not candidates:
            raise SignatureError("unknown access key id")
        scope = f"{auth.date_stamp}/{auth.region}/{auth.service}/{auth.terminator}"
        canonical_forms = [
            canonical_request(request, auth.signed_headers, payload_hash, query)
            for query in query_forms(request.raw_query)
        ]
        to_sign = [string_to_sign(amz_date_text, scope, canonical) for canonical in canonical_forms]
        credential = self._match(candidates, auth, to_sign)
        if credential is None and self.keys.refresh(auth.access_key_id):
            # The key's owner may have rotated it a moment ago: judge again with what the store holds now.
            credential = self._match(self.keys.candidates(auth.access_key_id), auth, to_sign)
        if credential is None:
            log.debug("sigv4 mismatch", extra={"access_key_id": auth.access_key_id})
            raise SignatureError(
                "signature does not match: check the secret key and the canonical request",
                computed={"canonical_request": canonical_forms[0], "string_to_sign": to_sign[0]},
            )

        verified = VerifiedRequest(credential, auth.signature, amz_date, auth.signed_headers)
        if self.replay_guard is not None:
            self._check_started(amz_date)
            if record:
                self.record(verified)
        return verified

    def record(self, verified: VerifiedRequest) -> None:
        """Spend a verified signature: a second request with it inside the clock window is refused."""
        if self.replay_guard is None:
            return
        expires_at = verified.amz_date.timestamp() + self.max_skew_seconds + 1
        if not self.replay_guard.first_use(f"sigv4#{verified.signature}", expires_at):
            raise SignatureError("this signature was already used: sign every request anew")

    @staticmethod
    def _match(candidates: list[Credential], auth: AuthorizationHeader, to_sign: list[str]) -> Credential | None:
        """The credential (current or previous version) whose signature equals the request's, if any."""
        presented = auth.signature.encode("ascii")
        for credential in candidates:
            key = signing_key(credential.secret_access_key, auth.date_stamp, auth.region, auth.service)
            for text in to_sign:
                expected = hmac.new(key, text.encode("utf-8"), hashlib.sha256).hexdigest().encode("ascii")
                if hmac.compare_digest(expected, presented):
                    return credential
        return None

    def _check_signed_header_policy(self, auth: AuthorizationHeader, headers: Mapping[str, str]) -> None:
        signed = set(auth.signed_headers)
        for required in ("host", "x-amz-date"):
            if required not in signed:
                raise SignatureError(f"signed headers must include {required}")
        for name in headers:
            # An unsigned x-amz-content-sha256 is tolerated (aws-requests-auth sends it unsigned, and AWS accepts
            # it): it declares nothing the signature does not already bind, and _payload_hash refuses it unless it
            # is the hash of the body received. Any other x-amz-* header, a security token above all, must be signed.
            if name.startswith("x-amz-") and name not in signed and name != "x-amz-content-sha256":
                raise SignatureError(f"header {name} is present but not signed")
        for name in auth.signed_headers:
            if name not in headers:
                raise SignatureError(f"signed header {name} is missing from the request")

    def _check_scope(self, auth: AuthorizationHeader, amz_date: datetime) -> None:
        if auth.terminator != "aws4_request":
            raise SignatureError(f"credential scope terminator {auth.terminator[:32]!r}, expected aws4_request")
        if auth.service != self.service:
            raise SignatureError(f"credential scope service {auth.service[:32]}, expected {self.service}")
        if auth.region != self.region:
            raise SignatureError(f"credential scope region {auth.region[:32]}, expected {self.region}")
        if auth.date_stamp != amz_date.strftime("%Y%m%d"):
            raise SignatureError(
                f"credential scope date {auth.date_stamp[:16]} differs from x-amz-date {amz_date:%Y%m%d}"
            )

    def _check_clock(self, amz_date: datetime) -> None:
        skew = self.clock() - amz_date.timestamp()
        if abs(skew) > self.max_skew_seconds:
            raise SignatureError(
                f"x-amz-date is {abs(skew):.0f} s {'before' if skew > 0 else 'after'} server time "
                f"(window {self.max_skew_seconds} s)"
            )

    def _check_started(self, amz_date: datetime) -> None:
        """A replay guard that forgets on restart (not_before > 0) cannot tell whether a request signed before
        the process started was already served: refuse it, so that a restart reopens no replay window."""
        not_before = getattr(self.replay_guard, "not_before", 0.0)
        if amz_date.timestamp() < not_before:
            raise SignatureError(
                "the request was signed before this server started and its replay records are not kept across "
                "restarts: sign it again"
            )

    @staticmethod
    def _payload_hash(request: RawRequest) -> str:
        actual = hashlib.sha256(request.body).hexdigest()
        declared = request.headers.get("x-amz-content-sha256")
        if declared is None:
            return actual
        declared = declared.strip()
        if declared == "UNSIGNED-PAYLOAD" or declared.startswith("STREAMING-"):
            raise SignatureError(f"payload mode {declared[:40]!r} is not accepted; sign the body")
        if not hmac.compare_digest(declared.encode("ascii", errors="replace"), actual.encode("ascii")):
            raise SignatureError("x-amz-content-sha256 is not the SHA-256 of the body received")
        return actual


# --- signing (clients) ------------------------------------------------------------------------------------


def sign(
    method: str,
    url: str,
    body: bytes,
    credential: Credential,
    *,
    service: str,
    region: str,
    headers: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """Headers of a SigV4-signed request, made by botocore's signer (what real AWS clients use)."""
    request = AWSRequest(method=method, url=url, data=body, headers=dict(headers or {}))
    SigV4Auth(Credentials(credential.access_key_id, credential.secret_access_key), service, region).add_auth(request)
    return dict(request.headers.items())


class Signer:
    """A lean signer for one credential, service and region, for simple requests (an absolute path without dot
    segments, no query string): botocore's SigV4Auth algorithm, byte for byte (tests/bench/test_signing.py), for
    a fraction of its CPU (no AWSRequest, URL parsing or header objects; the signing key derived once per day).
    Orbit signs its calls to Axon with it, and the bench its load."""

    def __init__(self, access_key_id: str, secret_access_key: str, service: str, region: str) -> None:
        self.access_key_id = access_key_id
        self._secret = secret_access_key
        self.service = service
        self.region = region
        self._keys: dict[str, bytes] = {}

    def _signing_key(self, date_stamp: str) -> bytes:
        key = self._keys.get(date_stamp)
        if key is None:
            key = signing_key(self._secret, date_stamp, self.region, self.service)
            self._keys = {date_stamp: key}
        return key

    def sign(
        self,
        method: str,
        host: str,
        path: str,
        body: bytes,
        headers: Mapping[str, str] | None = None,
        *,
        now: float | None = None,
    ) -> dict[str, str]:
        """The headers to send: `headers`, plus Host, X-Amz-Date and Authorization; every one of them is signed."""
        amz_date = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(time.time() if now is None else now))
        date_stamp = amz_date[:8]
        signed = {name.lower(): " ".join(value.split()) for name, value in (headers or {}).items()}
        signed["host"] = host
        signed["x-amz-date"] = amz_date
        names = sorted(signed)
        canonical = "\n".join(
            (
                method,
                path,
                "",
                "".join(f"{name}:{signed[name]}\n" for name in names),
                ";".join(names),
                hashlib.sha256(body).hexdigest(),
            )
        )
        scope = f"{date_stamp}/{self.region}/{self.service}/aws4_request"
        to_sign = string_to_sign(amz_date, scope, canonical)
        signature = hmac.new(self._signing_key(date_stamp), to_sign.encode(), hashlib.sha256).hexdigest()
        out = dict(headers or {})
        out["Host"] = host
        out["X-Amz-Date"] = amz_date
        out["Authorization"] = (
            f"{ALGORITHM} Credential={self.access_key_id}/{scope}, SignedHeaders={';'.join(names)}, "
            f"Signature={signature}"
        )
        return out
