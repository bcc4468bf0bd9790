"""`make deploy` is safe to run twice, `make down` leaves nothing behind, and the supervisor restarts a crash."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import psutil
import pytest
import requests

from agentctl.local.config import LocalStack
from agentctl.local.lifecycle import wait_healthy
from agentctl.local.processes import port_in_use, stack_processes
from agentctl.local.supervisor import program_states
from agentctl.settings import Ports
from tests.conftest import ROOT, free_ports

pytestmark = pytest.mark.stack


def make(target: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["make", target], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False)


@pytest.fixture
def stack_env(tmp_path):
    orbit, axon, governance, emulator = free_ports(4)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "ORBIT_", "AXON_"))}
    env.update(
        AGENT_RUNTIME_STATE_DIR=str(tmp_path / "state"),
        ORBIT_PORT=str(orbit),
        AXON_PORT=str(axon),
        GOVERNANCE_PORT=str(governance),
        AWS_EMULATOR_PORT=str(emulator),
        ENVIRONMENT="local",
    )
    yield env
    make("down", env)


def test_deploy_twice_then_down_leaves_nothing(stack_env):
    state = Path(stack_env["AGENT_RUNTIME_STATE_DIR"])
    ports = [int(stack_env[k]) for k in ("ORBIT_PORT", "AXON_PORT", "GOVERNANCE_PORT", "AWS_EMULATOR_PORT")]

    first = make("deploy", stack_env)
    assert first.returncode == 0, first.stdout + first.stderr
    assert "agentctl dispatch --intent call_reasoning" in first.stdout
    assert all(port_in_use(p) for p in ports)
    pids = {p.pid for p in stack_processes(state)}
    assert len(pids) >= 5  # supervisord, the emulator, and three gunicorn masters (plus their workers)

    second = make("deploy", stack_env)
    assert second.returncode == 0, second.stdout + second.stderr
    assert "already running" in second.stderr
    assert "0 created" in second.stderr  # nothing duplicated
    assert {p.pid for p in stack_processes(state)} == pids  # nothing restarted or started twice
    assert requests.get(f"http://127.0.0.1:{stack_env['ORBIT_PORT']}/health", timeout=5).status_code == 200

    down = make("down", stack_env)
    assert down.returncode == 0, down.stdout + down.stderr
    assert not [p for p in ports if port_in_use(p)]
    assert not stack_processes(state)
    assert not [pid for pid in pids if psutil.pid_exists(pid) and psutil.Process(pid).status() != "zombie"]


def _pid(stack, program: str) -> int:
    local = LocalStack(stack.state_dir, Ports(**stack.ports), stack.project)
    return next(p["pid"] for p in program_states(local) if p["name"] == program)


def test_supervisor_restarts_a_killed_service(stack):
    local = LocalStack(stack.state_dir, Ports(**stack.ports), stack.project)
    old = _pid(stack, "orbit")
    os.kill(old, signal.SIGKILL)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        states = {p["name"]: p for p in program_states(local)}
        if states["orbit"]["state"] == "RUNNING" and states["orbit"]["pid"] != old:
            break
        time.sleep(0.2)
    wait_healthy(local, "orbit", timeout=30)
    assert _pid(stack, "orbit") != old


def test_emulator_restart_keeps_acknowledged_keys(stack):
    created = stack.create_key("survives-restart")
    local = LocalStack(stack.state_dir, Ports(**stack.ports), stack.project)
    os.kill(_pid(stack, "emulator"), signal.SIGKILL)
    time.sleep(0.5)
    wait_healthy(local, "emulator", timeout=30)
    listed = json.loads(stack.agentctl("keys", "list", "--output", "json").stdout)
    mine = [k for k in listed if k["principal"] == "survives-restart"]
    assert mine
    assert mine[0]["access_key_id"] == created["access_key_id"]
    # The policy set survived too: a dispatch is still allowed.
    result = stack.agentctl("dispatch", "--intent", "call_reasoning", "--output", "json")
    assert json.loads(result.stdout)["status_code"] == 200
