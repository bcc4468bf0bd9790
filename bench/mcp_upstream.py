"""The upstream MCP server of the MCP bench: one cheap tool, served by the official SDK (stateless, JSON answers)
under uvicorn in a process of its own, so that its CPU is measured apart from Orbit's.

Run: python -m bench.mcp_upstream PORT
"""

from __future__ import annotations

import sys

import uvicorn
from mcp.server.mcpserver import MCPServer


def build() -> MCPServer:
    server = MCPServer("bench-upstream", version="1.0.0")

    @server.tool()
    def lookup(key: str, count: int = 1) -> str:
        """Return the key, repeated: a tool whose own work is negligible, so the path is what is measured."""
        return " ".join([key] * count)

    return server


def main() -> None:
    port = int(sys.argv[1])
    app = build().streamable_http_app(stateless_http=True, json_response=True)
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
