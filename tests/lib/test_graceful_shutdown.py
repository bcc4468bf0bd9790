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

import requests

from agentctl.local.stack import free_ports
from tests.conftest import ROOT


def test_sigterm_lets_the_in_flight_request_finish(tmp_path: Path):
    (port,) = free_ports(1)
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "prom"), "PYTHONPATH": str(ROOT)}
    server = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "gunicorn"),
            "--config",
            "python:agent_runtime.gunicorn_conf",
            "--bind",
            f"127.0.0.1:{port}",
            "tests.apps.slow:create_app()",
        ],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                requests.get(f"http://127.0.0.1:{port}/nope", timeout=1)
                break
            except requests.ConnectionError:
                time.sleep(0.1)
        answer: dict = {}

        def call() -> None:
            answer["response"] = requests.get(f"http://127.0.0.1:{port}/slow", timeout=10)

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
            requests.get(f"http://127.0.0.1:{port}/slow", timeout=1)
            raise AssertionError("the server still answers after SIGTERM")
        except requests.ConnectionError:
            pass
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()


def test_several_workers_with_a_per_process_replay_store_refuse_to_start():
    """However the worker count is given (-w, GUNICORN_CMD_ARGS), a per-process replay store with several workers
    would let a replay through on another worker: gunicorn must refuse to start."""
    (port,) = free_ports(1)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "ORBIT_REPLAY_STORE": "memory"}
    result = subprocess.run(
        [
            str(Path(sys.executable).parent / "gunicorn"),
            "--config",
            "python:agent_runtime.gunicorn_conf",
            "-w",
            "3",
            "--bind",
            f"127.0.0.1:{port}",
            "tests.apps.slow:create_app()",
        ],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode != 0
    assert "REPLAY_STORE=memory needs GUNICORN_WORKERS=1" in result.stderr + result.stdout
