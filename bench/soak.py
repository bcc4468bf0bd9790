"""`make soak`: steady dispatch load for a few minutes, every process's memory sampled; did memory grow?

The load is an open loop (a fixed request rate, so every interval sees the same work) at half of the
dispatch throughput found by a short closed-loop probe. RSS of every process group is sampled every
SOAK_SAMPLE_SECONDS. Growth compares the steady-state start (the median of the samples in the first
`window` seconds after the warm-up) with the end (the median of the last `window` seconds); the goal is no
service growing by more than 10 %. Writes bench/soak.json and the soak table of docs/performance.md.

Orbit and Axon keep one replay record per accepted signature for their clock-skew window (300 s by default),
so under any load their memory rises for the first five minutes and then levels off. To see past that within
a few minutes, the soak runs them with a 20 s window (SOAK_SKEW_SECONDS; 300 measures the defaults): their
replay stores are full before the warm-up ends, and what still grows after it is a leak.

Settings: the SOAK_* variables and BENCH_GENERATORS (bench/settings.py reads and checks them). The default
warm-up, a third of the soak and at most 40 s, is longer than the replay records live (21 s for signatures,
35 s for receipts).
"""

from __future__ import annotations

import argparse
import datetime as dt
import signal
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from bench import report
from bench.loadgen import GeneratorPool
from bench.procs import MIB, Sampler, pid_group, port_group
from bench.run import git_state, started_dispatch
from bench.settings import Settings, SettingsError
from bench.stack import BenchError, BenchStack, Interrupted, install_stop_signals, log, write_json

SERVICES = ("emulator", "governance", "axon", "orbit")


def growth_of(series: list[dict[str, Any]], start: float, warmup: float, window: float) -> dict[str, Any]:
    """Per group: the median RSS of the first `window` seconds after the warm-up, of the last `window`
    seconds, their relative growth, and the peak. `series` holds {"t": epoch s, "rss": {group: bytes}}."""
    steady = [s for s in series if s["t"] - start >= warmup]
    if len(steady) < 2:
        raise BenchError("too few memory samples after the warm-up; run longer")
    first_t, last_t = steady[0]["t"], steady[-1]["t"]
    head = [s for s in steady if s["t"] - first_t <= window]
    tail = [s for s in steady if last_t - s["t"] <= window]
    out = {}
    times = [(s["t"] - first_t) / 60 for s in steady]
    for name in steady[0]["rss"]:
        begin = statistics.median(s["rss"][name] for s in head)
        end = statistics.median(s["rss"][name] for s in tail)
        sizes = [s["rss"][name] / MIB for s in steady]
        slope = statistics.linear_regression(times, sizes).slope if len(set(times)) > 1 else 0.0
        out[name] = {
            "process": report.PROCESS_LABELS.get(name, name),
            "start_mib": round(begin / MIB, 1),
            "end_mib": round(end / MIB, 1),
            "growth": round((end - begin) / begin, 4) if begin else 0.0,
            "peak_mib": round(max(s["rss"][name] for s in series) / MIB, 1),
            # least-squares slope over the steady state: a leak shows as a trend, whatever the soak's length
            "trend_mib_per_min": round(slope, 3),
        }
    return out


