"""Profile the product's code of a dispatch in one process: the governance handler, Orbit's /dispatch and
Axon's POST /reason, each called in process against a bench stack (the emulator, the Lambda API and the other
services stay separate processes, so their work is not in the profile).

    .venv/bin/python -m bench.profile [--count N] [--only handler|orbit|axon] [--top 40] [--callers REGEX] [--cpu]
        [--sort tottime|cumulative]

For each part: CPU per call (process time, the part's helper threads included) and a cProfile table sorted by
own time. This is the investigation tool behind docs/performance.md ("Where the time goes"); `make bench`
measures the handler the same way (bench.micro.governance_handler).
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import io
import json
import os
import pstats
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from agent_runtime.sigv4 import Signer
from bench.micro import handler_event
from bench.run import prepare
from bench.stack import REGION, BenchStack, log


def say(text: str) -> None:
    """Results go to stderr: stdout is where the services' logs and audit events go (sent to /dev/null)."""
    print(text, file=sys.stderr, flush=True)


CALLERS: list[str] = []  # --callers: functions whose callers are printed too
SORT = ["tottime"]  # --sort: the table's order
TIMER: list[Any] = []  # --cpu: each thread's CPU time (a call blocked on a socket then costs what it used, not waited)


def _measure(name: str, call: Any, count: int, top: int, fresh_threads: Any = None) -> None:
    """CPU per call, then a profile of `count` more calls, threads started by `fresh_threads()` included."""
    for _ in range(30):
        call()
    started, cpu = time.perf_counter(), time.process_time()
    for _ in range(count):
        call()
    wall, used = time.perf_counter() - started, time.process_time() - cpu
    say(f"\n=== {name}: {used / count * 1000:.3f} ms CPU, {wall / count * 1000:.3f} ms wall per call ({count})")
    profilers = [cProfile.Profile(*TIMER)]

    def start_in_thread(*_: Any) -> None:  # the first event of a new thread: profile that thread too
        sys.setprofile(None)
        profilers.append(cProfile.Profile(*TIMER))
        profilers[-1].enable()

    threading.setprofile(start_in_thread)
    if fresh_threads:
        fresh_threads()
    profilers[0].enable()
    for _ in range(count):
        call()
    profilers[0].disable()
    threading.setprofile(None)
    for extra in profilers[1:]:
        with contextlib.suppress(Exception):
            extra.disable()  # only its own thread can; the stats below are read anyway
    out = io.StringIO()
    stats = pstats.Stats(*profilers, stream=out).sort_stats(SORT[0])
    stats.print_stats(top)
    for pattern in CALLERS:
        stats.print_callers(pattern)
    say(out.getvalue())


def profile_handler(stack: BenchStack, client: Any, count: int, top: int) -> None:
    from governance import handler
    from governance.handler import lambda_handler

    def call() -> None:
        answer = lambda_handler(handler_event(client.principal, 0), None)
        assert answer["allowed"], answer

    def fresh_pool() -> None:
        rt = handler.runtime()
        rt.pool = rt.limiter._pool = ThreadPoolExecutor(max_workers=5)

    _measure("governance handler (in process)", call, count, top, fresh_pool)


def profile_orbit(stack: BenchStack, client: Any, count: int, top: int) -> None:
    os.environ.update(ORBIT_AXON_URL=stack.url("axon"))
    from orbit.app import create_app

    app = create_app()
    web = app.test_client()
    signer = Signer(client.access_key_id, client.secret_access_key, "execute-api", REGION)

    def call() -> None:
        body = json.dumps({"intent": "call_reasoning", "context": {"request_id": str(uuid.uuid4())}}).encode()
        headers = signer.sign("POST", "localhost", "/dispatch", body, {"Content-Type": "application/json"})
        response = web.post("/dispatch", data=body, headers=headers)
        assert response.status_code == 200, response.get_data()

    _measure("Orbit POST /dispatch (in process; Governance and Axon are the stack's)", call, count, top)


def profile_axon(stack: BenchStack, client: Any, orbit: Any, count: int, top: int) -> None:
    from agent_runtime import aws
    from agent_runtime.names import Names
    from agent_runtime.receipts import RECEIPT_HEADER
    from axon.app import create_app

    names = Names(stack.project)
    web = create_app().test_client()  # before the receipts: it refuses what was issued before it started
    lam = aws.client("lambda")
    prepared = []
    for _ in range(count * 2 + 30):
        event = handler_event(client.principal, 0)
        answer = json.loads(
            lam.invoke(FunctionName=names.governance_function, Payload=json.dumps(event).encode())["Payload"].read()
        )
        body = json.dumps(
            {"intent": "call_reasoning", "context": event["context"], "principal": client.principal,
             "decision_id": answer["decision_id"]}
        ).encode()  # fmt: skip
        prepared.append((body, answer["receipt"], event["correlation_id"]))
    signer = Signer(orbit.access_key_id, orbit.secret_access_key, "axon", REGION)
    queue = iter(prepared)

    def call() -> None:
        body, receipt, cid = next(queue)
        headers = signer.sign("POST", "localhost", "/reason", body, {"Content-Type": "application/json",
                              "X-Correlation-ID": cid})  # fmt: skip
        response = web.post("/reason", data=body, headers={**headers, RECEIPT_HEADER: receipt})
        assert response.status_code == 200, response.get_data()

    _measure("Axon POST /reason (in process)", call, count, top)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--count", type=int, default=300)
    parser.add_argument("--only", choices=("handler", "orbit", "axon"))
    parser.add_argument("--top", type=int, default=40)
    parser.add_argument("--callers", action="append", default=[], help="also print the callers of these functions")
    parser.add_argument("--cpu", action="store_true", help="time each thread's CPU, not the wall clock")
    parser.add_argument("--sort", choices=("tottime", "cumulative"), default="tottime")
    args = parser.parse_args()
    CALLERS.extend(args.callers)
    if args.cpu:
        TIMER.append(time.thread_time)
    SORT[0] = args.sort
    with BenchStack() as stack:
        stack.up()
        client, orbit = prepare(stack)
        os.environ["AGENT_RUNTIME_STATE_DIR"] = str(stack.state_dir)
        log("profiling")
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - the logs of the in-process services
        if args.only in (None, "handler"):
            profile_handler(stack, client, args.count, args.top)
        if args.only in (None, "orbit"):
            profile_orbit(stack, client, args.count, args.top)
        if args.only in (None, "axon"):
            profile_axon(stack, client, orbit, args.count, args.top)


if __name__ == "__main__":
    main()
