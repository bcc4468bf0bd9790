"""The processes under test, found by the port they listen on, and a sampler of their memory and CPU.

A group is a root process and all its descendants (a gunicorn master and its workers), found from the port
it listens on, so the bench depends on no internals of the stack's supervisor. RSS of a group is the sum of
its processes' resident sets (forked workers share pages with their master, so this over-counts shared
pages: a conservative figure).
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import psutil

MIB = 1024 * 1024


def _listens(proc: psutil.Process, port: int) -> bool:
    with contextlib.suppress(psutil.Error):
        return any(
            c.status == psutil.CONN_LISTEN and c.laddr and c.laddr.port == port
            for c in proc.net_connections(kind="tcp")
        )
    return False


def listening_root(port: int) -> int | None:
    """The topmost process listening on `port`: a gunicorn master rather than one of its workers.

    psutil.net_connections() names one process per socket, so start from it and climb while the parent
    holds the listening socket too (gunicorn's master and workers share it).
    """
    found = None
    for conn in psutil.net_connections(kind="tcp"):
        if conn.status == psutil.CONN_LISTEN and conn.laddr and conn.laddr.port == port and conn.pid:
            found = conn.pid
            break
    if found is None:
        return None
    with contextlib.suppress(psutil.Error):
        proc = psutil.Process(found)
        while (parent := proc.parent()) is not None and _listens(parent, port):
            proc = parent
        return proc.pid
    return found


@dataclass
class Group:
    """A process tree measured as one (a service, the generator)."""

    name: str
    roots: Callable[[], list[int]]  # how to (re)find its root processes
    recursive: bool = True  # with every descendant
    processes: dict[int, psutil.Process] = field(default_factory=dict)
    _roots: list[psutil.Process] = field(default_factory=list, repr=False)

    def refresh(self) -> None:
        """Find the processes again: the roots only when one has gone (finding a listener is costly), the
        descendants every time (a restarted worker)."""
        roots = [p for p in self._roots if p.is_running()]
        if not roots or len(roots) != len(self._roots):
            roots = []
            for pid in self.roots():
                with contextlib.suppress(psutil.Error):
                    roots.append(self.processes.get(pid) or psutil.Process(pid))
            self._roots = roots
        found: dict[int, psutil.Process] = {}
        for root in roots:
            with contextlib.suppress(psutil.Error):
                found[root.pid] = root
                for child in root.children(recursive=True) if self.recursive else ():
                    found[child.pid] = self.processes.get(child.pid) or child
        self.processes = found

    def rss(self) -> int:
        total = 0
        for proc in list(self.processes.values()):
            with contextlib.suppress(psutil.Error):
                total += proc.memory_info().rss
        return total

    def per_process_rss(self) -> dict[int, int]:
        sizes = {}
        for pid, proc in list(self.processes.items()):
            with contextlib.suppress(psutil.Error):
                sizes[pid] = proc.memory_info().rss
        return sizes

    def cpu_seconds(self) -> float:
        total = 0.0
        for proc in list(self.processes.values()):
            with contextlib.suppress(psutil.Error):
                times = proc.cpu_times()
                total += times.user + times.system
        return total


def port_group(name: str, port: int) -> Group:
    def roots() -> list[int]:
        root = listening_root(port)
        return [root] if root else []

    return Group(name, roots)


def pid_group(name: str, pids: Callable[[], list[int]], *, recursive: bool = True) -> Group:
    return Group(name, pids, recursive)


class Sampler:
    """Samples every group's RSS every `interval` seconds in a background thread; keeps peaks and a series.

    `window()` starts a measurement window; `close_window()` returns the peaks and CPU used since then.
    """

    def __init__(self, groups: list[Group], interval: float = 0.25, keep_series: bool = False) -> None:
        self.groups = groups
        self.interval = interval
        self.keep_series = keep_series
        self.series: list[dict[str, Any]] = []
        self.peak: dict[str, int] = {}
        self._window_peak: dict[str, int] = {}
        self._window_cpu: dict[str, float] = {}
        self._window_host: Any = None
        self._window_started = 0.0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="bench-sampler", daemon=True)
        self._last_refresh = 0.0

    def start(self) -> Sampler:
        for group in self.groups:
            group.refresh()
        self.sample()
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            with contextlib.suppress(Exception):  # a process that vanished mid-sample: next time
                self.sample()

    def sample(self) -> dict[str, int]:
        now = time.monotonic()
        if now - self._last_refresh > 5.0:
            for group in self.groups:
                group.refresh()
            self._last_refresh = now
        sizes = {group.name: group.rss() for group in self.groups}
        with self._lock:
            for name, size in sizes.items():
                self.peak[name] = max(self.peak.get(name, 0), size)
                self._window_peak[name] = max(self._window_peak.get(name, 0), size)
            if self.keep_series:
                self.series.append({"t": time.time(), "rss": sizes})
        return sizes

    def window(self) -> None:
        for group in self.groups:
            group.refresh()
        with self._lock:
            self._window_peak = {}
            self._window_cpu = {group.name: group.cpu_seconds() for group in self.groups}
            self._window_host = psutil.cpu_times()
            self._window_started = time.monotonic()
        self.sample()

    def close_window(self) -> dict[str, Any]:
        """Peak RSS (MiB) and CPU (cores used on average) of every group since `window()`, and the machine's
        busy cores that none of the groups account for (other work on the machine: noise)."""
        self.sample()
        elapsed = max(time.monotonic() - self._window_started, 1e-6)
        host = psutil.cpu_times()
        with self._lock:
            cpu = {
                group.name: round(max(group.cpu_seconds() - self._window_cpu.get(group.name, 0.0), 0.0) / elapsed, 3)
                for group in self.groups
            }
            peaks = {name: round(size / MIB, 1) for name, size in self._window_peak.items()}
            before = self._window_host
        busy = _busy(host) - _busy(before)
        host_cores = busy / elapsed
        return {
            "peak_rss_mib": peaks,
            "cpu_cores": cpu,
            "host_busy_cores": round(host_cores, 3),
            "other_busy_cores": round(max(host_cores - sum(cpu.values()), 0.0), 3),
        }


def _busy(times: Any) -> float:
    idle = times.idle + getattr(times, "iowait", 0.0)
    return sum(times) - idle - getattr(times, "guest", 0.0) - getattr(times, "guest_nice", 0.0)
