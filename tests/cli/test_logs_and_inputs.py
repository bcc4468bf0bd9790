"""agentctl logs over the local Lambda API's per-worker streams, output piped into a reader that goes away, the
files agentctl refuses to read (policies, cases, the schema), and each local program's own settings. No stack
is needed: the state folder and the files are made here."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from datetime import UTC, datetime, timedelta

import boto3
import pytest

from agent_runtime.names import Names
from agent_runtime.tables import table_definitions
from agentctl.local.config import LocalStack
from agentctl.local.supervisor import render_config, settings_of, supervisor_environment
from agentctl.ops.files import MAX_FILE_BYTES
from agentctl.settings import Ports
from governance.store import PolicyStore
from tests.cli.conftest import PROJECT, run
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
    assert lines[0].split()[:5] == ["time", "outcome", "principal", "intent", "version"]  # no header cut
    assert "rate_limited " in lines[2]  # the outcome is never cut
    assert lines[3].endswith("Request authorized; shadow: no-bob-after-hours would deny")
    everything = run("--env", "local", "logs", "governance", "--since", "1d")
    assert everything.stdout.count("\n") == 6  # the master's line, four decisions, the metrics line


def test_control_characters_in_a_log_line_are_shown_escaped_never_raw(state):
    """A request path with a newline and a terminal escape must not forge a "200" line nor drive the terminal."""
    forged = "/x\n2026-01-01T00:00:00Z INFO    orbit      request        POST /dispatch 200\x1b[2K\u2028"
    (state / "logs" / "orbit.log").write_text(
        _event(1, service="orbit", event="request", message=f"GET {forged} 404") + "\n"
    )
    (state / "logs" / "governance-instance-0.log").write_text(_audit(1, "mallory\x1b]0;owned\x07", "deny") + "\n")
    plain = run("--env", "local", "logs", "orbit", "--since", "1d").stdout
    assert plain.count("\n") == 1
    assert "\x1b" not in plain
    assert "\u2028" not in plain
    assert "/x\\x0a2026-01-01T00:00:00Z" in plain
    assert "200\\x1b[2K\\x2028" in plain  # each escaped as its code point, nothing dropped
    assert plain.rstrip("\n").endswith("404")
    audit = run("--env", "local", "logs", "governance", "--audit").stdout
    assert "\x1b" not in audit
    assert "\x07" not in audit
    assert "mallory\\x1b]0;own" in audit  # the principal column is cut at its width
    as_json = run("--env", "local", "logs", "orbit", "--since", "1d", "--output", "json").stdout
    assert json.loads(as_json)["message"] == f"GET {forged} 404"  # JSON keeps the value, escaped by JSON itself


def test_follow_reads_every_stream_a_new_worker_included(state):
    logs = state / "logs"
    (logs / "governance-instance-0.log").write_text(_audit(1, "before", "allow") + "\n")
    env = {**os.environ, "AGENT_RUNTIME_STATE_DIR": str(state)}
    command = [str(BIN / "agentctl"), "--env", "local", "logs", "governance", "--follow", "--audit", "--output", "json"]
    with subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as process:
        try:
            assert json.loads(process.stdout.readline())["principal"] == "before"
            with (logs / "governance-instance-0.log").open("a") as stream:
                stream.write(_audit(0, "appended", "deny") + "\n")
            (logs / "governance-instance-1.log").write_text(_audit(0, "new-worker", "allow") + "\n")
            seen = {json.loads(process.stdout.readline())["principal"] for _ in range(2)}
            assert seen == {"appended", "new-worker"}
        finally:
            process.send_signal(signal.SIGINT)  # Ctrl-C ends --follow
        _, stderr = process.communicate(timeout=20)
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


# --- the files agentctl reads ---------------------------------------------------------------------------------

POLICY = '@id("allow-all")\npermit(principal, action == Action::"call_reasoning", resource == Service::"axon");\n'


@pytest.fixture
def store(aws_env) -> PolicyStore:
    dynamodb = boto3.client("dynamodb")
    for definition in table_definitions(Names(PROJECT)):
        dynamodb.create_table(**{k: v for k, v in definition.items() if k != "TimeToLive"})
    return PolicyStore(dynamodb, Names(PROJECT).policies_table)


def test_a_push_of_nothing_is_refused(store, tmp_path):
    comments = tmp_path / "only-comments.cedar"
    comments.write_text("// a policy will come here\n")
    for path in (comments, tmp_path):
        result = run("--env", "dev", "policy", "push", str(path), "--replace", "--yes")
        assert result.exit_code == 4
        assert (
            result.stderr
            == f"agentctl: no policy in {path}: nothing was stored (a .cedar file needs at least one policy)\n"
        )
    assert store.read_config().version == 0
    (tmp_path / "real.cedar").write_text(POLICY)
    pushed = run("--env", "dev", "policy", "push", str(tmp_path))
    assert pushed.exit_code == 0, pushed.output
    assert store.read_config().version == 1


def test_files_that_are_not_what_they_claim_are_not_read(tmp_path):
    policies = tmp_path / "policies"
    policies.mkdir()
    (policies / "good.cedar").write_text(POLICY)
    outside = tmp_path / "secret.txt"
    outside.write_text("aws_secret_access_key = NOT-TO-BE-SHOWN\n")

    (policies / "link.cedar").symlink_to(outside)
    linked = run("policy", "validate", str(policies))
    assert linked.exit_code == 4
    assert f"{policies / 'link.cedar'} is a symbolic link to {outside}, outside {policies}: not read" in linked.stderr
    assert "NOT-TO-BE-SHOWN" not in linked.output
    (policies / "link.cedar").unlink()

    os.mkfifo(policies / "pipe.cedar")
    started = time.monotonic()
    fifo = run("policy", "validate", str(policies))
    assert fifo.exit_code == 4
    assert "pipe.cedar is not a regular file (a FIFO, a device or a socket): not read" in fifo.stderr
    assert time.monotonic() - started < 10  # refused, not read (a FIFO would block the read forever)
    (policies / "pipe.cedar").unlink()

    (policies / "huge.cedar").write_text("// " + "x" * MAX_FILE_BYTES + "\n")
    huge = run("policy", "validate", str(policies))
    assert huge.exit_code == 4
    assert f"more than the {MAX_FILE_BYTES} agentctl reads" in huge.stderr
    (policies / "huge.cedar").unlink()

    inside = policies / "inside.cedar"
    inside.symlink_to(policies / "good.cedar")  # a link that stays in the folder is read (and is a duplicate)
    assert "duplicate @id" in run("policy", "validate", str(policies)).stderr


def test_a_case_file_error_says_where_and_never_echoes_another_file(tmp_path):
    outside = tmp_path / "credentials"
    outside.write_text("[default]\naws_secret_access_key: [NOT-TO-BE-SHOWN\n")
    folder = tmp_path / "cases"
    folder.mkdir()
    (folder / "cases.yaml").symlink_to(outside)
    linked = run("policy", "test", str(folder / "cases.yaml"))
    assert linked.exit_code == 4
    assert "is a symbolic link to" in linked.stderr
    assert "NOT-TO-BE-SHOWN" not in linked.output

    broken = folder / "broken.yaml"
    broken.write_text("policies: .\ncases:\n  - name: [unclosed SECRET-IN-THE-CASE\n")
    result = run("policy", "test", str(broken))
    assert result.exit_code == 1
    assert result.stderr.startswith(f"agentctl: {broken} is not valid YAML: ")
    assert "(line 4, column 1)" in result.stderr
    assert "SECRET-IN-THE-CASE" not in result.stderr


def test_a_case_file_cannot_expand_aliases_nor_point_its_policies_outside_its_repository(tmp_path):
    repository = tmp_path / "repo"
    (repository / ".git").mkdir(parents=True)
    (repository / "policies").mkdir()
    (repository / "policies" / "p.cedar").write_text(POLICY)
    laughs = repository / "laughs.yaml"  # 700 bytes that would expand to about 15 GB
    anchors = "x0: &x0 [" + ", ".join(["abcdefghijklmno"] * 10) + "]\n"
    anchors += "".join(f"x{i}: &x{i} [" + ", ".join([f"*x{i - 1}"] * 10) + "]\n" for i in range(1, 9))
    laughs.write_text("policies: policies\n" + anchors + "cases:\n  - name: *x8\n    expect: allow\n")
    expanded = run("policy", "test", str(laughs))
    assert expanded.exit_code == 1
    assert expanded.stderr.startswith(f"agentctl: {laughs} is not valid YAML: aliases (*name) are not accepted")

    outside = tmp_path / "netrc"
    outside.write_text("machine example.com login me password NOT-TO-BE-SHOWN\n")
    for reference in ("../netrc", str(outside), "/proc/self/environ"):
        cases = repository / "cases.yaml"
        cases.write_text(
            f"policies: {reference}\ncases:\n  - name: c\n    principal: a\n    intent: plan\n    expect: deny\n"
        )
        refused = run("policy", "test", str(cases))
        assert refused.exit_code == 1, refused.output
        assert f"leads outside {repository}: not read" in refused.stderr
        assert "NOT-TO-BE-SHOWN" not in refused.output
    nested = repository / "tests"
    nested.mkdir()
    (nested / "cases.yaml").write_text(
        "policies: ../policies\ncases:\n  - name: c\n    principal: a\n    intent: plan\n    expect: deny\n"
        "  - name: bad ids\n    principal: a\n    intent: plan\n    expect: deny\n    policy_ids: 5\n"
    )
    inside = run("policy", "test", str(nested / "cases.yaml"))  # up the tree, but inside the repository: read
    assert "leads outside" not in inside.output
    assert "policy_ids must be a list of policy ids" in inside.output  # one bad case fails alone, with its reason
    assert "Traceback" not in inside.output


# --- each program of the local stack gets its own settings -----------------------------------------------------


def test_each_program_gets_only_its_own_settings(tmp_path):
    stack = LocalStack(tmp_path, Ports(), "agent-runtime")
    environ = {
        "ORBIT_CIRCUIT_RESET_SECONDS": "2",
        "AXON_KEY_CACHE_TTL_SECONDS": "3",
        "GOVERNANCE_CONFIG_REFRESH_SECONDS": "0",
        "LAMBDA_TIMEOUT_SECONDS": "9",
        "GUNICORN_THREADS": "8",
        "LOG_LEVEL": "DEBUG",
        "AWS_PROFILE": "mine",
    }
    config = render_config(stack, environ)
    sections = {part.split("]", 1)[0]: part for part in config.split("[program:")[1:]}
    environment = {
        name: dict(
            item.split("=", 1) for item in section.split("environment=", 1)[1].strip().replace('"', "").split(",")
        )
        for name, section in sections.items()
    }
    assert environment["orbit"]["ORBIT_CIRCUIT_RESET_SECONDS"] == "2"
    assert environment["orbit"]["GUNICORN_THREADS"] == "8"
    assert "AXON_KEY_CACHE_TTL_SECONDS" not in environment["orbit"]
    assert environment["axon"]["AXON_KEY_CACHE_TTL_SECONDS"] == "3"
    assert "ORBIT_CIRCUIT_RESET_SECONDS" not in environment["axon"]
    assert environment["governance"]["LAMBDA_TIMEOUT_SECONDS"] == "9"
    assert not {k for k in environment["governance"] if k.startswith(("ORBIT_", "AXON_", "GUNICORN_"))}
    assert not {k for k in environment["emulator"] if k.startswith(("ORBIT_", "AXON_", "GOVERNANCE_", "LAMBDA_"))}
    # supervisord itself, whose environment every program inherits, carries none of them (LOG_LEVEL reaches all).
    inherited = supervisor_environment(stack, environ)
    assert set(inherited) == {"LOG_LEVEL", "AGENT_RUNTIME_SUPERVISED"}
    assert settings_of("emulator", environ) == {}
