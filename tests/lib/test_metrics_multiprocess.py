"""GET /metrics is correct under several gunicorn workers: prometheus_client's multiprocess mode, as set up by
agent_runtime.gunicorn_conf, adds up what every worker counted."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests
from prometheus_client.parser import text_string_to_metric_families

from agentctl.local.processes import free_ports
from tests.conftest import ROOT


def test_metrics_add_up_across_workers(tmp_path: Path):
    (port,) = free_ports(1)
    env = {
        **os.environ,
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "prom"),
        "GUNICORN_WORKERS": "3",
        "AXON_REPLAY_STORE": "dynamodb",  # gunicorn_conf refuses several workers with a per-process replay store
        "PYTHONPATH": str(ROOT),
    }
    server = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "gunicorn"),
            "--config",
            "python:agent_runtime.gunicorn_conf",
            "--bind",
            f"127.0.0.1:{port}",
            "tests.apps.counting:create_app()",
        ],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                requests.get(f"{url}/health", timeout=5)
                break
            # Connection refused before the master listens; a read timeout while it listens but no worker has
            # booted yet (a loaded 2-core machine): both mean "not yet".
            except (requests.ConnectionError, requests.Timeout):
                assert time.monotonic() < deadline, "gunicorn did not start"
                time.sleep(0.1)
        pids: set[int] = set()
        sent = 0

        def ping(_: int) -> int:
            # A new connection each time: the workers share the listening socket, and whichever accepts serves.
            return requests.get(f"{url}/ping", timeout=10, headers={"Connection": "close"}).json()["pid"]

        # Concurrent requests, until several workers served some (on a loaded machine one worker may win a round).
        with ThreadPoolExecutor(max_workers=6) as pool:
            for _ in range(10):
                pids.update(pool.map(ping, range(30)))
                sent += 30
                if len(pids) >= 2:
                    break
        assert len(pids) >= 2, "the requests were not spread over several workers"
        text = requests.get(f"{url}/metrics", timeout=5).text
        total = sum(
            sample.value
            for family in text_string_to_metric_families(text)
            for sample in family.samples
            if sample.name == "counting_requests_total" and sample.labels.get("endpoint") == "/ping"
        )
        assert total == sent
    finally:
        server.terminate()
        server.wait(timeout=30)
