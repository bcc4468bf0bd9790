"""The local stack: the AWS emulator, the governance Lambda API, Axon and Orbit, kept alive by supervisord.

Everything it writes (supervisord's files, logs, the emulator's journal, metrics files) lives in one
git-ignored state folder, `.local/` at the repository root unless AGENT_RUNTIME_STATE_DIR says otherwise.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import xmlrpc.client  # nosec B411 - supervisord XML-RPC over its own 0700 unix socket, not untrusted XML
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import psutil
import requests
from supervisor.xmlrpc import SupervisorTransport

from agent_runtime.names import Names, project_name

REPO_ROOT = Path(__file__).resolve().parents[3]
PROGRAMS = ("emulator", "governance", "axon", "orbit")
LOCAL_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
STATE_ENV = "AGENT_RUNTIME_STATE_DIR"
# Set only in supervisord's environment (so in every program's): how a leftover process of a stack is
# recognised, unlike the shell or `make` that started it, which carry STATE_ENV too.
MARKER_ENV = "AGENT_RUNTIME_SUPERVISED"
Progress = Callable[[str], None]


class StackError(Exception):
    """The local stack cannot do what was asked; the message says why and what to do."""


@dataclass(frozen=True)
class Ports:
    orbit: int = 8080
    axon: int = 8081
    governance: int = 9001
    emulator: int = 4566

    @classmethod
    def from_env(cls) -> Ports:
        def port(name: str, default: int) -> int:
            value = os.environ.get(name, str(default))
            if not value.isdigit() or not 1 <= int(value) <= 65535:
                raise StackError(f"{name}={value!r} is not a port number")
            return int(value)

        return cls(
            orbit=port("ORBIT_PORT", 8080),
            axon=port("AXON_PORT", 8081),
            governance=port("GOVERNANCE_PORT", 9001),
            emulator=port("AWS_EMULATOR_PORT", 4566),
        )


@dataclass(frozen=True)
class LocalStack:
    state_dir: Path
    ports: Ports
    project: str
    region: str = "us-east-1"
    external_endpoint: str | None = None  # a user's LocalStack: no emulator of ours

    @classmethod
    def from_env(cls) -> LocalStack:
        """The stack that is running in the state folder, or the one the environment describes."""
        state_dir = Path(os.environ.get(STATE_ENV) or REPO_ROOT / ".local").resolve()
        saved = state_dir / "stack.json"
        if saved.exists() and _supervisor_alive(state_dir):
            data = json.loads(saved.read_text())
            return cls(
                state_dir,
                Ports(**data["ports"]),
                data["project"],
                data["region"],
                data.get("external_endpoint"),
            )
        return cls(
            state_dir,
            Ports.from_env(),
            project_name(),
            os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1",
            os.environ.get("AWS_ENDPOINT_URL") or None,
        )

    @property
    def names(self) -> Names:
        return Names(self.project)

    @property
    def endpoint(self) -> str:
        return self.external_endpoint or f"http://127.0.0.1:{self.ports.emulator}"

    def url(self, program: str) -> str:
        return f"http://127.0.0.1:{getattr(self.ports, program)}"

    @property
    def programs(self) -> tuple[str, ...]:
        return PROGRAMS[1:] if self.external_endpoint else PROGRAMS

    def path(self, *parts: str) -> Path:
        return self.state_dir.joinpath(*parts)

    def aws_env(self) -> dict[str, str]:
        """What an AWS client needs to talk to this stack (agentctl applies it to itself too)."""
        env = {
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_ENDPOINT_URL_LAMBDA": self.url("governance"),
            "AWS_REGION": self.region,
            "AWS_DEFAULT_REGION": self.region,
            "PROJECT_NAME": self.project,
            "ENVIRONMENT": "local",
        }
        if not self.external_endpoint:
            env.update(LOCAL_CREDENTIALS)
        return env


# --- supervisord ------------------------------------------------------------------------------------------


@contextlib.contextmanager
def _rpc(state_dir: Path) -> Iterator[Any]:
    """supervisord's XML-RPC interface, over its unix socket."""
    transport = SupervisorTransport(None, None, f"unix://{state_dir / 'supervisor.sock'}")
    try:
        yield xmlrpc.client.ServerProxy("http://127.0.0.1", transport=transport).supervisor
    finally:
        transport.close()


