"""The cost per call of this checkout against another commit's, measured side by side.

    python -m bench.compare REF [--runs 4] [--seconds 6] [--tracing-off]

This shared machine's speed drifts by tens of percent over minutes, so figures from two `make bench` runs at
different times cannot show a change of a few percent. Here REF is checked out in a temporary worktree with its
own virtualenv (`make venv` there: its locks, its code), a local stack is started from it and one from this
checkout, and the dispatch is loaded on each in turn at 16 connections (the bench's busiest level), `--runs`
times after a warm-up run: both sides see the same machine. It prints the median CPU milliseconds per dispatch of
each process (the emulator's too, which is not the product's) and the median throughput of each side.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from bench.loadgen import GeneratorPool
from bench.procs import Sampler, port_group
from bench.run import started_dispatch, with_cpu_per_request
from bench.settings import Settings
from bench.stack import REPO_ROOT, BenchError, BenchStack, log

PROCESSES = ("orbit", "axon", "governance", "emulator")
LEVEL = 16


def medians(runs: list[dict[str, Any]]) -> dict[str, float]:
    """Median CPU ms per dispatch of each process, and the median throughput, over one side's runs."""
    out = {name: round(statistics.median(r["cpu_ms_per_request"][name] for r in runs), 3) for name in PROCESSES}
    out["throughput_rps"] = round(statistics.median(r["throughput_rps"] for r in runs), 1)
    return out


def worktree(ref: str, folder: Path) -> Path:
    """REF checked out in `folder` with its own virtualenv."""
    path = folder / "checkout"
    subprocess.run(["git", "-C", str(REPO_ROOT), "worktree", "add", "--detach", str(path), ref], check=True)
    subprocess.run(["make", "-C", str(path), "--no-print-directory", "venv"], check=True)
    return path


def compare(ref_checkout: Path, runs: int, seconds: float, env: dict[str, str]) -> dict[str, dict[str, float]]:
    settings = Settings.from_env(quick=False)
    sides = {"before": BenchStack(env=env, checkout=ref_checkout), "after": BenchStack(env=env)}
    measured: dict[str, list[dict[str, Any]]] = {"before": [], "after": []}
    with sides["before"], sides["after"], GeneratorPool(settings.generators) as pool:
        legs = {}
        for side, stack in sides.items():
            target = started_dispatch(stack, side)
            legs[side] = (target, Sampler([port_group(name, stack.ports[name]) for name in PROCESSES]).start())
        try:
            for n in range(runs + 1):  # the first round warms both sides
                for side, (target, sampler) in legs.items():
                    sampler.window()
                    result = pool.run(target, mode="closed", concurrency=LEVEL, duration=seconds if n else 2.0,
                                      warmup=1.0, run_id=f"{side}-{n}")  # fmt: skip
                    run = with_cpu_per_request({**result, **sampler.close_window()})
                    if run["errors"]:
                        raise BenchError(f"{side}: {run['errors']} errors ({run['error_kinds']})")
                    if n:
                        measured[side].append(run)
                        log(f"{side} {n}: {run['cpu_ms_per_request']} at {run['throughput_rps']} req/s")
        finally:
            for _, sampler in legs.values():
                sampler.stop()
    return {side: medians(side_runs) for side, side_runs in measured.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("ref", help="the commit to compare this checkout with")
    parser.add_argument("--runs", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=6.0)
    parser.add_argument("--tracing-off", action="store_true", help="both stacks with OTEL_SDK_DISABLED=true")
    args = parser.parse_args(argv)
    env = {"OTEL_SDK_DISABLED": "true"} if args.tracing_off else {}
    with tempfile.TemporaryDirectory(prefix="agent-runtime-compare-") as folder:
        try:
            result = compare(worktree(args.ref, Path(folder)), args.runs, args.seconds, env)
        except (BenchError, subprocess.CalledProcessError) as exc:
            log(f"failed: {exc}")
            return 1
        finally:
            remove = ["git", "-C", str(REPO_ROOT), "worktree", "remove", "--force", str(Path(folder) / "checkout")]
            subprocess.run(remove, check=False, capture_output=True)
    print(f"CPU ms per dispatch at {LEVEL} connections, medians of {args.runs} runs each, measured in alternation")
    print(f"| | {' | '.join(PROCESSES)} | req/s |")
    print(f"| --- |{' --: |' * (len(PROCESSES) + 1)}")
    for side, figures in result.items():
        cells = " | ".join(f"{figures[name]:.2f}" for name in PROCESSES)
        print(f"| {args.ref if side == 'before' else 'this checkout'} | {cells} | {figures['throughput_rps']} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
