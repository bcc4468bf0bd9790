"""Policy work for agentctl: validate files against the schema, push them as one new version, test cases."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml
from botocore.exceptions import BotoCoreError, ClientError

from agent_runtime.decision_log import DecisionLog
from agent_runtime.keys import list_secret_names
from agent_runtime.tools import (
    BUILTIN_TARGET,
    TARGET_NAME_RE,
    TOOL_SEPARATOR,
    TOOLS_GROUP,
    ArgumentError,
    Target,
    Tool,
    ToolStore,
    builtin_axon_target,
    cedar_input,
    cedar_schema,
    split_tool_action,
    target_group,
)
from agentctl.ops import files
from agentctl.ops.errors import OpsError, Refused
from agentctl.ops.platform import Platform
from governance.coverage import CoverageReport, coverage
from governance.diff import SetDiff, diff_versions
from governance.evaluate import DecisionRequest, evaluate
from governance.lint import ERROR, Finding, lint
from governance.policies import CompiledPolicySet, Policy, PolicyError, PolicyProblem, load_policy_path, validate
from governance.rate_limits import RateLimitResult
from governance.replay import DEFAULT_EXAMPLES, ReplayFilter, ReplayReport, candidate_set, load_candidate, replay
from governance.store import CONFIG_REFRESH_SECONDS, PolicyStore, StoreError

#: The tools to type policies with, given the policies (tool_targets, or none when no policy names a tool).
TargetsReader = Callable[[list[Policy]], list[Target]]
REPO_POLICIES = Path(__file__).resolve().parents[3] / "governance" / "policies"
DEFAULT_SCHEMA = REPO_POLICIES / "schema.cedarschema"
_UNLIMITED = RateLimitResult(True, 1, 1, 0, "global")


def load_and_validate(
    path: Path, schema: Path = DEFAULT_SCHEMA, targets: TargetsReader = lambda _policies: []
) -> tuple[list[Policy], list[PolicyProblem]]:
    """Parse every policy under `path` and type-check it against `schema` plus the tools `targets` gives for the
    policies; problems carry file, line, policy and reason. Refused when a file is not one agentctl reads
    (agentctl.ops.files)."""
    files.check_policy_files(path)
    try:
        policies = load_policy_path(path)
    except PolicyError as exc:
        return [], exc.problems
    try:
        base = files.read_text(schema)
    except OSError as exc:
        return policies, [PolicyProblem(str(schema), 0, None, f"cannot read the schema: {exc.strerror}")]
    return policies, validate(policies, cedar_schema(base, targets(policies)))


def require_policies(policies: list[Policy], path: Path) -> None:
    """A push of nothing is refused: it would store no change, or with --replace remove every policy."""
    if not policies:
        raise Refused(f"no policy in {path}: nothing was stored (a .cedar file needs at least one policy)")


def wait_until_live() -> None:
    """A change is in force on every warm Governance instance CONFIG_REFRESH_SECONDS after it was written."""
    time.sleep(CONFIG_REFRESH_SECONDS)


@dataclass
class PushResult:
    version: int
    changed: bool
    upserted: list[str]
    deleted: list[str]


def push(store: PolicyStore, policies: list[Policy], replace: bool) -> PushResult:
    """Store the policies as one new policy-set version (all or nothing). `replace` drops every other policy."""
    _, current = store.current()
    current_ids = {p.policy_id for p in current}
    deleted = sorted(current_ids - {p.policy_id for p in policies}) if replace else []
    version, changed = store.commit(policies, replace=replace)
    if changed:
        wait_until_live()
    by_id = {p.policy_id: p for p in current}
    upserted = [p.policy_id for p in policies if by_id.get(p.policy_id) is None or by_id[p.policy_id].json != p.json]
    return PushResult(version, changed, sorted(upserted), deleted)


# --- test cases (like `opa test`) -------------------------------------------------------------------------


class CasesError(Exception):
    pass


@dataclass
class CaseResult:
    name: str
    passed: bool
    expected: str
    actual: str
    policy_ids: list[str]
    detail: str = ""


@dataclass
class CaseFile:
    policies_path: Path
    cases: list[dict[str, Any]] = field(default_factory=list)


def load_cases(path: Path) -> CaseFile:
    """A YAML file: `policies:` (a folder or file, relative to the YAML file) and `cases:` (a list)."""
    try:
        data = files.load_yaml(files.read_text(path))
    except OSError as exc:
        raise CasesError(f"cannot read {path}: {exc.strerror}") from exc
    except UnicodeDecodeError as exc:
        raise CasesError(f"{path} is not UTF-8 text") from exc
    except yaml.YAMLError as exc:
        raise CasesError(f"{path} is not valid YAML: {_yaml_problem(exc)}") from exc
    if not isinstance(data, dict) or not isinstance(data.get("cases"), list) or not data["cases"]:
        raise CasesError(f"{path} must be a mapping with a non-empty `cases:` list")
    policies = data.get("policies", ".")
    if not isinstance(policies, str):
        raise CasesError(f"{path}: `policies:` must be a path")
    target, boundary = (path.parent / policies).resolve(), files.repository_of(path)
    if not target.is_relative_to(boundary):  # a prepared cases file must not make agentctl read ~/.netrc
        raise CasesError(f"{path}: `policies:` {policies!r} leads outside {boundary}: not read")
    return CaseFile(target, data["cases"])


def _yaml_problem(exc: yaml.YAMLError) -> str:
    """What is wrong and where, without PyYAML's excerpt of the text (only the named file's place is said)."""
    if isinstance(exc, yaml.MarkedYAMLError) and exc.problem_mark is not None:
        mark = exc.problem_mark
        return f"{exc.problem} (line {mark.line + 1}, column {mark.column + 1})"
    return type(exc).__name__


def case_tools(cases: list[Any]) -> bool:
    """Whether a case is a tool call (`tool: <target>___<tool>`): its arguments are typed by the stored tool."""
    return any(isinstance(c, dict) and "tool" in c for c in cases)


def _moment(context: dict[str, Any]) -> datetime:
    when = context.get("time", "2026-01-05T12:00:00Z")
    if isinstance(when, datetime):
        return (when if when.tzinfo else when.replace(tzinfo=UTC)).astimezone(UTC)
    try:
        moment = datetime.fromisoformat(str(when).replace("Z", "+00:00"))
    except ValueError as exc:
        raise CasesError(f"context.time {when!r} is not an ISO 8601 time") from exc
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(UTC)


def _policy_ids(case: dict[str, Any]) -> list[str]:
    ids = case.get("policy_ids", [])
    if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
        raise CasesError("policy_ids must be a list of policy ids")
    return ids


def _tool_event(case: dict[str, Any], tools: dict[str, Tool]) -> dict[str, Any]:
    """The governance event of a tool-call case: the stored tool types its `arguments` as Orbit does."""
    if "intent" in case:
        raise CasesError("a case is an intent or a tool call, not both")
    name = str(case.get("tool"))
    tool = tools.get(name)
    if tool is None:
        raise CasesError(f"no tool {name!r} is stored (agentctl tools sync; the name is <target>___<tool>)")
    arguments = case.get("arguments") or {}
    if not isinstance(arguments, dict):
        raise CasesError("arguments must be a mapping")
    try:
        converted = cedar_input(tool, arguments)
    except ArgumentError as exc:
        raise CasesError(f"arguments: {exc}") from exc
    return {
        "kind": "tool_call",
        "target": tool.target,
        "tool": tool.name,
        "input": converted,
        "arguments_sha256": "0" * 64,
    }


def _request(case: dict[str, Any], tools: dict[str, Tool]) -> tuple[DecisionRequest, datetime]:
    context = case.get("context") or {}
    if not isinstance(context, dict):
        raise CasesError("context must be a mapping")
    event: dict[str, Any] = {
        "principal": case.get("principal"),
        "intent": case.get("intent"),
        "context": {"user_id": context.get("user_id", ""), "request_id": context.get("request_id", "case")},
        "source_ip": context.get("source_ip", "127.0.0.1"),
        "correlation_id": "policy-test",
        "request_digest": "0" * 64,
    }
    if "tool" in case:
        event.update(_tool_event(case, tools))
        event.update(event.pop("context"))  # a tool call carries user_id and request_id at the top
    try:
        return DecisionRequest.from_event(event), _moment(context)
    except ValueError as exc:
        raise CasesError(str(exc)) from exc


def run_cases(
    cases: list[dict[str, Any]], policies: list[Policy], environment: str = "local", targets: Sequence[Target] = ()
) -> list[CaseResult]:
    """Decide each case with the real decision function, and compare with what the case expects; a tool call's
    arguments are typed by its tool among `targets`."""
    policy_set = CompiledPolicySet(0, policies)
    known = [*targets] if any(t.name == BUILTIN_TARGET for t in targets) else [*targets, builtin_axon_target("")]
    tools = {t.action: t for target in known for t in target.tools}
    results = []
    for index, case in enumerate(cases, 1):
        name = str(case.get("name") or f"case {index}") if isinstance(case, dict) else f"case {index}"
        try:
            if not isinstance(case, dict):
                raise CasesError("a case must be a mapping")
            expected = case.get("expect")
            if expected not in ("allow", "deny"):
                raise CasesError("expect must be allow or deny")
            _policy_ids(case)
            request, moment = _request(case, tools)
            decision = evaluate(
                request, policy_set, _UNLIMITED, now=moment, environment=case.get("environment", environment)
            )
        except CasesError as exc:
            results.append(CaseResult(name, False, str(case.get("expect", "?")), "invalid", [], str(exc)))
            continue
        actual = "allow" if decision.allowed else "deny"
        problems = []
        if actual != expected:
            problems.append(f"expected {expected}, got {actual} ({decision.reason})")
        if "policy_ids" in case and sorted(_policy_ids(case)) != sorted(decision.policy_ids):
            problems.append(f"expected policies {sorted(case['policy_ids'])}, got {sorted(decision.policy_ids)}")
        if "shadow" in case:
            would = decision.shadow["would_allow"] if decision.shadow else decision.allowed
            if ("allow" if would else "deny") != case["shadow"]:
                problems.append(f"expected shadow outcome {case['shadow']}, got {'allow' if would else 'deny'}")
        results.append(CaseResult(name, not problems, expected, actual, decision.policy_ids, "; ".join(problems)))
    return results


# --- the schema: the base schema plus the tools of the environment ---------------------------------------------

_TOOL_MARKERS = ('"Target"', f'"{TOOLS_GROUP}"', '"target:', TOOL_SEPARATOR)


def names_tools(policies: list[Policy]) -> bool:
    """Whether a policy names a target, a tool or a tool group: then only the environment's tools can type it."""
    return any(marker in json.dumps(p.json) for p in policies for marker in _TOOL_MARKERS)


