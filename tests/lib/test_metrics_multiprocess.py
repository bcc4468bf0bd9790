"""GET /metrics is correct under several gunicorn workers: prometheus_client's multiprocess mode, as set up by
agent_runtime.gunicorn_conf, adds up what every worker counted."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests
from prometheus_client.parser import text_string_to_metric_families

from tests.gunicorn import serving


def test_metrics_add_up_across_workers(tmp_path: Path):
    env = {
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "prom"),
        "GUNICORN_WORKERS": "3",
        "AXON_REPLAY_STORE": "dynamodb",  # gunicorn_conf refuses several workers with a per-process replay store
    }
    with serving("tests.apps.counting:create_app()", env, ready_path="/health") as (_, url):
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
