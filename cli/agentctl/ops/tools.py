"""Work of `agentctl tools`: the MCP targets Orbit governs (upstream tool servers), their tools, their tokens.

A target is stored in the tools table (agent_runtime.tools.ToolStore, which Orbit reads every few seconds); a
bearer token only in Secrets Manager, as the secret `<project>/targets/<name>` (its whole SecretString is the
token, which is what Orbit sends as `Authorization: Bearer`), encrypted with Orbit's KMS key in AWS. A sync is a
real MCP client of the target (agent_runtime.mcp_client, the client Orbit itself uses): it reads `tools/list`,
checks every tool, regenerates the Cedar schema with the tools' argument types (agent_runtime.tools.cedar_schema)
and refuses a tool list whose schema Cedar cannot read, then publishes the list whole. Everything that can be
refused is checked before anything is written: bad input changes nothing.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import cedarpy
import jsonschema
import requests
from botocore.exceptions import ClientError
from jsonschema.validators import validator_for

from agent_runtime.keys import CURRENT, read_secret_versions
from agent_runtime.mcp_client import Authenticator, McpUpstream, UpstreamRpcError, UpstreamUnavailable
from agent_runtime.sigv4 import Credential, sign
from agent_runtime.tools import (
    AUTH_MODES,
    BUILTIN_TARGET,
    TOOL_NAME_RE,
    Target,
    Tool,
    ToolStoreError,
    builtin_axon_target,
    cedar_schema,
    check_target_name,
)
from agentctl.ops.errors import OpsError, Refused
from agentctl.ops.platform import Platform
from agentctl.ops.policy import DEFAULT_SCHEMA
from governance.policies import validate
from governance.store import PolicyStore

MAX_TIMEOUT_MS = 300_000
#: Orbit reads the tools table at most this often by default (ORBIT_TOOLS_CACHE_SECONDS).
ORBIT_TOOLS_CACHE_SECONDS = 5


class BadInput(Refused):
    """An option's value that cannot be used (a name, a URL, a token that cannot be read)."""


@dataclass(frozen=True)
class TargetSpec:
    """What `tools add` was told (the token itself is never part of it)."""

    name: str
    url: str
    auth: str = "none"
    sigv4_service: str = "execute-api"
    timeout_ms: int = 30_000
    record_arguments: bool = False

    def target(self, platform: Platform, kept: Target | None = None) -> Target:
        """The stored target; `kept` (the one replaced) gives the generation of the tools it keeps."""
        return Target(
            name=self.name,
            url=self.url,
            auth=self.auth,
            bearer_secret=platform.names.target_secret(self.name) if self.auth == "bearer" else None,
            sigv4_service=self.sigv4_service,
            timeout_ms=self.timeout_ms,
            record_arguments=self.record_arguments,
            generation=kept.generation if kept else "",
            tools=kept.tools if kept else (),
            synced_at=kept.synced_at if kept else None,
        )


# --- parse ------------------------------------------------------------------------------------------------


def target_name(name: str) -> str:
    """A name a new target may have (`^[a-z][a-z0-9-]{0,31}$`, not `axon`)."""
    try:
        check_target_name(name)
    except ToolStoreError as exc:
        raise BadInput(str(exc)) from None
    return name


