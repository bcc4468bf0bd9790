"""Policy work for agentctl: validate files against the schema, push them as one new version, test cases."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from agentctl.ops import files
from agentctl.ops.errors import Refused
from governance.evaluate import DecisionRequest, evaluate
from governance.policies import CompiledPolicySet, Policy, PolicyError, PolicyProblem, load_policy_path, validate
from governance.rate_limits import RateLimitResult
from governance.store import CONFIG_REFRESH_SECONDS, PolicyStore

REPO_POLICIES = Path(__file__).resolve().parents[3] / "governance" / "policies"
DEFAULT_SCHEMA = REPO_POLICIES / "schema.cedarschema"
_UNLIMITED = RateLimitResult(True, 1, 1, 0, "global")


def load_and_validate(path: Path, schema: Path = DEFAULT_SCHEMA) -> tuple[list[Policy], list[PolicyProblem]]:
    """Parse every policy under `path` and type-check it; problems carry file, line, policy and reason.
    Refused when a file is not one agentctl reads (agentctl.ops.files)."""
    files.check_policy_files(path)
    try:
        policies = load_policy_path(path)
    except PolicyError as exc:
        return [], exc.problems
    try:
        schema_text = files.read_text(schema)
    except OSError as exc:
        return policies, [PolicyProblem(str(schema), 0, None, f"cannot read the schema: {exc.strerror}")]
    return policies, validate(policies, schema_text)


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
        data = yaml.safe_load(files.read_text(path))
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
    return CaseFile((path.parent / policies).resolve(), data["cases"])


def _yaml_problem(exc: yaml.YAMLError) -> str:
    """What is wrong and where, without PyYAML's excerpt of the text (only the named file's place is said)."""
    if isinstance(exc, yaml.MarkedYAMLError) and exc.problem_mark is not None:
        mark = exc.problem_mark
        return f"{exc.problem} (line {mark.line + 1}, column {mark.column + 1})"
    return type(exc).__name__


def _request(case: dict[str, Any]) -> tuple[DecisionRequest, datetime]:
    context = case.get("context") or {}
    if not isinstance(context, dict):
        raise CasesError("context must be a mapping")
    event = {
        "principal": case.get("principal"),
        "intent": case.get("intent"),
        "context": {"user_id": context.get("user_id", ""), "request_id": context.get("request_id", "case")},
        "source_ip": context.get("source_ip", "127.0.0.1"),
        "correlation_id": "policy-test",
        "request_digest": "0" * 64,
    }
    when = context.get("time", "2026-01-05T12:00:00Z")
    if isinstance(when, datetime):
        moment = when if when.tzinfo else when.replace(tzinfo=UTC)
    else:
        try:
            moment = datetime.fromisoformat(str(when).replace("Z", "+00:00"))
        except ValueError as exc:
            raise CasesError(f"context.time {when!r} is not an ISO 8601 time") from exc
    try:
        return DecisionRequest.from_event(event), moment.astimezone(UTC)
    except ValueError as exc:
        raise CasesError(str(exc)) from exc


def run_cases(cases: list[dict[str, Any]], policies: list[Policy], environment: str = "local") -> list[CaseResult]:
    """Decide each case with the real decision function, and compare with what the case expects."""
    policy_set = CompiledPolicySet(0, policies)
    results = []
    for index, case in enumerate(cases, 1):
        name = str(case.get("name") or f"case {index}") if isinstance(case, dict) else f"case {index}"
        try:
            if not isinstance(case, dict):
                raise CasesError("a case must be a mapping")
            expected = case.get("expect")
            if expected not in ("allow", "deny"):
                raise CasesError("expect must be allow or deny")
            request, moment = _request(case)
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
        if "policy_ids" in case and sorted(case["policy_ids"]) != sorted(decision.policy_ids):
            problems.append(f"expected policies {sorted(case['policy_ids'])}, got {sorted(decision.policy_ids)}")
        if "shadow" in case:
            would = decision.shadow["would_allow"] if decision.shadow else decision.allowed
            if ("allow" if would else "deny") != case["shadow"]:
                problems.append(f"expected shadow outcome {case['shadow']}, got {'allow' if would else 'deny'}")
        results.append(CaseResult(name, not problems, expected, actual, decision.policy_ids, "; ".join(problems)))
    return results
