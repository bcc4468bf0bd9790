"""agentctl policy: Cedar policies (validate, push, list, show, delete, test) and the checks before a change
(replay, coverage, lint, diff)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from agent_runtime.tools import Target
from agentctl.context import target
from agentctl.errors import EXIT_REFUSED, EXIT_UNHEALTHY, AgentctlError
from agentctl.ops import policy as ops
from agentctl.ops.logs import parse_since
from agentctl.output import OUTPUT_OPTION, emit, emit_json
from governance.policies import Policy
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
    return ops.policy_store(target())


def _targets(always: bool) -> ops.TargetsReader:
    """The environment's MCP tools for the schema: always (push), or only when a policy names a tool (validate
    and test, which then work without an environment for policies over intents alone)."""

    def read(policies: list[Policy]) -> list[Target]:
        return ops.tool_targets(target()) if always or ops.names_tools(policies) else []

    return read


def _validated(path: Path, schema: Path, always: bool = False) -> list:
    policies, problems = ops.load_and_validate(path, schema, _targets(always))
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
    policies = _validated(path, schema, always=True)
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
    """Run CASES (a YAML file of requests and expected decisions); non-zero exit on any mismatch.

    A case asks for an intent (`intent: call_reasoning`) or calls a tool (`tool: <target>___<tool>` with
    `arguments: {...}`, typed by the environment's stored tool as Orbit types them)."""
    try:
        case_file = ops.load_cases(cases)
    except ops.CasesError as exc:
        raise AgentctlError(str(exc)) from exc
    if live:
        _, policies = _store().current()
        source = f"the live policy set of {target().env}"
    else:
        policies = _validated(case_file.policies_path, schema, always=ops.case_tools(case_file.cases))
        source = str(case_file.policies_path)
    targets = ops.tool_targets(target()) if ops.case_tools(case_file.cases) else []
    results = ops.run_cases(case_file.cases, policies, targets=targets)
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


# --- before a change: replay, coverage, lint, diff ----------------------------------------------------------

#: Exit code of `replay --fail-on-change` when a decision would change, and of `lint` on an error-level finding:
#: the check ran and found something (1 is a failure to check, 2 bad usage, 4 refused input).
EXIT_FOUND = EXIT_UNHEALTHY


def _show_outcome(title: str, outcome: dict[str, Any]) -> None:
    click.echo(f"{title}: {outcome['count']}")
    for group in outcome["by_policy"]:
        click.echo(f"  {group['policy_id']}: {group['count']}")
        for example in group["examples"]:
            click.echo(f"    {example['decision_id']}  {example['principal']}  {example['intent']}  {example['time']}")


def _show_replay(report: dict[str, Any], path: Path) -> None:
    candidate = report["candidate"]
    how = "on top of the live set" if candidate["on_top"] else "replacing the live set"
    click.echo(
        f"replayed {report['replayed']} of {report['considered']} recorded decisions since {report['filters']['since']}"
        f" against {path} ({candidate['policies']} policies {how}; live policy-set version {report['live_version']})"
    )
    _show_outcome("allow -> deny", report["allow_to_deny"])
    _show_outcome("deny -> allow", report["deny_to_allow"])
    _show_outcome(
        "not replayable (tool calls recorded without arguments; a policy reads context.input)", report["not_replayable"]
    )
    if report["shadow"]["count"]:
        _show_outcome("the candidate's shadow policies would change", report["shadow"])
    if report["decided_under_other_versions"]:
        click.echo(
            f"{report['decided_under_other_versions']} of the recorded decisions were made under another policy-set"
            " version: each is compared with what the live set decides now"
        )
    if not report["considered"]:
        click.echo("no recorded decision matched (the decision log keeps 7 days unless the environment says otherwise)")
    click.echo(f"unchanged: {report['unchanged']}")
    click.echo(f"note: {report['rate_limits']}")


@policy.command("replay")
@PATH_ARGUMENT
@click.option("--on-top", is_flag=True, help="Apply PATH as a change to the live set (as `policy push` would).")
@click.option(
    "--since", "since_text", default="24h", show_default=True, help="Recorded decisions since (10m, 24h, 7d, ISO 8601)."
)
@click.option("--principal", default=None, help="Only the decisions of this client.")
@click.option("--intent", default=None, help="Only the decisions of this intent.")
@click.option("--tool", default=None, help="Only the calls of this tool (<target>___<tool>), or of a target's tools.")
@click.option("--fail-on-change", is_flag=True, help=f"Exit {EXIT_FOUND} when any decision would change.")
@SCHEMA_OPTION
@OUTPUT_OPTION
def replay_cmd(
    path: Path,
    on_top: bool,
    since_text: str,
    principal: str | None,
    intent: str | None,
    tool: str | None,
    fail_on_change: bool,
    schema: Path,
    output: str,
) -> None:
    """Decide the recorded requests again with PATH as the policy set, and report what would change."""
    if intent and tool:
        raise click.UsageError("give --intent or --tool, not both")
    action = ops.tool_filter(tool) if tool else intent
    query = ops.ReplayQuery(path, on_top, parse_since(since_text), principal, action)
    report = ops.replay_candidate(target(), query, schema).to_dict()
    if output == "json":
        emit_json(report)
    else:
        _show_replay(report, path)
    if fail_on_change and report["changed"]:
        changed = report["allow_to_deny"]["count"] + report["deny_to_allow"]["count"]
        raise AgentctlError(f"{changed} recorded decision(s) would change (--fail-on-change)", EXIT_FOUND)


@policy.command("coverage")
@click.option(
    "--since", "since_text", default="7d", show_default=True, help="Audited decisions since (1h, 7d, ISO 8601)."
)
@OUTPUT_OPTION
def coverage_cmd(since_text: str, output: str) -> None:
    """For each live policy, how many audited decisions it determined (or would have, in shadow mode)."""
    report = ops.policy_coverage(target(), parse_since(since_text)).to_dict()
    if output == "json":
        emit_json(report)
        return
    click.echo(
        f"{report['decisions']} decisions since {report['since']} "
        f"(live policy-set version {report['policy_set_version']})"
    )
    rows = [{**row, "flag": "decided nothing" if row["idle"] else ""} for row in report["policies"]]
    emit(rows, output, columns=["policy_id", "effect", "mode", "enforced", "shadow", "evaluation_errors", "flag"])
    if report["idle"]:
        click.echo(f"{len(report['idle'])} policies decided nothing in the window: {', '.join(report['idle'])}")


@policy.command("lint")
@click.argument("path", required=False, type=click.Path(exists=True, path_type=Path))
@click.option("--shadow-max-age", default="14d", show_default=True, help="Flag shadow policies stored longer ago.")
@SCHEMA_OPTION
@OUTPUT_OPTION
def lint_cmd(path: Path | None, shadow_max_age: str, schema: Path, output: str) -> None:
    """Flag what PATH (default: the live set) says that it probably does not mean; exit non-zero on errors."""
    max_age = ops.parse_age(shadow_max_age, "--shadow-max-age")
    what, findings = ops.lint_policies(target(), path, max_age, schema)
    errors = sum(1 for f in findings if f.level == "error")
    if output == "json":
        emit_json({"linted": what, "errors": errors, "findings": [f.to_dict() for f in findings]})
    else:
        for finding in findings:
            click.echo(str(finding))
        click.echo(f"{len(findings)} finding(s), {errors} error(s) in {what}")
    if errors:
        raise AgentctlError(f"{errors} error-level lint finding(s) in {what}", EXIT_FOUND)


@policy.command("diff")
@click.argument("version_a", required=False, type=click.IntRange(min=0))
@click.argument("version_b", required=False, type=click.IntRange(min=0))
@OUTPUT_OPTION
def diff_cmd(version_a: int | None, version_b: int | None, output: str) -> None:
    """What changed between two stored policy-set versions, per policy, as unified diffs.

    Without versions: the version before the live one against the live one; with VERSION_A alone: it against the
    live one. Version 0 is the empty set before the first push."""
    result = ops.version_diff(target(), version_a, version_b)
    if output == "json":
        emit_json(result.to_dict())
        return
    for change in result.changes:
        click.echo(change.diff, nl=False)
    click.echo(
        f"v{result.version_a} -> v{result.version_b}: {len(result.changes)} policies changed "
        f"({', '.join(f'{c.policy_id} {c.change}' for c in result.changes) or 'none'}), {result.unchanged} unchanged"
    )


COMMANDS = (policy,)
