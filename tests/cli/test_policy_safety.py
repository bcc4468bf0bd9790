"""Changing policies safely, against the real local stack: real signed dispatches and MCP tool calls are decided
and recorded, then `agentctl policy replay` decides the recorded requests with candidate sets, `policy coverage`
counts what each live policy determined, `policy lint` flags what a set says that it does not mean, and
`policy diff` shows what changed between stored versions."""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import requests

from agent_runtime import aws
from agent_runtime.mcp_client import McpUpstream
from agent_runtime.names import Names
from agent_runtime.sigv4 import Credential
from agent_runtime.tools import Target, Tool, ToolStore
from tests.apps import mcp_upstream
from tests.conftest import ROOT
from tests.mcp_client import call
from tests.signing import sign_request

pytestmark = pytest.mark.stack

RATE_NOTE = "rate limits are not replayed"
DEFAULT_SET = ROOT / "governance" / "policies" / "default"


@dataclass
class Traffic:
    """What was sent since `since` (an ISO time just before the first request): decision ids by kind."""

    since: str
    alpha: Credential
    beta: Credential
    agent: Credential
    allowed: dict[str, list[str]] = field(default_factory=dict)  # principal -> allowed call_reasoning ids
    denied: dict[str, list[str]] = field(default_factory=dict)  # principal -> denied summarize ids
    tools: dict[str, str] = field(default_factory=dict)  # tool action -> decision id of its one allowed call

    @property
    def total(self) -> int:
        return sum(map(len, self.allowed.values())) + sum(map(len, self.denied.values())) + len(self.tools)


def _credential(stack, name: str) -> Credential:
    created = stack.create_key(name)
    return Credential(created["access_key_id"], created["secret_access_key"], created["principal"])


def _dispatch(stack, credential: Credential, intent: str) -> tuple[int, str]:
    data = json.dumps({"intent": intent, "context": {"request_id": str(uuid.uuid4())}}).encode()
    request = sign_request("POST", f"{stack.url('orbit')}/dispatch", data, credential).prepare()
    response = requests.post(request.url, data=request.body, headers=dict(request.headers), timeout=10)
    body = response.json()
    block = body.get("governance") or body.get("error", {}).get("governance")
    return response.status_code, block["decision_id"]


def _push_text(stack, tmp: Path, name: str, text: str) -> dict:
    path = tmp / f"{name}.cedar"
    path.write_text(text)
    return json.loads(stack.agentctl("policy", "push", str(path), "--output", "json").stdout)


def _add_target(stack, name: str, url: str, record: bool) -> None:
    """What `agentctl tools add` and `tools sync` store: the target, then every tool its server lists."""
    store = ToolStore(aws.client("dynamodb"), Names(stack.project).tools_table)
    store.put_target(Target(name, url, record_arguments=record))
    listing = McpUpstream(url, http=requests.Session(), timeout_seconds=10).list_tools()
    tools = [Tool(name, t["name"], t.get("description", ""), t["inputSchema"]) for t in listing]
    store.publish_tools(store.target(name), tools)


def _tool_call(stack, agent: Credential, name: str, amount: int) -> str:
    result = call(f"{stack.url('orbit')}/mcp", agent, "2026-07-28", name, {"amount": amount, "to": "alice"})
    assert result.is_error is False, result
    return re.search(r"\(decision ([0-9a-f-]+)\)", result.content[0].text)[1]


