"""The load generator against a real HTTP server whose app verifies every signature, replays refused."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
from flask import Flask, request
from werkzeug.serving import make_server

from agent_runtime.replay import make_replay_store
from agent_runtime.sigv4 import Credential, SignatureError, SigV4Verifier, StaticKeys
from agent_runtime.web import raw_request
from bench.loadgen import GeneratorPool, Target, merge, probe, run_job

KEY = Credential("AKARBENCHTEST0000002", "bench-loadgen-secret-not-real-0123456", "bench")


class Server:
    def __init__(self) -> None:
        self.accepted = 0
        self.refused: list[str] = []
        self.lock = threading.Lock()
        verifier = SigV4Verifier(
            service="execute-api",
            region="us-east-1",
            keys=StaticKeys([KEY]),
            replay_guard=make_replay_store("memory", table_name=""),
        )
        app = Flask(__name__)

        @app.route("/dispatch", methods=["POST"])
        @app.route("/reason", methods=["GET"])
        def handle():
            try:
                verifier.verify(raw_request(request.get_data()))
            except SignatureError as exc:
                with self.lock:
                    self.refused.append(exc.reason)
                return {"status": "refused"}, 401
            with self.lock:
                self.accepted += 1
            return {"status": "success"}

        self.http = make_server("127.0.0.1", 0, app, threaded=True)
        self.port = self.http.server_port
        self.thread = threading.Thread(target=self.http.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def target(self, kind: str = "dispatch") -> Target:
        return Target(
            "t",
            "127.0.0.1",
            self.port,
            "POST" if kind == "dispatch" else "GET",
            "/dispatch" if kind == "dispatch" else "/reason",
            kind=kind,
            service="execute-api",
            access_key_id=KEY.access_key_id,
            secret_access_key=KEY.secret_access_key,
            expect_body='"success"',
        )


@pytest.fixture
def server() -> Iterator[Server]:
    running = Server()
    running.thread.start()
    try:
        yield running
    finally:
        running.http.shutdown()
        running.http.server_close()
        running.thread.join(timeout=5)


def job(target: Target, **kwargs) -> dict:
    options = {"mode": "closed", "connections": 4, "start": time.time() + 0.05, "warmup": 0.1, "duration": 0.5}
    options.update(kwargs)
    return {"target": target.__dict__, **options}


@pytest.mark.parametrize("kind", ["dispatch", "get"])
def test_closed_loop_requests_are_all_accepted(server, kind):
    result = run_job(job(server.target(kind)))
    assert result["errors"] == {}
    assert server.refused == []
    assert len(result["latencies"]) > 10
    # every request sent was verified and accepted: the measured ones and those of the warm-up
    assert server.accepted >= len(result["latencies"])
    assert result["stuck_threads"] == 0


def test_open_loop_keeps_its_rate_and_counts_from_the_schedule(server):
    result = run_job(job(server.target(), mode="open", connections=4, rate=100, warmup=0.0, duration=0.6))
    assert result["errors"] == {}
    assert 50 <= len(result["latencies"]) <= 61  # 0.6 s at 100/s
    merged = merge([result], duration=0.6)
    assert merged["ok"] == len(result["latencies"])
    assert merged["latency_ms"]["p50"] > 0


def test_errors_are_counted_not_raised(server):
    wrong = Target(**{**server.target().__dict__, "secret_access_key": "not-the-secret"})
    result = run_job(job(wrong, duration=0.2))
    assert result["latencies"] == []
    assert set(result["errors"]) == {"HTTP 401"}
    assert server.refused
    assert set(server.refused) == {"signature does not match: check the secret key and the canonical request"}


def test_a_dead_port_is_an_error_kind():
    dead = Target("t", "127.0.0.1", 9, "GET", "/reason", service=None)
    result = run_job(job(dead, connections=1, duration=0.1, warmup=0.0))
    assert result["latencies"] == []
    assert "ConnectionRefusedError" in result["errors"]


def test_probe(server):
    status, body = probe(server.target())
    assert status == 200
    assert b"success" in body


def test_pool_of_worker_processes(server):
    with GeneratorPool(2) as pool:
        assert len(pool.pids) == 2
        merged = pool.run(server.target(), mode="closed", concurrency=3, duration=0.5, warmup=0.1)
    assert merged["errors"] == 0
    assert merged["generator_processes"] == 2
    assert merged["throughput_rps"] > 0
    assert server.refused == []


def test_merge_throughput_and_errors():
    parts = [
        {"latencies": [0.010] * 50, "errors": {"HTTP 503": 2}, "window": 1.0, "cpu_seconds": 0.2, "late": 1},
        {"latencies": [0.020] * 50, "errors": {}, "window": 0.5, "cpu_seconds": 0.1, "late": 0},
    ]
    merged = merge(parts, duration=1.0)
    assert merged["ok"] == 100
    assert merged["errors"] == 2
    assert merged["requests"] == 102
    assert merged["throughput_rps"] == 100.0  # over the longest window
    assert merged["latency_ms"]["p50"] == pytest.approx(15.0)
    assert merged["generator_cores"] == pytest.approx(0.3)
    assert merged["late_starts"] == 1
