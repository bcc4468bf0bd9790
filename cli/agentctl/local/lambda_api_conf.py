"""gunicorn settings of the local Lambda Invoke API (`--config python:agentctl.local.lambda_api_conf`).

In AWS each Lambda instance writes its own log stream, so an audit event and an EMF metrics object are never
cut into each other. Locally each worker is such an instance: right after the fork it points its stdout
and stderr at its own file, `<state folder>/logs/governance-instance-<n>.log`, where n is the lowest slot no
living worker holds (a lock held for the worker's life), so a restarted worker continues a stream instead of
starting one more. `agentctl logs governance` merges the streams by time. The master's own lines (gunicorn's
start-up and errors) stay in supervisord's governance.log.

Like a Lambda instance, a worker runs one invocation at a time (one thread), but it keeps its connections alive,
as the Lambda service's endpoint does: gunicorn's sync worker closes every connection, so Orbit connected anew for
every decision (a connect, an accept and a close of CPU on both sides). The worker is the services' own threaded
one (agent_runtime.gunicorn_worker), with one thread.
"""

from __future__ import annotations

import fcntl
import itertools
import os
import sys
from pathlib import Path
from typing import IO, Any

from agentctl.local.config import instance_log
from agentctl.settings import STATE_ENV

worker_class = "agent_runtime.gunicorn_worker.BufferedThreadWorker"
threads = 1  # one invocation at a time per instance: the handler's metrics and audit stream are per invocation
keepalive = 75  # seconds an idle connection stays open (Orbit's kept-alive connections)

#: A stream larger than this when a worker takes it over is moved to <stream>.1 (as supervisord rotates).
ROTATE_BYTES = 20 * 1024 * 1024


def claim_slot(logs: Path) -> tuple[int, IO[str]]:
    """The lowest slot whose lock no other worker holds, and that lock (held until the worker exits)."""
    for slot in itertools.count():
        lock = instance_log(logs, slot).with_suffix(".lock").open("w")
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock.close()
            continue
        return slot, lock
    raise AssertionError("unreachable")  # pragma: no cover - itertools.count() never ends


def post_fork(server: Any, worker: Any) -> None:
    logs = Path(os.environ[STATE_ENV]) / "logs"
    slot, worker.log_stream_lock = claim_slot(logs)
    stream = instance_log(logs, slot)
    if stream.exists() and stream.stat().st_size > ROTATE_BYTES:
        stream.replace(stream.with_name(stream.name + ".1"))
    sys.stdout.flush()
    sys.stderr.flush()
    fd = os.open(stream, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)
