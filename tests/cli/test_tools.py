"""agentctl tools and limits --tool against the AWS emulator (an AWS environment, `--env dev`) and real MCP
servers written with the official SDK: what is stored in the tools table and in Secrets Manager, what the
upstream sees, what is printed, and that bad input changes nothing."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from mcp.server.mcpserver import MCPServer
from mcp.types import ToolAnnotations

from agent_runtime.names import Names
from agent_runtime.tables import table_definitions
from agent_runtime.tools import ToolStore
from tests.apps.mcp_upstream import Upstream, free_port
from tests.cli.conftest import PROJECT, run

NAMES = Names(PROJECT)
TOKEN = "tok-3f9a7c1e5b2d4f60"  # a test token: must never be printed  # pragma: allowlist secret


def build_docs() -> MCPServer:
    server = MCPServer("docs-upstream", version="1.0.0")

    @server.tool(annotations=ToolAnnotations(read_only_hint=True))
    def search(query: str, limit: int = 10) -> str:
        """Search the documents."""
        return f"found {query}"

    @server.tool()
    def publish(title: str, amount: float) -> str:
        """Publish a document."""
        return f"published {title}"

    return server


class BearerCheck:
    """An ASGI middleware that answers 401 unless the request carries `Authorization: Bearer <token>`, and keeps
    the Authorization headers it saw."""

    def __init__(self, app: Any, token: str) -> None:
        self.app, self.token, self.seen = app, token, []

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            headers = dict(scope.get("headers") or [])
            authorization = headers.get(b"authorization", b"").decode()
            self.seen.append(authorization)
            if authorization != f"Bearer {self.token}":
                await send(
                    {"type": "http.response.start", "status": 401, "headers": [(b"content-type", b"text/plain")]}
                )
                await send({"type": "http.response.body", "body": b"unauthorized"})
                return
        await self.app(scope, receive, send)


@pytest.fixture
def env(aws_env: str) -> Iterator[str]:
    """The emulator with the project's tables (an AWS environment with nothing deployed but its data)."""
    dynamodb = boto3.client("dynamodb")
    for definition in table_definitions(NAMES):
        dynamodb.create_table(**{k: v for k, v in definition.items() if k != "TimeToLive"})
    return aws_env


@pytest.fixture
def docs() -> Iterator[tuple[MCPServer, Upstream]]:
    server = build_docs()
    upstream = Upstream(server, stateless=True, json_response=True).start()
    yield server, upstream
    upstream.stop()


def store() -> ToolStore:
    return ToolStore(boto3.client("dynamodb"), NAMES.tools_table)


def secrets() -> list[dict[str, Any]]:
    return boto3.client("secretsmanager").list_secrets()["SecretList"]


def ok(*args: str) -> Any:
    result = run("--env", "dev", *args)
    assert result.exit_code == 0, result.stderr
    return result


def add_docs(url: str, *options: str) -> Any:
    return ok("tools", "add", "docs", "--url", url, *options)


def test_add_sync_list_remove(env, docs):
    server, upstream = docs
    added = json.loads(ok("tools", "add", "docs", "--url", upstream.url, "--output", "json").stdout)
    assert added["sync"][0]["added"] == ["publish", "search"]
    assert [t["name"] for t in added["target"]["tools"]] == ["docs___publish", "docs___search"]
    stored = store().target("docs")
    assert (stored.url, stored.auth, stored.bearer_secret) == (upstream.url, "none", None)
    search = stored.tool("search")
    assert search.input_schema["properties"]["limit"]["type"] == "integer"
    assert search.annotations["readOnlyHint"] is True
    assert search.description == "Search the documents."

    server.remove_tool("publish")

    @server.tool()
    def archive(doc_id: int) -> str:
        """Archive a document."""
        return "archived"

    server.remove_tool("search")

    @server.tool()
    def search(query: str) -> str:
        """Search the documents, better."""
        return "found"

    synced = json.loads(ok("tools", "sync", "docs", "--output", "json").stdout)["synced"][0]
    assert (synced["added"], synced["changed"], synced["removed"]) == (["archive"], ["search"], ["publish"])
    assert sorted(t.name for t in store().target("docs").tools) == ["archive", "search"]
    table = ok("tools", "sync").stdout
    assert "docs" in table
    assert "archive, search" not in table

    listed = json.loads(ok("tools", "list", "--output", "json").stdout)["targets"]
    assert [t["name"] for t in listed] == ["axon", "docs"]
    assert [t["name"] for t in listed[1]["tools"]] == ["docs___archive", "docs___search"]
    assert [t["name"] for t in listed[0]["tools"]] == ["axon___reason"]
    assert listed[0]["builtin"] is True
    only = json.loads(ok("tools", "list", "--target", "docs", "--output", "json").stdout)["targets"]
    assert [t["name"] for t in only] == ["docs"]
    assert "docs___archive" in ok("tools", "list").stdout

    refused = run("--env", "dev", "tools", "remove", "docs", input="n\n")
    assert refused.exit_code != 0
    assert store().target("docs") is not None
    removed = json.loads(ok("tools", "remove", "docs", "--yes", "--output", "json").stdout)
    assert removed["secret_deleted"] is None  # it had no token
    assert store().targets() == []
    assert store()._scan() == []  # no tool item left behind


