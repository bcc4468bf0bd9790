"""agentctl dispatch: a signed POST /dispatch with a stored or given credential."""

from __future__ import annotations

import json

import click

from agent_runtime.sigv4 import Credential
from agentctl.context import target
from agentctl.errors import AgentctlError
from agentctl.local.bootstrap import QUICKSTART_PRINCIPAL
from agentctl.ops import client
from agentctl.output import OUTPUT_OPTION, emit_json


def _context(value: str) -> dict:
    try:
        parsed = json.loads(value)
    except ValueError as exc:
        raise click.BadParameter(f"not JSON: {exc}") from exc
    if not isinstance(parsed, dict):
        raise click.BadParameter("must be a JSON object")
    return parsed


@click.command()
@click.option("--intent", required=True, help="What to ask Axon for, e.g. call_reasoning.")
@click.option("--context", "context_json", default="{}", show_default=True, help="The request context, as JSON.")
@click.option(
    "--principal",
    default=None,
    help=f"Use this client's stored credential (default: {QUICKSTART_PRINCIPAL}).",
)
@click.option("--access-key-id", envvar="AGENT_ACCESS_KEY_ID", default=None, help="Sign with this key instead.")
@click.option(
    "--secret-access-key",
    envvar="AGENT_SECRET_ACCESS_KEY",
    default=None,
    help="The secret of --access-key-id (or AGENT_SECRET_ACCESS_KEY).",
)
@click.option("--url", envvar="ORBIT_URL", default=None, help="Orbit's base URL (default: the local stack's).")
@click.option("--correlation-id", default=None, help="X-Correlation-ID to send.")
@OUTPUT_OPTION
def dispatch(
    intent: str,
    context_json: str,
    principal: str | None,
    access_key_id: str | None,
    secret_access_key: str | None,
    url: str | None,
    correlation_id: str | None,
    output: str,
) -> None:
    """Send a signed POST /dispatch to Orbit and print the answer."""
    platform = target()
    context = _context(context_json)
    if bool(access_key_id) != bool(secret_access_key):
        raise click.UsageError("--access-key-id and --secret-access-key go together")
    if access_key_id and secret_access_key:
        credential = Credential(access_key_id, secret_access_key, principal or "given")
    else:
        try:
            credential = client.stored_credential(
                platform.clients.secretsmanager, platform.names, principal or QUICKSTART_PRINCIPAL
            )
        except client.DispatchError as exc:
            raise AgentctlError(str(exc)) from exc
    url = url or platform.orbit_url
    if url is None:
        raise click.UsageError("--url (or ORBIT_URL) is required outside the local stack")
    try:
        result = client.dispatch(url, credential, platform.region, intent, context, correlation_id)
    except client.DispatchError as exc:
        raise AgentctlError(str(exc)) from exc
    if output == "json":
        emit_json({"status_code": result.status_code, "body": result.body})
    else:
        click.echo(f"HTTP {result.status_code} in {result.elapsed_ms} ms")
        click.echo(json.dumps(result.body, indent=2) if not isinstance(result.body, str) else result.body)
    if not 200 <= result.status_code < 300:
        code = result.body.get("code") if isinstance(result.body, dict) else None
        raise AgentctlError(f"Orbit answered HTTP {result.status_code}{f' {code}' if code else ''}")


COMMANDS = (dispatch,)