def tool_targets(platform: Platform) -> list[Target]:
    """The MCP targets of the environment with their synced tools (the tools table, through the platform)."""
    table = platform.names.tools_table
    try:
        return ToolStore(platform.clients.dynamodb, table).targets()
    except (ClientError, BotoCoreError) as exc:
        raise OpsError(
            f"cannot read the MCP tools of {platform.env} from {table} ({_aws_reason(exc)}): "
            "the schema of policies over tools is generated from them"
        ) from exc


def _aws_reason(exc: Exception) -> str:
    if isinstance(exc, ClientError):
        return str(exc.response.get("Error", {}).get("Code", "error"))
    return type(exc).__name__


def schema_text(schema: Path, targets: list[Target]) -> str:
    """The Cedar schema policies are checked against: `schema` plus every target's generated tool actions."""
    try:
        base = files.read_text(schema)
    except OSError as exc:
        raise OpsError(f"cannot read the schema {schema}: {exc.strerror}") from exc
    return cedar_schema(base, targets)


# --- before a change: replay, coverage, lint, diff --------------------------------------------------------------

_AGE = re.compile(r"^(?P<n>\d+)(?P<unit>[smhdw])$")
_AGE_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def policy_store(platform: Platform) -> PolicyStore:
    return PolicyStore(platform.clients.dynamodb, platform.names.policies_table)