def target_url(url: str) -> str:
    """An absolute http(s) URL with a host: the target's MCP endpoint."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018  # a port that is not a number raises here
    except ValueError:
        raise BadInput(f"URL {url!r} is not a valid URL") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise BadInput(f"URL {url!r} must be an http:// or https:// URL with a host (the server's MCP endpoint)")
    if parts.username or parts.password:
        raise BadInput("the URL must not carry credentials: use --auth bearer with --bearer-token-env or -file")
    return url


def check_auth(auth: str, sigv4_service: str | None, token_given: bool) -> str:
    """The SigV4 service name to store; BadInput when the authentication options do not go together."""
    if auth not in AUTH_MODES:
        raise BadInput(f"--auth must be one of {', '.join(AUTH_MODES)}")
    if sigv4_service is not None and auth != "sigv4":
        raise BadInput("--sigv4-service goes with --auth sigv4 only")
    if token_given and auth != "bearer":
        raise BadInput("--bearer-token-env and --bearer-token-file go with --auth bearer only")
    if auth == "bearer" and not token_given:
        raise BadInput("--auth bearer needs the token: --bearer-token-env VAR or --bearer-token-file FILE")
    service = sigv4_service or "execute-api"
    if not service.replace("-", "").isalnum() or len(service) > 64:
        raise BadInput(f"--sigv4-service {service!r} is not a SigV4 service name")
    return service


def bearer_token(env_var: str | None, file: str | None, environ: dict[str, str]) -> str | None:
    """The token from the named environment variable or file (never from the command line, where `ps` shows it)."""
    if env_var and file:
        raise BadInput("give the token once: --bearer-token-env or --bearer-token-file")
    if env_var:
        token = environ.get(env_var, "").strip()
        if not token:
            raise BadInput(f"--bearer-token-env {env_var}: the variable is not set or is empty")
    elif file:
        try:
            with open(file, encoding="utf-8") as handle:
                token = handle.read().strip()
        except (OSError, UnicodeDecodeError) as exc:
            raise BadInput(f"--bearer-token-file {file}: cannot be read ({type(exc).__name__})") from None
        if not token:
            raise BadInput(f"--bearer-token-file {file}: the file is empty")
    else:
        return None
    if any(ch in token for ch in "\r\n") or not token.isprintable():
        raise BadInput("the bearer token must be one line of printable characters")
    return token


# --- talking to a target ----------------------------------------------------------------------------------


def _authenticator(platform: Platform, target: Target, token: str | None) -> Authenticator | None:
    """How agentctl authenticates to the target: as Orbit does (its signing key, or the bearer token)."""
    if target.auth == "bearer":
        secret = token if token is not None else _read_token(platform, target)

        def bearer(method: str, url: str, body: bytes, headers: dict[str, str]) -> dict[str, str]:
            return {**headers, "Authorization": f"Bearer {secret}"}

        return bearer
    if target.auth == "sigv4":
        credential = orbit_credential(platform)
        region = platform.region

        def sigv4(method: str, url: str, body: bytes, headers: dict[str, str]) -> dict[str, str]:
            return sign(method, url, body, credential, service=target.sigv4_service, region=region, headers=headers)

        return sigv4
    return None


def orbit_credential(platform: Platform) -> Credential:
    """Orbit's current signing key: a `sigv4` target is called with it, by Orbit and by a sync."""
    secret = platform.names.orbit_signing_key_secret
    try:
        versions = read_secret_versions(platform.clients.secretsmanager, secret, [CURRENT])
    except ClientError as exc:
        raise _unreadable(exc, f"Orbit's signing key {secret}", "a sigv4 target is read with it") from None
    if not versions:
        raise Refused(f"Orbit's signing key ({secret}) has no current version; nothing was changed")
    return versions[0]


def fetch_tools(platform: Platform, target: Target, token: str | None = None) -> list[dict[str, Any]]:
    """The target's `tools/list` (every page), read as an MCP client; one readable OpsError otherwise."""
    http = requests.Session()
    statuses: list[int] = []
    http.hooks["response"].append(lambda response, *_, **__: statuses.append(response.status_code))
    client = McpUpstream(
        target.url,
        http=http,
        timeout_seconds=max(target.timeout_ms / 1000, 5.0),
        authenticate=_authenticator(platform, target, token),
    )
    try:
        return client.list_tools()
    except (UpstreamUnavailable, UpstreamRpcError) as exc:
        refused = next((s for s in reversed(statuses) if s in (401, 403)), None)
        why = f"it answered HTTP {refused}: check --auth and its credentials" if refused else str(exc)
        raise OpsError(
            f"target {target.name} at {target.url} cannot be read as an MCP server from here ({why}); "
            "nothing was changed"
        ) from None
    finally:
        http.close()


@dataclass
class Listing:
    """The tools a target lists, as they would be stored, and those that cannot be (with why)."""

    tools: list[Tool]
    skipped: list[str] = field(default_factory=list)


