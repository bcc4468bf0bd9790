"""gunicorn settings shared by Orbit and Axon (`gunicorn --config python:agent_runtime.gunicorn_conf`).

Threads inside few workers: the work is mostly waiting on Governance, Axon and AWS. The worker is gunicorn's
threaded one, changed so that a request is read whole before a thread takes it (agent_runtime.gunicorn_worker):
slow clients cannot hold the threads. In AWS, set GUNICORN_WORKERS to the task's vCPUs and the replay store to
dynamodb; several workers on one host may share a sqlite replay store.
"""

import os
import shutil

from gunicorn import util as gunicorn_util

workers = int(os.environ.get("GUNICORN_WORKERS", "1"))
threads = int(os.environ.get("GUNICORN_THREADS", "16"))
worker_class = "agent_runtime.gunicorn_worker.BufferedThreadWorker"
# Connections one worker holds (idle, being read, or being served); more wait in the listen backlog.
worker_connections = int(os.environ.get("GUNICORN_WORKER_CONNECTIONS", "1000"))
# Longer than the ALB's 60 s idle timeout, so the load balancer closes idle connections first.
keepalive = int(os.environ.get("GUNICORN_KEEPALIVE", "75"))
timeout = 30
# On SIGTERM, stop accepting and let in-flight requests finish for up to this many seconds.
graceful_timeout = int(os.environ.get("GUNICORN_GRACEFUL_TIMEOUT", "20"))
accesslog = None
errorlog = "-"
loglevel = "warning"
limit_request_line = 8190
limit_request_fields = 100
# Only the ALB (or nothing, locally) sits in front of the services.
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")
worker_tmp_dir = os.environ.get("GUNICORN_WORKER_TMP_DIR") or None


_SERVICES = ("orbit", "axon")  # the apps with a replay store, and the prefix of their settings


def _served_service(server) -> str | None:
    """`orbit` for `orbit.app:create_app()`: which service this gunicorn serves, so that it reads that service's
    settings only (Orbit's and Axon's can differ in one environment, as in the local stack)."""
    uri = getattr(server.app, "app_uri", None) or server.cfg.wsgi_app or ""
    root = uri.split(":", 1)[0].split(".", 1)[0]
    return root if root in _SERVICES else None


def on_starting(server):
    service = _served_service(server)
    variable = f"{(service or '').upper()}_REPLAY_STORE"
    # server.cfg, not this module's `workers`: -w and GUNICORN_CMD_ARGS can change the number too.
    if service and server.cfg.workers > 1 and os.environ.get(variable, "memory") == "memory":
        # A per-process replay store cannot see a replay sent to another worker: refuse to start open.
        raise SystemExit(f"{variable}=memory needs GUNICORN_WORKERS=1; use sqlite (one host) or dynamodb")
    multiproc_dir = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if multiproc_dir:
        shutil.rmtree(multiproc_dir, ignore_errors=True)
        os.makedirs(multiproc_dir, exist_ok=True)


def child_exit(server, worker):
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)


def _json_write_error(sock, status_int, reason, mesg):
    """gunicorn answers requests it cannot parse (smuggling attempts, oversized headers, bad chunking) itself,
    with an HTML page. The error contract says JSON, always; gunicorn has no hook for these pages, so its
    writer is replaced (in the master, before the workers fork)."""
    from agent_runtime.gunicorn_worker import json_error

    gunicorn_util.write_nonblock(sock, json_error(status_int, reason, f"{reason}: {mesg}"))


gunicorn_util.write_error = _json_write_error
