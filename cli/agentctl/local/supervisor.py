"""supervisord for the local stack: its configuration file, starting it, and its XML-RPC interface.

supervisord keeps the stack's programs alive (a crashed one is restarted, as ECS replaces a task).
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import xmlrpc.client  # nosec B411 - supervisord XML-RPC over its own 0700 unix socket, not untrusted XML
from collections.abc import Iterator, Mapping
from dataclasses import asdict
from pathlib import Path
from typing import Any

import psutil
from supervisor.xmlrpc import SupervisorTransport

from agentctl.local.config import LocalStack
from agentctl.local.processes import MARKER_ENV
from agentctl.ops.errors import OpsError
from agentctl.settings import REPO_ROOT, STATE_ENV


@contextlib.contextmanager
def rpc(state_dir: Path) -> Iterator[Any]:
    """supervisord's XML-RPC interface, over its unix socket."""
    transport = SupervisorTransport(None, None, f"unix://{state_dir / 'supervisor.sock'}")
    try:
        yield xmlrpc.client.ServerProxy("http://127.0.0.1", transport=transport).supervisor
    finally:
        transport.close()


def alive(state_dir: Path) -> bool:
    if not (state_dir / "supervisor.sock").exists():
        return False
    try:
        with rpc(state_dir) as supervisor:
            return bool(supervisor.getState()["statename"] == "RUNNING")
    except (OSError, xmlrpc.client.Error):
        return False


def saved_settings(stack: LocalStack) -> dict[str, Any]:
    """What the running supervisord was started with (stack.json)."""
    return dict(json.loads(stack.path("stack.json").read_text()))


# --- the configuration ------------------------------------------------------------------------------------


#: Each program gets the caller's variables with its own prefixes, and no other program's: a setting meant for
#: Axon never configures Orbit. Variables with none of these prefixes (HOME, LOG_LEVEL, OTEL_*, ...) reach all.
PROGRAM_SETTINGS: dict[str, tuple[str, ...]] = {
    "emulator": (),
    "governance": ("GOVERNANCE_", "LAMBDA_"),
    "axon": ("AXON_", "GUNICORN_"),
    "orbit": ("ORBIT_", "GUNICORN_"),
}
_PROGRAM_PREFIXES = tuple(sorted({prefix for prefixes in PROGRAM_SETTINGS.values() for prefix in prefixes}))


def settings_of(program: str, environ: Mapping[str, str]) -> dict[str, str]:
    prefixes = PROGRAM_SETTINGS[program]
    return {key: value for key, value in environ.items() if prefixes and key.startswith(prefixes)}


def _quote(key: str, value: str) -> str:
    """A value for supervisord's `environment=`: quoted, with its %(...)s expansion escaped."""
    if "\n" in value or "\r" in value:
        raise OpsError(f"{key} holds a line break: the local stack cannot pass it to its programs")
    return '"' + value.replace("%", "%%").replace('"', '\\"') + '"'


def _program(name: str, command: str, env: dict[str, str], logs: Path, autostart: bool) -> str:
    environment = ",".join(f"{key}={_quote(key, value)}" for key, value in sorted(env.items()))
    return f"""
[program:{name}]
command={command}
directory={REPO_ROOT}
autostart={"true" if autostart else "false"}
autorestart=true
startsecs=2
startretries=20
stopsignal=TERM
stopwaitsecs=25
stopasgroup=true
killasgroup=true
redirect_stderr=true
stdout_logfile={logs / f"{name}.log"}
stdout_logfile_maxbytes=20MB
stdout_logfile_backups=2
environment={environment}
"""


def _header(stack: LocalStack) -> str:
    return f"""[unix_http_server]
file={stack.path("supervisor.sock")}
chmod=0700

[supervisord]
logfile={stack.path("logs", "supervisord.log")}
logfile_maxbytes=10MB
logfile_backups=2
pidfile={stack.path("supervisord.pid")}
directory={REPO_ROOT}
identifier=agent-runtime

[rpcinterface:supervisor]
supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface

[supervisorctl]
serverurl=unix://{stack.path("supervisor.sock")}
"""


def _replay(stack: LocalStack, service: str) -> dict[str, str]:
    """A replay store that every worker shares and that survives a restart: a captured request is refused
    again after the service restarts (the caller's own <SERVICE>_REPLAY_* settings win)."""
    prefix = service.upper()
    return {f"{prefix}_REPLAY_STORE": "sqlite", f"{prefix}_REPLAY_DB": str(stack.path("replay", f"{service}.sqlite3"))}


