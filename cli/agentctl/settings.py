"""agentctl's settings: every environment variable agentctl reads, read once at start-up and checked.

The AGENTCTL_* variables are read the way the services read theirs (agent_runtime.settings). Nothing else in
agentctl reads its configuration from the environment (the AWS SDK's own variables excepted:
boto3 reads AWS_PROFILE, AWS_ENDPOINT_URL and the credentials itself), and nothing writes the environment: the
values are handed down in this frozen object.

| variable | meaning | default |
| --- | --- | --- |
| PROJECT_NAME | the naming contract's prefix (`--project` wins) | agent-runtime |
| AGENTCTL_POLL_SECONDS | seconds between two polls of a long wait | 5 |
| AGENTCTL_LOG_SETTLE_SECONDS | seconds a drill waits for Axon's log lines to reach CloudWatch Logs | 15 |
| AGENTCTL_TERRAFORM | the terraform binary to use instead of the first one on PATH | - |
| AGENTCTL_STATE_BUCKET | Terraform's state bucket (`--state-bucket` wins) | ${PROJECT_NAME}-terraform-state-${ENV} |
| TF_VAR_certificate_arn | Terraform's own variable: the load balancer's certificate | - |
| AGENT_RUNTIME_STATE_DIR | the local stack's state folder | .local/ at the repository root |
| ORBIT_PORT, AXON_PORT, GOVERNANCE_PORT, AWS_EMULATOR_PORT | the local stack's ports | 8080, 8081, 9001, 4566 |
| AWS_ENDPOINT_URL | for the local stack: a user's LocalStack instead of the bundled emulator | - |
| AWS_REGION, AWS_DEFAULT_REGION | for the local stack (on its first start): its region | us-east-1 |
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from agent_runtime.names import DEFAULT_PROJECT_NAME, Names, project_name
from agent_runtime.settings import SettingsError, load, require

REPO_ROOT = Path(__file__).resolve().parents[2]
#: The variable that names the local stack's state folder (its programs get it too).
STATE_ENV = "AGENT_RUNTIME_STATE_DIR"
MIN_POLL_SECONDS = 0.05


@dataclass(frozen=True)
class Ports:
    """The local stack's ports on 127.0.0.1."""

    orbit: int = 8080
    axon: int = 8081
    governance: int = 9001
    emulator: int = 4566

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Ports:
        def port(name: str, default: int) -> int:
            value = env.get(name, str(default))
            if not value.isdigit() or not 1 <= int(value) <= 65535:
                raise SettingsError(f"{name}={value!r} is not a port number")
            return int(value)

        return cls(
            orbit=port("ORBIT_PORT", cls.orbit),
            axon=port("AXON_PORT", cls.axon),
            governance=port("GOVERNANCE_PORT", cls.governance),
            emulator=port("AWS_EMULATOR_PORT", cls.emulator),
        )


def _seconds(value: float) -> bool:
    return math.isfinite(value) and value >= 0


@dataclass(frozen=True)
class Settings:
    """The AGENTCTL_* fields are read by agent_runtime.settings (AGENTCTL_POLL_SECONDS for poll_seconds, ...);
    the others are given by `from_env`."""

    PREFIX: ClassVar[str] = "AGENTCTL_"

    names: Names
    poll_seconds: float = 5.0
    #: CloudWatch Logs delivers ECS log lines within seconds; a drill's count of Axon's lines waits this long.
    log_settle_seconds: float = 15.0
    terraform: str | None = None
    state_bucket: str | None = None
    certificate_arn: str | None = None
    state_dir: Path = REPO_ROOT / ".local"
    ports: Ports = Ports()
    local_endpoint: str | None = None
    local_region: str = "us-east-1"
    repo_root: Path = REPO_ROOT

    def check(self) -> None:
        require(self, "poll_seconds", _seconds, "must be a number of seconds, 0 or more")
        require(self, "log_settle_seconds", _seconds, "must be a number of seconds, 0 or more")

    @property
    def poll_interval(self) -> float:
        """Seconds between two polls (never below MIN_POLL_SECONDS, which a test may still ask for)."""
        return max(MIN_POLL_SECONDS, self.poll_seconds)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, project: str | None = None) -> Settings:
        """Read and check every variable; SettingsError names the first one that is wrong."""
        env = os.environ if env is None else env
        try:
            names = Names(project_name(project or env.get("PROJECT_NAME", DEFAULT_PROJECT_NAME)))
        except ValueError as exc:
            raise SettingsError(str(exc)) from None
        return load(
            cls,
            env,
            names=names,
            certificate_arn=env.get("TF_VAR_certificate_arn") or None,
            state_dir=Path(env.get(STATE_ENV) or REPO_ROOT / ".local").resolve(),
            ports=Ports.from_env(env),
            local_endpoint=env.get("AWS_ENDPOINT_URL") or None,
            local_region=env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or "us-east-1",
            repo_root=REPO_ROOT,
        )
