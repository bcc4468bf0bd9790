"""The runbook commands against the real local stack (the session's `stack` fixture): chaos drills, logs,
status, backup and restore. Every drill leaves the stack as it found it (the next tests rely on that)."""

from __future__ import annotations

import json
import signal
import subprocess
import time

import pytest
import requests

from tests.conftest import BIN, ROOT

pytestmark = pytest.mark.stack


def drill(stack, *args: str) -> tuple[subprocess.CompletedProcess[str], dict]:
    result = stack.agentctl("chaos", *args, "--yes", "--output", "json", check=False, timeout=240)
    assert result.stdout, result.stderr
    return result, json.loads(result.stdout)


def test_chaos_kill_axon_reports_recovery(stack):
    result, report = drill(stack, "kill", "axon")
    assert result.returncode == 0, result.stderr
    assert report["passed"] is True
    observed = report["observations"]
    assert observed["recovered"] is True
    assert observed["new_pid"] != observed["old_pid"]
    assert 0 < observed["seconds_to_running"] <= observed["mttr_seconds"] < 60
    assert report["verdict"].startswith("recovered: axon was back and healthy")
    assert report["restore"] == {"action": "none needed: supervisord restarted it"}
    assert all(c["healthy"] for c in report["steady_state_after"])
    assert requests.get(f"{stack.url('axon')}/health", timeout=5).status_code == 200


def test_chaos_governance_outage_lets_nothing_reach_axon(stack, tmp_path):
    report_file = tmp_path / "report.json"
    result, report = drill(stack, "governance-outage", "--duration", "2", "--rate", "4", "--report", str(report_file))
    assert result.returncode == 0, result.stderr
    observed = report["observations"]
    assert observed["probes"] >= 4
    assert observed["statuses"] == {"503": observed["probes"]}
    assert observed["codes"] == ["SERVICE_UNAVAILABLE"]
    assert observed["reached_axon"] == 0
    assert report["passed"] is True
    assert report["fault"] == {"action": "supervisorctl stop governance"}
    assert report["restore"]["dispatch_recovered_after_seconds"] is not None  # a dispatch succeeds again
    assert json.loads(report_file.read_text()) == report


def test_chaos_axon_outage_orbit_answers_503_quickly(stack):
    result, report = drill(stack, "axon-outage", "--duration", "2", "--rate", "4")
    assert result.returncode == 0, result.stderr
    observed = report["observations"]
    assert observed["probes"] >= 4
    assert observed["statuses"] == {"503": observed["probes"]}
    assert observed["max_latency_ms"] < 3000
    assert report["restore"]["dispatch_recovered_after_seconds"] is not None
    assert report["passed"] is True