def render_config(stack: LocalStack, environ: Mapping[str, str] | None = None) -> str:
    """supervisord's configuration; `environ` (the caller's environment) gives each program its own settings."""
    environ = os.environ if environ is None else environ
    bin_dir = Path(sys.executable).parent
    logs = stack.path("logs")
    common = {
        **stack.aws_env(),
        STATE_ENV: str(stack.state_dir),
        "PYTHONUNBUFFERED": "1",
        "PATH": f"{bin_dir}:/usr/local/bin:/usr/bin:/bin",
    }
    gunicorn = f"{bin_dir / 'gunicorn'} --config python:agent_runtime.gunicorn_conf"
    sections = [_header(stack)]
    if not stack.external_endpoint:
        names = stack.names
        ephemeral = " ".join(f"--ephemeral-table {t}" for t in (names.rate_limits_table, names.replay_table))
        command = (
            f"{bin_dir / 'python'} -m agentctl.local.emulator --host 127.0.0.1 --port {stack.ports.emulator} "
            f"--journal {stack.path('emulator', 'journal.jsonl')} {ephemeral}"
        )
        basics = {key: common[key] for key in (STATE_ENV, "PYTHONUNBUFFERED", "PATH")}
        sections.append(_program("emulator", command, basics, logs, autostart=True))
    governance = (
        f"{bin_dir / 'gunicorn'} --config python:agentctl.local.lambda_api_conf --bind 127.0.0.1:"
        f"{stack.ports.governance} --workers 2 --timeout 30 --graceful-timeout 10 "
        "--log-level warning 'agentctl.local.lambda_api:create_app()'"
    )
    governance_env = {**common, **settings_of("governance", environ)}
    sections.append(_program("governance", governance, governance_env, logs, autostart=False))
    axon_env = {
        **common,
        **_replay(stack, "axon"),
        **settings_of("axon", environ),
        "PROMETHEUS_MULTIPROC_DIR": str(stack.path("prometheus", "axon")),
    }
    axon = f"{gunicorn} --bind 127.0.0.1:{stack.ports.axon} 'axon.app:create_app()'"
    sections.append(_program("axon", axon, axon_env, logs, autostart=False))
    orbit_env = {
        **common,
        **_replay(stack, "orbit"),
        **settings_of("orbit", environ),
        "PROMETHEUS_MULTIPROC_DIR": str(stack.path("prometheus", "orbit")),
        "ORBIT_AXON_URL": stack.url("axon"),
    }
    orbit = f"{gunicorn} --bind 127.0.0.1:{stack.ports.orbit} 'orbit.app:create_app()'"
    sections.append(_program("orbit", orbit, orbit_env, logs, autostart=False))
    return "\n".join(sections)


def supervisor_environment(stack: LocalStack, environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """supervisord's own environment, which every program inherits: without the caller's AWS settings, which
    the programs get from the configuration, and without any program's own settings (PROGRAM_SETTINGS)."""
    environ = os.environ if environ is None else environ
    env = {k: v for k, v in environ.items() if not k.startswith(("AWS_", "PROMETHEUS", *_PROGRAM_PREFIXES))}
    env[MARKER_ENV] = str(stack.state_dir)
    return env


def launch(stack: LocalStack) -> None:
    """Write the configuration and stack.json, and start supervisord (it daemonizes)."""
    for folder in ("logs", "emulator", "prometheus", "replay"):
        stack.path(folder).mkdir(parents=True, exist_ok=True, mode=0o700)
    stack.state_dir.chmod(0o700)
    config = os.open(stack.path("supervisord.conf"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(config, "w") as file:  # it holds the programs' settings
        file.write(render_config(stack))
    saved = {
        "ports": asdict(stack.ports),
        "project": stack.project,
        "region": stack.region,
        "external_endpoint": stack.external_endpoint,
    }
    stack.path("stack.json").write_text(json.dumps(saved, indent=2))
    supervisord = Path(sys.executable).parent / "supervisord"
    command = [str(supervisord), "-c", str(stack.path("supervisord.conf"))]
    result = subprocess.run(  # noqa: S603 - our own binary and config
        command, env=supervisor_environment(stack), capture_output=True, text=True, timeout=30, check=False
    )
    if result.returncode != 0:
        raise OpsError(f"supervisord did not start: {(result.stderr or result.stdout).strip()}")


def shutdown(stack: LocalStack) -> None:
    """Stop supervisord and its programs, and wait for it to exit."""
    pid_file = stack.path("supervisord.pid")
    supervisor_pid = int(pid_file.read_text()) if pid_file.exists() else None
    with contextlib.suppress(OSError, xmlrpc.client.Error), rpc(stack.state_dir) as supervisor:
        supervisor.shutdown()
    if supervisor_pid:
        with contextlib.suppress(psutil.Error):
            psutil.Process(supervisor_pid).wait(timeout=40)


# --- programs -----------------------------------------------------------------------------------------


def start_program(stack: LocalStack, program: str) -> None:
    with rpc(stack.state_dir) as supervisor:
        if supervisor.getProcessInfo(program)["statename"] != "RUNNING":
            with contextlib.suppress(xmlrpc.client.Fault):  # ALREADY_STARTED races are fine
                supervisor.startProcess(program, True)


def stop_program(stack: LocalStack, program: str) -> None:
    with rpc(stack.state_dir) as supervisor, contextlib.suppress(xmlrpc.client.Fault):  # NOT_RUNNING is fine
        supervisor.stopProcess(program, True)


def program_states(stack: LocalStack) -> list[dict[str, Any]]:
    """supervisord's view of each program (state, pid, uptime); empty when the stack is down."""
    if not alive(stack.state_dir):
        return []
    with rpc(stack.state_dir) as supervisor:
        infos = supervisor.getAllProcessInfo()
    return [
        {"name": i["name"], "state": i["statename"], "pid": i["pid"] or None, "description": i["description"]}
        for i in infos
    ]
