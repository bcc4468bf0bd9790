"""Bounded waits with progress: every long wait of agentctl goes through `wait_for`."""

from __future__ import annotations

import os
import time
from collections.abc import Callable

from agentctl.ops.errors import WaitTimeout

Progress = Callable[[str], None]
#: Seconds between two polls of AWS (AGENTCTL_POLL_SECONDS overrides; the tests use a fraction of a second).
DEFAULT_POLL_SECONDS = 5.0
#: A "still waiting" line at least this often, so that a quiet wait does not look like a hang.
HEARTBEAT_SECONDS = 30.0


def poll_seconds() -> float:
    try:
        return max(0.05, float(os.environ.get("AGENTCTL_POLL_SECONDS", DEFAULT_POLL_SECONDS)))
    except ValueError:
        return DEFAULT_POLL_SECONDS


def wait_for(
    what: str,
    check: Callable[[], tuple[bool, str]],
    timeout: float,
    progress: Progress,
    interval: float | None = None,
) -> str:
    """Call `check` until it returns (True, detail) or `timeout` seconds pass (then WaitTimeout).

    `check` returns (done, what it saw); a progress line is printed whenever what it saw changes, and a
    heartbeat line every HEARTBEAT_SECONDS otherwise. Exceptions from `check` propagate (a failed rollout is
    not something to wait out).
    """
    interval = poll_seconds() if interval is None else interval
    started = time.monotonic()
    deadline = started + timeout
    last_detail: str | None = None
    last_line = started
    while True:
        done, detail = check()
        now = time.monotonic()
        if detail != last_detail or now - last_line >= HEARTBEAT_SECONDS:
            progress(f"{what}: {detail} ({now - started:.0f}s)")
            last_detail, last_line = detail, now
        if done:
            return detail
        if now >= deadline:
            raise WaitTimeout(what, timeout, detail)
        time.sleep(min(interval, max(0.0, deadline - now)))
