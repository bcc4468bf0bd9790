"""Keys in Secrets Manager: rotation drops no request, the previous version is accepted, a retired one and a
revoked one are refused, and `keys list` never shows a secret."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections import Counter

import pytest
import requests

from agent_runtime.sigv4 import Credential
from tests.signing import sign_request

pytestmark = pytest.mark.stack


def dispatch(stack, credential: Credential) -> requests.Response:
    data = json.dumps({"intent": "call_reasoning", "context": {"request_id": str(uuid.uuid4())}}).encode()
    request = sign_request("POST", f"{stack.url('orbit')}/dispatch", data, credential).prepare()
    return requests.post(request.url, data=request.body, headers=dict(request.headers), timeout=10)


def as_credential(created: dict[str, str]) -> Credential:
    return Credential(created["access_key_id"], created["secret_access_key"], created["principal"])


def test_rotation_under_load_fails_no_request(stack):
    """A loop of signed dispatches while Orbit's signing key (twice), Governance's receipt key and the client's
    key are rotated; the client switches to its new key as soon as the rotation prints it."""
    client = {"credential": as_credential(stack.create_key("rotor"))}
    outcomes: Counter[int] = Counter()
    failures: list[str] = []
    stop = threading.Event()

    def loop() -> None:
        while not stop.is_set():
            response = dispatch(stack, client["credential"])
            outcomes[response.status_code] += 1
            if response.status_code != 200:
                failures.append(response.text[:200])

    workers = [threading.Thread(target=loop) for _ in range(3)]
    for worker in workers:
        worker.start()
    try:
        time.sleep(1)
        stack.agentctl("keys", "rotate-service", "orbit")
        time.sleep(1)
        rotated = json.loads(stack.agentctl("keys", "rotate", "rotor", "--output", "json").stdout)
        client["credential"] = as_credential(rotated)
        time.sleep(1)
        stack.agentctl("keys", "rotate-service", "orbit")  # a second rotation inside the services' cache lifetime
        time.sleep(1)
        stack.agentctl("keys", "rotate-service", "governance")
        time.sleep(4)  # past the services' key-cache lifetime (3 s in the test stack)
    finally:
        stop.set()
        for worker in workers:
            worker.join(timeout=30)
    assert outcomes[200] > 20, outcomes
    assert not failures, (outcomes, failures[:3])


def test_previous_version_accepted_retired_refused_and_revoked_refused(stack):
    original = as_credential(stack.create_key("lifecycle"))
    assert dispatch(stack, original).status_code == 200

    second = as_credential(json.loads(stack.agentctl("keys", "rotate", "lifecycle", "--output", "json").stdout))
    assert second.access_key_id == original.access_key_id  # the id is stable; the secret changes
    assert second.secret_access_key != original.secret_access_key
    assert dispatch(stack, second).status_code == 200
    assert dispatch(stack, original).status_code == 200  # previous version: still accepted

    third = as_credential(json.loads(stack.agentctl("keys", "rotate", "lifecycle", "--output", "json").stdout))
    assert dispatch(stack, third).status_code == 200
    assert dispatch(stack, second).status_code == 200
    retired = dispatch(stack, original)  # two rotations ago: retired
    assert retired.status_code == 401
    assert retired.json()["code"] == "INVALID_SIGNATURE"

    revoke = stack.agentctl("keys", "revoke", "lifecycle", "--yes")
    assert "revoked" in revoke.stdout
    deadline = time.monotonic() + 10  # the key cache lives 3 s in the test stack
    status = 200
    while time.monotonic() < deadline and status == 200:
        status = dispatch(stack, third).status_code
        time.sleep(0.5)
    assert status == 401


def test_keys_list_never_prints_a_secret(stack):
    created = stack.create_key("lister")
    table = stack.agentctl("keys", "list").stdout
    listed = json.loads(stack.agentctl("keys", "list", "--output", "json").stdout)
    assert created["secret_access_key"] not in table
    assert created["secret_access_key"] not in json.dumps(listed)
    mine = next(k for k in listed if k["principal"] == "lister")
    assert mine["access_key_id"] == created["access_key_id"]
    assert mine["versions"] == 1


def test_key_commands_refuse_bad_input_cleanly(stack):
    for args in (
        ["keys", "create", "bad name!"],
        ["keys", "rotate", "nobody-here"],
        ["keys", "revoke", "nobody", "--yes"],
    ):
        result = stack.agentctl(*args, check=False)
        assert result.returncode != 0
        assert "Traceback" not in result.stderr
        assert len(result.stderr.strip().splitlines()) <= 3, result.stderr
