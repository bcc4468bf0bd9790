"""What the local stack promises under load and across restarts, on the session's stack: every decision is one
whole audit event in its worker's stream, each program runs with its own settings only, and a captured request
is refused again after the service restarts."""

from __future__ import annotations

import json
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import psutil
import pytest
import requests

from agentctl.local.config import INSTANCE_LOGS, LocalStack
from agentctl.local.lifecycle import wait_healthy
from agentctl.local.supervisor import program_states, start_program, stop_program
from agentctl.settings import Ports
from tests.signing import sign_request

pytestmark = pytest.mark.stack

DISPATCHES = 240
CLIENTS = 24


def _local(stack) -> LocalStack:
    return LocalStack(stack.state_dir, Ports(**stack.ports), stack.project)


def _dispatch(stack, credential, correlation_id: str) -> requests.Response:
    body = json.dumps({"intent": "call_reasoning", "context": {"user_id": "streams", "request_id": correlation_id}})
    request = sign_request("POST", f"{stack.url('orbit')}/dispatch", body.encode(), credential)
    prepared = request.prepare()
    headers = {**dict(prepared.headers), "X-Correlation-ID": correlation_id}
    return requests.post(prepared.url, data=prepared.body, headers=headers, timeout=30)


def _lines(stack, pattern: str) -> list[str]:
    return [line for path in sorted((stack.state_dir / "logs").glob(pattern)) for line in path.read_text().splitlines()]


def test_concurrent_decisions_each_leave_exactly_one_whole_audit_event(stack, quickstart):
    prefix = f"streams-{uuid.uuid4().hex[:8]}"
    with ThreadPoolExecutor(CLIENTS) as pool:
        answers = list(pool.map(lambda n: _dispatch(stack, quickstart, f"{prefix}-{n}"), range(DISPATCHES)))
    assert Counter(a.status_code for a in answers) == {200: DISPATCHES}
    answered = {a.json()["governance"]["decision_id"] for a in answers}
    assert len(answered) == DISPATCHES

    orbit = [json.loads(line) for line in _lines(stack, "orbit.log") if prefix in line]
    logged = {e["decision_id"] for e in orbit if e.get("decision_id")}  # Orbit's line of each request
    assert logged == answered  # what the services logged

    result = stack.agentctl("logs", "governance", "--audit", "--since", "10m", "--output", "json")
    audit = [json.loads(line) for line in result.stdout.splitlines()]
    mine = Counter(e["decision_id"] for e in audit if str(e.get("correlation_id", "")).startswith(prefix))
    assert set(mine) == logged
    assert set(mine.values()) == {1}  # each exactly once

    streams = sorted((stack.state_dir / "logs").glob(INSTANCE_LOGS))
    with_mine = [path for path in streams if prefix in path.read_text()]
    assert len(with_mine) >= 2  # both workers decided, each in its own stream
    for path in streams:
        for number, line in enumerate(path.read_text().splitlines(), 1):
            assert isinstance(json.loads(line), dict), f"{path.name}:{number} is not one JSON object: {line[:200]}"


def test_each_program_runs_with_its_own_settings_only(stack):
    """The session's stack was deployed with ORBIT_KEY_CACHE_TTL_SECONDS and AXON_KEY_CACHE_TTL_SECONDS set."""
    pids = {p["name"]: p["pid"] for p in program_states(_local(stack))}
    environ = {name: psutil.Process(pid).environ() for name, pid in pids.items()}
    assert environ["orbit"]["ORBIT_KEY_CACHE_TTL_SECONDS"] == "3"
    assert "AXON_KEY_CACHE_TTL_SECONDS" not in environ["orbit"]
    assert environ["axon"]["AXON_KEY_CACHE_TTL_SECONDS"] == "3"
    assert "ORBIT_KEY_CACHE_TTL_SECONDS" not in environ["axon"]
    assert not [k for k in environ["governance"] if k.startswith(("ORBIT_", "AXON_"))]
    for service in ("orbit", "axon"):
        prefix = service.upper()
        assert environ[service][f"{prefix}_REPLAY_STORE"] == "sqlite"
        assert environ[service][f"{prefix}_REPLAY_DB"] == str(stack.state_dir / "replay" / f"{service}.sqlite3")


def _signed(stack, credential) -> requests.PreparedRequest:
    body = json.dumps({"intent": "call_reasoning", "context": {"user_id": "replay", "request_id": uuid.uuid4().hex}})
    return sign_request("POST", f"{stack.url('orbit')}/dispatch", body.encode(), credential).prepare()


def _send(request: requests.PreparedRequest) -> requests.Response:
    return requests.post(request.url, data=request.body, headers=dict(request.headers), timeout=30)


def test_orbit_remembers_what_it_accepted_across_a_restart(stack, quickstart):
    """The replay store is a file: after a restart a captured request is still refused, and a request signed
    before the restart but never sent is still accepted (a store that forgot would have to refuse both)."""
    sent, in_flight = _signed(stack, quickstart), _signed(stack, quickstart)
    assert _send(sent).status_code == 200
    local = _local(stack)
    stop_program(local, "orbit")
    start_program(local, "orbit")
    wait_healthy(local, "orbit")
    again = _send(sent)
    assert again.status_code == 401
    assert again.json()["code"] == "INVALID_SIGNATURE"
    assert _send(in_flight).status_code == 200
