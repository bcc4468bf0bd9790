"""Coverage: for each live policy, how many decisions it determined, or would have in shadow mode, in a window.

Computed from the audit events (one per decision, see handler.audit), not from the decision log: the audit is the
record of what Governance actually decided. A policy counts as
- enforced: named in `policy_ids` of an allow or deny (the permits that allowed, the forbids that denied, or the
  policies whose evaluation failed, which denies);
- shadow: named in `shadow.policy_ids` (the decision the shadow policies would have made, where it differs).
A policy that neither determined nor would have determined a decision in the window is flagged: it is dead, its
scope names something nobody asks for, or (in shadow mode) it agrees with every decision so far.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from governance.evaluate import ALLOW, DENY
from governance.policies import Policy


@dataclass
class PolicyCoverage:
    policy_id: str
    effect: str
    mode: str
    enforced: int = 0
    shadow: int = 0
    errors: int = 0  # of `enforced`: denials because this policy failed to evaluate

    @property
    def idle(self) -> bool:
        return self.enforced == 0 and self.shadow == 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "policy_id": self.policy_id,
            "effect": self.effect,
            "mode": self.mode,
            "enforced": self.enforced,
            "shadow": self.shadow,
            "evaluation_errors": self.errors,
            "idle": self.idle,
        }


@dataclass
class CoverageReport:
    version: int
    since: datetime | None
    until: datetime | None
    decisions: int = 0  # audited allow/deny decisions in the window
    outcomes: dict[str, int] = field(default_factory=dict)  # every audited outcome, rate_limited and error included
    policies: list[PolicyCoverage] = field(default_factory=list)
    unknown: dict[str, int] = field(default_factory=dict)  # ids named by decisions that are not in the live set

    @property
    def idle(self) -> list[str]:
        return [p.policy_id for p in self.policies if p.idle]

    def to_dict(self) -> dict[str, Any]:
        return {
            "policy_set_version": self.version,
            "since": self.since.isoformat() if self.since else None,
            "until": self.until.isoformat() if self.until else None,
            "decisions": self.decisions,
            "outcomes": dict(sorted(self.outcomes.items())),
            "policies": [p.to_dict() for p in self.policies],
            "idle": self.idle,
            "not_in_live_set": dict(sorted(self.unknown.items())),
        }


def _timestamp(event: dict[str, Any]) -> datetime | None:
    value = event.get("timestamp")
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def _ids(value: Any) -> list[str]:
    return sorted({str(v) for v in value}) if isinstance(value, list) else []


def coverage(
    policies: list[Policy],
    version: int,
    events: Iterable[dict[str, Any]],
    *,
    since: datetime | None = None,
    until: datetime | None = None,
) -> CoverageReport:
    """Count, per policy of the live set, the audited decisions of [since, until] it determined or would have."""
    report = CoverageReport(version, since, until)
    ordered = sorted(policies, key=lambda p: p.policy_id)
    rows = {p.policy_id: PolicyCoverage(p.policy_id, p.effect, p.mode) for p in ordered}
    report.policies = list(rows.values())
    for event in events:
        if event.get("event") != "audit" or event.get("kind") == "list_tools":
            continue
        when = _timestamp(event)
        if (since and (when is None or when < since)) or (until and (when is None or when > until)):
            continue
        enforced_outcome = event.get("enforced_outcome", event.get("outcome"))
        report.outcomes[str(enforced_outcome)] = report.outcomes.get(str(enforced_outcome), 0) + 1
        if enforced_outcome not in (ALLOW, DENY):
            continue
        report.decisions += 1
        errored = bool(event.get("evaluation_errors"))
        for policy_id in _ids(event.get("policy_ids")):
            row = rows.get(policy_id)
            if row is None:
                report.unknown[policy_id] = report.unknown.get(policy_id, 0) + 1
                continue
            row.enforced += 1
            row.errors += errored
        shadow = event.get("shadow")
        for policy_id in _ids(shadow.get("policy_ids") if isinstance(shadow, dict) else None):
            if policy_id in rows:
                rows[policy_id].shadow += 1
    return report
