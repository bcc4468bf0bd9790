"""The external programs a deploy runs (git, docker, the Lambda build): subprocesses with a heartbeat."""

from __future__ import annotations

import contextlib
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from agentctl.ops.errors import OpsError, Refused
from agentctl.ops.waiting import Progress

HEARTBEAT_SECONDS = 30.0


def tail(text: str | None, lines: int = 15) -> str:
    return "\n".join((text or "").strip().splitlines()[-lines:])


@contextlib.contextmanager
def heartbeat(what: str, progress: Progress, every: float = HEARTBEAT_SECONDS) -> Iterator[None]:
    """A progress line every `every` seconds while a long step runs (terraform apply, docker build)."""
    done = threading.Event()
    started = time.monotonic()

    def beat() -> None:
        while not done.wait(every):
            progress(f"{what}: still running ({time.monotonic() - started:.0f}s)")

    thread = threading.Thread(target=beat, daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join()


@dataclass(frozen=True)
class Tools:
    """Programs run in the repository's root, their output captured; a failure raises with its last lines."""

    repo_root: Path
    progress: Progress

    def run(self, argv: list[str], what: str, *, input: str | None = None, timeout: float = 3600) -> str:
        try:
            with heartbeat(what, self.progress):
                result = subprocess.run(  # noqa: S603 - fixed programs, arguments built here
                    argv, cwd=self.repo_root, input=input, capture_output=True, text=True, timeout=timeout, check=False
                )
        except FileNotFoundError as exc:
            raise Refused(f"{what}: {argv[0]} is not installed or not on PATH") from exc
        except subprocess.TimeoutExpired as exc:
            raise OpsError(f"{what} did not finish within {timeout:.0f}s") from exc
        if result.returncode != 0:
            raise OpsError(f"{what} failed (exit {result.returncode}):\n{tail(result.stderr or result.stdout)}")
        return result.stdout

    def commit(self) -> str:
        return self.run(["git", "-C", str(self.repo_root), "rev-parse", "HEAD"], "git rev-parse").strip()

    def uncommitted(self) -> list[str]:
        """Paths git sees as changed or untracked (ignored files are not)."""
        status = self.run(["git", "-C", str(self.repo_root), "status", "--porcelain"], "git status")
        return [line[3:] for line in status.splitlines() if line.strip()]

    def build_lambda(self) -> Path:
        """`make lambda-package`: governance/lambda/lambda.zip with the Lambda platform's wheels."""
        self.run([sys.executable, str(self.repo_root / "scripts" / "build_lambda.py")], "make lambda-package")
        built = (self.repo_root / "governance" / "lambda" / "lambda.zip").resolve()
        if not built.is_file():
            raise OpsError(f"the Lambda build did not produce {built}")
        return built