@pytest.fixture(scope="module")
def traffic(stack, tmp_path_factory) -> Iterator[Traffic]:
    """Two MCP targets (payments: arguments not recorded; ledger: recorded), a permit of their transfer tool for
    one agent, then real traffic: allowed and denied dispatches of two clients and one tool call of each target."""
    tmp = tmp_path_factory.mktemp("policies")
    suffix = uuid.uuid4().hex[:6]
    payments = mcp_upstream.Upstream(
        mcp_upstream.build_payments(stack.url("orbit"), "payments"), stateless=True, json_response=True
    ).start()
    ledger = mcp_upstream.Upstream(
        mcp_upstream.build_payments(stack.url("orbit"), "ledger"), stateless=True, json_response=True
    ).start()
    _add_target(stack, "payments", payments.url, record=False)
    _add_target(stack, "ledger", ledger.url, record=True)
    sent = Traffic(
        "",
        _credential(stack, f"ps-alpha-{suffix}"),
        _credential(stack, f"ps-beta-{suffix}"),
        _credential(stack, f"ps-agent-{suffix}"),
    )
    _push_text(
        stack,
        tmp,
        "tools",
        (
            f'@id("ps-agent-transfers")\npermit(principal == Client::"{sent.agent.principal}",\n'
            '  action in [Action::"payments___transfer", Action::"ledger___transfer"], resource);\n'
        ),
    )
    time.sleep(1)
    sent.since = (datetime.now(UTC) - timedelta(milliseconds=200)).isoformat()
    for credential, allowed in ((sent.alpha, 3), (sent.beta, 2)):
        sent.allowed[credential.principal] = []
        for _ in range(allowed):
            status, decision_id = _dispatch(stack, credential, "call_reasoning")
            assert status == 200
            sent.allowed[credential.principal].append(decision_id)
        status, decision_id = _dispatch(stack, credential, "summarize")
        assert status == 403
        sent.denied[credential.principal] = [decision_id]
    for name in ("payments___transfer", "ledger___transfer"):
        sent.tools[name] = _tool_call(stack, sent.agent, name, 50)
    try:
        yield sent
    finally:
        stack.agentctl("policy", "delete", "ps-agent-transfers", "--yes", check=False)
        store = ToolStore(aws.client("dynamodb"), Names(stack.project).tools_table)
        for name, upstream in (("payments", payments), ("ledger", ledger)):
            upstream.stop()
            store.remove_target(name)


def replay(stack, traffic: Traffic, path: Path, *args: str, check: bool = True):
    return stack.agentctl("policy", "replay", str(path), "--since", traffic.since, *args, check=check)


def report(stack, traffic: Traffic, path: Path, *args: str) -> dict:
    return json.loads(replay(stack, traffic, path, *args, "--output", "json").stdout)


def groups(outcome: dict) -> dict[str, set[str]]:
    """policy id -> the decision ids of its examples."""
    return {g["policy_id"]: {e["decision_id"] for e in g["examples"]} for g in outcome["by_policy"]}


def live_folder(stack, tmp: Path) -> Path:
    """The live set written back to files (what `policy show` gives), as a candidate identical to it."""
    folder = tmp / "live"
    folder.mkdir()
    listed = json.loads(stack.agentctl("policy", "list", "--output", "json").stdout)["policies"]
    for policy in listed:
        text = json.loads(stack.agentctl("policy", "show", policy["id"], "--output", "json").stdout)["text"]
        (folder / f"{policy['id']}.cedar").write_text(text + "\n")
    return folder


# --- replay ---------------------------------------------------------------------------------------------------


def test_a_candidate_forbid_shows_exactly_the_decisions_it_changes(stack, traffic, tmp_path):
    candidate = tmp_path / "forbid.cedar"
    candidate.write_text(
        f'@id("forbid-alpha")\nforbid(principal == Client::"{traffic.alpha.principal}",\n'
        '  action == Action::"call_reasoning", resource);\n'
    )
    found = report(stack, traffic, candidate, "--on-top")
    assert found["considered"] == traffic.total
    assert found["allow_to_deny"]["count"] == 3
    assert groups(found["allow_to_deny"]) == {"forbid-alpha": set(traffic.allowed[traffic.alpha.principal])}
    example = found["allow_to_deny"]["by_policy"][0]["examples"][0]
    assert example["principal"] == traffic.alpha.principal
    assert example["intent"] == "call_reasoning"
    assert example["time"] >= traffic.since[:19]
    assert found["deny_to_allow"]["count"] == 0
    assert found["not_replayable"]["count"] == 0  # the forbid reads no argument
    assert found["unchanged"] == traffic.total - 3
    assert found["changed"] is True
    assert RATE_NOTE in found["rate_limits"]

    only_beta = report(stack, traffic, candidate, "--on-top", "--principal", traffic.beta.principal)
    assert only_beta["considered"] == 3
    assert only_beta["changed"] is False


def test_an_identical_set_changes_nothing_and_passes_the_gate(stack, traffic, tmp_path):
    result = replay(stack, traffic, live_folder(stack, tmp_path), "--fail-on-change")
    assert result.returncode == 0, result.stderr
    assert "allow -> deny: 0" in result.stdout
    assert "deny -> allow: 0" in result.stdout
    assert f"unchanged: {traffic.total}" in result.stdout
    assert f"note: {RATE_NOTE}" in result.stdout