def _supervisor_alive(state_dir: Path) -> bool:
    if not (state_dir / "supervisor.sock").exists():
        return False
    try:
        with _rpc(state_dir) as rpc:
            return rpc.getState()["statename"] == "RUNNING"
    except (OSError, xmlrpc.client.Error):
        return False


def _quote(value: str) -> str:
    """A value for supervisord's `environment=`: quoted, with its %(...)s expansion escaped."""
    return '"' + value.replace("%", "%%").replace('"', '\\"') + '"'


def _program(name: str, command: str, env: dict[str, str], logs: Path, autostart: bool) -> str:
    environment = ",".join(f"{key}={_quote(value)}" for key, value in sorted(env.items()))
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


def render_config(stack: LocalStack) -> str:
    bin_dir = Path(sys.executable).parent
    logs = stack.path("logs")
    common = {
        **stack.aws_env(),
        STATE_ENV: str(stack.state_dir),
        "PYTHONUNBUFFERED": "1",
        "PATH": f"{bin_dir}:/usr/local/bin:/usr/bin:/bin",
    }
    gunicorn = f"{bin_dir / 'gunicorn'} --config python:agent_runtime.gunicorn_conf"
    sections = [
        f"""[unix_http_server]
file={stack.path("supervisor.sock")}
chmod=0700

[supervisord]
logfile={logs / "supervisord.log"}
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
    ]
    if not stack.external_endpoint:
        names = stack.names
        ephemeral = " ".join(f"--ephemeral-table {t}" for t in (names.rate_limits_table, names.replay_table))
        sections.append(
            _program(
                "emulator",
                f"{bin_dir / 'python'} -m agentctl.local.emulator --host 127.0.0.1 --port {stack.ports.emulator} "
                f"--journal {stack.path('emulator', 'journal.jsonl')} {ephemeral}",
                {key: common[key] for key in (STATE_ENV, "PYTHONUNBUFFERED", "PATH")},
                logs,
                autostart=True,
            )
        )
    sections.append(
        _program(
            "governance",
            f"{bin_dir / 'gunicorn'} --bind 127.0.0.1:{stack.ports.governance} --workers 2 --worker-class sync "
            "--timeout 30 --graceful-timeout 10 --log-level warning 'agentctl.local.lambda_api:create_app()'",
            common,
            logs,
            autostart=False,
        )
    )
    sections.append(
        _program(
            "axon",
            f"{gunicorn} --bind 127.0.0.1:{stack.ports.axon} 'axon.app:create_app()'",
            {**common, "PROMETHEUS_MULTIPROC_DIR": str(stack.path("prometheus", "axon"))},
            logs,
            autostart=False,
        )
    )
    sections.append(
        _program(
            "orbit",
            f"{gunicorn} --bind 127.0.0.1:{stack.ports.orbit} 'orbit.app:create_app()'",
            {
                **common,
                "PROMETHEUS_MULTIPROC_DIR": str(stack.path("prometheus", "orbit")),
                "ORBIT_AXON_URL": stack.url("axon"),
            },
            logs,
            autostart=False,
        )
    )
    return "\n".join(sections)


def _supervisor_environment(stack: LocalStack) -> dict[str, str]:
    """supervisord's own environment, which its programs inherit: without the caller's AWS settings, which the
    programs set themselves, but with ORBIT_* / AXON_* / GOVERNANCE_* settings, which configure the services."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "PROMETHEUS"))}
    env[MARKER_ENV] = str(stack.state_dir)
    return env


# --- ports and processes ----------------------------------------------------------------------------------


def free_ports(count: int) -> list[int]:
    """Ports nobody listens on now, for a stack of tests, benchmarks or audits beside the user's own."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def port_in_use(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.2)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _port_owner(port: int) -> str:
    with contextlib.suppress(psutil.Error):
        for conn in psutil.net_connections(kind="tcp"):
            if conn.laddr and conn.laddr.port == port and conn.status == psutil.CONN_LISTEN and conn.pid:
                proc = psutil.Process(conn.pid)
                return f"pid {conn.pid} ({' '.join(proc.cmdline())[:80]})"
    return "another process"


def stack_processes(state_dir: Path) -> list[psutil.Process]:
    """Processes started for this state folder (they carry it in their environment)."""
    found = []
    for proc in psutil.process_iter(["pid"]):
        with contextlib.suppress(psutil.Error):
            if proc.pid != os.getpid() and proc.environ().get(MARKER_ENV) == str(state_dir):
                found.append(proc)
    return found


# --- lifecycle --------------------------------------------------------------------------------------------


def _wait(what: str, check: Callable[[], bool], timeout: float, log: Path | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(Exception):
            if check():
                return
        time.sleep(0.2)
    hint = f"; see {log}" if log else ""
    raise StackError(f"{what} did not become ready within {timeout:.0f}s{hint}")


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


def _start_supervisor(stack: LocalStack, progress: Progress) -> None:
    if _supervisor_alive(stack.state_dir):
        saved = json.loads(stack.path("stack.json").read_text())
        if saved["ports"] != asdict(stack.ports) or saved["project"] != stack.project:
            raise StackError(f"the local stack is already running with other settings ({saved}); run `make down` first")
        progress("supervisord already running: reusing it")
        return
    leftovers = stack_processes(stack.state_dir)
    if leftovers:
        progress(f"cleaning up {len(leftovers)} process(es) left by an earlier run")
        _terminate(leftovers)
    ports = {"orbit": stack.ports.orbit, "axon": stack.ports.axon, "governance": stack.ports.governance}
    if not stack.external_endpoint:
        ports["emulator"] = stack.ports.emulator
    for program, port in ports.items():
        if port_in_use(port):
            variable = {"emulator": "AWS_EMULATOR_PORT"}.get(program, f"{program.upper()}_PORT")
            raise StackError(f"port {port} ({program}) is in use by {_port_owner(port)}; stop it or set {variable}")

    for folder in ("logs", "emulator", "prometheus"):
        stack.path(folder).mkdir(parents=True, exist_ok=True, mode=0o700)
    stack.state_dir.chmod(0o700)
    stack.path("supervisord.conf").write_text(render_config(stack))
    stack.path("stack.json").write_text(
        json.dumps(
            {
                "ports": asdict(stack.ports),
                "project": stack.project,
                "region": stack.region,
                "external_endpoint": stack.external_endpoint,
            },
            indent=2,
        )
    )
    supervisord = Path(sys.executable).parent / "supervisord"
    result = subprocess.run(  # noqa: S603 - our own binary and config
        [str(supervisord), "-c", str(stack.path("supervisord.conf"))],
        env=_supervisor_environment(stack),
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    if result.returncode != 0:
        raise StackError(f"supervisord did not start: {(result.stderr or result.stdout).strip()}")
    _wait("supervisord", lambda: _supervisor_alive(stack.state_dir), 15, stack.path("logs", "supervisord.log"))
    progress(f"supervisord started (state and logs in {stack.state_dir})")


def start_program(stack: LocalStack, program: str) -> None:
    with _rpc(stack.state_dir) as rpc:
        if rpc.getProcessInfo(program)["statename"] != "RUNNING":
            with contextlib.suppress(xmlrpc.client.Fault):  # ALREADY_STARTED races are fine
                rpc.startProcess(program, True)


def stop_program(stack: LocalStack, program: str) -> None:
    with _rpc(stack.state_dir) as rpc, contextlib.suppress(xmlrpc.client.Fault):  # NOT_RUNNING is fine
        rpc.stopProcess(program, True)


def program_states(stack: LocalStack) -> list[dict[str, Any]]:
    """supervisord's view of each program (state, pid, uptime); empty when the stack is down."""
    if not _supervisor_alive(stack.state_dir):
        return []
    with _rpc(stack.state_dir) as rpc:
        infos = rpc.getAllProcessInfo()
    return [
        {"name": i["name"], "state": i["statename"], "pid": i["pid"] or None, "description": i["description"]}
        for i in infos
    ]


def wait_healthy(stack: LocalStack, program: str, timeout: float = 60) -> None:
    log = stack.path("logs", f"{program}.log")
    if program == "emulator":
        _wait("the AWS emulator", lambda: _emulator_answers(stack.endpoint), timeout, log)
    else:
        _wait(program, lambda: _http_ok(f"{stack.url(program)}/health"), timeout, log)


@contextlib.contextmanager
def aws_environment(stack: LocalStack) -> Iterator[None]:
    """Point this process's AWS clients at the stack for the duration."""
    saved = {key: os.environ.get(key) for key in stack.aws_env()}
    os.environ.update(stack.aws_env())
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def deploy(stack: LocalStack, progress: Progress) -> dict[str, Any]:
    """Bring the whole stack up (or make sure it is up); safe to run again."""
    from agent_runtime import aws
    from agentctl.local.bootstrap import bootstrap

    _start_supervisor(stack, progress)
    if not stack.external_endpoint:
        start_program(stack, "emulator")
        wait_healthy(stack, "emulator")
        progress(f"AWS emulator ready on {stack.endpoint}")
    with aws_environment(stack):
        report = bootstrap(
            aws.client("dynamodb"),
            aws.client("secretsmanager"),
            stack.names,
            REPO_ROOT / "governance" / "policies" / "default",
            REPO_ROOT / "governance" / "policies" / "schema.cedarschema",
        )
    progress(
        f"bootstrapped: {len(report.created)} created, {len(report.existing)} already there, "
        f"policy-set version {report.policy_set_version}"
    )
    for program in ("governance", "axon", "orbit"):
        start_program(stack, program)
        wait_healthy(stack, program)
        progress(f"{program} healthy on {stack.url(program)}")
    return {
        "bootstrap": asdict(report),
        "urls": {p: stack.url(p) for p in ("orbit", "axon", "governance")},
        "endpoint": stack.endpoint,
        "state_dir": str(stack.state_dir),
    }


def _terminate(processes: list[psutil.Process], timeout: float = 10) -> None:
    for proc in processes:
        with contextlib.suppress(psutil.Error):
            proc.send_signal(signal.SIGTERM)
    _, alive = psutil.wait_procs(processes, timeout=timeout)
    for proc in alive:
        with contextlib.suppress(psutil.Error):
            proc.kill()
    psutil.wait_procs(alive, timeout=5)


def down(stack: LocalStack, progress: Progress) -> list[int]:
    """Stop every process of the stack; returns the ports still in use afterwards (should be none)."""
    if _supervisor_alive(stack.state_dir):
        pid_file = stack.path("supervisord.pid")
        supervisor_pid = int(pid_file.read_text()) if pid_file.exists() else None
        with contextlib.suppress(OSError, xmlrpc.client.Error), _rpc(stack.state_dir) as rpc:
            rpc.shutdown()
        if supervisor_pid:
            with contextlib.suppress(psutil.Error):
                psutil.Process(supervisor_pid).wait(timeout=40)
        progress("supervisord and its programs stopped")
    leftovers = stack_processes(stack.state_dir)
    if leftovers:
        progress(f"stopping {len(leftovers)} leftover process(es)")
        _terminate(leftovers)
    ports = [stack.ports.orbit, stack.ports.axon, stack.ports.governance]
    if not stack.external_endpoint:
        ports.append(stack.ports.emulator)
    deadline = time.monotonic() + 10
    busy = [p for p in ports if port_in_use(p)]
    while busy and time.monotonic() < deadline:
        time.sleep(0.2)
        busy = [p for p in ports if port_in_use(p)]
    return busy
