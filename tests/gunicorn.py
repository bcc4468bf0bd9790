"""A gunicorn of this checkout on a free port, for tests of the servers' settings and worker: started, waited for
until it answers, stopped at the end."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

import requests

from agentctl.local.processes import free_ports
from tests.conftest import ROOT


@contextlib.contextmanager
def serving(
    app: str,
    env: Mapping[str, str] | None = None,
    *,
    config: str = "agent_runtime.gunicorn_conf",
    args: Sequence[str] = (),
    ready_path: str = "/ping",
    timeout: float = 30.0,
) -> Iterator[tuple[subprocess.Popen, str]]:
    """gunicorn serving `app` (`module:create_app()`) with `--config python:<config>`; yields the process and its
    base URL once `ready_path` answers (any status). `env` adds to this process's environment."""
    (port,) = free_ports(1)
    gunicorn = str(Path(sys.executable).parent / "gunicorn")
    process = subprocess.Popen(
        [gunicorn, "--config", f"python:{config}", "--bind", f"127.0.0.1:{port}", *args, app],
        env={**os.environ, "PYTHONPATH": f"{ROOT}:{ROOT / 'cli'}", **(env or {})},
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            # Refused before the master listens; a read timeout while no worker has booted yet: both "not yet".
            with contextlib.suppress(requests.ConnectionError, requests.Timeout):
                requests.get(f"{url}{ready_path}", timeout=5)
                break
            assert process.poll() is None, "gunicorn exited"
            assert time.monotonic() < deadline, "gunicorn did not start"
            time.sleep(0.1)
        yield process, url
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
