"""The bench's own local stack and hello-world server: free ports, a private state folder, always stopped.

The stack is brought up and down with `agentctl deploy` / `agentctl down`, the commands a user runs, in a
temporary state folder and on free ports, so a bench never collides with a stack the user has running.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import requests

from agentctl.local.config import LocalStack
from agentctl.local.processes import free_ports
from agentctl.settings import Ports

REPO_ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
REGION = "us-east-1"
# Settings a user may have exported for their own stack; the bench's stack is configured from scratch.
_FOREIGN_PREFIXES = ("AWS_", "ORBIT_", "AXON_", "GOVERNANCE_", "PROMETHEUS_")


class BenchError(Exception):
    """The bench cannot go on; the message says why."""


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


class BenchStack:
    """A local stack started for the bench. Use as a context manager: it is stopped on any exit."""

    def __init__(
        self, project: str = "agent-runtime", env: dict[str, str] | None = None, checkout: Path = REPO_ROOT
    ) -> None:
        """`checkout`: the repository whose code and virtualenv run the stack (bench.compare runs another)."""
        self.project = project
        self.checkout = checkout
        self.state_dir = Path(tempfile.mkdtemp(prefix="agent-runtime-bench-"))
        orbit, axon, governance, emulator = free_ports(4)
        self.ports = {"orbit": orbit, "axon": axon, "governance": governance, "emulator": emulator}
        self.env = {k: v for k, v in os.environ.items() if not k.startswith(_FOREIGN_PREFIXES)}
        self.env.update(
            AGENT_RUNTIME_STATE_DIR=str(self.state_dir),
            ORBIT_PORT=str(orbit),
            AXON_PORT=str(axon),
            GOVERNANCE_PORT=str(governance),
            AWS_EMULATOR_PORT=str(emulator),
            PROJECT_NAME=project,
            ENVIRONMENT="local",
        )
        self.env.update(env or {})
        self.started = False
        self.failed = False

    def url(self, program: str) -> str:
        return f"http://127.0.0.1:{self.ports[program]}"

    def aws_env(self) -> dict[str, str]:
        return LocalStack(self.state_dir, Ports(**self.ports), self.project, REGION).aws_env()

    def agentctl(self, *args: str, timeout: float = 180) -> str:
        agentctl = BIN / "agentctl" if self.checkout == REPO_ROOT else self.checkout / ".venv" / "bin" / "agentctl"
        result = subprocess.run(
            [str(agentctl), *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            cwd=self.checkout,
            start_new_session=True,  # a Ctrl-C meant for the bench must not kill the stack's own tooling
        )
        if result.returncode != 0:
            raise BenchError(f"agentctl {' '.join(args)} exited {result.returncode}: {result.stderr.strip()[-2000:]}")
        return result.stdout

    def up(self) -> None:
        log(f"starting the local stack in {self.state_dir} (ports {self.ports})")
        self.started = True
        self.agentctl("deploy", timeout=240)

    def down(self) -> None:
        if not self.started:
            shutil.rmtree(self.state_dir, ignore_errors=True)
            return
        try:
            self.agentctl("down", timeout=120)
        except (BenchError, subprocess.TimeoutExpired) as exc:
            log(f"stopping the stack failed: {exc}; its state is in {self.state_dir}")
            return
        self.started = False
        if self.failed:
            log(f"the stack's logs are kept in {self.state_dir / 'logs'}")
        else:
            shutil.rmtree(self.state_dir, ignore_errors=True)

    def __enter__(self) -> BenchStack:
        return self

    def __exit__(self, exc_type: Any, *_: Any) -> None:
        # Keep the logs of a failed run; an interrupted one is not a failure.
        self.failed = exc_type is not None and not issubclass(exc_type, (KeyboardInterrupt, Interrupted))
        with ignoring_interrupts():
            self.down()


class HelloServer:
    """bench.hello under gunicorn with the services' settings (`--config python:agent_runtime.gunicorn_conf`)."""

    def __init__(self, port: int, env: dict[str, str], log_path: Path) -> None:
        self.port = port
        self.env = {**env, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))}
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30) -> HelloServer:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as out:
            self.proc = subprocess.Popen(
                [
                    str(BIN / "gunicorn"),
                    "--config",
                    "python:agent_runtime.gunicorn_conf",
                    "--bind",
                    f"127.0.0.1:{self.port}",
                    "bench.hello:create_app()",
                ],
                env=self.env,
                cwd=REPO_ROOT,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise BenchError(f"the hello-world server exited {self.proc.returncode}; see {self.log_path}")
            with contextlib.suppress(requests.RequestException):
                if requests.get(self.url + "/", timeout=1).status_code == 200:
                    return self
            time.sleep(0.2)
        raise BenchError(f"the hello-world server did not answer within {timeout:.0f}s; see {self.log_path}")

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=5)

    def __enter__(self) -> HelloServer:
        return self.start()

    def __exit__(self, *_: Any) -> None:
        with ignoring_interrupts():
            self.stop()


@contextlib.contextmanager
def ignoring_interrupts() -> Any:
    """Clean-up that a second Ctrl-C must not cut short."""
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


class Interrupted(BaseException):
    """SIGTERM, SIGHUP or the bench's own deadline: unwind through every `finally`, like Ctrl-C."""


def install_stop_signals(deadline_seconds: float | None = None) -> None:
    """Turn SIGTERM/SIGHUP (and an overrun of `deadline_seconds`) into an exception that unwinds cleanly."""

    def stop(signum: int, _frame: Any) -> None:
        name = "deadline" if signum == signal.SIGALRM else signal.Signals(signum).name
        raise Interrupted(f"stopped by {name}")

    for signum in (signal.SIGTERM, signal.SIGHUP, signal.SIGALRM):
        signal.signal(signum, stop)
    # Ctrl-C raises KeyboardInterrupt even when a parent shell started us with SIGINT ignored (a background job).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    if deadline_seconds:
        signal.alarm(int(deadline_seconds))


def write_json(path: Path, data: Any) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=False) + "\n", encoding="utf-8")
    tmp.replace(path)
