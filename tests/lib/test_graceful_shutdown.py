"""gunicorn with the services' settings (agent_runtime.gunicorn_conf) finishes in-flight requests on SIGTERM,
as ECS and supervisord send it, instead of cutting them off."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import requests

from agentctl.local.processes import free_ports
from tests.conftest import ROOT
from tests.gunicorn import serving


def test_sigterm_lets_the_in_flight_request_finish(tmp_path: Path):
    env = {"PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "prom")}
    with serving("tests.apps.slow:create_app()", env, ready_path="/nope") as (server, url):
        answer: dict = {}

        def call() -> None:
            answer["response"] = requests.get(f"{url}/slow", timeout=10)

        caller = threading.Thread(target=call)
        caller.start()
        time.sleep(0.5)  # the request is in flight
        server.send_signal(signal.SIGTERM)
        caller.join(timeout=15)
        assert answer["response"].status_code == 200
        assert answer["response"].json() == {"finished": True}
        assert server.wait(timeout=20) == 0
        # And after the shutdown, nothing listens any more.
        try:
            requests.get(f"{url}/slow", timeout=1)
            raise AssertionError("the server still answers after SIGTERM")
        except requests.ConnectionError:
            pass


def _gunicorn(app: str, env: dict[str, str], port: int, workers: int) -> subprocess.Popen:
    return subprocess.Popen(
        [
            str(Path(sys.executable).parent / "gunicorn"),
            "--config",
            "python:agent_runtime.gunicorn_conf",
            "-w",
            str(workers),
            "--bind",
            f"127.0.0.1:{port}",
            app,
        ],
        env={**os.environ, "PYTHONPATH": str(ROOT), **env},
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


@pytest.mark.parametrize(
    ("app", "variable", "other"),
    [
        ("axon.app:create_app()", "AXON_REPLAY_STORE", {"ORBIT_REPLAY_STORE": "dynamodb"}),
        ("orbit.app:create_app()", "ORBIT_REPLAY_STORE", {"AXON_REPLAY_STORE": "dynamodb"}),
    ],
)
def test_several_workers_with_a_per_process_replay_store_refuse_to_start(app, variable, other):
    """However the worker count is given, a per-process replay store with several workers would let a replay
    through on another worker: gunicorn must refuse to start. Each service reads its own setting only: the other
    service's `dynamodb` must not open the door."""
    (port,) = free_ports(1)
    server = _gunicorn(app, {variable: "memory", **other}, port, workers=3)
    output, _ = server.communicate(timeout=60)
    assert server.returncode != 0
    assert f"{variable}=memory needs GUNICORN_WORKERS=1" in output


def test_several_workers_share_a_sqlite_replay_store(tmp_path: Path):
    (port,) = free_ports(1)
    env = {"AXON_REPLAY_STORE": "sqlite", "AXON_REPLAY_DB": str(tmp_path / "axon.sqlite3")}
    server = _gunicorn("axon.app:create_app()", env, port, workers=2)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if requests.get(f"http://127.0.0.1:{port}/health", timeout=5).status_code == 200:
                    break
            except (requests.ConnectionError, requests.Timeout):
                pass
            assert server.poll() is None, server.communicate()[0]
            assert time.monotonic() < deadline, "gunicorn did not start"
            time.sleep(0.1)
    finally:
        server.terminate()
        server.communicate(timeout=30)
