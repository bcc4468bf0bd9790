"""Replay: decide recorded requests again, with the live policy set and with a candidate, and report what changes.

A record of the decision log (agent_runtime.decision_log) is the Cedar request Governance evaluated: principal,
action, resource, the action's groups and the context with its time. Both sets decide it with Governance's own
function (`evaluate.cedar_decision`: default deny, a forbid beats any permit, an evaluation error denies, shadow
policies never enforced), so a replay says what the candidate would decide if it were pushed, request for request.

What a replay cannot know:
- rate limits: a record is decided as if within its limits (the counters of the time are gone);
- a tool call recorded without its arguments (the operator did not turn recording on for the target) when a policy
  that could apply to it reads `context.input`: it is counted as not replayable, with the policies that read.

The report is deterministic: counts do not depend on the order records are read in, and the examples of each group
are its earliest decisions (by time, then decision id).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from agent_runtime.decision_log import DecisionRecord
from governance.evaluate import Decision, cedar_decision
from governance.policies import (
    SHADOW,
    CompiledPolicySet,
    Policy,
    PolicyError,
    load_policy_path,
    scope_only,
    validate,
)

NO_PERMIT = "(no permit applies)"
RATE_LIMITS_NOTE = "rate limits are not replayed: every recorded request is decided as if within its limits"
DEFAULT_EXAMPLES = 3


def load_candidate(path: Path, schema_text: str) -> list[Policy]:
    """The candidate's policies, parsed and checked against the schema; PolicyError names file and line."""
    policies = load_policy_path(path)
    problems = validate(policies, schema_text)
    if problems:
        raise PolicyError(problems)
    return policies


def candidate_set(candidate: list[Policy], live: list[Policy], *, on_top: bool) -> list[Policy]:
    """The policy set the candidate would make: itself (a whole replacement, `policy push --replace`), or the live
    set with the candidate's policies added or replacing those of the same @id (`policy push`)."""
    if not on_top:
        return list(candidate)
    merged = {p.policy_id: p for p in live}
    merged.update({p.policy_id: p for p in candidate})
    return sorted(merged.values(), key=lambda p: p.policy_id)


@dataclass(frozen=True)
class ReplayFilter:
    """Which records to replay. `intent` matches a record's action (an intent, or a tool as `<target>___<tool>`)
    or one of the action's groups (`target:<target>` for every tool of a target, `mcp_tools` for every tool)."""

    since: float | None = None
    until: float | None = None
    principal: str | None = None
    intent: str | None = None

    def matches(self, record: DecisionRecord) -> bool:
        if self.since is not None and record.at < self.since:
            return False
        if self.until is not None and record.at > self.until:
            return False
        if self.principal is not None and record.principal != self.principal:
            return False
        return self.intent is None or self.intent == record.action or self.intent in record.parents

    def to_dict(self) -> dict[str, Any]:
        return {
            "since": _iso(self.since) if self.since is not None else None,
            "until": _iso(self.until) if self.until is not None else None,
            "principal": self.principal,
            "intent": self.intent,
        }


