"""Scan the local stack's logs for any secret value (part of scripts/security-audit.sh).

Reads every secret under `${PROJECT_NAME}/` from the stack's AWS API (current and previous versions: client
secrets, Orbit's signing key, Governance's receipt key) and looks for each of them, and for any full SigV4
signature, in every log file of the stack. When no stack is running, it starts a throw-away one on free ports,
sends it genuine and forged traffic (so that every code path that logs has run), scans, and stops it.
Exit 1 when anything is found.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
_SIGNATURE = re.compile(r"Signature=[0-9a-f]{64}")


def _agentctl(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - our own CLI
        [str(BIN / "agentctl"), *args], env=env, cwd=ROOT, capture_output=True, text=True, timeout=300, check=False
    )


@contextlib.contextmanager
def stack_env() -> Iterator[dict[str, str]]:
    """The environment of a running stack: the current one, or a throw-away one."""
    from agentctl.local.lifecycle import locate
    from agentctl.local.processes import free_ports
    from agentctl.local.supervisor import program_states
    from agentctl.settings import Settings

    current = locate(Settings.from_env())
    if program_states(current):
        yield {**os.environ}
        return
    with tempfile.TemporaryDirectory(prefix="audit-stack-") as state:
        orbit, axon, governance, emulator = free_ports(4)
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        env.update(
            AGENT_RUNTIME_STATE_DIR=state,
            ORBIT_PORT=str(orbit),
            AXON_PORT=str(axon),
            GOVERNANCE_PORT=str(governance),
            AWS_EMULATOR_PORT=str(emulator),
            ENVIRONMENT="local",
        )
        deployed = _agentctl(env, "deploy")
        if deployed.returncode != 0:
            raise SystemExit(f"audit: could not start a local stack: {deployed.stderr.strip()}")
        try:
            _exercise(env, f"http://127.0.0.1:{orbit}")
            yield env
        finally:
            _agentctl(env, "down")


def _exercise(env: dict[str, str], orbit_url: str) -> None:
    """Traffic that makes every logging path run: allows, denials, forgeries, key rotation."""
    import requests

    _agentctl(env, "keys", "create", "audit-client")
    _agentctl(env, "keys", "rotate", "audit-client")
    _agentctl(env, "keys", "rotate-service", "orbit")
    for intent in ("call_reasoning", "summarize"):
        _agentctl(env, "dispatch", "--intent", intent, "--context", json.dumps({"request_id": str(uuid.uuid4())}))
    forged = {
        "Authorization": "AWS4-HMAC-SHA256 Credential=AKARAUDIT/20260101/us-east-1/execute-api/aws4_request, "
        "SignedHeaders=host;x-amz-date, Signature=" + "0" * 64,
        "X-Amz-Date": "20260101T000000Z",
    }
    for headers in ({}, forged):
        with contextlib.suppress(requests.RequestException):
            requests.post(f"{orbit_url}/dispatch", json={"intent": "call_reasoning"}, headers=headers, timeout=10)


def secret_values(env: dict[str, str]) -> tuple[list[str], Path]:
    """Every secret value of the project, in the forms that could leak (the key itself, PEM lines)."""
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(env)
    try:
        from agent_runtime import aws
        from agentctl.local.lifecycle import locate
        from agentctl.settings import Settings

        stack = locate(Settings.from_env())
        os.environ.update(stack.aws_env())
        sm = aws.client("secretsmanager")
        values: list[str] = []
        paginator = sm.get_paginator("list_secrets")
        for page in paginator.paginate(Filters=[{"Key": "name", "Values": [stack.names.secret_prefix]}]):
            for secret in page["SecretList"]:
                for stage in ("AWSCURRENT", "AWSPREVIOUS"):
                    with contextlib.suppress(sm.exceptions.ResourceNotFoundException):
                        text = sm.get_secret_value(SecretId=secret["Name"], VersionStage=stage)["SecretString"]
                        values.extend(_sensitive_parts(text))
        return sorted(set(values)), stack.path("logs")
    finally:
        os.environ.clear()
        os.environ.update(saved)


def _sensitive_parts(text: str) -> list[str]:
    with contextlib.suppress(ValueError, AttributeError):
        data = json.loads(text)
        if isinstance(data, dict) and "secret_access_key" in data:
            return [str(data["secret_access_key"])]
    if "PRIVATE KEY" in text:
        return [line for line in text.splitlines() if len(line) > 20 and "-----" not in line]
    return []  # public keys are not secret


def scan(logs: Path, secrets: list[str]) -> list[str]:
    findings = []
    for log in sorted(logs.glob("*.log*")):
        content = log.read_text(errors="replace")
        findings.extend(f"{log.name}: contains a secret value" for secret in secrets if secret in content)
        if _SIGNATURE.search(content):
            findings.append(f"{log.name}: contains a full SigV4 signature")
    return findings


def main() -> int:
    with stack_env() as env:
        secrets, logs = secret_values(env)
        if not secrets:
            print("audit: found no secret to look for", file=sys.stderr)
            return 1
        findings = scan(logs, secrets)
    for finding in findings:
        print(f"audit: {finding}", file=sys.stderr)
    print(f"log scan: {len(secrets)} secret values looked for in {logs}; {len(findings)} finding(s)")
    return 1 if findings else 0


if __name__ == "__main__":
    sys.exit(main())
