"""Where agentctl acts: one interface over the local stack and an AWS environment.

agentctl.context builds one `Platform` from the global options (--env, --project) and the settings, and every
command hands it down. Whatever differs between the local stack and AWS is a method here: how a component is
stopped, started or killed, how its health and status are read, where its logs are, and the AWS clients, all
built from one boto3 session with the platform's endpoint and region. The work functions in ops/ use only this
interface (ops/ never imports agentctl.local), and nothing writes os.environ.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import boto3

from agent_runtime import aws
from agent_runtime.names import Names
from agent_runtime.tools import ToolStore
from agentctl.ops.errors import OpsError, Refused
from agentctl.ops.waiting import Progress
from agentctl.settings import Settings

if TYPE_CHECKING:
    from agentctl.ops.deploy.workflow import DeployRequest
    from agentctl.ops.health import Check
    from agentctl.ops.logs import LogSource
    from agentctl.ops.trace import TraceSource


class _Client:
    """A client of AwsClients, built on first use and then kept (`ecs = _Client("ecs")`)."""

    def __init__(self, service: str, **config: Any) -> None:
        self.service = service
        self.config = config

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, clients: AwsClients | None, owner: type | None = None) -> Any:
        if clients is None:
            return self
        built = clients.__dict__[self.name] = clients.client(self.service, **self.config)
        return built


class AwsClients:
    """boto3 clients of one session, each built on first use with the platform's region and endpoints."""

    dynamodb = _Client("dynamodb")
    secretsmanager = _Client("secretsmanager")
    ecs = _Client("ecs")
    lambda_ = _Client("lambda")
    #: For one test invocation: a decision may take a cold start, and is never retried.
    invoker = _Client("lambda", read_timeout=10, max_attempts=1)
    logs = _Client("logs")
    xray = _Client("xray")
    ecr = _Client("ecr")
    sts = _Client("sts")
    elbv2 = _Client("elbv2")
    autoscaling = _Client("application-autoscaling")

    def __init__(self, session: boto3.session.Session, region: str, endpoints: Mapping[str, str] | None = None):
        self.session = session
        self.region = region
        self._endpoints = dict(endpoints or {})

    def client(self, service: str, **config: Any) -> Any:
        """A new client (`config`: agent_runtime.aws.client's timeouts and retries)."""
        endpoint = self._endpoints.get(service, self._endpoints.get("*"))
        return aws.client(service, session=self.session, endpoint_url=endpoint, region_name=self.region, **config)


class Crash(ABC):
    """How one component dies on a platform and comes back by itself: the kill drill's platform-specific steps."""

    #: What is killed, for the confirmation question: "the axon process", "one axon task".
    victim: str

    @abstractmethod
    def hypothesis(self, timeout: float) -> str: ...

    @abstractmethod
    def inject(self, reason: str) -> dict[str, Any]:
        """Kill it; Refused when there is nothing to kill. Returns what was done."""

    @abstractmethod
    def watch(self, timeout: float) -> dict[str, Any]:
        """Wait until it is back (WaitTimeout otherwise); returns the observations, `mttr_seconds` among them."""

    @abstractmethod
    def restore(self) -> dict[str, Any]:
        """Make sure it runs again (after a failed observation too)."""

    @abstractmethod
    def verdict(self, recovered: bool, observations: dict[str, Any], timeout: float) -> str: ...


class Deployment(ABC):
    """One deploy, planned: `run` carries it out; `report` holds what it did so far (also after a failure)."""

    report: dict[str, Any]

    @abstractmethod
    def run(self) -> dict[str, Any]: ...


@dataclass
class Platform(ABC):
    """The local stack or one AWS environment (see the module's docstring)."""

    env: str
    settings: Settings
    clients: AwsClients
    progress: Progress
    #: Seconds a chaos drill waits for recovery unless told otherwise.
    drill_timeout: float = 600.0
    #: What `stop` changed, to be put back by `start`.
    stopped: dict[str, Any] = field(default_factory=dict, init=False, repr=False)

    @property
    def names(self) -> Names:
        return self.settings.names

    @property
    def region(self) -> str:
        return self.clients.region

    @property
    @abstractmethod
    def is_local(self) -> bool: ...

    @property
    def orbit_url(self) -> str | None:
        """Orbit's base URL when the platform knows it (in AWS it is behind an internal load balancer)."""
        return None

    @property
    def client_key_kms(self) -> str | None:
        """The KMS key that encrypts the secrets Orbit reads: client credentials and MCP targets' bearer tokens
        (None: Secrets Manager's default key)."""
        return None

    @property
    def axon_url(self) -> str | None:
        """Axon's base URL when this machine can reach it (the built-in MCP target `axon` is its /mcp)."""
        return None

    def tool_store(self) -> ToolStore:
        """The MCP targets and their tools (the tools table; Orbit reads what is stored here)."""
        return ToolStore(self.clients.dynamodb, self.names.tools_table)

    def refuse_prod(self, allowed: bool, flag: str = "--allow-prod") -> None:
        if self.env == "prod" and not allowed:
            raise Refused(f"refusing to act on prod without {flag}")

    def refuse_local(self, why: str) -> None:
        """For operations that exist only in AWS; `why` says what to do instead."""
        if self.is_local:
            raise Refused(why)

    # --- reading ------------------------------------------------------------------------------------------

    @abstractmethod
    def health(self) -> list[Check]:
        """One check per component, each a real call."""

    @abstractmethod
    def status(self) -> dict[str, Any]:
        """What runs and at which version; a part that cannot be read is reported, not raised."""

    @abstractmethod
    def logs(self, service: str) -> LogSource: ...

    @abstractmethod
    def traces(self) -> TraceSource:
        """Where the spans of this platform's calls are read back."""

    @abstractmethod
    def axon_requests(self, marker: str) -> Callable[[], int]:
        """A counter started now: how many requests carrying `marker` Axon has answered since."""

    # --- acting -------------------------------------------------------------------------------------------

    @abstractmethod
    def stop(self, component: str, timeout: float) -> dict[str, Any]:
        """Take `component` away (what an outage drill injects); returns what was done."""

    @abstractmethod
    def start(self, component: str, timeout: float) -> dict[str, Any] | None:
        """Undo `stop` (None when there was nothing to undo); returns what was done."""

    @abstractmethod
    def crash(self, component: str) -> Crash:
        """How `component` is killed here; OpsError when it cannot be."""

    @abstractmethod
    def rotate_service_key(self, secret: str) -> str:
        """Rotate a service's key now; returns the new version id."""

    @abstractmethod
    def deployment(self, request: DeployRequest) -> Deployment:
        """The deploy of this platform, planned from the request (nothing done yet)."""

    def down(self) -> list[int]:
        """Stop everything this platform runs on this machine; returns the ports still in use."""
        raise OpsError("down stops the local stack; AWS environments are destroyed with terraform")