def _iso(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass
class Group:
    """The records one policy (or the absence of any permit) accounts for, with the earliest few as examples."""

    policy_id: str
    count: int = 0
    examples: list[DecisionRecord] = field(default_factory=list)

    def add(self, record: DecisionRecord, keep: int) -> None:
        self.count += 1
        self.examples.append(record)
        if len(self.examples) > keep:
            self.examples.sort(key=lambda r: (r.at, r.decision_id))
            del self.examples[keep:]

    def to_dict(self) -> dict[str, Any]:
        return {
            "policy_id": self.policy_id,
            "count": self.count,
            "examples": [example(r) for r in sorted(self.examples, key=lambda r: (r.at, r.decision_id))],
        }


def example(record: DecisionRecord) -> dict[str, Any]:
    shown: dict[str, Any] = {
        "decision_id": record.decision_id,
        "principal": record.principal,
        "intent": record.action,
        "time": _iso(record.at),
    }
    if record.target:
        shown.update(target=record.target, tool=record.tool)
    return shown


@dataclass
class Outcome:
    """One kind of result (allow->deny, deny->allow, not replayable, shadow), by responsible policy."""

    count: int = 0
    groups: dict[str, Group] = field(default_factory=dict)

    def add(self, record: DecisionRecord, policy_ids: Iterable[str], keep: int) -> None:
        self.count += 1
        for policy_id in sorted(set(policy_ids)) or [NO_PERMIT]:
            self.groups.setdefault(policy_id, Group(policy_id)).add(record, keep)

    def to_dict(self) -> dict[str, Any]:
        groups = sorted(self.groups.values(), key=lambda g: (-g.count, g.policy_id))
        return {"count": self.count, "by_policy": [g.to_dict() for g in groups]}


@dataclass
class ReplayReport:
    live_version: int
    candidate_policies: int
    on_top: bool
    filters: ReplayFilter
    considered: int = 0  # records that matched the filters
    unchanged: int = 0
    other_versions: int = 0  # records decided under another version than the live one
    allow_to_deny: Outcome = field(default_factory=Outcome)
    deny_to_allow: Outcome = field(default_factory=Outcome)
    not_replayable: Outcome = field(default_factory=Outcome)
    shadow: Outcome = field(default_factory=Outcome)  # the candidate's shadow policies would change its outcome

    @property
    def replayed(self) -> int:
        return self.considered - self.not_replayable.count

    @property
    def changed(self) -> bool:
        return bool(self.allow_to_deny.count or self.deny_to_allow.count)

    def to_dict(self) -> dict[str, Any]:
        return {
            "live_version": self.live_version,
            "candidate": {"policies": self.candidate_policies, "on_top": self.on_top},
            "filters": self.filters.to_dict(),
            "considered": self.considered,
            "replayed": self.replayed,
            "unchanged": self.unchanged,
            "changed": self.changed,
            "allow_to_deny": self.allow_to_deny.to_dict(),
            "deny_to_allow": self.deny_to_allow.to_dict(),
            "not_replayable": self.not_replayable.to_dict(),
            "shadow": self.shadow.to_dict(),
            "decided_under_other_versions": self.other_versions,
            "rate_limits": RATE_LIMITS_NOTE,
        }


def reads_context_input(expression: Any) -> bool:
    """Whether a policy's conditions (its EST JSON) can read `context.input`: `context.input...`,
    `context has input`, or the context as a whole (compared, or passed anywhere)."""
    if isinstance(expression, list):
        return any(reads_context_input(e) for e in expression)
    if not isinstance(expression, dict):
        return False
    if expression.get("Var") == "context":
        return True
    for operator in (".", "has"):
        access = expression.get(operator)
        if isinstance(access, dict) and access.get("left") == {"Var": "context"}:
            return access.get("attr") == "input"
    return any(reads_context_input(value) for key, value in expression.items() if key != "Value")


class _InputReaders:
    """The policies of a set that read `context.input`, and which of them could apply to a record."""

    def __init__(self, policies: list[Policy]) -> None:
        readers = [p for p in policies if reads_context_input(p.json.get("conditions", []))]
        self._modes = {p.policy_id: p.mode for p in readers}
        self._scopes = CompiledPolicySet(0, [replace(scope_only(p), mode=p.mode) for p in readers])

    def applying(self, record: DecisionRecord, *, with_shadow: bool) -> tuple[str, ...]:
        if not self._modes:
            return ()
        evaluation = self._scopes.evaluate(
            record.principal,
            record.action,
            {},
            resource=record.resource,
            parents=record.parents,
            with_shadow=with_shadow,
        )
        return evaluation.policy_ids


def _decide(policy_set: CompiledPolicySet, record: DecisionRecord) -> Decision:
    return cedar_decision(
        policy_set,
        record.principal,
        record.action,
        record.context,
        resource=record.resource,
        parents=record.parents,
    )


def replay(
    records: Iterable[DecisionRecord],
    live: CompiledPolicySet,
    candidate: CompiledPolicySet,
    *,
    filters: ReplayFilter | None = None,
    on_top: bool = False,
    examples: int = DEFAULT_EXAMPLES,
) -> ReplayReport:
    """Decide each record (that the filters select) with the live set and with the candidate, as Governance
    would, and count what changes, by the candidate's policies that decided the new outcome."""
    filters = filters or ReplayFilter()
    report = ReplayReport(live.version, len(candidate.policies), on_top, filters)
    shadow_ids = {p.policy_id for p in candidate.policies if p.mode == SHADOW}
    live_readers, candidate_readers = _InputReaders(live.policies), _InputReaders(candidate.policies)
    for record in records:
        if not filters.matches(record):
            continue
        report.considered += 1
        if record.policy_set_version != live.version:
            report.other_versions += 1
        if not record.arguments_recorded:
            reading = live_readers.applying(record, with_shadow=False) + candidate_readers.applying(
                record, with_shadow=False
            )
            if reading:
                report.not_replayable.add(record, reading, examples)
                continue
        before, after = _decide(live, record), _decide(candidate, record)
        if before.allowed and not after.allowed:
            report.allow_to_deny.add(record, after.policy_ids, examples)
        elif after.allowed and not before.allowed:
            report.deny_to_allow.add(record, after.policy_ids, examples)
        else:
            report.unchanged += 1
        shadow_known = record.arguments_recorded or not candidate_readers.applying(record, with_shadow=True)
        if after.shadow and shadow_known:
            ids = after.shadow["policy_ids"]
            report.shadow.add(record, [i for i in ids if i in shadow_ids] or ids, examples)
    return report