def test_a_bearer_token_reaches_the_upstream_and_is_kept_only_in_secrets_manager(env, monkeypatch, tmp_path):
    checks: list[BearerCheck] = []

    def wrap(app: Any) -> BearerCheck:
        checks.append(BearerCheck(app, TOKEN))
        return checks[-1]

    upstream = Upstream(build_docs(), stateless=False, json_response=False, wrap=wrap).start()
    try:
        monkeypatch.setenv("DOCS_TOKEN", TOKEN)
        result = ok(
            "tools", "add", "docs", "--url", upstream.url, "--auth", "bearer", "--bearer-token-env", "DOCS_TOKEN"
        )
        assert f"Bearer {TOKEN}" in checks[0].seen
        assert TOKEN not in result.stdout + result.stderr
        (secret,) = secrets()
        assert secret["Name"] == f"{PROJECT}/targets/docs"
        assert secret["KmsKeyId"].endswith(f"alias/{PROJECT}-orbit")  # Orbit's key: Orbit can read it
        value = boto3.client("secretsmanager").get_secret_value(SecretId=secret["Name"])["SecretString"]
        assert value == TOKEN  # the whole SecretString is the token, as Orbit reads it
        assert store().target("docs").bearer_secret == secret["Name"]
        # A sync reads the token from Secrets Manager; a wrong one is refused by the upstream, nothing changes.
        boto3.client("secretsmanager").put_secret_value(SecretId=secret["Name"], SecretString="wrong")
        failed = run("--env", "dev", "tools", "sync", "docs")
        assert failed.exit_code == 1
        assert "HTTP 401" in failed.stderr
        assert len(failed.stderr.strip().splitlines()) == 1
        listing = ok("tools", "list", "--output", "json").stdout
        assert TOKEN not in listing
        assert "wrong" not in listing
        # Where the stored token cannot be used (or read: the AWS deploy role never reads it back), the sync is
        # given it; it is used for this sync only.
        ok("tools", "sync", "docs", "--bearer-token-env", "DOCS_TOKEN")
        assert boto3.client("secretsmanager").get_secret_value(SecretId=secret["Name"])["SecretString"] == "wrong"
        unnamed = run("--env", "dev", "tools", "sync", "--bearer-token-env", "DOCS_TOKEN")
        assert unnamed.exit_code == 2
        assert "for one target NAME" in unnamed.stderr
        token_file = tmp_path / "token"
        token_file.write_text(TOKEN + "\n")
        add_docs(upstream.url, "--auth", "bearer", "--bearer-token-file", str(token_file), "--replace")
        ok("tools", "sync", "docs")
        removed = json.loads(ok("tools", "remove", "docs", "--yes", "--output", "json").stdout)
        assert removed["secret_deleted"] == f"{PROJECT}/targets/docs"
        assert secrets() == []
    finally:
        upstream.stop()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["tools", "add", "Docs", "--url", "http://127.0.0.1:1/mcp"], "must match"),
        (["tools", "add", "axon", "--url", "http://127.0.0.1:1/mcp"], "built-in"),
        (["tools", "add", "docs", "--url", "ftp://example.com/mcp"], "http:// or https://"),
        (["tools", "add", "docs", "--url", "not a url"], "http:// or https://"),
        (["tools", "add", "docs", "--url", "http://u:p@example.com/mcp"], "credentials"),
        (["tools", "add", "docs", "--url", "http://x/mcp", "--auth", "bearer"], "needs the token"),
        (
            ["tools", "add", "docs", "--url", "http://x/mcp", "--auth", "bearer", "--bearer-token-env", "NO_SUCH_VAR"],
            "NO_SUCH_VAR: the variable is not set",
        ),
        (["tools", "add", "docs", "--url", "http://x/mcp", "--bearer-token-env", "HOME"], "--auth bearer only"),
        (["tools", "add", "docs", "--url", "http://x/mcp", "--sigv4-service", "lambda"], "--auth sigv4 only"),
        (["tools", "sync", "nothing"], "no target named 'nothing'"),
        (["tools", "remove", "axon", "--yes"], "built-in"),
        (["tools", "remove", "nothing", "--yes"], "no target named 'nothing'"),
        (["tools", "list", "--target", "nothing"], "no target named 'nothing'"),
    ],
)
def test_bad_input_is_one_line_and_changes_nothing(env, monkeypatch, args, message):
    monkeypatch.delenv("NO_SUCH_VAR", raising=False)
    result = run("--env", "dev", *args)
    assert result.exit_code != 0
    assert result.stderr.startswith("agentctl: ")
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.stdout + result.stderr
    assert store()._scan() == []
    assert secrets() == []


