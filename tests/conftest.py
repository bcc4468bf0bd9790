"""Shared fixtures. Tests that need the local stack start one themselves, on free ports, and stop it after."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from agentctl.local.config import LocalStack
from agentctl.local.processes import free_ports
from agentctl.settings import Ports

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


# The official SigV4 vectors, copied unchanged into the repository with their license (see its NOTICE).
SIGV4_SUITE = ROOT / "tests" / "vectors" / "aws-sigv4"


@dataclass
class Stack:
    """A running local stack, started by `agentctl deploy` in its own state folder."""

    state_dir: Path
    ports: dict[str, int]
    env: dict[str, str]
    project: str = "agent-runtime"
    _extra: dict[str, Any] = field(default_factory=dict)

    def url(self, program: str) -> str:
        return f"http://127.0.0.1:{self.ports[program]}"

    def agentctl(self, *args: str, check: bool = True, timeout: float = 180) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [str(BIN / "agentctl"), *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if check and result.returncode != 0:
            raise AssertionError(
                f"agentctl {' '.join(args)} exited {result.returncode}:\n{result.stdout}\n{result.stderr}"
            )
        return result

    def aws_env(self) -> dict[str, str]:
        return LocalStack(self.state_dir, Ports(**self.ports), self.project).aws_env()

    def create_key(self, principal: str) -> dict[str, str]:
        return json.loads(self.agentctl("keys", "create", principal, "--output", "json").stdout)


def start_stack(state_dir: Path, project: str = "agent-runtime") -> Stack:
    orbit, axon, governance, emulator = free_ports(4)
    ports = {"orbit": orbit, "axon": axon, "governance": governance, "emulator": emulator}
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "ORBIT_", "AXON_"))}
    env.update(
        AGENT_RUNTIME_STATE_DIR=str(state_dir),
        ORBIT_PORT=str(orbit),
        AXON_PORT=str(axon),
        GOVERNANCE_PORT=str(governance),
        AWS_EMULATOR_PORT=str(emulator),
        PROJECT_NAME=project,
        ENVIRONMENT="local",
        # Short key-cache lifetimes, so that revocation and rotation tests need not wait for the defaults.
        ORBIT_KEY_CACHE_TTL_SECONDS="3",
        AXON_KEY_CACHE_TTL_SECONDS="3",
        # A short circuit-breaker reset, so that the breaker test sees it close again quickly.
        ORBIT_CIRCUIT_RESET_SECONDS="2",
    )
    stack = Stack(state_dir, ports, env, project)
    stack.agentctl("deploy")
    return stack


TEST_LIMITS = {"global": 1_000_000, "per_principal": 1_000_000, "per_ip": 1_000_000}


def set_limits(stack: Stack, limits: dict[str, int]) -> None:
    from agent_runtime import aws
    from agent_runtime.names import Names
    from governance.store import CONFIG_REFRESH_SECONDS, Limits, PolicyStore

    with pytest.MonkeyPatch.context() as patch:
        for key, value in stack.aws_env().items():
            patch.setenv(key, value)
        store = PolicyStore(aws.client("dynamodb"), Names(stack.project).policies_table)
        store.set_limits(Limits(limits["global"], limits["per_principal"], limits["per_ip"]))
    time.sleep(CONFIG_REFRESH_SECONDS)  # until every warm Governance instance has read them


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """The local stack shared by the integration tests of a session."""
    running = start_stack(tmp_path_factory.mktemp("stack"))
    patch = pytest.MonkeyPatch()
    for key, value in running.aws_env().items():
        patch.setenv(key, value)
    # Every test client comes from 127.0.0.1: lift the limits so tests measure what they test (the rate-limit
    # tests set their own and restore these).
    set_limits(running, TEST_LIMITS)
    try:
        yield running
    finally:
        patch.undo()
        running.agentctl("down", check=False)


@pytest.fixture(autouse=True)
def _stack_environment(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests of the shared stack get its AWS environment afresh: a CLI test run in-process (CliRunner) may have
    pointed this process's environment at another stack."""
    if "stack" in request.fixturenames:
        for key, value in request.getfixturevalue("stack").aws_env().items():
            monkeypatch.setenv(key, value)


@pytest.fixture(scope="session")
def quickstart(stack: Stack) -> Any:
    """The credential that the bootstrap issues (principal `quickstart`)."""
    from agent_runtime import aws
    from agent_runtime.keys import read_secret_versions
    from agent_runtime.names import Names

    versions = read_secret_versions(aws.client("secretsmanager"), Names(stack.project).client_secret("quickstart"))
    return next(c for c in versions if c.stage == "AWSCURRENT")
