"""The load generator: every request signed on its own and unique, closed or open loop, in worker processes.

Why not `hey` or `wrk` against one pre-signed request: the services refuse a signature they have already
accepted (replay protection), and two byte-identical requests signed in the same second carry the same
signature. So each request here carries its own id (a `request_id` in the dispatch context, a signed
`X-Correlation-ID` header on the GETs) and is signed just before it is sent.

Design for a small machine, where the generator competes with the servers for the same cores:
- a few worker processes (one per core by default), started once and reused for every run, so
  the GIL of one generator process does not cap the load and the parent stays free to sample memory;
- in each process one thread per connection, each holding one keep-alive `http.client` connection (no
  per-request connection set-up, no `requests` overhead), and a lean signer (agent_runtime.sigv4.Signer);
- every worker reports the CPU time it used, so the report can say how much of the machine the generator took.

Closed loop: `concurrency` connections, each sending its next request as soon as the previous one answered.
Open loop: requests scheduled at a fixed rate; a request's latency runs from its *scheduled* time, so a
server (or generator) that falls behind shows up in the percentiles instead of silently slowing the rate
(no coordinated omission).
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import itertools
import json
import os
import pickle
import select
import struct
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from agent_runtime.sigv4 import Signer
from bench.stats import summarize

CONNECT_TIMEOUT = 10.0


@dataclass(frozen=True)
class Target:
    """What to send. `kind` is `dispatch` (POST a dispatch body) or `get` (a GET without body)."""

    name: str
    host: str
    port: int
    method: str
    path: str
    kind: str = "get"
    service: str | None = None  # SigV4 service name; None: unsigned
    region: str = "us-east-1"
    access_key_id: str = ""
    secret_access_key: str = field(default="", repr=False)
    expect_status: int = 200
    expect_body: str = ""  # a substring every good answer contains
    intent: str = "call_reasoning"

    def public(self) -> dict[str, Any]:
        """The target without its secret (for the results)."""
        data = asdict(self)
        data.pop("secret_access_key")
        data.pop("access_key_id")
        return data


class RequestFactory:
    """Unique, signed requests for a target: (body, headers)."""

    def __init__(self, target: Target, prefix: str) -> None:
        self.target = target
        self.prefix = prefix
        self.host_header = f"{target.host}:{target.port}"
        self.signer = (
            Signer(target.access_key_id, target.secret_access_key, target.service, target.region)
            if target.service
            else None
        )

    def build(self, seq: int) -> tuple[bytes, dict[str, str]]:
        unique = f"{self.prefix}-{seq}"
        if self.target.kind == "dispatch":
            body = json.dumps(
                {"intent": self.target.intent, "context": {"user_id": "bench", "request_id": unique}},
                separators=(",", ":"),
            ).encode()
            headers = {"Content-Type": "application/json"}
        else:
            body = b""
            headers = {"X-Correlation-ID": unique}
        if self.signer is None:
            return body, {**headers, "Host": self.host_header}
        return body, self.signer.sign(self.target.method, self.host_header, self.target.path, body, headers)


@dataclass
class _ThreadResult:
    latencies: list[float] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)
    last_done: float = 0.0
    late: int = 0


class _Connection:
    def __init__(self, target: Target) -> None:
        self.target = target
        self.conn: http.client.HTTPConnection | None = None

    def send(self, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
        if self.conn is None:
            self.conn = http.client.HTTPConnection(self.target.host, self.target.port, timeout=CONNECT_TIMEOUT)
        try:
            self.conn.request(self.target.method, self.target.path, body=body or None, headers=headers)
            response = self.conn.getresponse()
            data = response.read()
        except Exception:
            self.close()
            raise
        if response.will_close:
            self.close()
        return response.status, data

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None


def probe(target: Target) -> tuple[int, bytes]:
    """One signed request to `target` (a check before the load): its status and body."""
    conn = _Connection(target)
    try:
        body, headers = RequestFactory(target, f"probe-{os.getpid()}-{time.time_ns()}").build(0)
        return conn.send(body, headers)
    finally:
        conn.close()


def _one(conn: _Connection, factory: RequestFactory, seq: int, result: _ThreadResult, record: bool) -> float:
    """Send request number `seq`; returns the time its answer arrived (perf_counter)."""
    body, headers = factory.build(seq)
    try:
        status, data = conn.send(body, headers)
        error = None
        if status != factory.target.expect_status:
            error = f"HTTP {status}"
        elif factory.target.expect_body and factory.target.expect_body.encode() not in data:
            error = "unexpected body"
    except Exception as exc:  # a failed request is a result, not a crash of the generator
        error = type(exc).__name__
    done = time.perf_counter()
    if record and error:
        result.errors[error] += 1
    return done if error is None else -done


def _closed_thread(
    target: Target, prefix: str, start: float, warm_end: float, end: float, result: _ThreadResult
) -> None:
    conn = _Connection(target)
    factory = RequestFactory(target, prefix)
    seq = itertools.count()
    time.sleep(max(0.0, start - time.perf_counter()))
    try:
        while True:
            sent = time.perf_counter()
            if sent >= end:
                break
            record = sent >= warm_end
            done = _one(conn, factory, next(seq), result, record)
            if record and done > 0:
                result.latencies.append(done - sent)
            result.last_done = abs(done)
    finally:
        conn.close()


def _open_thread(
    target: Target,
    prefix: str,
    schedule: Any,
    warm_end: float,
    end: float,
    result: _ThreadResult,
) -> None:
    conn = _Connection(target)
    factory = RequestFactory(target, prefix)
    seq = itertools.count()
    try:
        while True:
            planned = schedule()
            if planned >= end:
                break
            now = time.perf_counter()
            if planned > now:
                time.sleep(planned - now)
            elif now - planned > 0.001:
                result.late += 1
            record = planned >= warm_end
            done = _one(conn, factory, next(seq), result, record)
            if record and done > 0:
                result.latencies.append(done - planned)
            result.last_done = abs(done)
    finally:
        conn.close()


def run_job(job: dict[str, Any], worker_id: int = 0) -> dict[str, Any]:
    """Run one job in this process with threads; returns raw latencies (s), errors and CPU used.

    job: target (Target fields), mode (closed|open), connections, start (epoch s), warmup (s), duration (s),
    and for the open loop rate (requests/s for this process) and phase (s).
    """
    target = Target(**job["target"])
    connections = int(job["connections"])
    offset = time.perf_counter() - time.time()
    start = job["start"] + offset
    warm_end = start + job["warmup"]
    end = warm_end + job["duration"]
    results = [_ThreadResult() for _ in range(connections)]
    prefix = f"{job.get('run_id', 'run')}-w{worker_id}-p{os.getpid()}"
    if job["mode"] == "closed":
        threads = [
            threading.Thread(
                target=_closed_thread,
                args=(target, f"{prefix}-t{i}", start, warm_end, end, results[i]),
                daemon=True,
            )
            for i in range(connections)
        ]
    elif job["mode"] == "open":
        interval = 1.0 / float(job["rate"])
        first = start + float(job.get("phase", 0.0))
        slots = itertools.count()
        lock = threading.Lock()

        def schedule() -> float:
            with lock:
                return first + next(slots) * interval

        threads = [
            threading.Thread(
                target=_open_thread,
                args=(target, f"{prefix}-t{i}", schedule, warm_end, end, results[i]),
                daemon=True,
            )
            for i in range(connections)
        ]
    else:
        raise ValueError(f"unknown mode {job['mode']!r}")
    cpu_before = os.times()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=job["warmup"] + job["duration"] + CONNECT_TIMEOUT * 3 + (start - time.perf_counter()))
    cpu_after = os.times()
    errors: Counter[str] = Counter()
    latencies: list[float] = []
    for r in results:
        latencies.extend(r.latencies)
        errors.update(r.errors)
    return {
        "latencies": latencies,
        "errors": dict(errors),
        "late": sum(r.late for r in results),
        "window": max((r.last_done for r in results), default=end) - warm_end,
        "cpu_seconds": (cpu_after.user - cpu_before.user) + (cpu_after.system - cpu_before.system),
        "stuck_threads": sum(t.is_alive() for t in threads),
    }


def _read_frame(stream: Any) -> Any:
    header = stream.read(8)
    if len(header) < 8:
        raise EOFError
    size = struct.unpack("!Q", header)[0]
    data = stream.read(size)
    if len(data) < size:
        raise EOFError
    return pickle.loads(data)  # noqa: S301 - frames come from our own parent or child process


def _write_frame(stream: Any, message: Any) -> None:
    data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    stream.write(struct.pack("!Q", len(data)) + data)
    stream.flush()


def worker_main(worker_id: int) -> None:
    """A generator process: run the jobs the parent sends on stdin until it says stop (or goes away)."""
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    try:
        while True:
            try:
                message = _read_frame(stdin)
            except EOFError:
                return
            if message is None:
                return
            try:
                reply: tuple[str, Any] = ("ok", run_job(message, worker_id))
            except Exception as exc:
                reply = ("error", f"{type(exc).__name__}: {exc}")
            _write_frame(stdout, reply)
    except KeyboardInterrupt:
        return


def merge(parts: list[dict[str, Any]], *, duration: float) -> dict[str, Any]:
    """One result out of the workers' results: throughput, latency percentiles (ms), errors, generator CPU."""
    latencies: list[float] = []
    errors: Counter[str] = Counter()
    for part in parts:
        latencies.extend(part["latencies"])
        errors.update(part["errors"])
    window = max([p["window"] for p in parts if p["latencies"]] or [duration])
    window = max(window, 1e-6)
    cpu = sum(p["cpu_seconds"] for p in parts)
    return {
        "requests": len(latencies) + sum(errors.values()),
        "ok": len(latencies),
        "errors": sum(errors.values()),
        "error_kinds": dict(errors),
        "throughput_rps": round(len(latencies) / window, 1),
        "latency_ms": summarize(latencies),
        "window_s": round(window, 3),
        "late_starts": sum(p.get("late", 0) for p in parts),
        "generator_cpu_s": round(cpu, 3),
        "generator_cores": round(cpu / window, 3),
        "stuck_threads": sum(p.get("stuck_threads", 0) for p in parts),
    }