def tools_of(target: str, listed: list[dict[str, Any]]) -> Listing:
    """The listed tools Orbit can serve: a name clients can address once prefixed, and an input schema that is a
    valid JSON Schema object schema (Orbit validates every call's arguments against it)."""
    listing = Listing([])
    seen: set[str] = set()
    for raw in listed:
        name = raw.get("name")
        schema = raw.get("inputSchema")
        problem = _tool_problem(name, schema, seen)
        if problem:
            listing.skipped.append(f"{target}: tool {str(name)[:80]!r} not stored: {problem}")
            continue
        seen.add(name)
        annotations, output = raw.get("annotations"), raw.get("outputSchema")
        title = raw.get("title")
        listing.tools.append(
            Tool(
                target=target,
                name=name,
                description=str(raw.get("description") or ""),
                input_schema=schema,
                annotations=annotations if isinstance(annotations, dict) else {},
                output_schema=output if isinstance(output, dict) else None,
                title=title if isinstance(title, str) and title else None,
            )
        )
    listing.tools.sort(key=lambda t: t.name)
    return listing


def _tool_problem(name: Any, schema: Any, seen: set[str]) -> str | None:
    if not isinstance(name, str) or not TOOL_NAME_RE.match(name):
        return f"its name must match {TOOL_NAME_RE.pattern}"
    if name in seen:
        return "listed twice"
    if not isinstance(schema, dict) or schema.get("type", "object") != "object":
        return "its inputSchema is not an object schema"
    try:
        validator_for(schema, default=jsonschema.Draft202012Validator).check_schema(schema)
    except jsonschema.SchemaError as exc:
        return f"its inputSchema is not valid JSON Schema ({exc.message[:120]})"
    return None


# --- the Cedar schema ---------------------------------------------------------------------------------------


def regenerated_schema(targets: list[Target]) -> str:
    """The schema policies are validated against once these targets are stored; Refused if Cedar cannot read it."""
    schema = cedar_schema(DEFAULT_SCHEMA.read_text(encoding="utf-8"), targets)
    result = cedarpy.validate_policies("", schema)
    if not result.validation_passed:
        reasons = "; ".join(e.error for e in result.errors)[:300]
        raise Refused(f"the tools give a Cedar schema that Cedar refuses ({reasons}); nothing was changed")
    return schema


def policy_warnings(platform: Platform, schema: str) -> list[str]:
    """The live policies that do not validate against `schema` (a tool or an argument they name is gone)."""
    try:
        _, policies = PolicyStore(platform.clients.dynamodb, platform.names.policies_table).current()
    except ClientError as exc:  # the change is made: say what could not be checked, do not fail it
        return [f"the live policies could not be read to check them ({exc.response['Error']['Code']})"]
    first: dict[str, str] = {}  # one line per policy: Cedar may give several reasons for one
    for problem in validate(policies, schema):
        first.setdefault(problem.policy_id or "?", problem.reason)
    return [f"live policy {pid} does not validate against the new schema: {why}" for pid, why in first.items()]


# --- sync ---------------------------------------------------------------------------------------------------


@dataclass
class Synced:
    target: str
    url: str
    tools: list[str]
    added: list[str]
    changed: list[str]
    removed: list[str]

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass
class SyncResult:
    synced: list[Synced]
    warnings: list[str]

    def to_dict(self) -> dict[str, Any]:
        return {"synced": [s.to_dict() for s in self.synced], "warnings": self.warnings}


def _difference(target: Target, tools: list[Tool]) -> Synced:
    before = {t.name: t for t in target.tools}
    after = {t.name: t for t in tools}
    return Synced(
        target=target.name,
        url=target.url,
        tools=sorted(after),
        added=sorted(after.keys() - before.keys()),
        changed=sorted(n for n in after.keys() & before.keys() if after[n] != before[n]),
        removed=sorted(before.keys() - after.keys()),
    )


def plan_sync(
    platform: Platform, stored: list[Target], chosen: list[Target], tokens: dict[str, str]
) -> tuple[dict[str, list[Tool]], str, list[str]]:
    """Read every chosen target's tools and check the schema they give, before anything is written.
    Returns (listings by target, the regenerated schema, warnings)."""
    listings: dict[str, list[Tool]] = {}
    warnings: list[str] = []
    for target in chosen:
        listing = tools_of(target.name, fetch_tools(platform, target, tokens.get(target.name)))
        listings[target.name] = listing.tools
        warnings.extend(listing.skipped)
    future = [dataclasses.replace(t, tools=tuple(listings.get(t.name, t.tools))) for t in stored]
    return listings, regenerated_schema(future), warnings


