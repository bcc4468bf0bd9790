"""agentctl logs over the local Lambda API's per-worker streams, and output piped into a reader that goes away.
No stack is needed: the state folder and its log files are made here."""

from __future__ import annotations

import json
import os
import signal
import subprocess
from datetime import UTC, datetime, timedelta

import pytest

from tests.cli.conftest import run
from tests.conftest import BIN, ROOT


def _event(minutes_ago: float, **fields) -> str:
    stamp = (datetime.now(UTC) - timedelta(minutes=minutes_ago)).isoformat(timespec="milliseconds")
    return json.dumps({"timestamp": stamp.replace("+00:00", "Z"), "level": "INFO", "service": "governance", **fields})


def _audit(minutes_ago: float, principal: str, outcome: str, **fields) -> str:
    return _event(
        minutes_ago,
        event="audit",
        message=f"governance decision {outcome}",
        outcome=outcome,
        principal=principal,
        intent="call_reasoning",
        policy_set_version=3,
        decision_time_ms=1.5,
        correlation_id=f"corr-{principal}",
        reason="Request authorized",
        **fields,
    )


@pytest.fixture
def state(tmp_path, monkeypatch):
    monkeypatch.setenv("AGENT_RUNTIME_STATE_DIR", str(tmp_path))
    (tmp_path / "logs").mkdir()
    return tmp_path


def test_the_workers_streams_are_merged_by_time_and_the_audit_table_hides_nothing(state):
    logs = state / "logs"
    (logs / "governance.log").write_text("[2026-01-01 00:00:00 +0000] [7] [WARNING] a master line\n")
    (logs / "governance-instance-0.log").write_text(
        "\n".join([_audit(5, "first", "allow"), _event(3, event="emf", message="metrics"), _audit(1, "fourth", "deny")])
        + "\n"
    )
    shadow = {"would_allow": False, "policy_ids": ["no-bob-after-hours"]}
    (logs / "governance-instance-1.log").write_text(
        "\n".join([_audit(4, "second", "rate_limited"), _audit(2, "third", "shadow", shadow=shadow)]) + "\n"
    )
    as_json = run("--env", "local", "logs", "governance", "--audit", "--output", "json")
    assert as_json.exit_code == 0, as_json.output
    assert [json.loads(line)["principal"] for line in as_json.stdout.splitlines()] == [
        "first",
        "second",
        "third",
        "fourth",
    ]
    table = run("--env", "local", "logs", "governance", "--audit")
    lines = table.stdout.splitlines()
    assert lines[0].split()[:2] == ["time", "outcome"]
    assert "rate_limited " in lines[2]  # the outcome is never cut
    assert lines[3].endswith("Request authorized; shadow: no-bob-after-hours would deny")
    everything = run("--env", "local", "logs", "governance", "--since", "1d")
    assert everything.stdout.count("\n") == 6  # the master's line, four decisions, the metrics line


def test_follow_reads_every_stream_a_new_worker_included(state):
    logs = state / "logs"
    (logs / "governance-instance-0.log").write_text(_audit(1, "before", "allow") + "\n")
    env = {**os.environ, "AGENT_RUNTIME_STATE_DIR": str(state)}
    process = subprocess.Popen(
        [str(BIN / "agentctl"), "--env", "local", "logs", "governance", "--follow", "--audit", "--output", "json"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert json.loads(process.stdout.readline())["principal"] == "before"
        with (logs / "governance-instance-0.log").open("a") as stream:
            stream.write(_audit(0, "appended", "deny") + "\n")
        (logs / "governance-instance-1.log").write_text(_audit(0, "new-worker", "allow") + "\n")
        seen = {json.loads(process.stdout.readline())["principal"] for _ in range(2)}
        assert seen == {"appended", "new-worker"}
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=20)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, stderr


@pytest.mark.parametrize(
    "args",
    [
        ("--env", "local", "logs", "governance", "--since", "1d"),
        ("--env", "local", "status", "--output", "json"),
        ("policy", "validate", "governance/policies/default"),
        ("--help",),
    ],
)
def test_output_into_a_closed_pipe_ends_quietly(state, args):
    (state / "logs" / "governance.log").write_text("".join(_audit(1, f"p{i}", "allow") + "\n" for i in range(3000)))
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader is gone before agentctl writes (`agentctl ... | head` once head has exited)
    try:
        result = subprocess.run(
            [str(BIN / "agentctl"), *args],
            env={**os.environ, "AGENT_RUNTIME_STATE_DIR": str(state), "ENVIRONMENT": "local"},
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            timeout=60,
            cwd=ROOT,
        )
    finally:
        os.close(write_end)
    assert result.stderr == ""
    assert result.returncode == 1


def test_logs_into_head_says_nothing(state):
    (state / "logs" / "governance.log").write_text("".join(_audit(1, f"p{i}", "allow") + "\n" for i in range(5000)))
    result = subprocess.run(  # noqa: S602 - a shell pipeline into head is what is tested
        f"{BIN / 'agentctl'} --env local logs governance --audit --since 1d | head -n 2",
        shell=True,
        env={**os.environ, "AGENT_RUNTIME_STATE_DIR": str(state)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.stdout.splitlines()[0].startswith("time")
    assert len(result.stdout.splitlines()) == 2
    assert result.stderr == ""
