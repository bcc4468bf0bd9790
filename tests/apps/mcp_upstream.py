"""Upstream MCP tool servers for the gateway tests, written with the official SDK's server API.

`payments` checks, in every tool call, that Orbit's governance allowed it: the receipt in `X-Governance-Receipt`,
verified with agent_runtime.receipts.verify_tool_call and the keys Orbit publishes. Every call it served is kept
in `CALLS`, so that a test can see what reached the upstream.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable
from typing import Any

import uvicorn
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import ToolAnnotations

from agent_runtime import receipts
from agent_runtime.replay import MemoryReplayStore

CALLS: list[dict[str, Any]] = []


def build_payments(orbit_url: str, target: str) -> MCPServer:
    server = MCPServer("payments-upstream", version="1.0.0")
    spent = MemoryReplayStore(clock=lambda: time.time() - 3600)  # accept each receipt once

    def governed(ctx: Context, tool: str, arguments: dict[str, Any]) -> str:
        token = (ctx.headers or {}).get("x-governance-receipt", "")
        try:
            receipt = receipts.verify_tool_call(
                token,
                receipts.fetch_receipt_keys(orbit_url),
                target=target,
                tool=tool,
                arguments=arguments,
                replay_guard=spent,
            )
        except receipts.ReceiptError as exc:
            CALLS.append({"tool": tool, "arguments": arguments, "receipt": f"refused: {exc}"})
            raise ToolError(f"no valid governance receipt: {exc}") from exc
        CALLS.append({"tool": tool, "arguments": arguments, "receipt": receipt.decision_id})
        return receipt.decision_id

    @server.tool()
    def transfer(amount: int, to: str, ctx: Context, currency: str | None = None) -> str:
        """Move money to an account."""
        # The receipt binds the arguments as the client sent them: an argument left out is not its default.
        sent = {"amount": amount, "to": to, **({"currency": currency} if currency is not None else {})}
        decision = governed(ctx, "transfer", sent)
        return f"moved {amount} {currency or 'EUR'} to {to} (decision {decision})"

    @server.tool()
    def refund(amount: int, ctx: Context) -> str:
        """Give money back."""
        governed(ctx, "refund", {"amount": amount})
        return f"refunded {amount}"

    @server.tool(annotations=ToolAnnotations(read_only_hint=True))
    def balance(ctx: Context) -> str:
        """The balance of the account."""
        governed(ctx, "balance", {})
        return "balance: 1000 EUR"

    return server


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Upstream:
    """An SDK server served by uvicorn in a thread of the test process, on 127.0.0.1."""

    def __init__(
        self,
        server: MCPServer,
        *,
        stateless: bool,
        json_response: bool,
        wrap: Callable[[Any], Any] | None = None,
    ) -> None:
        self.port = free_port()
        app = server.streamable_http_app(stateless_http=stateless, json_response=json_response)
        if wrap is not None:  # an ASGI middleware in front of the server (authentication, ...)
            app = wrap(app)
        self._server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning"))
        self._thread = threading.Thread(target=self._server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/mcp"

    def start(self) -> Upstream:
        self._thread.start()
        deadline = time.monotonic() + 15
        while not self._server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("the upstream MCP server did not start")
            time.sleep(0.05)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)