def publish(platform: Platform, chosen: list[Target], listings: dict[str, list[Tool]]) -> list[Synced]:
    store = platform.tool_store()
    synced = []
    for target in chosen:
        tools = listings[target.name]
        try:
            store.publish_tools(target, tools)
        except ToolStoreError as exc:
            done = ", ".join(s.target for s in synced) or "none"
            raise OpsError(f"{exc} (targets synced before it: {done})") from None
        synced.append(_difference(target, tools))
    return synced


def sync(platform: Platform, name: str | None = None, token: str | None = None) -> SyncResult:
    """`tools sync [NAME]`: every stored target (or NAME) read again and its tool list replaced whole. `token`:
    NAME's bearer token given to this sync (by default it is read from Secrets Manager)."""
    stored = platform.tool_store().targets()
    if name == BUILTIN_TARGET:
        raise Refused(f"{BUILTIN_TARGET!r} is the built-in target: its tool is Axon's, nothing to sync")
    chosen = [t for t in stored if name is None or t.name == name]
    if name is not None and not chosen:
        raise Refused(f"no target named {name!r} (agentctl tools list shows them)")
    if not chosen:
        raise Refused("no target is stored yet: agentctl tools add NAME --url URL")
    if token is not None and (name is None or chosen[0].auth != "bearer"):
        raise BadInput("a token given to tools sync is for one target NAME whose authentication is bearer")
    listings, schema, warnings = plan_sync(platform, stored, chosen, {name: token} if name and token else {})
    synced = publish(platform, chosen, listings)
    return SyncResult(synced, warnings + policy_warnings(platform, schema))


# --- the bearer token ---------------------------------------------------------------------------------------


def _read_token(platform: Platform, target: Target) -> str:
    try:
        value = platform.clients.secretsmanager.get_secret_value(SecretId=target.bearer_secret)
    except ClientError as exc:
        what = f"the bearer token of {target.name} ({target.bearer_secret})"
        raise _unreadable(
            exc, what, "give it to the sync with --bearer-token-env VAR or --bearer-token-file FILE"
        ) from None
    return str(value["SecretString"])


def _unreadable(exc: ClientError, what: str, remedy: str) -> Refused:
    code = exc.response["Error"]["Code"]
    return Refused(f"{what} cannot be read with these credentials ({code}): {remedy}; nothing was changed")


def store_token(platform: Platform, name: str, token: str) -> bool:
    """The token as the secret `<project>/targets/<name>`; True when the secret was created (not updated)."""
    secrets, secret_id = platform.clients.secretsmanager, platform.names.target_secret(name)
    kms = platform.client_key_kms  # Orbit's key in AWS: Orbit decrypts the token
    try:
        secrets.create_secret(
            Name=secret_id,
            Description=f"agent-runtime: the bearer token Orbit sends to the MCP target {name}",
            SecretString=token,
            Tags=[
                {"Key": "agent-runtime:kind", "Value": "mcp-target-token"},
                {"Key": "agent-runtime:target", "Value": name},
            ],
            **({"KmsKeyId": kms} if kms else {}),
        )
        return True
    except ClientError as exc:
        if exc.response["Error"]["Code"] != "ResourceExistsException":
            raise
    secrets.put_secret_value(SecretId=secret_id, SecretString=token)
    return False


def delete_token(platform: Platform, name: str) -> bool:
    """Delete the target's token now, every version (no recovery window: a removal is final); False when there
    was none (a forced delete of a secret that does not exist succeeds: it is looked up first)."""
    secrets, secret_id = platform.clients.secretsmanager, platform.names.target_secret(name)
    try:
        secrets.describe_secret(SecretId=secret_id)
        secrets.delete_secret(SecretId=secret_id, ForceDeleteWithoutRecovery=True)
    except ClientError as exc:
        if exc.response["Error"]["Code"] == "ResourceNotFoundException":
            return False
        raise
    return True


