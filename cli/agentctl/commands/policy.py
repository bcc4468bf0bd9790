"""agentctl policy: Cedar policies (validate, push, list, show, delete, test)."""

from __future__ import annotations

from pathlib import Path

import click

from agentctl.context import target
from agentctl.errors import EXIT_REFUSED, AgentctlError
from agentctl.ops import policy as ops
from agentctl.output import OUTPUT_OPTION, emit, emit_json
from governance.store import PolicyStore, StoreError

SCHEMA_OPTION = click.option(
    "--schema",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=ops.DEFAULT_SCHEMA,
    show_default="governance/policies/schema.cedarschema",
    help="The Cedar schema to validate against.",
)
PATH_ARGUMENT = click.argument("path", type=click.Path(exists=True, path_type=Path))


def _store() -> PolicyStore:
    platform = target()
    return PolicyStore(platform.clients.dynamodb, platform.names.policies_table)


def _validated(path: Path, schema: Path) -> list:
    policies, problems = ops.load_and_validate(path, schema)
    if problems:
        for problem in problems:
            click.echo(str(problem), err=True)
        raise AgentctlError(f"{len(problems)} problem(s) in {path}; nothing was stored")
    return policies


@click.group()
def policy() -> None:
    """Cedar policies: what Governance allows (default deny; a forbid beats any permit)."""


@policy.command("validate")
@PATH_ARGUMENT
@SCHEMA_OPTION
def validate_cmd(path: Path, schema: Path) -> None:
    """Parse and type-check PATH (a .cedar file or a folder) against the schema."""
    policies = _validated(path, schema)
    shadow = sum(1 for p in policies if p.mode == "shadow")
    click.echo(f"{len(policies)} policies valid ({shadow} in shadow mode)")


@policy.command("push")
@PATH_ARGUMENT
@SCHEMA_OPTION
@click.option("--replace", is_flag=True, help="Make PATH the whole policy set: policies not in it are removed.")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation (with --replace, in prod).")
@OUTPUT_OPTION
def push(path: Path, schema: Path, replace: bool, yes: bool, output: str) -> None:
    """Validate PATH, then store it as one new policy-set version: all or nothing."""
    platform = target()
    policies = _validated(path, schema)
    ops.require_policies(policies, path)
    if replace and not yes:
        click.confirm(
            f"Replace the whole policy set of {platform.env} with the {len(policies)} policies of {path}?", abort=True
        )
    try:
        result = ops.push(_store(), policies, replace)
    except StoreError as exc:
        raise AgentctlError(str(exc)) from exc
    data = {
        "policy_set_version": result.version,
        "changed": result.changed,
        "upserted": result.upserted,
        "deleted": result.deleted,
    }
    if output == "json":
        emit_json(data)
    elif result.changed:
        click.echo(
            f"policy-set version {result.version}: {len(result.upserted)} added or changed"
            f"{', ' + str(len(result.deleted)) + ' removed' if result.deleted else ''}; live now"
        )
    else:
        click.echo(f"no change; policy-set version {result.version} stays live")


@policy.command("list")
@OUTPUT_OPTION
def list_cmd(output: str) -> None:
    """The live policies."""
    version, policies = _store().current()
    rows = [{"id": p.policy_id, "effect": p.effect, "mode": p.mode, "description": p.description} for p in policies]
    if output == "json":
        emit_json({"policy_set_version": version, "policies": rows})
    else:
        click.echo(f"policy-set version {version}")
        emit(rows, output, columns=["id", "effect", "mode", "description"])


@policy.command("show")
@click.argument("policy_id")
@OUTPUT_OPTION
def show(policy_id: str, output: str) -> None:
    """One live policy, as Cedar text."""
    version, policies = _store().current()
    found = next((p for p in policies if p.policy_id == policy_id), None)
    if found is None:
        raise AgentctlError(f"no live policy {policy_id!r} (policy-set version {version})", EXIT_REFUSED)
    if output == "json":
        emit_json(
            {
                "id": found.policy_id,
                "effect": found.effect,
                "mode": found.mode,
                "text": found.text,
                "policy_set_version": version,
            }
        )
    else:
        click.echo(found.text)


@policy.command("delete")
@click.argument("policy_id")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def delete(policy_id: str, yes: bool) -> None:
    """Remove one policy (a new policy-set version without it)."""
    platform = target()
    if not yes:
        click.confirm(f"Delete policy {policy_id} in {platform.env}?", abort=True)
    try:
        version, _ = _store().commit(deletes=[policy_id])
    except StoreError as exc:
        raise AgentctlError(str(exc), EXIT_REFUSED) from exc
    ops.wait_until_live()
    click.echo(f"deleted {policy_id}; policy-set version {version} is live")


@policy.command("test")
@click.argument("cases", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@SCHEMA_OPTION
@click.option("--live", is_flag=True, help="Test the live (stored) policy set instead of the files the cases name.")
@OUTPUT_OPTION
def test(cases: Path, schema: Path, live: bool, output: str) -> None:
    """Run CASES (a YAML file of requests and expected decisions); non-zero exit on any mismatch."""
    try:
        case_file = ops.load_cases(cases)
    except ops.CasesError as exc:
        raise AgentctlError(str(exc)) from exc
    if live:
        _, policies = _store().current()
        source = f"the live policy set of {target().env}"
    else:
        policies = _validated(case_file.policies_path, schema)
        source = str(case_file.policies_path)
    results = ops.run_cases(case_file.cases, policies)
    failed = [r for r in results if not r.passed]
    if output == "json":
        emit_json(
            {
                "policies": source,
                "passed": len(results) - len(failed),
                "failed": len(failed),
                "results": [r.__dict__ for r in results],
            }
        )
    else:
        for result in results:
            click.echo(
                f"{'PASS' if result.passed else 'FAIL'}  {result.name}{'' if result.passed else ': ' + result.detail}"
            )
        click.echo(f"{len(results) - len(failed)}/{len(results)} cases passed against {source}")
    if failed:
        raise AgentctlError(f"{len(failed)} of {len(results)} policy cases failed")


COMMANDS = (policy,)