def test_an_unreachable_target_is_one_line_and_changes_nothing(env, monkeypatch):
    monkeypatch.setenv("DOCS_TOKEN", TOKEN)
    url = f"http://127.0.0.1:{free_port()}/mcp"  # nothing listens there
    result = run(
        "--env", "dev", "tools", "add", "docs", "--url", url, "--auth", "bearer", "--bearer-token-env", "DOCS_TOKEN"
    )
    assert result.exit_code == 1
    assert "cannot be read as an MCP server" in result.stderr
    assert "nothing was changed" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert TOKEN not in result.stdout + result.stderr
    assert store()._scan() == []
    assert secrets() == []
    # Stored without a sync, then an unreachable sync: the target stays as it was, with no tools.
    ok("tools", "add", "docs", "--url", url, "--no-sync")
    before = store()._scan()
    failed = run("--env", "dev", "tools", "sync")
    assert failed.exit_code == 1
    assert len(failed.stderr.strip().splitlines()) == 1
    assert store()._scan() == before


def test_an_existing_target_needs_replace(env, docs):
    _, upstream = docs
    ok("tools", "add", "docs", "--url", upstream.url)
    generation = store().target("docs").generation
    again = run("--env", "dev", "tools", "add", "docs", "--url", upstream.url)
    assert again.exit_code == 4
    assert "--replace" in again.stderr
    add_docs(upstream.url, "--timeout-ms", "500", "--record-arguments", "--replace", "--no-sync")
    replaced = store().target("docs")
    assert (replaced.timeout_ms, replaced.record_arguments) == (500, True)
    assert replaced.generation == generation
    assert len(replaced.tools) == 2
    ok("tools", "sync", "docs")
    assert len([i for i in store()._scan() if i["pk"]["S"].startswith("tool#")]) == 2  # the old generation deleted


def test_limits_per_tool(env, docs):
    _, upstream = docs
    ok("tools", "add", "docs", "--url", upstream.url)
    shown = json.loads(
        ok("limits", "set", "--tool", "docs___search=5", "--tool", "axon___reason=7", "-o", "json").stdout
    )
    assert shown["tools"] == {"axon___reason": 7, "docs___search": 5}
    table = ok("limits", "show").stdout
    assert "tool docs___search" in table
    for bad, message in [
        ("docs___nothing=5", "no tool docs___nothing"),
        ("docs___search", "NAME=N"),
        ("docs___search=0", "NAME=N"),
        ("search=5", "<target>___<tool>"),
    ]:
        result = run("--env", "dev", "limits", "set", "--tool", bad)
        assert result.exit_code != 0
        assert message in result.stderr, result.stderr
        assert len(result.stderr.strip().splitlines()) == 1
    shown = json.loads(ok("limits", "set", "--tool", "docs___search=none", "-o", "json").stdout)
    assert shown["tools"] == {"axon___reason": 7}


def test_a_tool_clients_could_not_call_is_left_out_with_a_warning(env, docs):
    server, upstream = docs

    def odd(text: str) -> str:
        return text

    server.add_tool(odd, name="has space", description="A name no client can address once prefixed.")
    result = ok("tools", "add", "docs", "--url", upstream.url)
    assert "warning: docs: tool 'has space' not stored: its name must match" in result.stderr
    assert sorted(t.name for t in store().target("docs").tools) == ["publish", "search"]


def test_a_target_replaced_without_its_token_loses_the_secret(env, docs, monkeypatch):
    _, upstream = docs
    monkeypatch.setenv("DOCS_TOKEN", TOKEN)
    add_docs(upstream.url, "--auth", "bearer", "--bearer-token-env", "DOCS_TOKEN", "--no-sync")
    assert [s["Name"] for s in secrets()] == [f"{PROJECT}/targets/docs"]
    add_docs(upstream.url, "--replace")  # now without authentication: the token is not kept
    assert secrets() == []
    assert store().target("docs").bearer_secret is None