def test_a_replacement_differs_from_the_same_policy_on_top(stack, traffic, tmp_path):
    candidate = tmp_path / "summarize.cedar"
    candidate.write_text('@id("permit-summarize")\npermit(principal, action == Action::"summarize", resource);\n')
    denied = {i for ids in traffic.denied.values() for i in ids}
    allowed = {i for ids in traffic.allowed.values() for i in ids}

    on_top = report(stack, traffic, candidate, "--on-top")
    assert on_top["deny_to_allow"]["count"] == 2
    assert groups(on_top["deny_to_allow"]) == {"permit-summarize": denied}
    assert on_top["allow_to_deny"]["count"] == 0

    replacing = report(stack, traffic, candidate)
    assert replacing["deny_to_allow"]["count"] == 2
    # Without the live permits, every allowed dispatch and tool call loses its permit.
    assert replacing["allow_to_deny"]["count"] == len(allowed) + len(traffic.tools)
    assert replacing["allow_to_deny"]["by_policy"][0]["policy_id"] == "(no permit applies)"
    assert replacing["allow_to_deny"]["by_policy"][0]["count"] == len(allowed) + len(traffic.tools)


def test_a_candidate_reading_arguments_cannot_be_replayed_where_none_were_recorded(stack, traffic, tmp_path):
    candidate = tmp_path / "big.cedar"
    candidate.write_text(
        '@id("small-transfers-only")\n'
        'forbid(principal, action in [Action::"payments___transfer", Action::"ledger___transfer"], resource)\n'
        "  when { context.input.amount > 10 };\n"
    )
    found = report(stack, traffic, candidate, "--on-top", "--tool", "payments")
    assert found["considered"] == 1
    assert groups(found["not_replayable"]) == {"small-transfers-only": {traffic.tools["payments___transfer"]}}
    recorded = report(stack, traffic, candidate, "--on-top", "--tool", "ledger___transfer")
    assert groups(recorded["allow_to_deny"]) == {"small-transfers-only": {traffic.tools["ledger___transfer"]}}
    assert recorded["not_replayable"]["count"] == 0


def test_fail_on_change_exits_3_and_says_why(stack, traffic, tmp_path):
    candidate = tmp_path / "forbid-all.cedar"
    candidate.write_text('@id("stop-reasoning")\nforbid(principal, action == Action::"call_reasoning", resource);\n')
    result = replay(stack, traffic, candidate, "--on-top", "--fail-on-change", check=False)
    assert result.returncode == 3
    assert result.stderr == "agentctl: 5 recorded decision(s) would change (--fail-on-change)\n"
    assert "allow -> deny: 5" in result.stdout
    assert "  stop-reasoning: 5" in result.stdout
    without = replay(stack, traffic, candidate, "--on-top", check=False)
    assert without.returncode == 0


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ('@id("broken")\npermit(principal, action == Action::"call_reasoning", resource)\n', "broken.cedar:"),
        (
            '@id("typo")\npermit(principal, action == Action::"call_reasoning", resource)\n'
            "  when { context.no_such_field == 1 };\n",
            "typo",
        ),
        (
            '@id("no-such-argument")\npermit(principal, action == Action::"payments___transfer", resource)\n'
            "  when { context.input.no_such_argument > 1 };\n",
            "no_such_argument",
        ),
    ],
)
def test_an_invalid_candidate_is_refused_in_one_line(stack, traffic, tmp_path, text, said):
    candidate = tmp_path / "broken.cedar"
    candidate.write_text(text)
    result = replay(stack, traffic, candidate, check=False)
    assert result.returncode == 4
    assert result.stdout == ""
    assert len(result.stderr.splitlines()) == 1
    assert result.stderr.startswith("agentctl: the candidate is not valid, nothing was replayed: ")
    assert said in result.stderr


def test_a_candidate_without_policies_is_refused(stack, traffic, tmp_path):
    candidate = tmp_path / "nothing.cedar"
    candidate.write_text("// a policy will come here\n")
    result = replay(stack, traffic, candidate, check=False)
    assert result.returncode == 4
    assert result.stderr == (
        f"agentctl: no policy in {candidate}: a push of it would be refused, so there is nothing to replay\n"
    )


