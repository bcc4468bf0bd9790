"""`make bench`: the zero-trust path against its limits, in one bounded run (under 5 minutes on 2 cores).

1. Bring up the local stack (own state folder, free ports) and a hello-world app under the same gunicorn
   settings; issue a client credential; raise the rate limits so that the path is measured, not the limiter.
2. Micro-benchmarks in this process while the servers are idle (bench.micro).
3. Closed loop at each concurrency level, on the three paths in turn: hello-world (the ceiling of one Python
   hop), a signed GET /reason straight to Axon (the direct-Axon baseline: POST /reason needs a governance
   receipt, the GET heartbeat does not), and the full dispatch (client → Orbit → Governance → Axon).
4. Open loop on the dispatch at half its best closed-loop throughput.
5. Write bench/results.json (with the goals), bench/results.md, and the tables of docs/performance.md.

Settings: the BENCH_* variables (bench/settings.py reads and checks them). `--quick` runs a short smoke
version that writes nothing unless --output is given.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench import mcp, report
from bench.loadgen import GeneratorPool, Target, probe
from bench.procs import Sampler, pid_group, port_group
from bench.settings import Settings, SettingsError
from bench.stack import (
    REGION,
    BenchError,
    BenchStack,
    HelloServer,
    Interrupted,
    free_ports,
    install_stop_signals,
    log,
    write_json,
)

BENCH_PRINCIPAL = "bench"
UNLIMITED = 1_000_000_000


def git_state() -> dict[str, Any]:
    def git(*args: str) -> str:
        result = subprocess.run(
            ["git", *args], cwd=report.REPO_ROOT, capture_output=True, text=True, check=False, timeout=10
        )
        return result.stdout.strip() if result.returncode == 0 else ""

    return {"commit": git("rev-parse", "HEAD") or "unknown", "dirty": bool(git("status", "--porcelain"))}


def setup_info(settings: Settings) -> dict[str, Any]:
    import psutil

    return {
        "cpus": os.cpu_count(),
        "memory_mib": round(psutil.virtual_memory().total / 2**20),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "gunicorn_workers": settings.gunicorn_workers,
        "gunicorn_threads": settings.gunicorn_threads,
        "generator_processes": settings.generators,
        "levels": list(settings.levels),
        "duration_s": settings.duration,
        "warmup_s": settings.warmup,
        "open_loop_s": settings.open_seconds,
        "open_loop_connections": settings.open_connections,
        "signer": "agent_runtime.sigv4.Signer (lean SigV4, byte-identical to botocore's)",
    }


def prepare(stack: BenchStack) -> tuple[Any, Any]:
    """Point this process at the stack; issue the bench's client credential; raise the limits.

    Returns (client credential, Orbit's signing credential)."""
    os.environ.update(stack.aws_env())
    from agent_runtime import aws
    from agent_runtime.keys import read_secret_versions
    from agent_runtime.names import Names
    from agent_runtime.sigv4 import Credential
    from governance.store import Limits, PolicyStore

    names = Names(stack.project)
    issued = json.loads(stack.agentctl("keys", "create", BENCH_PRINCIPAL, "--output", "json"))
    client = Credential(issued["access_key_id"], issued["secret_access_key"], issued["principal"])
    orbit = next(
        c
        for c in read_secret_versions(aws.client("secretsmanager"), names.orbit_signing_key_secret)
        if c.stage == "AWSCURRENT"
    )
    PolicyStore(aws.client("dynamodb"), names.policies_table).set_limits(
        Limits(global_limit=UNLIMITED, per_principal=UNLIMITED, per_ip=UNLIMITED)
    )
    return client, orbit


def targets(stack: BenchStack, client: Any, orbit: Any, hello_port: int | None = None) -> dict[str, Target]:
    """The three paths: hello-world (when its port is given), direct Axon, full dispatch."""
    paths = {}
    if hello_port:
        paths["hello"] = Target("hello", "127.0.0.1", hello_port, "GET", "/", expect_body="Hello")
    return paths | {
        "axon": Target(
            "axon",
            "127.0.0.1",
            stack.ports["axon"],
            "GET",
            "/reason",
            service="axon",
            region=REGION,
            access_key_id=orbit.access_key_id,
            secret_access_key=orbit.secret_access_key,
            expect_body="heartbeat",
        ),
        "dispatch": Target(
            "dispatch",
            "127.0.0.1",
            stack.ports["orbit"],
            "POST",
            "/dispatch",
            kind="dispatch",
            service="execute-api",
            region=REGION,
            access_key_id=client.access_key_id,
            secret_access_key=client.secret_access_key,
            expect_body='"status":"success"',
        ),
    }


def started_dispatch(stack: BenchStack, label: str) -> Target:
    """Start `stack`, ready for load (prepare()), and check that a dispatch through it succeeds: its target."""
    stack.up()
    client, orbit = prepare(stack)
    target = targets(stack, client, orbit)["dispatch"]
    status, body = probe(target)
    if status != target.expect_status or target.expect_body.encode() not in body:
        raise BenchError(f"dispatch ({label}) answered {status}: {body[:300]!r}")
    return target


def run_micro(settings: Settings, stack: BenchStack) -> dict[str, Any]:
    from concurrent.futures import ThreadPoolExecutor

    from agent_runtime import aws
    from agent_runtime.names import Names
    from bench import micro
    from governance.rate_limits import RateLimiter
    from governance.store import PolicyStore

    scale = settings.micro_scale
    names = Names(stack.project)
    dynamodb = aws.client("dynamodb", connect_timeout=1.0, read_timeout=2.0, max_attempts=2)
    schema = (report.REPO_ROOT / "governance" / "policies" / "schema.cedarschema").read_text(encoding="utf-8")
    log("micro-benchmarks: SigV4 verification")
    results: dict[str, Any] = {"sigv4_verify": micro.sigv4_verify(max(200, int(5000 * scale)))}
    log("micro-benchmarks: the signature work of a dispatch")
    results["dispatch_signatures"] = micro.dispatch_signatures(max(200, int(3000 * scale)))
    log("micro-benchmarks: governance decision at 10 / 100 / 1,000 policies")
    results["governance"] = micro.governance_decision(
        schema,
        evaluations=max(200, int(2000 * scale)),
        limiter=RateLimiter(dynamodb, names.rate_limits_table, ThreadPoolExecutor(max_workers=4)),
        store=PolicyStore(dynamodb, names.policies_table),
        with_limiter=max(50, int(300 * scale)),
    )
    return results


def run_breakdown(settings: Settings, stack: BenchStack, client: Any, orbit: Any) -> dict[str, Any]:
    from agent_runtime import aws
    from agent_runtime.names import Names
    from bench import breakdown

    names = Names(stack.project)
    # Built as Orbit builds its client: one attempt, Orbit's default timeouts.
    lambda_client = aws.client("lambda", connect_timeout=1.0, read_timeout=2.0, max_attempts=1)
    legs = breakdown.measure(
        lambda_client,
        f"{names.governance_function}:{names.governance_alias}",
        stack.ports["axon"],
        orbit,
        stack.ports["orbit"],
        client,
        principal=client.principal,
        region=REGION,
        count=max(20, int(200 * settings.micro_scale)),
    )
    legs["split"] = breakdown.split(legs)
    return legs


def measure(settings: Settings, stack: BenchStack) -> dict[str, Any]:
    from bench.micro import machine_speed

    started = time.monotonic()
    speed_before = machine_speed()
    stack.up()
    client, orbit = prepare(stack)
    hello_port = free_ports(1)[0]
    runs: list[dict[str, Any]] = []
    with (
        HelloServer(hello_port, stack.env, stack.state_dir / "logs" / "hello.log") as hello,
        GeneratorPool(settings.generators) as pool,
    ):
        paths = targets(stack, client, orbit, hello.port)
        for target in paths.values():
            status, body = probe(target)
            if status != target.expect_status or target.expect_body.encode() not in body:
                raise BenchError(f"{target.name} answered {status}: {body[:300]!r}")
        me = os.getpid()
        groups = [
            port_group("emulator", stack.ports["emulator"]),
            port_group("governance", stack.ports["governance"]),
            port_group("axon", stack.ports["axon"]),
            port_group("orbit", stack.ports["orbit"]),
            port_group("hello", hello.port),
            pid_group("loadgen", lambda: pool.pids),
            pid_group("bench", lambda: [me], recursive=False),
        ]
        sampler = Sampler(groups).start()
        try:
            sampler.window()
            micro = run_micro(settings, stack)
            micro["machine"] = sampler.close_window()
            log("micro-benchmarks: the governance handler in process, tracing on and off")
            micro["governance_handler"] = run_handler(settings, stack, client, groups[0])
            log("breakdown: the legs of a dispatch, one at a time")
            sampler.window()
            legs = run_breakdown(settings, stack, client, orbit)
            legs["machine"] = sampler.close_window()
            for level in settings.levels:
                for name in ("hello", "axon", "dispatch"):
                    log(f"closed loop: {name} at {level} connection(s) for {settings.duration:g} s")
                    sampler.window()
                    result = pool.run(
                        paths[name],
                        mode="closed",
                        concurrency=level,
                        duration=settings.duration,
                        warmup=settings.warmup,
                        run_id=f"{name}-c{level}",
                    )
                    runs.append(with_cpu_per_request({"target": name, **result, **sampler.close_window()}))
                    _say(runs[-1])
            busiest = max((r for r in runs if r["target"] == "dispatch"), key=lambda r: r["throughput_rps"])
            best = max(r["throughput_rps"] for r in runs if r["target"] == "dispatch")
            rate = max(best / 2, 1.0)
            log(f"open loop: dispatch at {rate:.1f} req/s (half of {best:.1f}) for {settings.open_seconds:g} s")
            sampler.window()
            result = pool.run(
                paths["dispatch"],
                mode="open",
                concurrency=settings.open_connections,
                duration=settings.open_seconds,
                warmup=settings.open_warmup,
                rate=rate,
                run_id="dispatch-open",
            )
            runs.append(with_cpu_per_request({"target": "dispatch", **result, **sampler.close_window()}))
            _say(runs[-1])
        finally:
            sampler.stop()
        peaks = dict(sampler.peak)
    results: dict[str, Any] = {
        "schema": 1,
        "generated_at": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "git": git_state(),
        "setup": setup_info(settings),
        "targets": {name: target.public() for name, target in paths.items()},
        "runs": runs,
        "peak_rss_mib": {name: round(size / 2**20, 1) for name, size in peaks.items()},
        "micro": micro,
        "breakdown": legs,
        "cost": {"concurrency": busiest["concurrency"]},
    }
    log("mcp: tools/call through Orbit's gateway and straight to the upstream")
    results["mcp"] = mcp.measure(stack, client, seconds=4.0)
    stack.down()  # the two stacks below have the machine to themselves
    results["cost"].update(tracing_on_and_off(settings, busiest["concurrency"]))
    results["cost"]["aws"] = {
        "lambda_invoke_ms": settings.aws_lambda_invoke_ms,
        "dynamodb_ms": settings.aws_dynamodb_ms,
    }
    results["machine_speed_ms"] = {"start": speed_before, "end": machine_speed()}
    results["summary"] = report.summarize_results(results)
    results["goals"] = report.evaluate_goals(results)
    results["duration_s"] = round(time.monotonic() - started, 1)
    return results


def run_handler(settings: Settings, stack: BenchStack, client: Any, emulator: Any) -> dict[str, Any]:
    """The governance handler in this process (bench.micro.governance_handler), its spans to the stack's files."""
    from agent_runtime.tracing import TRACE_DIR_ENV
    from bench import micro

    os.environ[TRACE_DIR_ENV] = str(stack.state_dir / "traces")
    return micro.governance_handler(
        client.principal, emulator.cpu_seconds, count=max(30, int(150 * settings.micro_scale)), blocks=3
    )


def repeat_dispatch(settings: Settings, pool: GeneratorPool, target: Target, sampler: Sampler, level: int,
                    run_id: str, duration: float | None = None) -> dict[str, Any]:  # fmt: skip
    """One closed-loop dispatch run at `level`, with the CPU each process of `sampler` spent per dispatch."""
    log(f"cost per call: dispatch at {level} connection(s) for {duration or settings.duration:g} s ({run_id})")
    sampler.window()
    result = pool.run(
        target,
        mode="closed",
        concurrency=level,
        duration=duration or settings.duration,
        warmup=settings.warmup,
        run_id=run_id,
    )
    run = with_cpu_per_request({"target": "dispatch", **result, **sampler.close_window()})
    _say(run)
    return run


def _cpu(run: dict[str, Any]) -> dict[str, Any]:
    return {
        "throughput_rps": run["throughput_rps"],
        "errors": run["errors"],
        "other_busy_cores": run["other_busy_cores"],
        "cpu_ms_per_request": run["cpu_ms_per_request"],
    }


def tracing_on_and_off(settings: Settings, level: int) -> dict[str, list[dict[str, Any]]]:
    """Tracing on versus off, fairly: two fresh stacks, the same age and load, one with OTEL_SDK_DISABLED=true,
    measured in alternation (on, off, on, off, ...) so that the machine's drift falls on both alike. (The bench's
    own stack is not used: after its runs its tables and replay stores are larger, which costs CPU per call.)"""
    log("cost per call: two fresh stacks, tracing on and tracing off")
    with (
        BenchStack() as on_stack,
        BenchStack(env={"OTEL_SDK_DISABLED": "true"}) as off_stack,
        GeneratorPool(settings.generators) as pool,
    ):
        hello = HelloServer(free_ports(1)[0], on_stack.env, on_stack.state_dir / "logs" / "hello.log")
        legs = {}
        for mode, stack in (("on", on_stack), ("off", off_stack)):
            target = started_dispatch(stack, f"tracing {mode}")
            groups = [port_group(name, stack.ports[name]) for name in ("emulator", "governance", "axon", "orbit")]
            legs[mode] = (target, Sampler(groups).start())
        try:
            for mode, (target, sampler) in legs.items():  # warm both the same way
                repeat_dispatch(settings, pool, target, sampler, level, f"{mode}-warm", duration=1.0)
            measured: dict[str, Any] = {"tracing_on": [], "tracing_off": []}
            for n in range(settings.cost_repeats):
                for mode, (target, sampler) in legs.items():
                    run = repeat_dispatch(settings, pool, target, sampler, level, f"{mode}-{n}")
                    measured[f"tracing_{mode}"].append(_cpu(run))
            rates = sorted(run["throughput_rps"] for run in measured["tracing_on"])
            measured["hello_floor"] = hello_at_rate(settings, pool, hello.start(), rates[len(rates) // 2], level)
            return measured
        finally:
            hello.stop()
            for _, sampler in legs.values():
                sampler.stop()


HELLO_FLOOR_SECONDS = 4.0  # a steady, cheap load: a short run is enough, and make bench must stay under 5 minutes


def hello_at_rate(settings: Settings, pool: GeneratorPool, hello: HelloServer, rate: float, level: int) -> dict:
    """hello-world under the services' gunicorn, in an open loop at the dispatch's rate: what one request costs a
    Python hop at that load (Orbit and Axon are one hop each), the floor under their CPU per dispatch. At a few
    dozen requests a second each request finds cold caches and sleeping threads: it costs about twice what it
    does at the hello-world ceiling."""
    duration = min(settings.duration, HELLO_FLOOR_SECONDS)
    log(f"cost per call: hello-world at the dispatch's rate, {rate:.1f} req/s, for {duration:g} s")
    target = Target("hello", "127.0.0.1", hello.port, "GET", "/", expect_body="Hello")
    sampler = Sampler([port_group("hello", hello.port)]).start()
    try:
        sampler.window()
        result = pool.run(target, mode="open", concurrency=level, duration=duration, warmup=settings.warmup, rate=rate)
        run = with_cpu_per_request({"target": "hello", **result, **sampler.close_window()})
    finally:
        sampler.stop()
    _say(run)
    return {"rate_rps": round(rate, 1), "throughput_rps": run["throughput_rps"], "errors": run["errors"],
            "cpu_ms_per_request": run["cpu_ms_per_request"]["hello"]}  # fmt: skip


def with_cpu_per_request(run: dict[str, Any]) -> dict[str, Any]:
    """CPU milliseconds each process spent per answered request during the run (where the CPU goes)."""
    rate = run["throughput_rps"]
    run["cpu_ms_per_request"] = {
        name: round(cores / rate * 1000, 3) if rate else None for name, cores in run["cpu_cores"].items()
    }
    return run


def _say(run: dict[str, Any]) -> None:
    lat = run["latency_ms"]
    log(
        f"  {run['throughput_rps']:8.1f} req/s  p50 {lat['p50']} ms  p99 {lat['p99']} ms  errors {run['errors']} "
        f"{run['error_kinds'] or ''}  generator {run['generator_cores']:.2f} cores  "
        f"other load {run['other_busy_cores']:.2f} cores"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="a short smoke run (writes only --output)")
    parser.add_argument("--output", type=Path, help="write the results JSON here (default bench/results.json)")
    parser.add_argument("--no-docs", action="store_true", help="do not rewrite docs/performance.md")
    args = parser.parse_args(argv)
    try:
        settings = Settings.from_env(quick=args.quick)
    except SettingsError as exc:
        log(str(exc))
        return 2
    if settings.estimate() + 60 > settings.deadline:
        log(f"these settings need about {settings.estimate() + 60:.0f} s, more than BENCH_DEADLINE")
        return 2
    install_stop_signals(settings.deadline)
    try:
        with BenchStack() as stack:
            results = measure(settings, stack)
    except (Interrupted, KeyboardInterrupt) as exc:
        log(f"interrupted ({str(exc) or 'Ctrl-C'}); the stack was stopped")
        return 130
    except BenchError as exc:
        log(f"failed: {exc}")
        return 1
    finally:
        signal.alarm(0)
    output = args.output or (None if args.quick else report.RESULTS_JSON)
    if output is None:
        print(report.render_results(results))
        return 0
    write_json(output, results)
    log(f"wrote {output}")
    if output == report.RESULTS_JSON:
        report.RESULTS_MD.write_text(report.render_results(results), encoding="utf-8")
        log(f"wrote {report.RESULTS_MD}")
        if not args.no_docs and report.update_docs():
            log(f"updated {report.PERFORMANCE_MD}")
    print(report.render_results(results))
    missed = [g["id"] for g in results["goals"] if g["met"] is False]
    if missed:
        log(f"goals missed: {', '.join(missed)} (see docs/performance.md for where the time goes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