# --- add ----------------------------------------------------------------------------------------------------


@dataclass
class Added:
    target: dict[str, Any]
    replaced: bool
    synced: list[Synced]
    warnings: list[str]

    def to_dict(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "replaced": self.replaced,
            "sync": [s.to_dict() for s in self.synced] or None,
            "warnings": self.warnings,
        }


def add(platform: Platform, spec: TargetSpec, token: str | None, *, replace: bool, sync_now: bool) -> Added:
    """`tools add`: refuse what cannot be stored, read the target's tools (unless not syncing), then store the
    token, the target and its tools, in that order."""
    store = platform.tool_store()
    stored = store.targets()
    kept = next((t for t in stored if t.name == spec.name), None)
    if kept is not None and not replace:
        raise Refused(f"a target named {spec.name!r} already exists (--replace changes it)")
    target = spec.target(platform, kept)
    listings: dict[str, list[Tool]] = {}
    schema, warnings = None, []
    if sync_now:
        future = [t for t in stored if t.name != spec.name] + [target]
        listings, schema, warnings = plan_sync(platform, future, [target], {spec.name: token} if token else {})
    created = store_token(platform, spec.name, token) if token else False
    try:
        store.put_target(target, replace=kept is not None)
    except ToolStoreError as exc:
        if created:
            delete_token(platform, spec.name)
        raise Refused(f"{exc}; nothing was changed") from None
    if kept is not None and kept.auth == "bearer" and spec.auth != "bearer":
        delete_token(platform, spec.name)
    synced = publish(platform, [target], listings) if sync_now else []
    if schema is not None:
        warnings += policy_warnings(platform, schema)
    return Added(describe(store.target(spec.name) or target), kept is not None, synced, warnings)


# --- list and remove --------------------------------------------------------------------------------------


def describe(target: Target) -> dict[str, Any]:
    """A target and its tools as `tools list` shows them (the token's secret named, never read)."""
    return {
        "name": target.name,
        "builtin": target.builtin,
        "url": target.url,
        "auth": target.auth,
        "sigv4_service": target.sigv4_service if target.auth == "sigv4" else None,
        "bearer_secret": target.bearer_secret,
        "timeout_ms": target.timeout_ms,
        "record_arguments": target.record_arguments,
        "synced_at": target.synced_at,
        "tools": [
            {
                "name": tool.action,
                "tool": tool.name,
                "title": tool.title,
                "description": tool.description,
                "input_schema": tool.input_schema,
                "annotations": tool.annotations,
            }
            for tool in target.tools
        ],
    }


def list_targets(platform: Platform, only: str | None = None) -> list[dict[str, Any]]:
    """Every target (the built-in `axon` among them) with its tools as clients see them."""
    axon = builtin_axon_target(platform.axon_url or "http://axon")
    if platform.axon_url is None:
        axon = dataclasses.replace(axon, url="Axon's /mcp, inside the environment")
    targets = sorted([*platform.tool_store().targets(), axon], key=lambda t: t.name)
    chosen = [t for t in targets if only is None or t.name == only]
    if only is not None and not chosen:
        raise Refused(f"no target named {only!r}")
    return [describe(t) for t in chosen]


def plan_remove(platform: Platform, name: str) -> Target:
    if name == BUILTIN_TARGET:
        raise Refused(f"{BUILTIN_TARGET!r} is the built-in target (Axon): it cannot be removed")
    target = platform.tool_store().target(name)
    if target is None:
        raise Refused(f"no target named {name!r}; nothing was changed")
    return target


def remove(platform: Platform, target: Target) -> dict[str, Any]:
    """Delete the target, its tools and its token; the live policies that named its tools are reported."""
    store = platform.tool_store()
    try:
        store.remove_target(target.name)
    except ToolStoreError as exc:
        raise Refused(f"{exc}; nothing was changed") from None
    secret = delete_token(platform, target.name)
    schema = cedar_schema(DEFAULT_SCHEMA.read_text(encoding="utf-8"), store.targets())
    return {
        "removed": target.name,
        "tools": [t.action for t in target.tools],
        "secret_deleted": platform.names.target_secret(target.name) if secret else None,
        "warnings": policy_warnings(platform, schema),
    }
