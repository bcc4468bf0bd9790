"""The AWS calls made on every request, sent with a fraction of botocore's CPU; every other call goes to the boto3
client they wrap.

botocore spends 1 to 1.5 ms of CPU on one call (event hooks, request objects, the User-Agent, header parsing
through the email package): Governance makes four DynamoDB calls per decision, and Orbit one Lambda Invoke per
dispatch. Here a call is a body, a SigV4 signature made with the verifier's own primitives (agent_runtime.sigv4,
checked against the verifier and botocore by tests/lib/test_aws_lean.py), and one request on a kept-alive
connection of this thread (agent_runtime.http_lean: not http.client, which parses every answer's head with the
email package). What botocore gives stays: the endpoint, region, credentials (refreshed by botocore when they
expire) and timeouts are the wrapped client's, errors are botocore's (ClientError with the service's error code,
BotoCoreError subclasses for the connection), so callers handle both alike; and when something answers in
botocore's place (moto's mock, botocore's Stubber), the call goes through botocore.

- `LeanDynamoDB`: UpdateItem (the rate-limit counters) and PutItem (the decision log). Retries are fewer than
  botocore's on purpose, because UpdateItem ADD is not idempotent: a request is sent again only when DynamoDB
  refused it without applying it (throttling), or when a kept-alive connection turned out to be closed by the
  server before any answer (a new one is opened). A timeout or a 5xx is not retried: the caller fails closed.
- `LeanLambda`: a synchronous Invoke (Orbit asking Governance), never retried (as Orbit's client is configured).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from typing import Any
from urllib.parse import quote

from botocore.exceptions import ClientError, ConnectTimeoutError, EndpointConnectionError, ReadTimeoutError
from botocore.stub import Stubber

from agent_runtime.http_lean import ConnectFailed, KeptAlive, Response
from agent_runtime.sigv4 import RawRequest, canonical_request, signing_key, string_to_sign


class LeanAws:
    """What a lean call needs of the wrapped boto3 client: endpoint, region, credentials, timeouts; the signer and
    this thread's connection."""

    SERVICE = ""
    EVENT_SERVICE = ""

    def __init__(self, client: Any) -> None:
        self._client = client
        config = client.meta.config
        self._http = KeptAlive(client.meta.endpoint_url, float(config.connect_timeout), float(config.read_timeout))
        self._netloc = self._http.netloc
        self._base_path = self._http.base_path
        self._region = client.meta.region_name
        self._credentials = client._request_signer._credentials
        self._keys: tuple[str, str, bytes] | None = None  # (secret, date, key): the day's signing key

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def intercepted(self, operation: str) -> bool:
        """Something answers the client's requests in its place (moto's mock, botocore's Stubber): it sees only
        what goes through botocore, so the call does."""
        try:
            trie = self._client.meta.events._emitter._handlers
            senders = trie.prefix_search(f"before-send.{self.EVENT_SERVICE}.{operation}")
            callers = trie.prefix_search(f"before-call.{self.EVENT_SERVICE}.{operation}")
        except AttributeError:  # pragma: no cover - another botocore: the safe way
            return True
        return any(getattr(handler, "enabled", True) for handler in senders) or any(
            isinstance(getattr(handler, "__self__", None), Stubber) for handler in callers
        )

    def signed_headers(
        self, path: str, query: str, headers: dict[str, str], body: bytes, now: float | None = None
    ) -> dict[str, str]:
        """`headers` (lowercase names) with host, x-amz-date, the token and the SigV4 signature of a POST."""
        credentials = self._credentials.get_frozen_credentials()
        amz_date = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(time.time() if now is None else now))
        headers = {**headers, "host": self._netloc, "x-amz-date": amz_date}
        if credentials.token:
            headers["x-amz-security-token"] = credentials.token
        names = sorted(headers)
        payload_hash = hashlib.sha256(body).hexdigest()
        canonical = canonical_request(RawRequest("POST", path, query, headers, body), names, payload_hash)
        scope = f"{amz_date[:8]}/{self._region}/{self.SERVICE}/aws4_request"
        key = self._signing_key(credentials.secret_key, amz_date[:8])
        signature = hmac.new(key, string_to_sign(amz_date, scope, canonical).encode(), hashlib.sha256).hexdigest()
        headers["authorization"] = (
            f"AWS4-HMAC-SHA256 Credential={credentials.access_key}/{scope}, SignedHeaders={';'.join(names)}, "
            f"Signature={signature}"
        )
        return headers

    def _signing_key(self, secret: str, date_stamp: str) -> bytes:
        cached = self._keys
        if cached is None or cached[0] != secret or cached[1] != date_stamp:
            cached = self._keys = (secret, date_stamp, signing_key(secret, date_stamp, self._region, self.SERVICE))
        return cached[2]

    def post(self, path: str, query: str, headers: dict[str, str], body: bytes, *, retry_stale: bool) -> Response:
        """One signed POST; the response (read). A stale kept-alive connection is replaced and, if
        `retry_stale`, the request sent once more on the new one. Failures are botocore's."""
        target = self._base_path + path + (f"?{query}" if query else "")
        signed = self.signed_headers(self._base_path + path, query, headers, body)
        try:
            return self._http.request("POST", target, signed, body, retry_stale=retry_stale)
        except ConnectFailed as exc:
            if isinstance(exc.__cause__, TimeoutError):
                raise ConnectTimeoutError(endpoint_url=self._url(), error=exc) from exc
            raise EndpointConnectionError(endpoint_url=self._url(), error=exc) from exc
        except TimeoutError as exc:
            raise ReadTimeoutError(endpoint_url=self._url(), error=exc) from exc
        except OSError as exc:
            raise EndpointConnectionError(endpoint_url=self._url(), error=exc) from exc

    def _drop(self) -> None:
        self._http.drop()

    def _url(self) -> str:
        return f"{'https' if self._http.https else 'http'}://{self._netloc}"


