"""Orbit's MCP gateway through the running stack: the official SDK as the client (SigV4-signed, both protocol
generations) and as the upstream tool servers; Governance deciding every tool call, with policies over tools and
arguments; what reaches the upstream, what the client is told, and what is audited."""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from collections.abc import Iterator

import cedarpy
import pytest
import requests
from mcp import MCPError

from agent_runtime import aws, receipts
from agent_runtime.mcp_client import McpUpstream
from agent_runtime.names import Names
from agent_runtime.sigv4 import Credential
from agent_runtime.tools import Target, Tool, ToolStore, cedar_schema
from governance.policies import parse_policies
from governance.store import CONFIG_REFRESH_SECONDS, PolicyStore
from tests.apps import mcp_upstream
from tests.conftest import ROOT
from tests.mcp_client import call, list_names, with_client
from tests.signing import sign_request

pytestmark = pytest.mark.stack

MODES = ["2026-07-28", "legacy"]
BASE_SCHEMA = (ROOT / "governance" / "policies" / "schema.cedarschema").read_text()


def _store(stack) -> ToolStore:
    return ToolStore(aws.client("dynamodb"), Names(stack.project).tools_table)


def add_target(stack, name: str, url: str) -> Target:
    """What `agentctl tools add` and `tools sync` store: the target, then every tool its server lists."""
    store = _store(stack)
    store.put_target(Target(name, url))
    listing = McpUpstream(url, http=requests.Session(), timeout_seconds=10).list_tools()
    tools = [
        Tool(name, t["name"], t.get("description", ""), t["inputSchema"], t.get("annotations") or {}) for t in listing
    ]
    return store.publish_tools(store.target(name), tools)


def push(stack, text: str) -> None:
    """Policies over tools, validated against the schema the tools generate, made live as a new version."""
    policies = parse_policies(text)
    schema = cedar_schema(BASE_SCHEMA, _store(stack).targets())
    result = cedarpy.validate_policies("\n".join(p.text for p in policies), schema)
    assert result.validation_passed, [e.error for e in result.errors]
    PolicyStore(aws.client("dynamodb"), Names(stack.project).policies_table).commit(policies)
    time.sleep(CONFIG_REFRESH_SECONDS + 0.1)


def delete(stack, *ids: str) -> None:
    PolicyStore(aws.client("dynamodb"), Names(stack.project).policies_table).commit(deletes=ids)
    time.sleep(CONFIG_REFRESH_SECONDS + 0.1)


@pytest.fixture(scope="module")
def gateway(stack) -> Iterator[dict]:
    """Two upstreams (one stateless answering JSON, one keeping sessions and answering SSE) registered as targets,
    an agent credential, and policies that let the agent use the payments tools."""
    orbit = stack.url("orbit")
    payments = mcp_upstream.Upstream(
        mcp_upstream.build_payments(orbit, "payments"), stateless=True, json_response=True
    ).start()
    ledger = mcp_upstream.Upstream(
        mcp_upstream.build_payments(orbit, "ledger"), stateless=False, json_response=False
    ).start()
    add_target(stack, "payments", payments.url)
    add_target(stack, "ledger", ledger.url)
    created = stack.create_key(f"mcp-agent-{uuid.uuid4().hex[:6]}")
    agent = Credential(created["access_key_id"], created["secret_access_key"], created["principal"])
    push(
        stack,
        f"""
@id("mcp-agent-payments")
permit(principal == Client::"{agent.principal}", action in Action::"target:payments", resource);
@id("mcp-agent-ledger")
permit(principal == Client::"{agent.principal}", action in Action::"target:ledger", resource);
@id("mcp-agent-axon")
permit(principal == Client::"{agent.principal}", action == Action::"axon___reason", resource);
@id("no-refunds") forbid(principal, action == Action::"payments___refund", resource);
@id("big-transfers") forbid(principal, action == Action::"payments___transfer", resource)
  when {{ context.input.amount > 100 }};
""",
    )
    try:
        yield {"url": f"{orbit}/mcp", "agent": agent, "payments": payments, "ledger": ledger}
    finally:
        delete(stack, "mcp-agent-payments", "mcp-agent-ledger", "mcp-agent-axon", "no-refunds", "big-transfers")
        for upstream in (payments, ledger):
            upstream.stop()
        store = _store(stack)
        for name in ("payments", "ledger"):
            store.remove_target(name)