def test_chaos_restores_when_interrupted(stack):
    """SIGTERM in the middle of an outage: the drill restores Governance, reports, and exits non-zero."""
    process = subprocess.Popen(
        [str(BIN / "agentctl"), "chaos", "governance-outage", "--duration", "60", "--yes", "--output", "json"],
        env=stack.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        seen = ""
        while "sending probes" not in seen and time.monotonic() < deadline:
            seen += process.stderr.readline()
        assert "sending probes" in seen, seen
        time.sleep(1)
        process.send_signal(signal.SIGTERM)
        stdout, stderr = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 1, stderr
    report = json.loads(stdout)
    assert report["interrupted"] is True
    assert report["restored"] is True
    assert "drill governance-outage failed (interrupted); restored" in stderr
    health = stack.agentctl("health", check=False)
    assert health.returncode == 0, health.stdout + health.stderr


def test_logs_governance_shows_the_audit_events(stack):
    answer = stack.agentctl(
        "dispatch", "--intent", "call_reasoning", "--context", '{"user_id": "logs-test"}',
        "--correlation-id", "logs-test-correlation", check=False,
    )  # fmt: skip
    assert answer.returncode == 0, answer.stderr
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        result = stack.agentctl("logs", "governance", "--audit", "--since", "5m", "--output", "json")
        events = [json.loads(line) for line in result.stdout.splitlines()]
        mine = [e for e in events if e.get("correlation_id") == "logs-test-correlation"]
        if mine:
            break
        time.sleep(0.3)
    assert mine, result.stdout
    assert mine[0]["event"] == "audit"
    assert mine[0]["principal"] == "quickstart"
    assert mine[0]["intent"] == "call_reasoning"
    assert mine[0]["outcome"] == "allow"
    assert all(e["event"] == "audit" for e in events)
    table = stack.agentctl("logs", "governance", "--audit", "--since", "5m")
    assert table.stdout.splitlines()[0].startswith("time")
    assert "logs-test-correlation" in table.stdout


def test_logs_follow_prints_new_lines_until_interrupted(stack):
    process = subprocess.Popen(
        [str(BIN / "agentctl"), "logs", "orbit", "--follow", "--since", "1s", "--output", "json"],
        env=stack.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        time.sleep(1.5)
        stack.agentctl("dispatch", "--intent", "call_reasoning", "--correlation-id", "follow-test-1", check=False)
        deadline = time.monotonic() + 20
        line = ""
        while "follow-test-1" not in line and time.monotonic() < deadline:
            line = process.stdout.readline()
        assert "follow-test-1" in line
        assert json.loads(line)["correlation_id"] == "follow-test-1"
        process.send_signal(signal.SIGINT)
        process.communicate(timeout=20)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0


def test_status_locally_lists_the_supervised_processes_and_tables(stack):
    result = stack.agentctl("status", "--output", "json")
    data = json.loads(result.stdout)
    assert {p["name"]: p["state"] for p in data["processes"]} == {
        "emulator": "RUNNING",
        "governance": "RUNNING",
        "axon": "RUNNING",
        "orbit": "RUNNING",
    }
    assert data["environment"] == "local"
    assert {t["status"] for t in data["tables"]} == {"ACTIVE"}
    assert data["policy_set"]["version"] >= 1
    table = stack.agentctl("status")
    assert "Processes (supervisord)" in table.stdout
    assert "no versions" in table.stdout


def test_backup_and_restore_work_locally(stack):
    created = json.loads(stack.agentctl("backup", "create", "--output", "json").stdout)
    assert created["status"] == "AVAILABLE"
    listed = json.loads(stack.agentctl("backup", "list", "--output", "json").stdout)
    assert created["arn"] in [b["arn"] for b in listed]
    restored = stack.agentctl("backup", "restore", created["arn"], "--yes", "--output", "json")
    report = json.loads(restored.stdout)
    assert report["restore"]["verified"] is True
    assert report["restore"]["items"] == created["expected_items"]
    assert report["switch_over"]["plan"]["action"] == "none"  # nothing changed since the backup
    # The stack still decides with the same policies.
    health = stack.agentctl("health", check=False)
    assert health.returncode == 0, health.stdout


def test_rollback_and_scale_explain_the_local_stack(stack):
    rollback = stack.agentctl("rollback", "orbit", "--yes", check=False)
    assert rollback.returncode == 4
    assert "nothing to roll back locally" in rollback.stderr
    scale = stack.agentctl("scale", "orbit", "2", check=False)
    assert scale.returncode == 4
    assert "one process per service" in scale.stderr


def script(name: str, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(ROOT / "scripts" / name), *args], env=env, capture_output=True, text=True, timeout=120, check=False
    )


def test_the_scripts_wrap_agentctl(stack):
    health = script("health-check.sh", env=stack.env)
    assert health.returncode == 0, health.stdout + health.stderr
    assert "✅ Orbit service" in health.stdout

    backup = script("backup.sh", env={**stack.env, "KEEP_DAYS": "30"})
    assert backup.returncode == 0, backup.stdout + backup.stderr
    assert "AVAILABLE" in backup.stdout
    assert "older than 30 days" in backup.stdout

    usage = script("rollback.sh", env=stack.env)
    assert usage.returncode == 2
    assert "usage: scripts/rollback.sh SERVICE" in usage.stderr
    local = script("rollback.sh", "axon", "--yes", env=stack.env)
    assert local.returncode == 4
    assert "nothing to roll back locally" in local.stderr