def _client_error(operation: str, status: int, code: str, message: str) -> ClientError:
    return ClientError(
        {"Error": {"Code": code, "Message": message}, "ResponseMetadata": {"HTTPStatusCode": status}}, operation
    )


def _json_error(data: bytes, error_type: str | None = None) -> tuple[str, str]:
    try:
        answer = json.loads(data)
    except ValueError:
        return error_type or "InternalServerError", data[:200].decode(errors="replace")
    kind = error_type or str(answer.get("__type") or answer.get("Type") or "InternalServerError")
    return kind.rpartition("#")[2].split(":")[0], str(answer.get("message") or answer.get("Message") or "")


class LeanDynamoDB(LeanAws):
    """`update_item` and `put_item` lean; any other attribute is the wrapped boto3 client's."""

    SERVICE = EVENT_SERVICE = "dynamodb"
    _THROTTLED = ("ProvisionedThroughputExceededException", "ThrottlingException", "RequestLimitExceeded")

    def update_item(self, **params: Any) -> dict[str, Any]:
        if self.intercepted("UpdateItem"):
            return self._client.update_item(**params)
        return self.call("UpdateItem", params)

    def put_item(self, **params: Any) -> dict[str, Any]:
        if self.intercepted("PutItem"):
            return self._client.put_item(**params)
        return self.call("PutItem", params)

    def call(self, operation: str, params: dict[str, Any]) -> dict[str, Any]:
        body = json.dumps(params, separators=(",", ":")).encode()
        headers = {"content-type": "application/x-amz-json-1.0", "x-amz-target": f"DynamoDB_20120810.{operation}"}
        for attempt in range(3):
            response = self.post("/", "", headers, body, retry_stale=True)
            if response.status == 200:
                return json.loads(response.data) if response.data else {}
            code, message = _json_error(response.data)
            if code in self._THROTTLED and attempt < 2:
                time.sleep(0.02 * (attempt + 1))  # refused, not applied: safe to send again
                continue
            raise _client_error(operation, response.status, code, message)
        raise AssertionError("unreachable")  # pragma: no cover


class _Payload:
    """The answer's Payload, read like botocore's StreamingBody."""

    def __init__(self, data: bytes) -> None:
        self._data = data

    def read(self) -> bytes:
        data, self._data = self._data, b""
        return data


class LeanLambda(LeanAws):
    """`invoke` (synchronous, RequestResponse) lean; any other call or invocation type is the wrapped client's."""

    SERVICE = EVENT_SERVICE = "lambda"

    def invoke(self, **params: Any) -> dict[str, Any]:
        kind = params.get("InvocationType", "RequestResponse")
        if kind != "RequestResponse" or set(params) - {"FunctionName", "Qualifier", "Payload", "InvocationType"}:
            return self._client.invoke(**params)
        if self.intercepted("Invoke"):
            return self._client.invoke(**params)
        payload = params.get("Payload", b"")
        body = payload.encode() if isinstance(payload, str) else bytes(payload)
        path = f"/2015-03-31/functions/{quote(params['FunctionName'], safe='')}/invocations"
        query = f"Qualifier={quote(params['Qualifier'], safe='')}" if params.get("Qualifier") else ""
        headers = {"x-amz-invocation-type": "RequestResponse"}
        response = self.post(path, query, headers, body, retry_stale=False)  # never sent twice
        if response.status >= 300:
            error = _json_error(response.data, response.getheader("x-amzn-ErrorType"))
            raise _client_error("Invoke", response.status, *error)
        answer: dict[str, Any] = {
            "StatusCode": response.status,
            "Payload": _Payload(response.data),
            "ExecutedVersion": response.getheader("X-Amz-Executed-Version", "$LATEST"),
            "ResponseMetadata": {"HTTPStatusCode": response.status},
        }
        if response.getheader("X-Amz-Function-Error"):
            answer["FunctionError"] = response.getheader("X-Amz-Function-Error")
        return answer
