"""Lint: what a policy set says that it probably does not mean, beyond what the schema refuses.

Findings, each with the policy id, its source and line, and a level (an error fails `agentctl policy lint`):
- error `invalid`: the schema refuses the policy (policies.validate);
- error `overridden-permit`: a permit that unconditional enforced forbids always override: it can never allow;
- error `unknown-principal`, `unknown-action`, `unknown-target`: the scope names a client no credential has, an
  intent or tool the schema does not declare, or a target that is not stored: the policy can never apply (a typo
  in a forbid is a hole);
- warning `stale-shadow`: a shadow policy whose text was first stored longer ago than the allowed age: enforce it
  or remove it;
- warning `duplicate`: two policies with the same effect and text, apart from their annotations.

Whether a forbid always overrides a permit is answered by Cedar itself, on representative requests: the principals
and actions the scopes name, plus one principal, one intent, one tool of each named target and one tool of another
target that no scope names (each stands for every name not mentioned, which no scope can tell apart). The resource
follows from the action, as Orbit builds requests: Service::"axon" for an intent, Target::"<target>" for a tool.
A permit is overridden when every representative request its scope matches is matched by an unconditional enforced
forbid; an intent or tool added later is represented too, so such a permit stays overridden whatever is added.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import cedarpy

from agent_runtime.tools import BUILTIN_TARGET, TOOLS_GROUP, split_tool_action, target_group, tool_action
from governance.policies import ENFORCE, SHADOW, CompiledPolicySet, Policy, scope_only, validate

ERROR = "error"
WARNING = "warning"
DEFAULT_SHADOW_MAX_AGE = timedelta(days=14)
AXON_SERVICE = "axon"  # the one Service Orbit asks about
_OTHER = "?other"  # a name no client, intent, tool or target can have: "any name the scopes do not mention"
_UNRECOGNIZED_ACTION = "unrecognized action"
_NO_APPLICABLE_ACTION = "unable to find an applicable action"


@dataclass(frozen=True)
class Finding:
    level: str
    code: str
    policy_id: str | None
    source: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.source}:{self.line}: {self.level}: {self.policy_id or 'policy'}: {self.message} [{self.code}]"

    def to_dict(self) -> dict[str, Any]:
        return {
            "level": self.level,
            "code": self.code,
            "policy_id": self.policy_id,
            "source": self.source,
            "line": self.line,
            "message": self.message,
        }


def has_errors(findings: Iterable[Finding]) -> bool:
    return any(f.level == ERROR for f in findings)


def lint(
    policies: list[Policy],
    schema_text: str,
    *,
    principals: Iterable[str] | None = None,
    targets: Iterable[str] | None = None,
    first_stored: dict[str, datetime] | None = None,
    shadow_max_age: timedelta = DEFAULT_SHADOW_MAX_AGE,
    now: datetime | None = None,
) -> list[Finding]:
    """Every finding, sorted by source and line. `principals` (the clients that have credentials) and `targets`
    (the stored MCP targets) are not checked when None; `first_stored` maps policy ids to when their text was first
    stored (store.first_stored), for the age of shadow policies."""
    findings = _unknown_names(
        policies,
        schema_text,
        frozenset(principals) if principals is not None else None,
        frozenset(targets) | {BUILTIN_TARGET} if targets is not None else None,
    )
    unknown_actions = {f.policy_id for f in findings if f.code == "unknown-action"}
    for problem in validate(policies, schema_text):
        if problem.policy_id in unknown_actions and (
            _UNRECOGNIZED_ACTION in problem.reason or _NO_APPLICABLE_ACTION in problem.reason
        ):
            continue  # said once, as the unknown action
        findings.append(Finding(ERROR, "invalid", problem.policy_id, problem.source, problem.line, problem.reason))
    findings += _overridden_permits(policies)
    findings += _stale_shadows(policies, first_stored or {}, shadow_max_age, now or datetime.now(UTC))
    findings += _duplicates(policies)
    return sorted(findings, key=lambda f: (f.source, f.line, f.policy_id or "", f.code, f.message))


def _finding(level: str, code: str, policy: Policy, message: str) -> Finding:
    return Finding(level, code, policy.policy_id, policy.source, policy.line, message)


# --- names the scope uses -----------------------------------------------------------------------------------


def _scope_entities(scope: dict[str, Any]) -> list[dict[str, str]]:
    """The entities a principal, action or resource scope names (`==`, `in`, `in [...]`, `is ... in`)."""
    named = []
    if isinstance(scope.get("entity"), dict):
        named.append(scope["entity"])
    named += [e for e in scope.get("entities", []) if isinstance(e, dict)]
    if isinstance(scope.get("in"), dict) and isinstance(scope["in"].get("entity"), dict):
        named.append(scope["in"]["entity"])
    return named


def _declared(action: str, schema_text: str) -> bool:
    """Whether the schema declares the action (an intent, a tool or an action group): Cedar's validator says."""
    probe = {
        "staticPolicies": {
            "probe": {
                "effect": "permit",
                "principal": {"op": "All"},
                "action": {"op": "in", "entity": {"type": "Action", "id": action}},
                "resource": {"op": "All"},
                "conditions": [],
            }
        },
        "templates": {},
        "templateLinks": [],
    }
    result = cedarpy.validate_policies(cedarpy.policies_from_json_str(json.dumps(probe)), schema_text)
    return not any(_UNRECOGNIZED_ACTION in e.error for e in result.errors)


