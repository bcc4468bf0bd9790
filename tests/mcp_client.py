"""The official MCP SDK's client, signing every request with SigV4 like any AWS client (what an agent does to
reach Orbit's /mcp without a proxy)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Generator
from typing import Any, TypeVar

import httpx2
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from agent_runtime.sigv4 import Credential

T = TypeVar("T")


class BotocoreSigV4Auth(httpx2.Auth):
    requires_request_body = True  # the body is read first, so that its hash is part of the signature

    def __init__(self, credential: Credential, service: str = "execute-api", region: str = "us-east-1") -> None:
        self._signer = SigV4Auth(Credentials(credential.access_key_id, credential.secret_access_key), service, region)

    def auth_flow(self, request: httpx2.Request) -> Generator[httpx2.Request, httpx2.Response, None]:
        headers = {k: v for k, v in request.headers.items() if k.lower() != "connection"}
        signed = AWSRequest(method=request.method, url=str(request.url), data=request.content, headers=headers)
        self._signer.add_auth(signed)
        for name in ("Authorization", "X-Amz-Date", "X-Amz-Security-Token"):
            if name in signed.headers:
                request.headers[name] = signed.headers[name]
        yield request


def with_client(url: str, credential: Credential, mode: str, work: Callable[[Client], Awaitable[T]]) -> T:
    """Run `work(client)` with an SDK client connected to `url` in `mode` (`2026-07-28`, `legacy`, `auto`)."""

    async def run() -> T:
        http = httpx2.AsyncClient(auth=BotocoreSigV4Auth(credential), timeout=httpx2.Timeout(30, read=60))
        async with http, Client(streamable_http_client(url, http_client=http), mode=mode, cache=None) as client:
            return await work(client)

    try:
        return asyncio.run(run())
    except BaseExceptionGroup as group:  # anyio's task groups wrap what the client raised: give the test that
        raise _innermost(group) from None


def _innermost(error: BaseException) -> BaseException:
    while isinstance(error, BaseExceptionGroup) and len(error.exceptions) == 1:
        error = error.exceptions[0]
    return error


async def list_names(client: Client) -> list[str]:
    return sorted(tool.name for tool in (await client.list_tools()).tools)


def call(url: str, credential: Credential, mode: str, name: str, arguments: dict[str, Any]) -> Any:
    return with_client(url, credential, mode, lambda client: client.call_tool(name, arguments))