def test_intent_filter_selects_one_intent(stack, traffic):
    found = report(stack, traffic, DEFAULT_SET, "--intent", "summarize")
    assert found["considered"] == 2
    assert found["filters"]["intent"] == "summarize"


def test_the_schema_of_a_push_has_the_tools_arguments(stack, traffic, tmp_path):
    policy = tmp_path / "argument.cedar"
    policy.write_text(
        '@id("no-such-argument")\npermit(principal, action == Action::"payments___transfer", resource)\n'
        "  when { context.input.no_such_argument > 1 };\n"
    )
    result = stack.agentctl("policy", "push", str(policy), check=False)
    assert result.returncode == 1
    assert f"{policy}:1: no-such-argument: attribute `input.no_such_argument`" in result.stderr
    assert "nothing was stored" in result.stderr
    policy.write_text(
        '@id("big-ledger")\nforbid(principal, action == Action::"ledger___transfer", resource)\n'
        "  when { context.input.amount > 1000 };\n"
    )
    assert stack.agentctl("policy", "validate", str(policy)).stdout == "1 policies valid (0 in shadow mode)\n"


def test_policy_test_cases_may_call_tools(stack, traffic, tmp_path):
    (tmp_path / "p.cedar").write_text(
        '@id("ledger-small")\npermit(principal, action == Action::"ledger___transfer", resource)\n'
        "  when { context.input.amount <= 100 };\n"
    )
    (tmp_path / "cases.yaml").write_text(
        "policies: p.cedar\ncases:\n"
        "  - {name: small, principal: a, tool: ledger___transfer, arguments: {amount: 100, to: x}, expect: allow}\n"
        "  - {name: big, principal: a, tool: ledger___transfer, arguments: {amount: 101, to: x}, expect: deny}\n"
        "  - {name: intent, principal: a, intent: call_reasoning, expect: deny}\n"
    )
    result = stack.agentctl("policy", "test", str(tmp_path / "cases.yaml"))
    assert result.stdout.splitlines()[-1].startswith("3/3 cases passed")


@pytest.mark.parametrize(
    "args",
    [
        ("policy", "replay", str(DEFAULT_SET), "--since", "yesterday"),
        ("policy", "coverage", "--since", "last week"),
        ("policy", "lint", "--shadow-max-age", "soon"),
        ("policy", "replay", str(DEFAULT_SET), "--tool", "Not A Tool"),
    ],
)
def test_bad_arguments_are_one_line(stack, args):
    result = stack.agentctl(*args, check=False)
    assert result.returncode == 4
    assert result.stdout == ""
    assert len(result.stderr.splitlines()) == 1
    assert result.stderr.startswith("agentctl: ")


# --- coverage -------------------------------------------------------------------------------------------------


def test_coverage_counts_what_the_audit_says(stack, traffic, tmp_path):
    _push_text(stack, tmp_path, "idle", '@id("ps-idle")\nforbid(principal, action == Action::"plan", resource);\n')
    try:
        found = json.loads(stack.agentctl("policy", "coverage", "--since", traffic.since, "--output", "json").stdout)
        audit = [
            json.loads(line)
            for line in stack.agentctl(
                "logs", "governance", "--audit", "--since", traffic.since, "--output", "json"
            ).stdout.splitlines()
        ]
        decided = [
            e
            for e in audit
            if e.get("kind") != "list_tools" and e.get("enforced_outcome", e["outcome"]) in ("allow", "deny")
        ]
        rows = {row["policy_id"]: row for row in found["policies"]}
        assert found["decisions"] == len(decided) >= traffic.total
        for policy_id in ("allow-call-reasoning", "ps-agent-transfers"):
            expected = sum(1 for e in decided if policy_id in e.get("policy_ids", []))
            assert rows[policy_id]["enforced"] == expected > 0
        assert rows["allow-call-reasoning"]["enforced"] >= 5
        assert rows["ps-idle"]["idle"] is True
        assert "ps-idle" in found["idle"]
        table = stack.agentctl("policy", "coverage", "--since", traffic.since).stdout
        assert re.search(r"ps-idle .* decided nothing", table)
    finally:
        stack.agentctl("policy", "delete", "ps-idle", "--yes")


# --- lint -----------------------------------------------------------------------------------------------------