def audit_events(stack) -> list[dict]:
    result = stack.agentctl("logs", "governance", "--audit", "--output", "json", "--since", "10m")
    return [json.loads(line) for line in result.stdout.splitlines() if line.strip()]


@pytest.mark.parametrize("mode", MODES)
def test_list_shows_only_what_the_caller_may_call_and_allowed_calls_go_through(gateway, mode):
    names = with_client(gateway["url"], gateway["agent"], mode, list_names)
    assert "payments___transfer" in names  # permitted under an argument condition: listed
    assert "payments___balance" in names
    assert "ledger___transfer" in names
    assert "axon___reason" in names
    assert "payments___refund" not in names  # forbidden unconditionally: not listed
    before = len(mcp_upstream.CALLS)
    result = call(gateway["url"], gateway["agent"], mode, "payments___transfer", {"amount": 50, "to": "alice"})
    assert result.is_error is False, result
    assert result.content[0].text.startswith("moved 50 EUR to alice")
    (served,) = mcp_upstream.CALLS[before:]
    assert (served["tool"], served["arguments"]) == ("transfer", {"amount": 50, "to": "alice"})
    assert not str(served["receipt"]).startswith("refused")  # the upstream verified Governance's receipt


def test_an_upstream_that_keeps_sessions_and_answers_sse_is_served_too(gateway):
    result = call(gateway["url"], gateway["agent"], "2026-07-28", "ledger___balance", {})
    assert result.is_error is False, result
    assert result.content[0].text == "balance: 1000 EUR"


def test_the_upstream_checks_the_receipt(gateway):
    before = len(mcp_upstream.CALLS)
    call(gateway["url"], gateway["agent"], "legacy", "payments___balance", {})
    (served,) = mcp_upstream.CALLS[before:]
    assert not str(served["receipt"]).startswith("refused"), served
    keys = requests.get(gateway["url"].replace("/mcp", "/.well-known/agent-runtime/receipt-keys"), timeout=5).json()
    assert keys["keys"]
    assert {k["kty"] for k in keys["keys"]} == {"OKP"}


@pytest.mark.parametrize("mode", MODES)
def test_an_argument_condition_allows_one_call_and_refuses_another(stack, gateway, mode):
    before = len(mcp_upstream.CALLS)
    allowed = call(gateway["url"], gateway["agent"], mode, "payments___transfer", {"amount": 100, "to": "bob"})
    refused = call(gateway["url"], gateway["agent"], mode, "payments___transfer", {"amount": 101, "to": "bob"})
    assert allowed.is_error is False
    assert refused.is_error is True
    assert "big-transfers" in refused.content[0].text
    meta = refused.meta or {}
    assert meta["agent-runtime/code"] == "GOVERNANCE_DENIED"
    assert meta["agent-runtime/policy_ids"] == ["big-transfers"]
    assert [c["arguments"]["amount"] for c in mcp_upstream.CALLS[before:]] == [100]  # only the allowed one got there
    decided = [e for e in audit_events(stack) if e.get("decision_id") == meta["agent-runtime/decision_id"]]
    assert len(decided) == 1
    assert (decided[0]["target"], decided[0]["tool"], decided[0]["outcome"]) == ("payments", "transfer", "deny")
    assert "arguments" not in decided[0]  # only their digest, unless an operator turned recording on
    assert len(decided[0]["arguments_sha256"]) == 64


def test_a_forbidden_tool_is_refused_naming_the_policy(gateway):
    result = call(gateway["url"], gateway["agent"], "2026-07-28", "payments___refund", {"amount": 5})
    assert result.is_error is True
    assert "no-refunds" in result.content[0].text
    assert result.meta["agent-runtime/policy_ids"] == ["no-refunds"]