def _unknown_names(
    policies: list[Policy],
    schema_text: str,
    principals: frozenset[str] | None,
    targets: frozenset[str] | None,
) -> list[Finding]:
    findings = []
    declared: dict[str, bool] = {}
    for policy in policies:
        for entity in _scope_entities(policy.json.get("principal", {})):
            if principals is not None and entity.get("type") == "Client" and entity.get("id") not in principals:
                message = f'no client has the principal "{entity["id"]}" (agentctl keys create)'
                findings.append(_finding(ERROR, "unknown-principal", policy, message))
        for entity in _scope_entities(policy.json.get("action", {})):
            action = str(entity.get("id"))
            if action not in declared:
                declared[action] = _declared(action, schema_text)
            if not declared[action]:
                findings.append(_finding(ERROR, "unknown-action", policy, _unknown_action(action)))
        for entity in _scope_entities(policy.json.get("resource", {})):
            kind, name = entity.get("type"), entity.get("id")
            if kind == "Target" and targets is not None and name not in targets:
                message = f'no target "{name}" is stored (agentctl tools add)'
                findings.append(_finding(ERROR, "unknown-target", policy, message))
            elif kind == "Service" and name != AXON_SERVICE:
                message = f'Service::"{name}" is never asked about: intents act on Service::"{AXON_SERVICE}"'
                findings.append(_finding(ERROR, "unknown-target", policy, message))
    return findings


def _unknown_action(action: str) -> str:
    if action.startswith(target_group("")):
        return f'no target "{action.removeprefix(target_group(""))}" in the schema (agentctl tools add, then sync)'
    if split_tool_action(action):
        return f'no tool "{action}" in the schema (agentctl tools sync)'
    return f'no intent "{action}" in the schema'


# --- permits that a forbid always overrides -----------------------------------------------------------------


def _representative_requests(policies: list[Policy]) -> list[tuple[str, str, tuple[str, str], tuple[str, ...]]]:
    """(principal, action, resource, action groups) for every class of request the scopes can tell apart."""
    principals, actions, targets = {_OTHER}, {_OTHER}, {_OTHER}
    for policy in policies:
        for entity in _scope_entities(policy.json.get("principal", {})):
            if entity.get("type") == "Client":
                principals.add(str(entity["id"]))
        for entity in _scope_entities(policy.json.get("action", {})):
            action = str(entity.get("id"))
            if action.startswith(target_group("")):
                targets.add(action.removeprefix(target_group("")))
            elif action != TOOLS_GROUP:
                actions.add(action)
        for entity in _scope_entities(policy.json.get("resource", {})):
            if entity.get("type") == "Target":
                targets.add(str(entity["id"]))
    tools = {tool_action(target, _OTHER): target for target in targets}
    requests = []
    for principal in sorted(principals):
        for action in sorted(actions | tools.keys()):
            split = split_tool_action(action)
            target = tools.get(action) or (split[0] if split else None)
            if target is None:
                requests.append((principal, action, ("Service", AXON_SERVICE), ()))
            else:
                requests.append((principal, action, ("Target", target), (TOOLS_GROUP, target_group(target))))
    return requests


def _overridden_permits(policies: list[Policy]) -> list[Finding]:
    permits = [p for p in policies if p.effect == "permit"]
    forbids = [p for p in policies if p.effect == "forbid" and p.mode == ENFORCE and not p.json.get("conditions")]
    if not permits or not forbids:
        return []
    scopes = CompiledPolicySet(0, [scope_only(p) for p in {p.policy_id: p for p in permits + forbids}.values()])
    forbid_ids = {p.policy_id for p in forbids}
    matched_by: dict[str, list[set[str]]] = {p.policy_id: [] for p in permits}
    for principal, action, resource, parents in _representative_requests(permits + forbids):
        matching = set(scopes.evaluate(principal, action, {}, resource=resource, parents=parents).policy_ids)
        for policy_id in matching & matched_by.keys():
            matched_by[policy_id].append(matching & forbid_ids)
    findings = []
    by_id = {p.policy_id: p for p in forbids}
    for permit in permits:
        requests = matched_by[permit.policy_id]
        if requests and all(requests):
            overriding = sorted(set().union(*requests))
            named = ", ".join(f"{i} ({by_id[i].source}:{by_id[i].line})" for i in overriding)
            message = f"never allows anything: the unconditional forbid {named} always overrides it"
            findings.append(_finding(ERROR, "overridden-permit", permit, message))
    return findings


# --- age and duplicates -------------------------------------------------------------------------------------


def _stale_shadows(
    policies: list[Policy], first_stored: dict[str, datetime], max_age: timedelta, now: datetime
) -> list[Finding]:
    findings = []
    for policy in policies:
        stored = first_stored.get(policy.policy_id)
        if policy.mode != SHADOW or stored is None:
            continue
        age = now - (stored if stored.tzinfo else stored.replace(tzinfo=UTC))
        if age > max_age:
            message = (
                f"in shadow mode since {stored:%Y-%m-%d} ({age.days} days, more than {_days(max_age)}): "
                'enforce it (remove @mode("shadow")) or remove it'
            )
            findings.append(_finding(WARNING, "stale-shadow", policy, message))
    return findings


def _days(age: timedelta) -> str:
    return f"{age.days}d" if age.days and not age.seconds else f"{age.total_seconds():g}s"


def _duplicates(policies: list[Policy]) -> list[Finding]:
    first: dict[str, Policy] = {}
    findings = []
    for policy in sorted(policies, key=lambda p: (p.source, p.line, p.policy_id)):
        key = json.dumps({k: v for k, v in policy.json.items() if k != "annotations"}, sort_keys=True)
        original = first.setdefault(key, policy)
        if original is not policy:
            message = (
                f"same effect and text as {original.policy_id} ({original.source}:{original.line}), "
                "apart from annotations"
            )
            findings.append(_finding(WARNING, "duplicate", policy, message))
    return findings