def test_lint_finds_each_class_with_its_line(stack, traffic, tmp_path):
    folder = tmp_path / "lint"
    folder.mkdir()
    (folder / "set.cedar").write_text(
        '@id("permit-plan")\npermit(principal, action == Action::"plan", resource);\n'  # lines 1-2
        '@id("forbid-plan")\nforbid(principal, action == Action::"plan", resource);\n'  # 3-4
        '@id("ghost-client")\nforbid(principal == Client::"no-such-client", action, resource);\n'  # 5-6
        '@id("ghost-target")\nforbid(principal, action, resource == Target::"nowhere");\n'  # 7-8
        '@id("copy-of-forbid-plan")\nforbid(principal, action == Action::"plan", resource);\n'  # 9-10
        f'@id("known-client")\npermit(principal == Client::"{traffic.beta.principal}", action, resource);\n'
    )
    result = stack.agentctl("policy", "lint", str(folder), "--output", "json", check=False)
    assert result.returncode == 3
    found = {(f["code"], f["policy_id"], f["line"], f["level"]) for f in json.loads(result.stdout)["findings"]}
    assert found == {
        ("overridden-permit", "permit-plan", 1, "error"),
        ("unknown-principal", "ghost-client", 5, "error"),
        ("unknown-target", "ghost-target", 7, "error"),
        ("duplicate", "copy-of-forbid-plan", 9, "warning"),
    }
    assert result.stderr == f"agentctl: 3 error-level lint finding(s) in {folder}\n"

    (folder / "set.cedar").write_text('@id("typo")\npermit(principal, action == Action::"cal_reasoning", resource);\n')
    unknown = stack.agentctl("policy", "lint", str(folder), check=False)
    assert unknown.returncode == 3
    assert 'set.cedar:1: error: typo: no intent "cal_reasoning" in the schema [unknown-action]' in unknown.stdout


def test_lint_of_the_live_set_flags_an_old_shadow_policy(stack, traffic, tmp_path):
    _push_text(
        stack,
        tmp_path,
        "shadow",
        '@id("ps-shadow")\n@mode("shadow")\nforbid(principal, action == Action::"classify", resource);\n',
    )
    try:
        time.sleep(2)
        result = stack.agentctl("policy", "lint", "--shadow-max-age", "1s")
        assert re.search(r"warning: ps-shadow: in shadow mode since .*\[stale-shadow\]", result.stdout)
        assert "0 error(s) in the live policy set" in result.stdout
        assert "stale-shadow" not in stack.agentctl("policy", "lint", "--output", "json").stdout  # 14 days
    finally:
        stack.agentctl("policy", "delete", "ps-shadow", "--yes")


# --- diff -----------------------------------------------------------------------------------------------------


def test_diff_between_versions(stack, traffic, tmp_path):
    text = '@id("ps-diff")\nforbid(principal, action == Action::"plan", resource);\n'
    added = _push_text(stack, tmp_path, "diff", text)["policy_set_version"]
    changed = _push_text(stack, tmp_path, "diff", text.replace('"plan"', '"classify"'))["policy_set_version"]
    stack.agentctl("policy", "delete", "ps-diff", "--yes")
    latest = changed + 1

    default = json.loads(stack.agentctl("policy", "diff", "--output", "json").stdout)
    assert (default["version_a"], default["version_b"]) == (changed, latest)
    assert [(c["policy_id"], c["change"]) for c in default["changes"]] == [("ps-diff", "removed")]

    shown = stack.agentctl("policy", "diff", str(added), str(changed)).stdout
    assert f"--- v{added}/ps-diff" in shown
    assert f"+++ v{changed}/ps-diff" in shown
    assert '-  action == Action::"plan",' in shown
    assert '+  action == Action::"classify",' in shown
    assert shown.splitlines()[-1].startswith(f"v{added} -> v{changed}: 1 policies changed (ps-diff changed)")

    first = json.loads(stack.agentctl("policy", "diff", str(added - 1), str(added), "--output", "json").stdout)
    assert [(c["policy_id"], c["change"]) for c in first["changes"]] == [("ps-diff", "added")]

    unknown = stack.agentctl("policy", "diff", str(latest + 100), check=False)
    assert unknown.returncode == 4
    assert unknown.stderr == (
        f"agentctl: policy-set version {latest + 100} does not exist (the live version is {latest})\n"
    )
