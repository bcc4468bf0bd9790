"""Requests signed by botocore's own SigV4 signer, with the knobs the negative tests need (time, scope, which
headers are signed). The signatures are botocore's, never recomputed by our verifier's code."""

from __future__ import annotations

from datetime import UTC, datetime
from unittest import mock
from urllib.parse import urlsplit

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from agent_runtime.sigv4 import Credential, RawRequest


class _TweakedSigV4Auth(SigV4Auth):
    """botocore's signer with a different scope date, or without some headers, to forge specific requests."""

    def __init__(self, credentials, service, region, scope_date=None, unsigned=()):
        super().__init__(credentials, service, region)
        self._scope_date = scope_date
        self._unsigned = {h.lower() for h in unsigned}

    def credential_scope(self, request):
        scope = super().credential_scope(request)
        return f"{self._scope_date}{scope[8:]}" if self._scope_date else scope

    def scope(self, request):
        scope = super().scope(request)
        if not self._scope_date:
            return scope
        key, _, rest = scope.partition("/")
        return f"{key}/{self._scope_date}{rest[8:]}"

    def headers_to_sign(self, request):
        headers = super().headers_to_sign(request)
        for name in self._unsigned:
            if name in headers:
                del headers[name]
        return headers


def sign_request(
    method: str,
    url: str,
    body: bytes,
    credential: Credential,
    *,
    service: str = "execute-api",
    region: str = "us-east-1",
    when: datetime | None = None,
    headers: dict[str, str] | None = None,
    scope_date: str | None = None,
    unsigned: tuple[str, ...] = (),
    token: str | None = None,
) -> AWSRequest:
    request = AWSRequest(method=method, url=url, data=body, headers=dict(headers or {}))
    signer = _TweakedSigV4Auth(
        Credentials(credential.access_key_id, credential.secret_access_key, token),
        service,
        region,
        scope_date,
        unsigned,
    )
    if when is None:
        signer.add_auth(request)
    else:
        with mock.patch("botocore.auth.get_current_datetime", return_value=when.astimezone(UTC)):
            signer.add_auth(request)
    return request


def to_raw(request: AWSRequest, body: bytes | None = None) -> RawRequest:
    """What a WSGI server would hand our verifier for this request on the wire."""
    prepared = request.prepare()
    parts = urlsplit(prepared.url)
    headers = {k.lower(): v for k, v in prepared.headers.items()}
    headers.setdefault("host", parts.netloc)
    sent = (prepared.body or b"") if body is None else body
    return RawRequest(prepared.method, parts.path or "/", parts.query, headers, sent)
