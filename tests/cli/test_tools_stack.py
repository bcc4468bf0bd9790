"""agentctl tools and limits --tool on the running local stack: targets added and synced by the agentctl program,
then called through Orbit's /mcp by the official SDK's client (SigV4-signed), with upstreams written with the SDK
that check Governance's receipt and (one of them) a bearer token."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from mcp import MCPError

from agent_runtime.sigv4 import Credential
from tests.apps import mcp_upstream
from tests.cli.test_tools import TOKEN, BearerCheck
from tests.mcp_client import call, list_names, with_client
from tests.system.test_mcp import delete, push

pytestmark = pytest.mark.stack

POLICIES = ("tools-cli-plain", "tools-cli-vault", "tools-cli-big")


def wait_for(what: str, check: Callable[[], Any], timeout: float = 20) -> Any:
    """Orbit reads the tools table every few seconds: poll until it serves what was stored."""
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found or time.monotonic() > deadline:
            assert found, f"{what}: not seen within {timeout:.0f}s"
            return found
        time.sleep(0.5)


@pytest.fixture(scope="module")
def targets(stack, tmp_path_factory) -> Iterator[dict[str, Any]]:
    orbit = stack.url("orbit")
    checks: list[BearerCheck] = []

    def wrap(app: Any) -> BearerCheck:
        checks.append(BearerCheck(app, TOKEN))
        return checks[-1]

    plain = mcp_upstream.Upstream(mcp_upstream.build_payments(orbit, "plain"), stateless=True, json_response=True)
    vault = mcp_upstream.Upstream(
        mcp_upstream.build_payments(orbit, "vault"), stateless=False, json_response=False, wrap=wrap
    )
    plain.start()
    vault.start()
    token_file = tmp_path_factory.mktemp("token") / "vault-token"
    token_file.write_text(TOKEN)
    outputs = [
        stack.agentctl("tools", "add", "plain", "--url", plain.url, "--output", "json"),
        stack.agentctl(
            "tools", "add", "vault", "--url", vault.url, "--auth", "bearer", "--bearer-token-file", str(token_file)
        ),
    ]
    created = stack.create_key(f"tools-agent-{uuid.uuid4().hex[:6]}")
    agent = Credential(created["access_key_id"], created["secret_access_key"], created["principal"])
    push(
        stack,
        f"""
@id("tools-cli-plain") permit(principal == Client::"{agent.principal}", action in Action::"target:plain", resource);
@id("tools-cli-vault") permit(principal == Client::"{agent.principal}", action in Action::"target:vault", resource);
@id("tools-cli-big") forbid(principal, action == Action::"plain___transfer", resource)
  when {{ context.input.amount > 100 }};
