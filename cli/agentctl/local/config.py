"""The local stack's configuration: where its state lives, its ports, project and region, and what an AWS
client needs to reach it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from agent_runtime.names import Names
from agentctl.settings import Ports

PROGRAMS = ("emulator", "governance", "axon", "orbit")
LOCAL_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
#: The log stream of each worker (a warm instance) of the governance Lambda API, in the stack's logs folder.
INSTANCE_LOGS = "governance-instance-*.log"


def instance_log(logs: Path, slot: int) -> Path:
    return logs / INSTANCE_LOGS.replace("*", str(slot))


@dataclass(frozen=True)
class LocalStack:
    """One local stack. Everything it writes (supervisord's files, logs, the emulator's journal, metrics files)
    lives in its git-ignored state folder."""

    state_dir: Path
    ports: Ports
    project: str
    region: str = "us-east-1"
    external_endpoint: str | None = None  # a user's LocalStack: no emulator of ours

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

    @property
    def endpoints(self) -> dict[str, str]:
        """The AWS endpoints of this stack: the emulator for every service, the Lambda API for Lambda."""
        return {"*": self.endpoint, "lambda": self.url("governance")}

    def aws_env(self) -> dict[str, str]:
        """The environment a process (a program of the stack, a test, a benchmark) needs to talk to this stack."""
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
