"""Resource names of the naming contract (docs/architecture.md), derived from PROJECT_NAME.

Terraform declares the same names (infra/); tests/infra keeps the two in step.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

DEFAULT_PROJECT_NAME = "agent-runtime"
_PROJECT_NAME_RE = re.compile(r"^[a-z][a-z0-9-]{1,30}[a-z0-9]$")


def project_name(name: str | None = None) -> str:
    """`name` (by default PROJECT_NAME from the environment), validated: it becomes part of every AWS name."""
    name = os.environ.get("PROJECT_NAME", DEFAULT_PROJECT_NAME) if name is None else name
    if not _PROJECT_NAME_RE.match(name):
        raise ValueError(
            f"PROJECT_NAME {name!r} is not valid: 3-32 characters, lowercase letters, digits and '-', "
            "starting with a letter"
        )
    return name


@dataclass(frozen=True)
class Names:
    """Every AWS resource name that code outside Terraform needs."""

    project: str

    @classmethod
    def from_env(cls) -> Names:
        return cls(project_name())

    @property
    def cluster(self) -> str:
        return f"{self.project}-cluster"

    def service(self, service: str) -> str:
        """ECS service and task-definition family of `axon` or `orbit`."""
        return f"{self.project}-{service}"

    @property
    def governance_function(self) -> str:
        return f"{self.project}-governance"

    governance_alias = "live"

    @property
    def policies_table(self) -> str:
        return f"{self.project}-governance-policies"

    @property
    def rate_limits_table(self) -> str:
        return f"{self.project}-rate-limits"

    @property
    def replay_table(self) -> str:
        return f"{self.project}-replay-cache"

    @property
    def decision_log_table(self) -> str:
        """Every decision's Cedar request, kept a few days for `agentctl policy replay`."""
        return f"{self.project}-decision-log"

    @property
    def tools_table(self) -> str:
        """The MCP targets and their tools (agentctl tools; read by Orbit)."""
        return f"{self.project}-tools"

    def target_secret(self, target: str) -> str:
        """The bearer token of an MCP target whose authentication is `bearer`."""
        return f"{self.project}/targets/{target}"

    def log_group(self, service: str) -> str:
        if service == "governance":
            return f"/aws/lambda/{self.governance_function}"
        return f"/ecs/{self.service(service)}"

    @property
    def secret_prefix(self) -> str:
        return f"{self.project}/"

    @property
    def orbit_signing_key_secret(self) -> str:
        """Orbit's HMAC key for its requests to Axon (Axon reads it to verify)."""
        return f"{self.project}/orbit-signing-key"

    @property
    def client_secret_prefix(self) -> str:
        """One secret per client credential: `<prefix><principal>`."""
        return f"{self.project}/clients/"

    def client_secret(self, principal: str) -> str:
        return f"{self.client_secret_prefix}{principal}"

    @property
    def receipt_private_key_secret(self) -> str:
        """Governance's Ed25519 key that signs decision receipts (only Governance reads it)."""
        return f"{self.project}/governance-receipt-key"

    @property
    def receipt_public_key_secret(self) -> str:
        """The public half, read by Axon to verify receipts."""
        return f"{self.project}/governance-receipt-public-key"

    def ecr_repository(self, service: str) -> str:
        return f"{self.project}/{service}"

    @property
    def metrics_namespace(self) -> str:
        return f"{self.project}/Governance"


#: An intent (a Cedar action id): what a client asks Axon to do.
INTENT_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_.:-]{0,63}$")