def parse_age(value: str, option: str) -> timedelta:
    """`90m`, `12h`, `14d`, `2w`: a duration (for an age limit)."""
    match = _AGE.match(value.strip())
    if not match or int(match["n"]) == 0:
        raise Refused(f"{option} {value!r}: give a duration such as 12h, 14d or 2w")
    return timedelta(**{_AGE_UNITS[match["unit"]]: int(match["n"])})


def tool_filter(tool: str) -> str:
    """--tool: one tool (`<target>___<tool>`), or a target's name for every tool of it (its group)."""
    if split_tool_action(tool):
        return tool
    if TARGET_NAME_RE.match(tool):
        return target_group(tool)
    raise Refused(f"--tool {tool!r}: give a tool as <target>___<tool>, or a target's name")


def _refusal(path: Path, problems: list[PolicyProblem]) -> Refused:
    more = f" (and {len(problems) - 1} more: agentctl policy validate {path})" if len(problems) > 1 else ""
    return Refused(f"the candidate is not valid, nothing was replayed: {problems[0]}{more}")


def candidate_policies(platform: Platform, path: Path, schema: Path) -> list[Policy]:
    """The candidate's policies, checked against the environment's schema (base plus its tools)."""
    files.check_policy_files(path)
    text = schema_text(schema, tool_targets(platform))
    try:
        candidate = load_candidate(path, text)
    except PolicyError as exc:
        raise _refusal(path, exc.problems) from exc
    if not candidate:
        raise Refused(f"no policy in {path}: a push of it would be refused, so there is nothing to replay")
    return candidate


