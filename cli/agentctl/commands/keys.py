"""agentctl keys: client credentials in Secrets Manager (create, list, rotate, revoke)."""

from __future__ import annotations

import re

import click

from agent_runtime import keys as key_store
from agentctl.context import target
from agentctl.errors import EXIT_REFUSED, AgentctlError
from agentctl.output import OUTPUT_OPTION, emit, emit_json


def _principal(value: str) -> str:
    if not re.match(key_store.PRINCIPAL_PATTERN, value):
        raise click.BadParameter(
            "1-64 characters: letters, digits, '_', '.', '@', '-', starting with a letter or digit"
        )
    return value


def _show_credential(credential: key_store.Credential, output: str, verb: str) -> None:
    data = {
        "principal": credential.principal,
        "access_key_id": credential.access_key_id,
        "secret_access_key": credential.secret_access_key,
    }
    if output == "json":
        emit_json(data)
        return
    emit([data], "table")
    click.echo(f"\n{verb}. The secret access key is shown only now: store it in the client's secret store.", err=True)


@click.group()
def keys() -> None:
    """Client credentials (SigV4 access keys for Orbit)."""


@keys.command("create")
@click.argument("name", callback=lambda _c, _p, v: _principal(v))
@OUTPUT_OPTION
def create(name: str, output: str) -> None:
    """Issue a credential for principal NAME and print it once."""
    platform = target()
    try:
        credential = key_store.create_client_key(
            platform.clients.secretsmanager, platform.names, name, platform.client_key_kms
        )
    except key_store.KeyAdminError as exc:
        raise AgentctlError(str(exc), EXIT_REFUSED) from exc
    _show_credential(credential, output, f"Credential for {name} created")


@keys.command("list")
@OUTPUT_OPTION
def list_keys(output: str) -> None:
    """Every client credential: principal and key ids, never a secret."""
    platform = target()
    infos = key_store.list_client_keys(platform.clients.secretsmanager, platform.names)
    rows = [
        {
            "principal": i.principal,
            "access_key_id": i.access_key_id,
            "versions": i.versions,
            "created": i.created,
            "last_rotated": i.last_rotated,
        }
        for i in infos
    ]
    emit(rows, output)


@keys.command("rotate")
@click.argument("name", callback=lambda _c, _p, v: _principal(v))
@OUTPUT_OPTION
def rotate(name: str, output: str) -> None:
    """New secret for NAME (same access key id); the old secret stays valid until the next rotation."""
    platform = target()
    try:
        credential = key_store.rotate_client_key(platform.clients.secretsmanager, platform.names, name)
    except key_store.KeyAdminError as exc:
        raise AgentctlError(str(exc), EXIT_REFUSED) from exc
    _show_credential(
        credential,
        output,
        f"Credential for {name} rotated (the previous secret is still accepted until the next rotation)",
    )


@keys.command("revoke")
@click.argument("name", callback=lambda _c, _p, v: _principal(v))
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def revoke(name: str, yes: bool) -> None:
    """Delete every version of NAME's credential at once."""
    platform = target()
    if not yes:
        click.confirm(
            f"Revoke every key of {name} in {platform.env}? Requests signed with them will be refused", abort=True
        )
    try:
        key_store.revoke_client_key(platform.clients.secretsmanager, platform.names, name)
    except key_store.KeyAdminError as exc:
        raise AgentctlError(str(exc), EXIT_REFUSED) from exc
    click.echo(f"revoked every key of {name}; Orbit refuses them once its key cache refreshes (at most 30 s)")


@keys.command("rotate-service")
@click.argument("service", type=click.Choice(["orbit", "governance"]))
@OUTPUT_OPTION
def rotate_service(service: str, output: str) -> None:
    """Rotate a service key: Orbit's signing key, or Governance's receipt key pair.

    Nothing to hand out: the services read their keys from Secrets Manager. The previous version stays
    valid, so requests in flight are not refused. In AWS environments the rotation Lambda does the work.
    """
    platform = target()
    names = platform.names
    secret = names.orbit_signing_key_secret if service == "orbit" else names.receipt_private_key_secret
    version = platform.rotate_service_key(secret)
    result = {"service": service, "secret": secret, "new_version": version}
    emit(result if output == "json" else [result], output)


COMMANDS = (keys,)
