"""The governance Lambda's side of the runbook: published versions, the `live` alias, reserved concurrency."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from agent_runtime.names import Names
from agentctl.ops.errors import Refused


def alias_version(lam: Any, names: Names) -> str:
    """The version the `live` alias points at (what Orbit invokes)."""
    try:
        return lam.get_alias(FunctionName=names.governance_function, Name=names.governance_alias)["FunctionVersion"]
    except ClientError as exc:
        if exc.response["Error"]["Code"] == "ResourceNotFoundException":
            raise Refused(
                f"the Lambda {names.governance_function} or its alias {names.governance_alias!r} does not exist"
            ) from exc
        raise


def published_versions(lam: Any, names: Names) -> list[int]:
    """Every published version number of the governance function, ascending ($LATEST is not a version)."""
    versions = []
    for page in lam.get_paginator("list_versions_by_function").paginate(FunctionName=names.governance_function):
        versions.extend(int(v["Version"]) for v in page.get("Versions", []) if v["Version"].isdigit())
    return sorted(versions)


def rollback_target(lam: Any, names: Names, current: str, to_version: int | None) -> str:
    """The version to move `live` to: `to_version`, or the newest published version before the current one."""
    versions = published_versions(lam, names)
    if not current.isdigit():
        raise Refused(f"the alias {names.governance_alias!r} points at {current}, not a published version")
    if to_version is not None:
        if str(to_version) == current:
            raise Refused(f"{names.governance_alias!r} already points at version {to_version}; nothing to roll back")
        if to_version not in versions:
            raise Refused(
                f"version {to_version} of {names.governance_function} does not exist "
                f"(published: {', '.join(map(str, versions)) or 'none'})"
            )
        return str(to_version)
    earlier = [v for v in versions if v < int(current)]
    if not earlier:
        raise Refused(f"nothing to roll back to: {names.governance_function} has no published version before {current}")
    return str(earlier[-1])


def move_alias(lam: Any, names: Names, version: str) -> None:
    lam.update_alias(FunctionName=names.governance_function, Name=names.governance_alias, FunctionVersion=version)


def state(lam: Any, names: Names) -> dict[str, Any]:
    """State of the version behind `live`: State, LastUpdateStatus, Version, CodeSha256, LastModified."""
    config = lam.get_function_configuration(FunctionName=names.governance_function, Qualifier=names.governance_alias)
    return {
        "version": config.get("Version"),
        "state": config.get("State", "Active"),
        "last_update_status": config.get("LastUpdateStatus", "Successful"),
        "state_reason": config.get("StateReason"),
        "code_sha256": config.get("CodeSha256"),
        "last_modified": config.get("LastModified"),
    }


def reserved_concurrency(lam: Any, names: Names) -> int | None:
    """The function's reserved concurrency, or None when it has none (it shares the account's pool)."""
    return lam.get_function_concurrency(FunctionName=names.governance_function).get("ReservedConcurrentExecutions")


def set_reserved_concurrency(lam: Any, names: Names, value: int | None) -> None:
    """Set (or, with None, remove) the reserved concurrency. 0 means: every invocation is throttled."""
    if value is None:
        lam.delete_function_concurrency(FunctionName=names.governance_function)
    else:
        lam.put_function_concurrency(FunctionName=names.governance_function, ReservedConcurrentExecutions=value)
