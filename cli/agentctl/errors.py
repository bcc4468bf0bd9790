"""One error type for the CLI, one exit code per kind, and the translation of everything else into one line."""

from __future__ import annotations

import click
from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

from agentctl.ops.errors import OpsError

# Exit codes: 1 failure, 2 bad usage (Click's own), 3 unhealthy, 4 refused (nothing to do / not allowed).
EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_UNHEALTHY = 3
EXIT_REFUSED = 4


class AgentctlError(click.ClickException):
    exit_code = EXIT_FAILURE

    def __init__(self, message: str, exit_code: int | None = None) -> None:
        super().__init__(message)
        if exit_code is not None:
            self.exit_code = exit_code

    def show(self, file=None) -> None:
        click.echo(f"agentctl: {self.format_message()}", err=True)


def translate(exc: Exception) -> AgentctlError:
    """A readable one-line error for anything raised by the work functions."""
    if isinstance(exc, AgentctlError):
        return exc
    if isinstance(exc, OpsError):  # the work functions say which exit code fits (refused, unhealthy, ...)
        return AgentctlError(str(exc), exc.exit_code)
    if isinstance(exc, NoCredentialsError):
        return AgentctlError("no AWS credentials found (set AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY)")
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        operation = getattr(exc, "operation_name", "AWS call")
        return AgentctlError(
            f"{operation} failed: {error.get('Code', 'Error')}: {error.get('Message', '')}".rstrip(": ")
        )
    if isinstance(exc, BotoCoreError):
        return AgentctlError(f"AWS call failed: {exc}")
    return AgentctlError(str(exc) or type(exc).__name__)