@pytest.mark.parametrize("mode", MODES)
def test_unknown_and_hidden_tools_get_the_same_answer(stack, gateway, mode):
    stranger = stack.create_key(f"stranger-{uuid.uuid4().hex[:6]}")
    nobody = Credential(stranger["access_key_id"], stranger["secret_access_key"], stranger["principal"])
    assert with_client(gateway["url"], nobody, mode, list_names) == []
    for credential, name in [(gateway["agent"], "payments___nothing"), (nobody, "payments___transfer")]:
        with pytest.raises(MCPError) as raised:
            call(gateway["url"], credential, mode, name, {"amount": 1, "to": "x"})
        assert raised.value.error.code == -32602
        assert raised.value.error.message == f"Unknown tool: {name}"


@pytest.mark.parametrize("mode", MODES)
def test_invalid_arguments_are_refused_before_governance_and_the_upstream(stack, gateway, mode):
    before = len(mcp_upstream.CALLS)
    for arguments, path in [({"amount": "ten", "to": "x"}, "/amount"), ({"to": "x"}, "/")]:
        with pytest.raises(MCPError) as raised:
            call(gateway["url"], gateway["agent"], mode, "payments___transfer", arguments)
        assert raised.value.error.code == -32602
        assert raised.value.error.data["path"] == path
    assert len(mcp_upstream.CALLS) == before


def test_the_builtin_axon_target(gateway):
    result = call(gateway["url"], gateway["agent"], "2026-07-28", "axon___reason", {"prompt": "two plus two"})
    assert result.is_error is False, result
    assert "two plus two" in result.content[0].text


def _raw(url: str, credential: Credential, body: dict, headers: dict[str, str]) -> requests.Response:
    data = json.dumps(body).encode()
    all_headers = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream", **headers}
    prepared = sign_request("POST", url, data, credential, headers=all_headers).prepare()
    return requests.post(prepared.url, data=prepared.body, headers=dict(prepared.headers), timeout=10)


def test_headers_that_disagree_with_the_body_are_refused(gateway):
    meta = {"io.modelcontextprotocol/protocolVersion": "2026-07-28", "io.modelcontextprotocol/clientCapabilities": {}}
    body = {
        "jsonrpc": "2.0",
        "id": 7,
        "method": "tools/call",
        "params": {"name": "payments___transfer", "arguments": {"amount": 500, "to": "x"}, "_meta": meta},
    }
    base = {"MCP-Protocol-Version": "2026-07-28", "Mcp-Method": "tools/call"}
    for headers in [{**base, "Mcp-Name": "payments___balance"}, {**base, "Mcp-Method": "tools/list"}, base]:
        response = _raw(gateway["url"], gateway["agent"], body, headers)
        assert response.status_code == 400, response.text
        assert response.json()["error"]["code"] == -32020
        assert response.json()["id"] == 7
    good = _raw(gateway["url"], gateway["agent"], body, {**base, "Mcp-Name": "payments___transfer"})
    assert good.status_code == 200
    assert good.json()["result"]["isError"] is True  # the control: consistent headers, then governed (500 > 100)


