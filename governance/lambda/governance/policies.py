"""Cedar policies: parsing with locations, validation against the schema, and the compiled policy set.

Pure functions over text and cedarpy; the DynamoDB side is in store.py, the CLI side in agentctl.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import cedarpy

ENFORCE = "enforce"
SHADOW = "shadow"
_MODES = (ENFORCE, SHADOW)
_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$")
_EMPTY_ENTITIES = cedarpy.Entities.from_json_str("[]")


@dataclass(frozen=True)
class PolicyProblem:
    """One error in a policy file: where it is and why."""

    source: str
    line: int
    policy_id: str | None
    reason: str

    def __str__(self) -> str:
        where = f"{self.source}:{self.line}"
        return f"{where}: {self.policy_id or 'policy'}: {self.reason}"


@dataclass(frozen=True)
class Policy:
    """One Cedar policy, identified by its @id annotation."""

    policy_id: str
    text: str
    json: dict[str, Any]
    mode: str = ENFORCE
    source: str = ""
    line: int = 0

    @property
    def effect(self) -> str:
        return str(self.json["effect"])

    @property
    def description(self) -> str:
        return str(self.json.get("annotations", {}).get("description", ""))

    @property
    def digest(self) -> str:
        return hashlib.sha256(json.dumps(self.json, sort_keys=True).encode()).hexdigest()[:16]


class PolicyError(Exception):
    def __init__(self, problems: list[PolicyProblem]) -> None:
        super().__init__("\n".join(str(p) for p in problems))
        self.problems = problems


# --- parsing ----------------------------------------------------------------------------------------------


def split_statements(text: str) -> list[tuple[int, str]]:
    """Split Cedar text into (first line, statement) at top-level `;`, skipping strings and // comments.

    cedarpy reports parse errors without a location; parsing statement by statement lets us name the line.
    """
    statements: list[tuple[int, str]] = []
    start, line, i, n = 0, 1, 0, len(text)
    start_line: int | None = None
    while i < n:
        ch = text[i]
        if ch == "/" and text.startswith("//", i):
            end = text.find("\n", i)
            i = n if end < 0 else end
            continue
        if ch == '"':
            if start_line is None:
                start_line = line
            i += 1
            while i < n and text[i] != '"':
                if text[i] == "\\":
                    i += 1
                elif text[i] == "\n":
                    line += 1
                i += 1
        elif ch == ";":
            statements.append((start_line or line, text[start : i + 1]))
            start, start_line = i + 1, None
        elif ch == "\n":
            line += 1
        elif not ch.isspace() and start_line is None:
            start_line = line
        i += 1
    rest = text[start:]
    if start_line is not None and _strip_comments(rest).strip():
        statements.append((start_line, rest))
    return statements


def _strip_comments(text: str) -> str:
    return re.sub(r"//[^\n]*", "", text)


def parse_policies(text: str, source: str = "<text>") -> list[Policy]:
    """Parse every policy in `text`; raise PolicyError naming the line of each problem."""
    policies: list[Policy] = []
    problems: list[PolicyProblem] = []
    for line, statement in split_statements(text):
        try:
            parsed = json.loads(cedarpy.policies_to_json_str(statement))
        except ValueError as exc:
            problems.append(PolicyProblem(source, line, _guess_id(statement), f"syntax error: {exc}"))
            continue
        for raw in parsed.get("staticPolicies", {}).values():
            problem, policy = _policy_from_json(raw, source, line)
            if problem:
                problems.append(problem)
            elif policy:
                policies.append(policy)
        if parsed.get("templates"):
            problems.append(PolicyProblem(source, line, _guess_id(statement), "templates are not supported"))
    if problems:
        raise PolicyError(problems)
    return policies


def _guess_id(statement: str) -> str | None:
    match = re.search(r'@id\(\s*"([^"]*)"\s*\)', statement)
    return match.group(1) if match else None


def _policy_from_json(raw: dict[str, Any], source: str, line: int) -> tuple[PolicyProblem | None, Policy | None]:
    annotations = raw.get("annotations", {})
    policy_id = annotations.get("id")
    if not policy_id:
        return PolicyProblem(source, line, None, 'every policy needs an @id("...") annotation'), None
    if not _ID_RE.match(policy_id):
        return PolicyProblem(source, line, policy_id, "@id must be 1-128 of A-Z a-z 0-9 _ . : -"), None
    mode = annotations.get("mode", ENFORCE)
    if mode not in _MODES:
        return PolicyProblem(source, line, policy_id, f'@mode must be "enforce" or "shadow", not "{mode}"'), None
    one = {"staticPolicies": {policy_id: raw}, "templates": {}, "templateLinks": []}
    text = cedarpy.policies_from_json_str(json.dumps(one)).strip()
    return None, Policy(policy_id, text, raw, mode, source, line)


def load_policy_path(path: Path) -> list[Policy]:
    """Every policy of a .cedar file, or of every .cedar file under a folder (sorted by name)."""
    if path.is_dir():
        files = sorted(path.rglob("*.cedar"))
        if not files:
            raise PolicyError([PolicyProblem(str(path), 0, None, "no .cedar file in this folder")])
    elif path.is_file():
        files = [path]
    else:
        raise PolicyError([PolicyProblem(str(path), 0, None, "no such file or folder")])
    policies: list[Policy] = []
    problems: list[PolicyProblem] = []
    for file in files:
        try:
            policies.extend(parse_policies(file.read_text(encoding="utf-8"), str(file)))
        except PolicyError as exc:
            problems.extend(exc.problems)
        except UnicodeDecodeError:
            problems.append(PolicyProblem(str(file), 0, None, "not UTF-8 text"))
    problems.extend(_duplicate_problems(policies))
    if problems:
        raise PolicyError(problems)
    return policies


def _duplicate_problems(policies: Iterable[Policy]) -> list[PolicyProblem]:
    seen: dict[str, Policy] = {}
    problems = []
    for policy in policies:
        if policy.policy_id in seen:
            first = seen[policy.policy_id]
            problems.append(
                PolicyProblem(
                    policy.source,
                    policy.line,
                    policy.policy_id,
                    f"duplicate @id (first at {first.source}:{first.line})",
                )
            )
        else:
            seen[policy.policy_id] = policy
    return problems


def validate(policies: list[Policy], schema_text: str) -> list[PolicyProblem]:
    """Type-check policies against the Cedar schema; an empty list means valid."""
    problems = list(_duplicate_problems(policies))
    if not policies:
        return problems
    combined = {
        "staticPolicies": {p.policy_id: p.json for p in policies},
        "templates": {},
        "templateLinks": [],
    }
    result = cedarpy.validate_policies(cedarpy.policies_from_json_str(json.dumps(combined)), schema_text)
    if not result.validation_passed:
        # cedarpy names policies policy0..N in the order of the text it validated, which is ours.
        by_index = {f"policy{i}": p for i, p in enumerate(policies)}
        for error in result.errors:
            policy = by_index.get(error.policy_id)
            reason = re.sub(r"^for policy `[^`]*`, ", "", error.error)
            problems.append(
                PolicyProblem(
                    policy.source if policy else "<set>",
                    policy.line if policy else 0,
                    policy.policy_id if policy else error.policy_id,
                    reason,
                )
            )
    return problems


def scope_only(policy: Policy) -> Policy:
    """The policy reduced to its scope (principal, action, resource), as an enforced permit without conditions:
    evaluating it answers whether the policy could apply to a request, whatever the request's context."""
    scope = {key: policy.json[key] for key in ("principal", "action", "resource")}
    return Policy(policy.policy_id, "", {"effect": "permit", **scope, "conditions": []}, ENFORCE, policy.source)


