"""What the work functions raise: plain exceptions that carry the exit code agentctl should end with.

The commands turn them into one line on stderr (agentctl.errors.translate); the work functions never import
Click.
"""

from __future__ import annotations

# The same numbers as agentctl.errors (kept here so that ops never imports the CLI layer).
EXIT_FAILURE = 1
EXIT_UNHEALTHY = 3
EXIT_REFUSED = 4


class OpsError(Exception):
    """The operation failed; the message says what happened and what state things were left in."""

    exit_code = EXIT_FAILURE


class Refused(OpsError):
    """Nothing was changed: the operation is not possible or not allowed (nothing to roll back to, ...)."""

    exit_code = EXIT_REFUSED


class Unhealthy(OpsError):
    """The operation ran, but what it checked afterwards is not healthy."""

    exit_code = EXIT_UNHEALTHY


class WaitTimeout(OpsError):
    """A bounded wait ran out; the message says what was last seen."""

    def __init__(self, what: str, timeout: float, last: str) -> None:
        super().__init__(f"{what} did not finish within {timeout:.0f}s (last seen: {last})")
        self.what = what
        self.last = last
