"""Bounded waits with progress: every long wait of agentctl (in AWS and in the local stack) goes through `wait_for`."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, replace

from agentctl.ops.errors import WaitTimeout

#: Seconds between two polls of AWS (AGENTCTL_POLL_SECONDS overrides; the tests use a fraction of a second).
DEFAULT_POLL_SECONDS = 5.0
#: A "still waiting" line at least this often, so that a quiet wait does not look like a hang.
HEARTBEAT_SECONDS = 30.0


def _silent(_: str) -> None:
    return


@dataclass(frozen=True)
class Progress:
    """Where a long operation says what it is doing, and how often it polls what it waits for."""

    echo: Callable[[str], None] = _silent
    poll_seconds: float = DEFAULT_POLL_SECONDS

    def __call__(self, message: str) -> None:
        self.echo(message)

    def quiet(self) -> Progress:
        """The same polling, no lines (for short waits whose failure message says it all)."""
        return replace(self, echo=_silent)


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
    not something to wait out). `interval` defaults to the progress's poll interval.
    """
    interval = progress.poll_seconds if interval is None else interval
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