@dataclass(frozen=True)
class ReplayQuery:
    path: Path
    on_top: bool
    since: datetime
    principal: str | None = None
    action: str | None = None  # an intent, a tool (`<target>___<tool>`) or a tool group (`target:<target>`)
    examples: int = DEFAULT_EXAMPLES


def replay_candidate(platform: Platform, query: ReplayQuery, schema: Path = DEFAULT_SCHEMA) -> ReplayReport:
    """Decide the recorded requests of the window with the live set and with the candidate set (the candidate,
    or with `on_top` the live set changed by it), as Governance would; nothing is written."""
    candidate = candidate_policies(platform, query.path, schema)
    version, live = policy_store(platform).current()
    merged = candidate_set(candidate, live, on_top=query.on_top)
    log = DecisionLog(platform.clients.dynamodb, platform.names.decision_log_table)
    filters = ReplayFilter(since=query.since.timestamp(), principal=query.principal, intent=query.action)
    return replay(
        log.read(query.since.timestamp()),
        CompiledPolicySet(version, live),
        CompiledPolicySet(version, merged),
        filters=filters,
        on_top=query.on_top,
        examples=query.examples,
    )


def policy_coverage(platform: Platform, since: datetime) -> CoverageReport:
    """Per live policy, the audited decisions since `since` it determined (or, in shadow mode, would have)."""
    version, policies = policy_store(platform).current()
    events = (e.fields for e in platform.logs("governance").read(since, audit=True) if e.fields)
    return coverage(policies, version, events, since=since, until=datetime.now(UTC))


def client_principals(platform: Platform) -> list[str]:
    """The principals that have a client credential (from the secrets' names; no secret is read)."""
    prefix = platform.names.client_secret_prefix
    return [name.removeprefix(prefix) for name in list_secret_names(platform.clients.secretsmanager, prefix)]


def lint_policies(
    platform: Platform, path: Path | None, shadow_max_age: timedelta, schema: Path = DEFAULT_SCHEMA
) -> tuple[str, list[Finding]]:
    """(what was linted, the findings): the policies of `path`, or the live set when None."""
    store = policy_store(platform)
    targets = tool_targets(platform)
    if path is None:
        version, policies = store.current()
        what = f"the live policy set (version {version}) of {platform.env}"
    else:
        files.check_policy_files(path)
        what = str(path)
        try:
            policies = load_policy_path(path)
        except PolicyError as exc:
            return what, [Finding(ERROR, "invalid", p.policy_id, p.source, p.line, p.reason) for p in exc.problems]
    findings = lint(
        policies,
        schema_text(schema, targets),
        principals=client_principals(platform),
        targets=[t.name for t in targets],
        first_stored=store.first_stored(policies),
        shadow_max_age=shadow_max_age,
    )
    return what, findings


def version_diff(platform: Platform, version_a: int | None, version_b: int | None) -> SetDiff:
    """Policy by policy, what changed from version A to version B (default: the previous version to the live)."""
    try:
        return diff_versions(policy_store(platform), version_a, version_b)
    except StoreError as exc:
        raise Refused(str(exc)) from exc
