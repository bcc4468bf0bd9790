"""What changed between two stored policy-set versions, policy by policy, as unified diffs of the policy text.

The store keeps every version (store.py), and every audited decision names the version that made it, so an operator
can see what a decision was decided under and what changed since.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Any

import cedarpy

from governance.policies import Policy
from governance.store import PolicyStore, StoreError

ADDED = "added"
REMOVED = "removed"
CHANGED = "changed"


@dataclass(frozen=True)
class PolicyChange:
    policy_id: str
    change: str  # added | removed | changed
    diff: str  # unified diff of the policy text, from version A to version B

    def to_dict(self) -> dict[str, Any]:
        return {"policy_id": self.policy_id, "change": self.change, "diff": self.diff}


@dataclass(frozen=True)
class SetDiff:
    version_a: int
    version_b: int
    changes: list[PolicyChange]
    unchanged: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "version_a": self.version_a,
            "version_b": self.version_b,
            "changes": [c.to_dict() for c in self.changes],
            "unchanged": self.unchanged,
        }


def diff_policies(before: list[Policy], after: list[Policy], label_a: str, label_b: str) -> list[PolicyChange]:
    """Per policy id, sorted: added, removed or changed (its text differs), with the unified diff."""
    old = {p.policy_id: p for p in before}
    new = {p.policy_id: p for p in after}
    changes = []
    for policy_id in sorted(old.keys() | new.keys()):
        a, b = old.get(policy_id), new.get(policy_id)
        if a is not None and b is not None and a.json == b.json:
            continue
        change = ADDED if a is None else REMOVED if b is None else CHANGED
        lines = difflib.unified_diff(
            _lines(a),
            _lines(b),
            fromfile=f"{label_a}/{policy_id}" if a else "/dev/null",
            tofile=f"{label_b}/{policy_id}" if b else "/dev/null",
        )
        changes.append(PolicyChange(policy_id, change, "".join(lines)))
    return changes


def _lines(policy: Policy | None) -> list[str]:
    """The policy as Cedar's formatter lays it out (the store keeps a one-line rendering): one clause a line."""
    if policy is None:
        return []
    return [line + "\n" for line in cedarpy.format_policies(policy.text).rstrip("\n").split("\n")]


def diff_versions(store: PolicyStore, version_a: int | None = None, version_b: int | None = None) -> SetDiff:
    """Version A against version B. Neither given: the version before the live one against the live one; only A:
    A against the live one. Version 0 is the empty set (before the first push)."""
    live = store.read_config().version
    if version_b is None:
        version_b = live
    if version_a is None:
        version_a = max(version_b - 1, 0)
    for version in (version_a, version_b):
        if version < 0 or version > live:
            raise StoreError(f"policy-set version {version} does not exist (the live version is {live})")
    before, after = store.load(version_a), store.load(version_b)
    changes = diff_policies(before, after, f"v{version_a}", f"v{version_b}")
    changed_ids = {c.policy_id for c in changes}
    unchanged = len({p.policy_id for p in after} - changed_ids)
    return SetDiff(version_a, version_b, changes, unchanged)
