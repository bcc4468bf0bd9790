"""The local stack's lifecycle: find it, bring it up (idempotent), wait until it is healthy, take it down."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import requests

from agentctl.local import supervisor
from agentctl.local.bootstrap import bootstrap
from agentctl.local.config import LocalStack
from agentctl.local.processes import port_in_use, port_owner, stack_processes, terminate, wait_ports_free
from agentctl.ops.errors import OpsError, WaitTimeout
from agentctl.ops.platform import AwsClients
from agentctl.ops.waiting import Progress, wait_for
from agentctl.settings import REPO_ROOT, Ports, Settings

#: How often the stack's own waits look (its programs start within seconds).
POLL_SECONDS = 0.2


def locate(settings: Settings) -> LocalStack:
    """The stack that is running in the state folder, or the one the settings describe."""
    saved = settings.state_dir / "stack.json"
    if saved.exists() and supervisor.alive(settings.state_dir):
        data = json.loads(saved.read_text())
        return LocalStack(
            settings.state_dir,
            Ports(**data["ports"]),
            data["project"],
            data["region"],
            data.get("external_endpoint"),
        )
    return LocalStack(
        settings.state_dir, settings.ports, settings.names.project, settings.local_region, settings.local_endpoint
    )


def wait_ready(what: str, answers: Callable[[], bool], timeout: float, log: Path | None = None) -> None:
    """Wait until `answers()` is true (an exception counts as not yet); OpsError naming the log otherwise."""

    def check() -> tuple[bool, str]:
        with contextlib.suppress(Exception):
            ready = answers()
            return ready, "ready" if ready else "not ready"
        return False, "not answering"

    try:
        wait_for(what, check, timeout, Progress(), interval=POLL_SECONDS)
    except WaitTimeout as exc:
        hint = f"; see {log}" if log else ""
        raise OpsError(f"{what} did not become ready within {timeout:.0f}s{hint}") from exc


def _emulator_answers(endpoint: str) -> bool:
    """A cheap DynamoDB ListTables: the emulator is up and serving the API (it checks no signature)."""
    response = requests.post(
        endpoint,
        data=b"{}",
        timeout=2,
        headers={
            "X-Amz-Target": "DynamoDB_20120810.ListTables",
            "Content-Type": "application/x-amz-json-1.0",
            "Authorization": "AWS4-HMAC-SHA256 Credential=testing/20200101/us-east-1/dynamodb/aws4_request, "
            "SignedHeaders=host, Signature=0",
        },
    )
    return response.status_code == 200 and "TableNames" in response.json()


def _http_ok(url: str) -> bool:
    return requests.get(url, timeout=1).status_code == 200


def wait_healthy(stack: LocalStack, program: str, timeout: float = 60) -> None:
    log = stack.path("logs", f"{program}.log")
    if program == "emulator":
        wait_ready("the AWS emulator", lambda: _emulator_answers(stack.endpoint), timeout, log)
    else:
        wait_ready(program, lambda: _http_ok(f"{stack.url(program)}/health"), timeout, log)


def _ensure_supervisor(stack: LocalStack, progress: Progress) -> None:
    if supervisor.alive(stack.state_dir):
        saved = supervisor.saved_settings(stack)
        if saved["ports"] != asdict(stack.ports) or saved["project"] != stack.project:
            raise OpsError(f"the local stack is already running with other settings ({saved}); run `make down` first")
        progress("supervisord already running: reusing it")
        return
    leftovers = stack_processes(stack.state_dir)
    if leftovers:
        progress(f"cleaning up {len(leftovers)} process(es) left by an earlier run")
        terminate(leftovers)
    for program in sorted(stack.programs, key=("orbit", "axon", "governance", "emulator").index):
        port = getattr(stack.ports, program)
        if port_in_use(port):
            variable = {"emulator": "AWS_EMULATOR_PORT"}.get(program, f"{program.upper()}_PORT")
            raise OpsError(f"port {port} ({program}) is in use by {port_owner(port)}; stop it or set {variable}")
    supervisor.launch(stack)
    wait_ready("supervisord", lambda: supervisor.alive(stack.state_dir), 15, stack.path("logs", "supervisord.log"))
    progress(f"supervisord started (state and logs in {stack.state_dir})")


def up(stack: LocalStack, clients: AwsClients, progress: Progress) -> dict[str, Any]:
    """Bring the whole stack up (or make sure it is up); safe to run again."""
    _ensure_supervisor(stack, progress)
    if not stack.external_endpoint:
        supervisor.start_program(stack, "emulator")
        wait_healthy(stack, "emulator")
        progress(f"AWS emulator ready on {stack.endpoint}")
    report = bootstrap(
        clients.dynamodb,
        clients.secretsmanager,
        stack.names,
        REPO_ROOT / "governance" / "policies" / "default",
        REPO_ROOT / "governance" / "policies" / "schema.cedarschema",
    )
    progress(
        f"bootstrapped: {len(report.created)} created, {len(report.existing)} already there, "
        f"policy-set version {report.policy_set_version}"
    )
    for program in ("governance", "axon", "orbit"):
        supervisor.start_program(stack, program)
        wait_healthy(stack, program)
        progress(f"{program} healthy on {stack.url(program)}")
    return {
        "bootstrap": asdict(report),
        "urls": {p: stack.url(p) for p in ("orbit", "axon", "governance")},
        "endpoint": stack.endpoint,
        "state_dir": str(stack.state_dir),
    }


def down(stack: LocalStack, progress: Progress) -> list[int]:
    """Stop every process of the stack; returns the ports still in use afterwards (should be none)."""
    if supervisor.alive(stack.state_dir):
        supervisor.shutdown(stack)
        progress("supervisord and its programs stopped")
    leftovers = stack_processes(stack.state_dir)
    if leftovers:
        progress(f"stopping {len(leftovers)} leftover process(es)")
        terminate(leftovers)
    return wait_ports_free([getattr(stack.ports, program) for program in stack.programs])