# --- evaluation -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Evaluation:
    allowed: bool
    policy_ids: tuple[str, ...]
    errors: tuple[str, ...]


def _scope_excludes(scope: dict[str, Any], entity_type: str, entity_id: str) -> bool:
    """True when a policy's `==` scope names another entity, so the policy cannot apply to this request."""
    if scope.get("op") != "==" or "entity" not in scope:
        return False
    entity = scope["entity"]
    return bool(entity.get("type") != entity_type or entity.get("id") != entity_id)


@dataclass
class CompiledPolicySet:
    """A policy-set version, parsed once. Evaluates on the slice of policies that can match the request.

    Slicing keeps evaluation cost flat as the set grows: a policy whose principal or action scope is
    `== <another entity>` cannot match, so it is left out of the set evaluated for a (principal, intent).
    Anything else (`in`, `is`, conditions) stays in the slice, so slicing never changes a decision.

    Two bounded LRU caches: (principal, intent) -> the ids of its slice (small tuples), and ids -> the parsed
    handle. Requests whose slices hold the same policies share one handle, so intents a client makes up cost a
    tuple each, not a parsed policy set each.
    """

    version: int
    policies: list[Policy]
    selection_cache_size: int = 8192
    handle_cache_size: int = 512
    _selections: OrderedDict[tuple[str, str, str], tuple[str, ...]] = field(
        default_factory=OrderedDict, init=False, repr=False
    )
    _handles: OrderedDict[tuple[str, ...], Any] = field(default_factory=OrderedDict, init=False, repr=False)
    _entity_cache: OrderedDict[tuple[str, tuple[str, ...]], Any] = field(
        default_factory=OrderedDict, init=False, repr=False
    )
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    @staticmethod
    def _cached(cache: OrderedDict, key: Any) -> Any:
        value = cache.get(key)
        if value is not None:
            cache.move_to_end(key)
        return value

    @staticmethod
    def _store(cache: OrderedDict, key: Any, value: Any, size: int) -> None:
        cache[key] = value
        if len(cache) > size:
            cache.popitem(last=False)

    def _slice(self, principal: str, intent: str, mode: str) -> Any:
        key = (principal, intent, mode)
        with self._lock:
            ids = self._cached(self._selections, key)
        if ids is None:
            ids = tuple(
                p.policy_id
                for p in self.policies
                if (mode == SHADOW or p.mode == ENFORCE)
                and not _scope_excludes(p.json.get("principal", {}), "Client", principal)
                and not _scope_excludes(p.json.get("action", {}), "Action", intent)
            )
            with self._lock:
                self._store(self._selections, key, ids, self.selection_cache_size)
        with self._lock:
            handle = self._cached(self._handles, ids)
        if handle is None:
            by_id = {p.policy_id: p.json for p in self.policies}
            chosen = {policy_id: by_id[policy_id] for policy_id in ids}
            handle = cedarpy.PolicySet.from_json_str(
                json.dumps({"staticPolicies": chosen, "templates": {}, "templateLinks": []})
            )
            with self._lock:
                self._store(self._handles, ids, handle, self.handle_cache_size)
        return handle

    @cached_property
    def has_shadow(self) -> bool:
        """Computed once per version: it is asked on every decision."""
        return any(p.mode == SHADOW for p in self.policies)

    def _entities(self, action: str, parents: tuple[str, ...]) -> Any:
        """The action's place in the action hierarchy (a tool action is in `mcp_tools` and its target's group)."""
        if not parents:
            return _EMPTY_ENTITIES
        key = (action, parents)
        with self._lock:
            entities = self._cached(self._entity_cache, key)
        if entities is None:
            group = {"type": "Action", "id": parents[-1]}
            entities = cedarpy.Entities.from_json_str(
                json.dumps(
                    [
                        {
                            "uid": {"type": "Action", "id": action},
                            "attrs": {},
                            "parents": [{"type": "Action", "id": p} for p in parents],
                        },
                        {"uid": group, "attrs": {}, "parents": [{"type": "Action", "id": parents[0]}]},
                    ]
                )
            )
            with self._lock:
                self._store(self._entity_cache, key, entities, self.selection_cache_size)
        return entities

    def evaluate(
        self,
        principal: str,
        action: str,
        context: dict[str, Any],
        *,
        resource: tuple[str, str] = ("Service", "axon"),
        parents: tuple[str, ...] = (),
        with_shadow: bool = False,
    ) -> Evaluation:
        """Cedar's decision for Client::principal doing Action::action on the resource (Service::"axon" for an
        intent, Target::"<target>" for a tool call).

        `with_shadow` evaluates shadow-mode policies too, as if they were enforced (for the audit).
        """
        request = {
            "principal": {"type": "Client", "id": principal},
            "action": {"type": "Action", "id": action},
            "resource": {"type": resource[0], "id": resource[1]},
            "context": context,
        }
        handle = self._slice(principal, action, SHADOW if with_shadow else ENFORCE)
        result = cedarpy.is_authorized(request, handle, self._entities(action, parents))
        return Evaluation(
            allowed=bool(result.allowed),
            policy_ids=tuple(sorted(result.diagnostics.reasons)),
            errors=tuple(sorted(result.diagnostics.errors)),
        )

    def could_allow(self, principal: str, action: str, resource: tuple[str, str], parents: tuple[str, ...]) -> bool:
        """Whether some request of `principal` for `action` could be allowed, whatever its context: False when no
        permit can apply or a forbid applies unconditionally (Cedar's partial evaluation, the context unknown).
        For listing tools only: a call is always decided in full by evaluate()."""
        handle = self._slice(principal, action, ENFORCE)
        request = {  # Cedar's entity syntax; JSON string quoting is Cedar's for these names
            "principal": f"Client::{json.dumps(principal)}",
            "action": f"Action::{json.dumps(action)}",
            "resource": f"{resource[0]}::{json.dumps(resource[1])}",
            "context": None,
        }
        result = cedarpy.is_authorized_partial(request, handle, self._entities(action, parents))
        return result.decision != cedarpy.Decision.Deny