def still_growing(growth: dict[str, Any], horizon_min: float = 60.0, limit: float = 0.10) -> list[str]:
    """Services whose steady-state trend would take them past `limit` growth within `horizon_min` minutes:
    the soak's own window may be too short to cross the goal, but the memory is not levelling off."""
    return [
        name
        for name, g in growth.items()
        if g["start_mib"] and g["trend_mib_per_min"] * horizon_min / g["start_mib"] > limit
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--output", type=Path, default=report.SOAK_JSON)
    parser.add_argument("--no-docs", action="store_true", help="do not rewrite docs/performance.md")
    args = parser.parse_args(argv)
    try:
        settings = Settings.from_env()
    except SettingsError as exc:
        log(str(exc))
        return 2
    seconds, skew, warmup = settings.soak_seconds, settings.soak_skew_seconds, settings.soak_warmup
    sample_seconds, chunk, generators = settings.soak_sample_seconds, settings.soak_chunk_seconds, settings.generators
    if seconds < 3 * sample_seconds + warmup:
        log("SOAK_SECONDS is too short for the warm-up and enough samples")
        return 2
    window = settings.soak_window
    install_stop_signals(seconds + 180)
    started = time.monotonic()
    try:
        skew_env = {"ORBIT_MAX_CLOCK_SKEW_SECONDS": str(skew), "AXON_MAX_CLOCK_SKEW_SECONDS": str(skew)}
        with BenchStack(env=skew_env) as stack:
            dispatch = started_dispatch(stack, "soak")
            with GeneratorPool(generators) as pool:
                rate = settings.soak_rate
                if not rate:
                    log("probing the dispatch's max throughput (closed loop, 8 connections, 5 s)")
                    found = pool.run(dispatch, mode="closed", concurrency=8, duration=5, warmup=1)
                    rate = max(found["throughput_rps"] / 2, 1.0)
                log(f"soak: dispatch at {rate:.1f} req/s for {seconds:g} s (warm-up {warmup:g} s)")
                groups = [port_group(name, stack.ports[name]) for name in SERVICES]
                groups.append(pid_group("loadgen", lambda: pool.pids))
                sampler = Sampler(groups, interval=sample_seconds, keep_series=True).start()
                soak_start = time.time()
                chunks = []
                try:
                    while (elapsed := time.time() - soak_start) < seconds - 0.5:
                        length = min(chunk, seconds - elapsed)
                        sampler.window()
                        result = pool.run(
                            dispatch,
                            mode="open",
                            concurrency=32,
                            duration=length,
                            warmup=0,
                            rate=rate,
                            run_id=f"soak-{len(chunks)}",
                        )
                        result.update(offset_s=round(elapsed, 1), **sampler.close_window())
                        chunks.append(result)
                        lat = result["latency_ms"]
                        log(
                            f"  t+{elapsed:5.0f} s  {result['throughput_rps']:6.1f} req/s  p50 {lat['p50']} ms  "
                            f"p99 {lat['p99']} ms  errors {result['errors']}  rss "
                            + " ".join(f"{n}={v / MIB:.0f}M" for n, v in sampler.sample().items())
                        )
                finally:
                    sampler.stop()
                    sampler.sample()
    except (Interrupted, KeyboardInterrupt) as exc:
        log(f"interrupted ({str(exc) or 'Ctrl-C'}); the stack was stopped")
        return 130
    except BenchError as exc:
        log(f"failed: {exc}")
        return 1
    finally:
        signal.alarm(0)
    growth = growth_of(sampler.series, soak_start, warmup, window)
    soak: dict[str, Any] = {
        "schema": 1,
        "generated_at": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "git": git_state(),
        "seconds": round(seconds, 1),
        "warmup_seconds": warmup,
        "sample_seconds": sample_seconds,
        "window_seconds": window,
        "replay_window_seconds": skew,
        "load": {
            "description": f"open-loop dispatch at {rate:.1f} req/s",
            "rate_rps": round(rate, 1),
            "requests": sum(c["requests"] for c in chunks),
            "errors": sum(c["errors"] for c in chunks),
        },
        "chunks": [
            {
                k: c[k]
                for k in (
                    "offset_s",
                    "throughput_rps",
                    "latency_ms",
                    "errors",
                    "error_kinds",
                    "late_starts",
                    "cpu_cores",
                    "other_busy_cores",
                )
            }
            for c in chunks
        ],
        "growth": {name: g for name, g in growth.items() if name in SERVICES},
        # per 1,000 requests: how much memory a service keeps for the work it did (a leak's size)
        "kib_per_1000_requests": {
            name: round(g["trend_mib_per_min"] * 1024 / (rate * 60) * 1000, 1)
            for name, g in growth.items()
            if name in SERVICES
        },
        "generator_growth": {name: g for name, g in growth.items() if name not in SERVICES},
        "series": [
            {"offset_s": round(s["t"] - soak_start, 1), "rss_mib": {n: round(v / MIB, 2) for n, v in s["rss"].items()}}
            for s in sampler.series
        ],
        "duration_s": round(time.monotonic() - started, 1),
    }
    soak["still_growing"] = still_growing(soak["growth"])
    soak["goal"] = report.soak_goal(soak)
    write_json(args.output, soak)
    log(f"wrote {args.output}")
    if args.output == report.SOAK_JSON and not args.no_docs and report.update_docs():
        log(f"updated {report.PERFORMANCE_MD}")
    print(report.render_soak(soak))
    return 0


if __name__ == "__main__":
    sys.exit(main())
