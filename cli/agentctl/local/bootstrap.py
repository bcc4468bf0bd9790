"""Create what the services need in the AWS API (the emulator, or a user's LocalStack). Idempotent.

The same names and key schemas as Terraform (agent_runtime.tables); secrets under `${PROJECT_NAME}/`; the
default policy set from governance/policies/default. Nothing that exists is replaced.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from agent_runtime import keys, receipts
from agent_runtime.names import Names
from agent_runtime.tables import table_definitions
from governance.policies import load_policy_path, validate
from governance.store import PolicyStore

QUICKSTART_PRINCIPAL = "quickstart"


@dataclass
class BootstrapReport:
    created: list[str] = field(default_factory=list)
    existing: list[str] = field(default_factory=list)
    policy_set_version: int = 0


def ensure_tables(dynamodb: Any, names: Names, report: BootstrapReport) -> None:
    for definition in table_definitions(names):
        definition = dict(definition)
        ttl = definition.pop("TimeToLive", None)
        name = definition["TableName"]
        try:
            dynamodb.create_table(**definition)
            report.created.append(f"table {name}")
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "ResourceInUseException":
                raise
            report.existing.append(f"table {name}")
        dynamodb.get_waiter("table_exists").wait(TableName=name, WaiterConfig={"Delay": 0.2, "MaxAttempts": 50})
        if ttl:
            current = dynamodb.describe_time_to_live(TableName=name)["TimeToLiveDescription"]
            if current.get("TimeToLiveStatus") not in ("ENABLED", "ENABLING"):
                dynamodb.update_time_to_live(TableName=name, TimeToLiveSpecification=ttl)
        dynamodb.update_continuous_backups(
            TableName=name, PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True}
        )


def _ensure_secret(
    sm: Any, name: str, make_value: Callable[[], str], description: str, report: BootstrapReport
) -> None:
    try:
        sm.describe_secret(SecretId=name)
        report.existing.append(f"secret {name}")
    except ClientError as exc:
        if exc.response["Error"]["Code"] != "ResourceNotFoundException":
            raise
        sm.create_secret(Name=name, Description=description, SecretString=make_value())
        report.created.append(f"secret {name}")


def ensure_secrets(sm: Any, names: Names, report: BootstrapReport) -> None:
    if keys.ensure_signing_key(sm, names.orbit_signing_key_secret, "orbit"):
        report.created.append(f"secret {names.orbit_signing_key_secret}")
    else:
        report.existing.append(f"secret {names.orbit_signing_key_secret}")

    # The receipt key pair: both halves are created together, or the existing pair is kept.
    pair: dict[str, str] = {}

    def private_pem() -> str:
        pair["private"], pair["public"] = receipts.generate_key_pair()
        return pair["private"]

    _ensure_secret(
        sm,
        names.receipt_private_key_secret,
        private_pem,
        "Governance's Ed25519 key for decision receipts",
        report,
    )
    if pair:
        _ensure_secret(
            sm,
            names.receipt_public_key_secret,
            lambda: pair["public"],
            "Public half of Governance's receipt key",
            report,
        )
    else:
        report.existing.append(f"secret {names.receipt_public_key_secret}")

    try:
        keys.create_client_key(sm, names, QUICKSTART_PRINCIPAL)
        report.created.append(f"secret {names.client_secret(QUICKSTART_PRINCIPAL)}")
    except keys.KeyAdminError:
        report.existing.append(f"secret {names.client_secret(QUICKSTART_PRINCIPAL)}")


def ensure_default_policies(
    dynamodb: Any, names: Names, policies_dir: Path, schema: Path, report: BootstrapReport
) -> None:
    """Push the default policies (upsert: policies added by operators are kept)."""
    policies = load_policy_path(policies_dir)
    problems = validate(policies, schema.read_text(encoding="utf-8"))
    if problems:
        raise ValueError("the default policies are invalid:\n" + "\n".join(str(p) for p in problems))
    version, changed = PolicyStore(dynamodb, names.policies_table).commit(policies)
    report.policy_set_version = version
    (report.created if changed else report.existing).append(f"policy set version {version}")


def bootstrap(dynamodb: Any, sm: Any, names: Names, policies_dir: Path, schema: Path) -> BootstrapReport:
    report = BootstrapReport()
    ensure_tables(dynamodb, names, report)
    ensure_secrets(sm, names, report)
    ensure_default_policies(dynamodb, names, policies_dir, schema, report)
    return report
