"""Ports and processes of the local stack: free ports, who holds a port, the stack's leftover processes."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import time
from pathlib import Path

import psutil

# Set only in supervisord's environment (so in every program's): how a leftover process of a stack is
# recognised, unlike the shell or `make` that started it, which carry the state folder's variable too.
MARKER_ENV = "AGENT_RUNTIME_SUPERVISED"


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


def port_owner(port: int) -> str:
    with contextlib.suppress(psutil.Error):
        for conn in psutil.net_connections(kind="tcp"):
            if conn.laddr and conn.laddr.port == port and conn.status == psutil.CONN_LISTEN and conn.pid:
                proc = psutil.Process(conn.pid)
                return f"pid {conn.pid} ({' '.join(proc.cmdline())[:80]})"
    return "another process"


def wait_ports_free(ports: list[int], timeout: float = 10) -> list[int]:
    """The ports still in use after up to `timeout` seconds."""
    deadline = time.monotonic() + timeout
    busy = [p for p in ports if port_in_use(p)]
    while busy and time.monotonic() < deadline:
        time.sleep(0.2)
        busy = [p for p in ports if port_in_use(p)]
    return busy


def stack_processes(state_dir: Path) -> list[psutil.Process]:
    """Processes started for this state folder (they carry it in their environment)."""
    found = []
    for proc in psutil.process_iter(["pid"]):
        with contextlib.suppress(psutil.Error):
            if proc.pid != os.getpid() and proc.environ().get(MARKER_ENV) == str(state_dir):
                found.append(proc)
    return found


def terminate(processes: list[psutil.Process], timeout: float = 10) -> None:
    for proc in processes:
        with contextlib.suppress(psutil.Error):
            proc.send_signal(signal.SIGTERM)
    _, alive = psutil.wait_procs(processes, timeout=timeout)
    for proc in alive:
        with contextlib.suppress(psutil.Error):
            proc.kill()
    psutil.wait_procs(alive, timeout=5)


def kill(pid: int) -> None:
    """SIGKILL, as a crash would end it (chaos drills)."""
    os.kill(pid, signal.SIGKILL)