""",
    )
    url = f"{orbit}/mcp"
    wait_for("the synced tools", lambda: "vault___transfer" in with_client(url, agent, "2026-07-28", list_names))
    try:
        yield {"url": url, "agent": agent, "bearer": checks[0], "outputs": outputs, "vault": vault}
    finally:
        delete(stack, *POLICIES)
        for name in ("plain", "vault"):
            stack.agentctl("tools", "remove", name, "--yes", check=False)
        plain.stop()
        vault.stop()


def test_added_and_synced_tools_are_listed_and_called_through_orbit(stack, targets):
    added = json.loads(targets["outputs"][0].stdout)
    assert added["sync"][0]["added"] == ["balance", "refund", "transfer"]
    listed = json.loads(stack.agentctl("tools", "list", "--output", "json").stdout)["targets"]
    assert {t["name"] for t in listed} >= {"axon", "plain", "vault"}
    plain = next(t for t in listed if t["name"] == "plain")
    assert [t["name"] for t in plain["tools"]] == ["plain___balance", "plain___refund", "plain___transfer"]
    axon = next(t for t in listed if t["name"] == "axon")
    assert axon["url"] == f"{stack.url('axon')}/mcp"

    before = len(mcp_upstream.CALLS)
    allowed = call(targets["url"], targets["agent"], "2026-07-28", "plain___transfer", {"amount": 60, "to": "ann"})
    refused = call(targets["url"], targets["agent"], "legacy", "plain___transfer", {"amount": 160, "to": "ann"})
    assert allowed.is_error is False, allowed
    assert allowed.content[0].text.startswith("moved 60 EUR to ann")
    assert refused.is_error is True
    assert refused.meta["agent-runtime/policy_ids"] == ["tools-cli-big"]
    (served,) = mcp_upstream.CALLS[before:]  # only the allowed call reached the upstream, with a valid receipt
    assert served["arguments"] == {"amount": 60, "to": "ann"}
    assert not str(served["receipt"]).startswith("refused")


def test_the_bearer_token_reaches_the_upstream_through_orbit_and_nowhere_else(stack, targets):
    bearer = targets["bearer"]
    bearer.seen.clear()
    result = call(targets["url"], targets["agent"], "2026-07-28", "vault___balance", {})
    assert result.is_error is False, result
    assert bearer.seen
    assert set(bearer.seen) == {f"Bearer {TOKEN}"}  # Orbit read it from Secrets Manager and sent it
    for output in targets["outputs"]:
        assert TOKEN not in output.stdout + output.stderr
    listed = stack.agentctl("tools", "list", "--target", "vault", "--output", "json").stdout
    assert TOKEN not in listed
    assert json.loads(listed)["targets"][0]["bearer_secret"] == f"{stack.project}/targets/vault"
    for log in (stack.state_dir / "logs").rglob("*"):
        if log.is_file():
            assert TOKEN not in log.read_text(errors="replace"), log


def test_a_limit_per_tool_is_enforced_with_a_retry_after(stack, targets):
    if time.time() % 60 > 50:  # the three calls must fall in one minute window
        time.sleep(61 - time.time() % 60)
    stack.agentctl("limits", "set", "--tool", "plain___transfer=2")
    try:
        shown = stack.agentctl("limits", "show").stdout
        assert "tool plain___transfer (per principal)" in shown
        # Calls that differ (a byte-identical signed request in the same second is refused as a replay).
        results = [
            call(targets["url"], targets["agent"], "2026-07-28", "plain___transfer", {"amount": i, "to": "lim"})
            for i in (1, 2, 3)
        ]
        other = call(targets["url"], targets["agent"], "2026-07-28", "plain___balance", {})
    finally:
        stack.agentctl("limits", "set", "--tool", "plain___transfer=none")
    assert [r.is_error for r in results] == [False, False, True]
    meta = results[2].meta
    assert meta["agent-runtime/code"] == "RATE_LIMIT_EXCEEDED"
    assert 1 <= meta["agent-runtime/retry_after"] <= 61
    assert "try again in" in results[2].content[0].text
    assert other.is_error is False  # another tool is not limited


def test_concurrent_calls_after_a_sync(stack, targets):
    synced = json.loads(stack.agentctl("tools", "sync", "--output", "json").stdout)
    assert {s["target"] for s in synced["synced"]} == {"plain", "vault"}
    assert all(not s["added"] and not s["removed"] for s in synced["synced"])
    before = len(mcp_upstream.CALLS)

    def one(i: int) -> Any:
        tool = "plain___transfer" if i % 2 else "vault___transfer"
        return call(targets["url"], targets["agent"], "2026-07-28", tool, {"amount": i + 1, "to": f"c{i}"})

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(one, range(16)))
    assert [r.is_error for r in results] == [False] * 16, [r.content for r in results if r.is_error]
    served = mcp_upstream.CALLS[before:]
    assert sorted(c["arguments"]["amount"] for c in served) == list(range(1, 17))
    assert all(not str(c["receipt"]).startswith("refused") for c in served)


def test_a_removed_target_is_no_longer_served(stack, targets, tmp_path):
    extra = mcp_upstream.Upstream(
        mcp_upstream.build_payments(stack.url("orbit"), "gone"), stateless=True, json_response=True
    ).start()
    try:
        stack.agentctl("tools", "add", "gone", "--url", extra.url)
        push(stack, '@id("tools-cli-gone") permit(principal, action in Action::"target:gone", resource);')
        agent, url = targets["agent"], targets["url"]
        wait_for("the new target", lambda: "gone___balance" in with_client(url, agent, "2026-07-28", list_names))
        removed = json.loads(stack.agentctl("tools", "remove", "gone", "--yes", "--output", "json").stdout)
        assert removed["tools"] == ["gone___balance", "gone___refund", "gone___transfer"]
        # The live policy names the removed target: one warning for it.
        assert len([w for w in removed["warnings"] if "live policy tools-cli-gone " in w]) == 1
        wait_for("the removal", lambda: "gone___balance" not in with_client(url, agent, "2026-07-28", list_names))
        with pytest.raises(MCPError) as raised:
            call(url, agent, "2026-07-28", "gone___balance", {})
        assert raised.value.error.code == -32602
    finally:
        delete(stack, "tools-cli-gone")
        extra.stop()


def test_a_sigv4_target_is_synced_with_orbits_key(stack):
    """Axon's /mcp accepts only requests signed with Orbit's key (service axon): a sigv4 target the sync reads
    as Orbit would, and one without authentication is refused by it in one line."""
    url = f"{stack.url('axon')}/mcp"
    unsigned = stack.agentctl("tools", "add", "reasoner", "--url", url, check=False)
    assert unsigned.returncode == 1
    assert "HTTP 401" in unsigned.stderr
    assert len(unsigned.stderr.strip().splitlines()) == 1
    added = stack.agentctl(
        "tools", "add", "reasoner", "--url", url, "--auth", "sigv4", "--sigv4-service", "axon", "--output", "json"
    )
    try:
        assert json.loads(added.stdout)["sync"][0]["added"] == ["reason"]
        listed = json.loads(stack.agentctl("tools", "list", "--target", "reasoner", "--output", "json").stdout)
        assert listed["targets"][0]["sigv4_service"] == "axon"
        assert [t["name"] for t in listed["targets"][0]["tools"]] == ["reasoner___reason"]
    finally:
        stack.agentctl("tools", "remove", "reasoner", "--yes")
