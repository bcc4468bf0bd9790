"""The benchmarks' settings: every BENCH_* and SOAK_* variable, read once at start-up and checked.

| variable | meaning | default |
| --- | --- | --- |
| BENCH_LEVELS | closed-loop concurrency levels, comma-separated | 1,4,16 |
| BENCH_DURATION | seconds measured per closed-loop run | 6 |
| BENCH_WARMUP | seconds of warm-up before each run | 1 |
| BENCH_OPEN_SECONDS | seconds of the open loop | 10 |
| BENCH_GENERATORS | load-generator processes | one per CPU, at most 4 |
| BENCH_DEADLINE | seconds after which `make bench` stops itself | 290 |
| BENCH_COST_REPEATS | dispatch runs per stack, two fresh stacks (tracing on and off; medians) | 3 |
| BENCH_AWS_LAMBDA_INVOKE_MS | the AWS estimate's Lambda Invoke round trip (docs/performance.md) | 10 |
| BENCH_AWS_DYNAMODB_MS | the AWS estimate's DynamoDB round trip (docs/performance.md) | 5 |
| SOAK_SECONDS | the soak's length | 180 |
| SOAK_WARMUP_SECONDS | the soak's warm-up | a third of it, at most 40 |
| SOAK_SAMPLE_SECONDS | seconds between two memory samples | 5 |
| SOAK_CHUNK_SECONDS | load reported per interval | 20 |
| SOAK_RATE | requests per second (0: half the probed maximum) | 0 |
| SOAK_SKEW_SECONDS | the services' replay window during the soak | 20 |
| GUNICORN_WORKERS, GUNICORN_THREADS | the services' gunicorn settings, reported with the results | 1, 16 |

`--quick` (bench.run) starts from shorter defaults; a variable that is set still wins.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass


class SettingsError(ValueError):
    """A variable has a value the benchmarks cannot use; the message names it."""


@dataclass(frozen=True)
class _Reader:
    env: Mapping[str, str]

    def number(self, name: str, default: float, *, positive: bool = True) -> float:
        raw = self.env.get(name)
        if raw is None or raw == "":
            return default
        try:
            value = float(raw)
        except ValueError:
            raise SettingsError(f"{name}={raw!r} is not a number") from None
        if not math.isfinite(value) or value < 0 or (positive and value == 0):
            raise SettingsError(f"{name}={raw!r} must be a number {'above 0' if positive else 'of 0 or more'}")
        return value

    def whole(self, name: str, default: int) -> int:
        value = self.number(name, default)
        if value != int(value):
            raise SettingsError(f"{name}={self.env[name]!r} is not a whole number")
        return int(value)

    def levels(self, name: str, default: tuple[int, ...]) -> tuple[int, ...]:
        raw = self.env.get(name)
        if not raw:
            return default
        try:
            levels = tuple(int(part) for part in raw.split(","))
        except ValueError:
            raise SettingsError(f"{name}={raw!r} is not a comma-separated list of whole numbers") from None
        if not levels or min(levels) < 1:
            raise SettingsError(f"{name}={raw!r}: every level is 1 connection or more")
        return levels


@dataclass(frozen=True)
class Settings:
    # make bench
    levels: tuple[int, ...] = (1, 4, 16)
    duration: float = 6.0
    warmup: float = 1.0
    open_seconds: float = 10.0
    open_warmup: float = 2.0
    open_connections: int = 32
    generators: int = 2
    deadline: float = 290.0
    micro_scale: float = 1.0
    cost_repeats: int = 3
    aws_lambda_invoke_ms: float = 10.0
    aws_dynamodb_ms: float = 5.0
    # make soak
    soak_seconds: float = 180.0
    soak_warmup: float = 40.0
    soak_sample_seconds: float = 5.0
    soak_chunk_seconds: float = 20.0
    soak_rate: float = 0.0
    soak_skew_seconds: int = 20
    # the services' gunicorn, as the results report it
    gunicorn_workers: int = 1
    gunicorn_threads: int = 16

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, quick: bool = False) -> Settings:
        read = _Reader(os.environ if env is None else env)
        base = (
            cls(
                levels=(1, 8),
                duration=2.0,
                warmup=0.5,
                open_seconds=3.0,
                open_warmup=0.5,
                micro_scale=0.1,
                cost_repeats=1,
            )
            if quick
            else cls()
        )
        soak_seconds = read.number("SOAK_SECONDS", base.soak_seconds)
        return cls(
            levels=read.levels("BENCH_LEVELS", base.levels),
            duration=read.number("BENCH_DURATION", base.duration),
            warmup=read.number("BENCH_WARMUP", base.warmup, positive=False),
            open_seconds=read.number("BENCH_OPEN_SECONDS", base.open_seconds),
            open_warmup=base.open_warmup,
            open_connections=base.open_connections,
            generators=read.whole("BENCH_GENERATORS", min(os.cpu_count() or 2, 4)),
            deadline=read.number("BENCH_DEADLINE", base.deadline),
            micro_scale=base.micro_scale,
            cost_repeats=read.whole("BENCH_COST_REPEATS", base.cost_repeats),
            aws_lambda_invoke_ms=read.number("BENCH_AWS_LAMBDA_INVOKE_MS", base.aws_lambda_invoke_ms),
            aws_dynamodb_ms=read.number("BENCH_AWS_DYNAMODB_MS", base.aws_dynamodb_ms),
            soak_seconds=soak_seconds,
            soak_warmup=read.number("SOAK_WARMUP_SECONDS", min(40.0, soak_seconds / 3), positive=False),
            soak_sample_seconds=read.number("SOAK_SAMPLE_SECONDS", base.soak_sample_seconds),
            soak_chunk_seconds=read.number("SOAK_CHUNK_SECONDS", base.soak_chunk_seconds),
            soak_rate=read.number("SOAK_RATE", base.soak_rate, positive=False),
            soak_skew_seconds=read.whole("SOAK_SKEW_SECONDS", base.soak_skew_seconds),
            gunicorn_workers=read.whole("GUNICORN_WORKERS", base.gunicorn_workers),
            gunicorn_threads=read.whole("GUNICORN_THREADS", base.gunicorn_threads),
        )

    def estimate(self) -> float:
        """Seconds the load phases of `make bench` take (the stack's start and the micro-benchmarks add ~40 s)."""
        closed = len(self.levels) * 3 * (self.warmup + self.duration + 0.8)
        # cost per call: two fresh stacks (about 15 s each to start), a short warm run and the repeats on each
        # ... and hello-world at the dispatch's rate (the floor, at most 4 s)
        cost = (2 * self.cost_repeats) * (self.warmup + self.duration + 0.8) + 2 * (15 + self.warmup + 1.8)
        cost += self.warmup + min(self.duration, 4.0) + 0.8
        return closed + self.open_warmup + self.open_seconds + 1 + cost

    @property
    def soak_window(self) -> float:
        """Seconds at the start and at the end of the soak's steady state whose memory medians are compared."""
        return max(3 * self.soak_sample_seconds, min(30.0, (self.soak_seconds - self.soak_warmup) / 4))
