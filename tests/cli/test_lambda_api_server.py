"""The local Lambda API's gunicorn settings keep connections alive: Orbit does not connect anew for every
decision."""

from __future__ import annotations

import http.client
from collections.abc import Iterator
from pathlib import Path

import pytest

from agentctl.settings import STATE_ENV
from tests.gunicorn import serving


@pytest.fixture
def server(tmp_path: Path) -> Iterator[int]:
    """gunicorn with the Lambda API's settings (as supervisor.render_config starts it) serving the echo app."""
    (tmp_path / "logs").mkdir()
    with serving(
        "tests.apps.echo:create_app()",
        {STATE_ENV: str(tmp_path)},
        config="agentctl.local.lambda_api_conf",
        args=["--workers", "1"],
    ) as (_, url):
        yield int(url.rsplit(":", 1)[1])


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