def test_protocol_errors(gateway, stack):
    url = gateway["url"]
    assert requests.get(url, timeout=5).status_code == 405
    unsigned = requests.post(url, json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"}, timeout=5)
    assert unsigned.status_code == 401
    assert unsigned.json()["code"] == "MISSING_AUTHORIZATION"
    batch = _raw(url, gateway["agent"], [{"jsonrpc": "2.0", "id": 1, "method": "ping"}], {})
    assert (batch.status_code, batch.json()["error"]["code"]) == (400, -32600)
    unknown = _raw(url, gateway["agent"], {"jsonrpc": "2.0", "id": "a", "method": "resources/list"}, {})
    assert unknown.json()["error"]["code"] == -32601
    version = _raw(
        url,
        gateway["agent"],
        {"jsonrpc": "2.0", "id": 2, "method": "tools/list"},
        {"MCP-Protocol-Version": "1999-01-01"},
    )
    assert (version.status_code, version.json()["error"]["code"]) == (400, -32022)
    notification = _raw(url, gateway["agent"], {"jsonrpc": "2.0", "method": "notifications/initialized"}, {})
    assert (notification.status_code, notification.text) == (202, "")
    initialize = _raw(
        url,
        gateway["agent"],
        {
            "jsonrpc": "2.0",
            "id": 3,
            "method": "initialize",
            "params": {"protocolVersion": "2025-06-18", "capabilities": {}},
        },
        {},
    )
    assert initialize.json()["result"]["protocolVersion"] == "2025-06-18"
    assert "Mcp-Session-Id" not in initialize.headers  # nothing kept: any Orbit answers the next request


def test_audited_tool_calls_carry_the_digest_of_their_arguments(stack, gateway):
    result = call(gateway["url"], gateway["agent"], "legacy", "payments___transfer", {"amount": 7, "to": "audit"})
    assert result.is_error is False
    digest = hashlib.sha256(
        json.dumps({"amount": 7, "to": "audit"}, sort_keys=True, separators=(",", ":")).encode()
    ).hexdigest()
    matching = [e for e in audit_events(stack) if e.get("arguments_sha256") == digest]
    assert matching
    assert matching[-1]["intent"] == "payments___transfer"
    assert matching[-1]["outcome"] == "allow"


def test_receipts_verify_only_the_call_they_were_issued_for():
    private, public = receipts.generate_key_pair()
    key = receipts.load_private_key(private)
    token = receipts.issue(
        key,
        decision_id="d",
        principal="p",
        intent="payments___transfer",
        digest=receipts.tool_call_digest("transfer", {"amount": 5}),
        policy_set_version=1,
        now=time.time(),
    )
    keys = receipts.keys_from_jwks({"keys": [receipts.jwk(receipts.load_public_key(public))]})
    assert receipts.verify_tool_call(token, keys, target="payments", tool="transfer", arguments={"amount": 5})
    for target, tool, arguments in [("payments", "transfer", {"amount": 6}), ("ledger", "transfer", {"amount": 5})]:
        with pytest.raises(receipts.ReceiptError):
            receipts.verify_tool_call(token, keys, target=target, tool=tool, arguments=arguments)


def test_a_stdio_client_through_mcp_proxy_for_aws(gateway):
    """The AWS-published mcp-proxy-for-aws (its own virtualenv: it needs mcp<2) connects a stdio MCP client, here
    the SDK's, to Orbit unchanged: it signs with SigV4 (service execute-api) and speaks the 2025-11-25 protocol."""
    import asyncio

    from mcp import Client, StdioServerParameters

    proxy = ROOT / ".venv-mcp-proxy" / "bin" / "mcp-proxy-for-aws"
    assert proxy.exists(), "run `make mcp-proxy` (make test does)"
    agent = gateway["agent"]
    params = StdioServerParameters(
        command=str(proxy),
        args=[gateway["url"], "--service", "execute-api", "--region", "us-east-1"],
        env={
            "AWS_ACCESS_KEY_ID": agent.access_key_id,
            "AWS_SECRET_ACCESS_KEY": agent.secret_access_key,
            "AWS_REGION": "us-east-1",
            "AWS_CONFIG_FILE": "/nonexistent",
            "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent",
            "AWS_EC2_METADATA_DISABLED": "true",
        },
    )

    async def run():
        async with Client(params, mode="legacy", read_timeout_seconds=60) as client:
            names = sorted(t.name for t in (await client.list_tools()).tools)
            allowed = await client.call_tool("payments___transfer", {"amount": 30, "to": "proxy"})
            refused = await client.call_tool("payments___transfer", {"amount": 300, "to": "proxy"})
            return names, allowed, refused

    names, allowed, refused = asyncio.run(run())
    assert "payments___transfer" in names
    assert "payments___refund" not in names
    assert allowed.is_error is False, allowed
    assert allowed.content[0].text.startswith("moved 30 EUR to proxy")
    assert refused.is_error is True
    assert "big-transfers" in refused.content[0].text


def test_a_shadow_policy_lets_the_call_through_and_says_what_it_would_have_done(stack, gateway):
    push(
        stack,
        '@id("shadow-no-bob") @mode("shadow") forbid(principal, action == Action::"payments___transfer", resource)'
        ' when { context.input.to == "bob" };',
    )
    try:
        result = call(gateway["url"], gateway["agent"], "2026-07-28", "payments___transfer", {"amount": 3, "to": "bob"})
        assert result.is_error is False
        shadowed = [e for e in audit_events(stack) if e.get("outcome") == "shadow" and e.get("tool") == "transfer"]
        assert shadowed
        assert shadowed[-1]["shadow"] == {"would_allow": False, "policy_ids": ["shadow-no-bob"]}
        assert shadowed[-1]["enforced_outcome"] == "allow"
    finally:
        delete(stack, "shadow-no-bob")


def test_governance_down_means_a_refusal_and_nothing_reaches_the_upstream(stack, gateway):
    from agentctl.local.config import LocalStack
    from agentctl.local.lifecycle import wait_healthy
    from agentctl.local.supervisor import start_program, stop_program
    from agentctl.settings import Ports

    local = LocalStack(stack.state_dir, Ports(**stack.ports), stack.project)
    before = len(mcp_upstream.CALLS)
    stop_program(local, "governance")
    try:
        result = call(gateway["url"], gateway["agent"], "2026-07-28", "payments___transfer", {"amount": 1, "to": "x"})
    finally:
        start_program(local, "governance")
        wait_healthy(local, "governance")
    assert result.is_error is True
    assert result.meta["agent-runtime/code"] == "SERVICE_UNAVAILABLE"
    assert result.meta["agent-runtime/retry_after"] >= 1
    assert len(mcp_upstream.CALLS) == before


def test_an_upstream_down_opens_its_breaker(stack, gateway):
    orbit, agent = stack.url("orbit"), gateway["agent"]
    dead = mcp_upstream.Upstream(mcp_upstream.build_payments(orbit, "flaky"), stateless=True, json_response=True)
    dead.start()
    add_target(stack, "flaky", dead.url)
    policy = f'permit(principal == Client::"{agent.principal}", action in Action::"target:flaky", resource);'
    push(stack, f'@id("flaky-all") {policy}')

    async def calls(client) -> list:
        # One session: its request ids differ, so identical calls are not identical requests (a tool call
        # signed twice alike in one second would be refused as a replay).
        results = [await client.call_tool("flaky___balance", {})]
        dead.stop()
        results += [await client.call_tool("flaky___balance", {}) for _ in range(7)]
        results.append(await client.call_tool("payments___balance", {}))
        return results

    try:
        time.sleep(6)  # Orbit's tool cache (5 s) has the new target
        results = with_client(gateway["url"], agent, "legacy", calls)
        assert results[0].is_error is False
        for result in results[1:8]:
            assert result.is_error is True
            assert result.meta["agent-runtime/code"] == "SERVICE_UNAVAILABLE"
            assert "flaky" in result.content[0].text
        # The breaker opened after 5 failures (ORBIT_CIRCUIT_FAIL_MAX): the last ones were refused at once.
        assert ["not called for now" in r.content[0].text for r in results[1:8]] == [False] * 5 + [True] * 2
        assert results[7].meta["agent-runtime/retry_after"] >= 1
        assert results[8].is_error is False  # the other targets are not affected by this one's breaker
    finally:
        delete(stack, "flaky-all")
        _store(stack).remove_target("flaky")


def test_a_tool_call_is_one_trace_down_to_the_upstream(stack, gateway):
    from tests.system.test_tracing import spans

    meta = {"io.modelcontextprotocol/protocolVersion": "2026-07-28", "io.modelcontextprotocol/clientCapabilities": {}}
    body = {
        "jsonrpc": "2.0",
        "id": str(uuid.uuid4()),
        "method": "tools/call",
        "params": {"name": "payments___transfer", "arguments": {"amount": 9, "to": "trace"}, "_meta": meta},
    }
    headers = {"MCP-Protocol-Version": "2026-07-28", "Mcp-Method": "tools/call", "Mcp-Name": "payments___transfer"}
    response = _raw(gateway["url"], gateway["agent"], body, headers)
    assert response.json()["result"]["isError"] is False
    trace_id = response.headers["traceparent"].split("-")[1]
    found = {
        s["name"]: s for s in spans(stack, trace_id, {"orbit POST /mcp", "mcp.upstream payments", "governance.decide"})
    }
    upstream = found["mcp.upstream payments"]
    assert upstream["attributes"]["gen_ai.tool.name"] == "transfer"
    assert found["orbit POST /mcp"]["attributes"]["gen_ai.tool.name"] == "payments___transfer"
    assert "governance.decide" in found
    assert "trace" not in json.dumps(upstream["attributes"])  # the arguments are not in a span
