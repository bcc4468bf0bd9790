"""DynamoDB's two write calls of every decision (UpdateItem for the rate-limit counters, PutItem for the decision
log), sent with a fraction of botocore's CPU; every other call goes to the boto3 client it wraps.

botocore spends about 1.5 ms of CPU on one DynamoDB call (event hooks, request objects, the User-Agent, header
parsing through the email package): four calls per decision cost more than the rest of the decision. Here a call
is a JSON body, a SigV4 signature made with the verifier's own primitives (agent_runtime.sigv4, byte-identical to
botocore's, checked by tests/lib/test_dynamodb_lean.py), and one request on a kept-alive connection of this
thread. What botocore gives stays: the endpoint, region, credentials (refreshed by botocore when they expire)
and timeouts are the wrapped client's, and errors are botocore's (ClientError with the service's error code,
BotoCoreError subclasses for the connection), so callers handle both clients alike.

Retries are fewer than botocore's on purpose, because UpdateItem ADD is not idempotent: a request is sent again
only when DynamoDB refused it without applying it (throttling), or when a kept-alive connection turned out to be
closed by the server before any answer (a stale connection; a new one is opened). A timeout or a 5xx is not
retried: the caller fails closed.
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import json
import socket
import ssl
import threading
import time
from typing import Any
from urllib.parse import urlsplit

from botocore.exceptions import ClientError, ConnectTimeoutError, EndpointConnectionError, ReadTimeoutError
from botocore.stub import Stubber

from agent_runtime.sigv4 import RawRequest, canonical_request, signing_key, string_to_sign

TARGET_PREFIX = "DynamoDB_20120810."
CONTENT_TYPE = "application/x-amz-json-1.0"
_THROTTLED = ("ProvisionedThroughputExceededException", "ThrottlingException", "RequestLimitExceeded")
_STALE = (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError)


class LeanDynamoDB:
    """`update_item` and `put_item` lean; any other attribute is the wrapped boto3 client's."""

    def __init__(self, client: Any) -> None:
        self._client = client
        url = urlsplit(client.meta.endpoint_url)
        self._https = url.scheme == "https"
        self._host = url.hostname or ""
        self._port = url.port or (443 if self._https else 80)
        self._netloc = url.netloc
        self._region = client.meta.region_name
        self._credentials = client._request_signer._credentials
        config = client.meta.config
        self._connect_timeout = float(config.connect_timeout)
        self._read_timeout = float(config.read_timeout)
        self._local = threading.local()
        self._keys: tuple[str, str, bytes] | None = None  # (secret, date, key): the day's signing key

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def update_item(self, **params: Any) -> dict[str, Any]:
        if self._intercepted("UpdateItem"):
            return self._client.update_item(**params)
        return self.call("UpdateItem", params)

    def put_item(self, **params: Any) -> dict[str, Any]:
        if self._intercepted("PutItem"):
            return self._client.put_item(**params)
        return self.call("PutItem", params)

    def _intercepted(self, operation: str) -> bool:
        """Something answers the client's requests in its place (moto's mock, botocore's Stubber): it sees only
        what goes through botocore, so the call does."""
        try:
            trie = self._client.meta.events._emitter._handlers
            senders = trie.prefix_search(f"before-send.dynamodb.{operation}")
            callers = trie.prefix_search(f"before-call.dynamodb.{operation}")
        except AttributeError:  # pragma: no cover - another botocore: the safe way
            return True
        return any(getattr(handler, "enabled", True) for handler in senders) or any(
            isinstance(getattr(handler, "__self__", None), Stubber) for handler in callers
        )

    # --- one call -------------------------------------------------------------------------------------------

    def call(self, operation: str, params: dict[str, Any]) -> dict[str, Any]:
        body = json.dumps(params, separators=(",", ":")).encode()
        for attempt in range(3):
            status, data = self._send(operation, body, fresh=attempt > 0)
            if status == 200:
                return json.loads(data) if data else {}
            error = _error(data)
            if error[0] in _THROTTLED and attempt < 2:
                time.sleep(0.02 * (attempt + 1))  # refused, not applied: safe to send again
                continue
            raise ClientError(
                {"Error": {"Code": error[0], "Message": error[1]}, "ResponseMetadata": {"HTTPStatusCode": status}},
                operation,
            )
        raise AssertionError("unreachable")  # pragma: no cover

    def _send(self, operation: str, body: bytes, *, fresh: bool) -> tuple[int, bytes]:
        headers = self.signed_headers(operation, body)
        connection: http.client.HTTPConnection | None = None
        reused = False
        try:
            connection, reused = self._connection(fresh)
            connection.request("POST", "/", body=body, headers=headers)
            response = connection.getresponse()
            return response.status, response.read()
        except _STALE as exc:
            self._drop()
            if reused:  # the server had closed it while it was idle; nothing was answered: once more, on a new one
                return self._send(operation, body, fresh=True)
            raise EndpointConnectionError(endpoint_url=self._url(), error=exc) from exc
        except TimeoutError as exc:
            self._drop()
            timeout = ConnectTimeoutError if connection is None else ReadTimeoutError
            raise timeout(endpoint_url=self._url(), error=exc) from exc
        except (OSError, http.client.HTTPException) as exc:
            self._drop()
            raise EndpointConnectionError(endpoint_url=self._url(), error=exc) from exc

    def signed_headers(self, operation: str, body: bytes, now: float | None = None) -> dict[str, str]:
        """The request's headers with its SigV4 signature (service `dynamodb`), as botocore signs them."""
        credentials = self._credentials.get_frozen_credentials()
        amz_date = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(time.time() if now is None else now))
        headers = {
            "content-type": CONTENT_TYPE,
            "host": self._netloc,
            "x-amz-date": amz_date,
            "x-amz-target": TARGET_PREFIX + operation,
        }
        if credentials.token:
            headers["x-amz-security-token"] = credentials.token
        names = sorted(headers)
        payload_hash = _sha256(body)
        canonical = canonical_request(RawRequest("POST", "/", "", headers, body), names, payload_hash, query="")
        scope = f"{amz_date[:8]}/{self._region}/dynamodb/aws4_request"
        key = self._signing_key(credentials.secret_key, amz_date[:8])
        signature = _hmac(key, string_to_sign(amz_date, scope, canonical))
        headers["authorization"] = (
            f"AWS4-HMAC-SHA256 Credential={credentials.access_key}/{scope}, SignedHeaders={';'.join(names)}, "
            f"Signature={signature}"
        )
        return headers

    def _signing_key(self, secret: str, date_stamp: str) -> bytes:
        cached = self._keys
        if cached is None or cached[0] != secret or cached[1] != date_stamp:
            cached = self._keys = (secret, date_stamp, signing_key(secret, date_stamp, self._region, "dynamodb"))
        return cached[2]

    # --- this thread's connection ---------------------------------------------------------------------------

    def _connection(self, fresh: bool) -> tuple[http.client.HTTPConnection, bool]:
        connection = getattr(self._local, "connection", None)
        if connection is not None and not fresh:
            return connection, True
        self._drop()
        if self._https:
            connection = http.client.HTTPSConnection(
                self._host, self._port, timeout=self._connect_timeout, context=ssl.create_default_context()
            )
        else:
            connection = http.client.HTTPConnection(self._host, self._port, timeout=self._connect_timeout)
        connection.connect()
        connection.sock.settimeout(self._read_timeout)
        connection.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._local.connection = connection
        return connection, False

    def _drop(self) -> None:
        connection = getattr(self._local, "connection", None)
        self._local.connection = None
        if connection is not None:
            connection.close()

    def _url(self) -> str:
        return f"{'https' if self._https else 'http'}://{self._netloc}"


def _error(data: bytes) -> tuple[str, str]:
    try:
        answer = json.loads(data)
    except ValueError:
        return "InternalServerError", data[:200].decode(errors="replace")
    kind = str(answer.get("__type", "InternalServerError")).rpartition("#")[2]
    return kind, str(answer.get("message") or answer.get("Message") or "")


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _hmac(key: bytes, text: str) -> str:
    return hmac.new(key, text.encode("utf-8"), hashlib.sha256).hexdigest()
