"""A thread-safe circuit breaker that never holds its lock while the protected call runs.

Why not pybreaker (which we used first): its `CircuitBreaker.call` holds the breaker's lock for the whole call,
so a gunicorn worker's threads call Axon one at a time (eight concurrent one-second calls took eight seconds).
This one takes its lock only to read and change the state:

- closed: calls go through; `fail_max` consecutive failures open the circuit;
- open: calls are refused at once with CircuitOpen(retry_after) until `reset_seconds` have passed;
- half-open: one trial call goes through (the others are refused); its success closes the circuit, its failure
  opens it again.
"""

from __future__ import annotations

import contextlib
import math
import threading
import time
from collections.abc import Callable, Iterator

CLOSED = "closed"
OPEN = "open"
HALF_OPEN = "half-open"


class CircuitOpen(Exception):
    def __init__(self, retry_after: int) -> None:
        super().__init__(f"circuit open; retry after {retry_after}s")
        self.retry_after = retry_after


class CircuitBreaker:
    def __init__(
        self,
        fail_max: int,
        reset_seconds: float,
        *,
        on_state_change: Callable[[str], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.fail_max = fail_max
        self.reset_seconds = reset_seconds
        self._on_state_change = on_state_change
        self._clock = clock
        self._lock = threading.Lock()
        self._state = CLOSED
        self._failures = 0
        self._opened_at = 0.0
        self._trial_in_flight = False

    @property
    def state(self) -> str:
        with self._lock:
            return self._state

    def _move(self, state: str) -> None:
        if state != self._state:
            self._state = state
            if self._on_state_change is not None:
                self._on_state_change(state)

    def before_call(self) -> None:
        """Refuse (CircuitOpen) or let one call through."""
        with self._lock:
            if self._state == CLOSED:
                return
            now = self._clock()
            remaining = self._opened_at + self.reset_seconds - now
            if self._state == OPEN and remaining <= 0:
                self._move(HALF_OPEN)
            if self._state == HALF_OPEN and not self._trial_in_flight:
                self._trial_in_flight = True
                return
            raise CircuitOpen(max(1, math.ceil(remaining)))

    def record_success(self) -> None:
        with self._lock:
            self._failures = 0
            self._trial_in_flight = False
            self._move(CLOSED)

    def record_failure(self) -> None:
        with self._lock:
            self._failures += 1
            self._trial_in_flight = False
            if self._state == HALF_OPEN or self._failures >= self.fail_max:
                self._opened_at = self._clock()
                self._move(OPEN)

    @contextlib.contextmanager
    def guard(self, counts_as_failure: type[BaseException] | tuple[type[BaseException], ...]) -> Iterator[None]:
        """Run the block under the breaker; exceptions of `counts_as_failure` count, anything else is neutral."""
        self.before_call()
        try:
            yield
        except counts_as_failure:
            self.record_failure()
            raise
        except BaseException:
            # Not the callee's failure (a bug, a cancellation): release a half-open trial without judging it.
            with self._lock:
                self._trial_in_flight = False
            raise
        self.record_success()