class GeneratorPool:
    """Worker processes (`python -m bench.loadgen --worker N`), started once and reused for every run.

    Plain subprocesses rather than multiprocessing: a spawned multiprocessing child re-imports the parent's
    main module (boto3, cedarpy...), and the generator should stay small. Use as a context manager.
    """

    def __init__(self, processes: int | None = None) -> None:
        self.size = max(1, processes or min(os.cpu_count() or 1, 4))
        self._procs: list[subprocess.Popen[bytes]] = []
        root = str(Path(__file__).resolve().parents[1])
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))}
        for worker_id in range(self.size):
            self._procs.append(
                subprocess.Popen(
                    [sys.executable, "-m", "bench.loadgen", "--worker", str(worker_id)],
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    env=env,
                    cwd=root,
                )
            )

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self._procs]

    def run(
        self,
        target: Target,
        *,
        mode: str,
        concurrency: int,
        duration: float,
        warmup: float,
        rate: float | None = None,
        run_id: str = "run",
    ) -> dict[str, Any]:
        """Spread `concurrency` connections (and the open loop's rate) over the workers; merge their results."""
        used = min(self.size, concurrency)
        start = time.time() + 0.3
        shares = [concurrency // used + (1 if i < concurrency % used else 0) for i in range(used)]
        for i, proc in enumerate(self._procs[:used]):
            job: dict[str, Any] = {
                "target": asdict(target),
                "mode": mode,
                "connections": shares[i],
                "start": start,
                "warmup": warmup,
                "duration": duration,
                "run_id": run_id,
            }
            if mode == "open":
                if not rate:
                    raise ValueError("an open-loop run needs a rate")
                job["rate"] = rate / used
                job["phase"] = i / rate  # interleave the workers' schedules
            _write_frame(proc.stdin, job)
        parts = []
        failures = []
        deadline = time.monotonic() + warmup + duration + CONNECT_TIMEOUT * 4 + 5
        for proc in self._procs[:used]:
            ready, _, _ = select.select([proc.stdout], [], [], max(0.0, deadline - time.monotonic()))
            if not ready:
                failures.append(f"generator worker {proc.pid} did not answer in time")
                continue
            try:
                status, payload = _read_frame(proc.stdout)
            except EOFError:
                failures.append(f"generator worker {proc.pid} exited")
                continue
            if status == "ok":
                parts.append(payload)
            else:
                failures.append(payload)
        if failures:
            raise RuntimeError("load generator failed: " + "; ".join(failures))
        merged = merge(parts, duration=duration)
        merged.update(mode=mode, concurrency=concurrency, generator_processes=used)
        if rate:
            merged["target_rate_rps"] = round(rate, 1)
        return merged

    def close(self) -> None:
        for proc in self._procs:
            with contextlib.suppress(OSError, ValueError):
                _write_frame(proc.stdin, None)
                proc.stdin.close()
        for proc in self._procs:
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)
            if proc.stdout:
                proc.stdout.close()

    def __enter__(self) -> GeneratorPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="a load-generator worker process of the bench")
    parser.add_argument("--worker", type=int, required=True)
    args = parser.parse_args(argv)
    worker_main(args.worker)


if __name__ == "__main__":
    main()
