"""The local Lambda API's gunicorn settings keep connections alive: Orbit does not connect anew for every
decision."""

from __future__ import annotations

import contextlib
import http.client
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from agentctl.local.processes import free_ports
from agentctl.settings import STATE_ENV
from tests.conftest import ROOT


@pytest.fixture
def server(tmp_path: Path) -> Iterator[int]:
    """gunicorn with the Lambda API's settings (as supervisor.render_config starts it) serving the echo app."""
    (port,) = free_ports(1)
    (tmp_path / "logs").mkdir()
    process = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "gunicorn"),
            "--config",
            "python:agentctl.local.lambda_api_conf",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            "1",
            "tests.apps.echo:create_app()",
        ],
        env={**os.environ, "PYTHONPATH": f"{ROOT}:{ROOT / 'cli'}", STATE_ENV: str(tmp_path)},
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    while True:
        with contextlib.suppress(OSError, http.client.HTTPException):
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            connection.request("GET", "/ping")
            if connection.getresponse().status == 200:
                connection.close()
                break
        assert process.poll() is None, "gunicorn exited"
        assert time.monotonic() < deadline, "gunicorn did not start"
        time.sleep(0.1)
    try:
        yield port
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_the_lambda_api_keeps_connections_alive(server: int):
    connection = http.client.HTTPConnection("127.0.0.1", server, timeout=5)
    connection.connect()
    first_socket = connection.sock
    for _ in range(3):
        connection.request("GET", "/ping")
        response = connection.getresponse()
        response.read()
        assert response.status == 200
        assert not response.will_close  # a sync worker answers "Connection: close"
    assert connection.sock is first_socket  # every request on the one connection
    connection.close()
