"""Fixtures of the agentctl tests: an AWS emulator with a whole environment in it, and the answers it cannot give.

The emulator (moto's ThreadedMotoServer on 127.0.0.1, one per session, reset before each test) holds the ECS
cluster and services, task-definition revisions, the governance Lambda with versions and its `live` alias,
Orbit's load balancer and target group, and the tables, all named by the naming contract for another
PROJECT_NAME (`rb-test`). What the emulator cannot do (start ECS tasks, run Lambda code, report target health)
is answered at the boto3 boundary by `Emulation`: botocore event hooks on the few calls concerned, registered
on every client agentctl builds.
"""

from __future__ import annotations

import io
import json
import logging
import os
import re
import time
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import boto3
import pytest
import requests
from botocore.awsrequest import AWSResponse
from botocore.response import StreamingBody
from click.testing import CliRunner, Result
from moto.server import ThreadedMotoServer

from agent_runtime import aws
from agent_runtime.names import Names
from agent_runtime.tables import table_definitions
from tests.conftest import free_ports

PROJECT = "rb-test"


@pytest.fixture(scope="session")
def moto_url() -> Iterator[str]:
    (port,) = free_ports(1)
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no line per emulated request
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


@pytest.fixture
def aws_env(moto_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """A clean emulator, and this process's AWS configuration pointed at it (for PROJECT_NAME rb-test, env dev)."""
    requests.post(f"{moto_url}/moto-api/reset", timeout=10).raise_for_status()
    for key in list(os.environ):
        if key.startswith("AWS_ENDPOINT_URL") or key in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_DEFAULT_PROFILE"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_url)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("PROJECT_NAME", PROJECT)
    monkeypatch.setenv("ENVIRONMENT", "dev")
    monkeypatch.setenv("AGENTCTL_POLL_SECONDS", "0.05")
    return moto_url


# --- what the emulator cannot answer ----------------------------------------------------------------------


@dataclass
class Emulation:
    """Answers for the calls the emulator cannot give, injected at the boto3 boundary.

    - ECS DescribeServices: moto starts no task and keeps the deployment it created with the service. Here each
      service reports one PRIMARY deployment of its current task definition with every desired task running,
      unless that task definition is in `failing` (then it never gets a running task and ECS's circuit breaker
      marks the rollout FAILED after `fail_after` polls), or `running` holds a queue of running counts to
      report first; a StopTask leaves `stopped_service` one task short until ECS "replaces" it.
    - Lambda Invoke: moto cannot run Lambda code without Docker; `decision` is what the function answers.
    - ELBv2 DescribeTargetHealth: `targets` is the state of each of Orbit's targets.
    - X-Ray GetTraceSummaries: moto refuses filter expressions; agentctl's are answered from moto's traces.
    """

    failing: set[str] = field(default_factory=set)
    fail_after: int = 3
    running: dict[str, list[int]] = field(default_factory=dict)
    # After a StopTask, the service `stopped_service` is one task short for `replace_after` polls (None: forever).
    stopped_service: str = f"{PROJECT}-axon"
    replace_after: int | None = 3
    decision: dict[str, Any] | None = field(
        default_factory=lambda: {"outcome": "deny", "decision_time_ms": 1.2, "policy_set_version": 1}
    )
    targets: list[str] = field(default_factory=lambda: ["healthy", "healthy"])
    calls: dict[str, int] = field(default_factory=dict)
    _desired: dict[str, int] = field(default_factory=dict)
    invocations: list[dict[str, Any]] = field(default_factory=list)
    trace_filters: list[str | None] = field(default_factory=list)

    def count(self, name: str) -> int:
        self.calls[name] = self.calls.get(name, 0) + 1
        return self.calls[name]

    def describe_services(self, parsed: dict[str, Any], **_: Any) -> None:
        polls = self.count("DescribeServices")
        for service in parsed.get("services", []):
            task_definition = service["taskDefinition"]
            desired = service["desiredCount"]
            self._desired[service["serviceName"]] = desired
            failing = task_definition in self.failing
            queue = self.running.get(service["serviceName"])
            running = 0 if failing else (queue.pop(0) if queue else desired)
            state = "COMPLETED" if running >= desired else "IN_PROGRESS"
            if failing and polls >= self.fail_after:
                state = "FAILED"
            service["runningCount"] = running
            service["pendingCount"] = max(0, desired - running)
            service["deployments"] = [
                {
                    "id": "ecs-svc/1",
                    "status": "PRIMARY",
                    "taskDefinition": task_definition,
                    "desiredCount": desired,
                    "runningCount": running,
                    "pendingCount": max(0, desired - running),
                    "failedTasks": 2 if state == "FAILED" else 0,
                    "rolloutState": state,
                    "rolloutStateReason": "tasks failed to start" if state == "FAILED" else f"{state.lower()}",
                }
            ]

    def stop_task(self, **_: Any) -> None:
        service = self.stopped_service
        desired = self._desired.get(service, 1)
        self.running[service] = [desired - 1] * (self.replace_after if self.replace_after is not None else 10**6)

    def invoke(self, params: dict[str, Any], **_: Any) -> tuple[AWSResponse, dict[str, Any]] | None:
        # `params` is the serialised request: /2015-03-31/functions/<name>/invocations?Qualifier=...
        self.invocations.append(
            {
                "FunctionName": params["url_path"].split("/")[3],
                "Qualifier": params.get("query_string", {}).get("Qualifier"),
                "Payload": json.loads(params.get("body") or b"null"),
            }
        )
        if self.decision is None:
            body = json.dumps({"errorMessage": "boom", "errorType": "RuntimeError"}).encode()
            parsed = {"StatusCode": 200, "FunctionError": "Unhandled"}
        else:
            body = json.dumps(self.decision).encode()
            parsed = {"StatusCode": 200}
        parsed["Payload"] = StreamingBody(io.BytesIO(body), len(body))
        return AWSResponse("https://lambda.invalid", 200, {}, None), parsed

    def target_health(self, **_: Any) -> tuple[AWSResponse, dict[str, Any]]:
        descriptions = [
            {"Target": {"Id": f"10.0.1.{i + 10}", "Port": 8080}, "TargetHealth": {"State": state}}
            for i, state in enumerate(self.targets)
        ]
        return AWSResponse("https://elb.invalid", 200, {}, None), {"TargetHealthDescriptions": descriptions}

    def trace_summaries(self, params: dict[str, Any], **_: Any) -> tuple[AWSResponse, dict[str, Any]]:
        """moto's GetTraceSummaries refuses every filter expression: answer agentctl's one form
        (`annotation.KEY = "VALUE"`) from the traces the emulator holds, read back with BatchGetTraces."""
        body = json.loads(params.get("body") or b"{}")
        self.trace_filters.append(body.get("FilterExpression"))
        match = re.fullmatch(r'annotation\.(\w+) = "(.*)"', body.get("FilterExpression") or "")
        if match is None:
            raise AssertionError(f"a filter expression agentctl does not send: {body.get('FilterExpression')!r}")
        xray = boto3.client("xray")  # not through agent_runtime.aws: no hook on this one
        ids = [s["Id"] for s in xray.get_trace_summaries(StartTime=0, EndTime=time.time() + 60)["TraceSummaries"]]
        summaries = []
        for found in xray.batch_get_traces(TraceIds=ids)["Traces"] if ids else []:
            documents = [json.loads(segment["Document"]) for segment in found["Segments"]]
            if any(d.get("annotations", {}).get(match[1]) == match[2] for d in _documents(documents)):
                start = min(d["start_time"] for d in documents)
                summaries.append({"Id": found["Id"], "StartTime": start})
        return AWSResponse("https://xray.invalid", 200, {}, None), {"TraceSummaries": summaries}

    def register(self, client: Any) -> None:
        service_id = client.meta.service_model.service_id.hyphenize()
        events = client.meta.events
        if service_id == "ecs":
            events.register("after-call.ecs.DescribeServices", self.describe_services)
            events.register("after-call.ecs.StopTask", self.stop_task)
        elif service_id == "lambda":
            events.register("before-call.lambda.Invoke", self.invoke)
        elif service_id == "xray":
            events.register("before-call.xray.GetTraceSummaries", self.trace_summaries)
        elif service_id.startswith("elastic-load-balancing"):
            events.register(f"before-call.{service_id}.DescribeTargetHealth", self.target_health)


def _documents(documents: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for document in documents:
        yield document
        yield from _documents(document.get("subsegments", []))


@pytest.fixture
def emulation(aws_env: str, monkeypatch: pytest.MonkeyPatch) -> Emulation:
    """Every boto3 client agentctl builds (through agent_runtime.aws.client) gets the Emulation's hooks."""
    emulation = Emulation()
    original: Callable[..., Any] = aws.client

    def client(service: str, **kwargs: Any) -> Any:
        built = original(service, **kwargs)
        emulation.register(built)
        return built

    monkeypatch.setattr(aws, "client", client)
    return emulation


# --- an environment in the emulator ----------------------------------------------------------------------


@dataclass
class World:
    names: Names
    task_definitions: dict[str, list[str]]  # service -> ARNs by revision (index 0 = revision 1)
    target_group_arn: str
    subnet: str
    security_group: str

    def client(self, service: str) -> Any:
        return boto3.client(service)

    def service(self, service: str) -> dict[str, Any]:
        return self.client("ecs").describe_services(cluster=self.names.cluster, services=[self.names.service(service)])[
            "services"
        ][0]

    def alias_version(self) -> str:
        return self.client("lambda").get_alias(
            FunctionName=self.names.governance_function, Name=self.names.governance_alias
        )["FunctionVersion"]


def _zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("governance/handler.py", "def lambda_handler(event, context):\n    return {}\n")
    return buffer.getvalue()


def register_revision(ecs: Any, names: Names, service: str, tag: str) -> str:
    return ecs.register_task_definition(
        family=names.service(service),
        containerDefinitions=[
            {
                "name": service,
                "image": f"123456789012.dkr.ecr.us-east-1.amazonaws.com/{PROJECT}/{service}:{tag}",
                "memory": 512,
            }
        ],
        requiresCompatibilities=["FARGATE"],
        networkMode="awsvpc",
        cpu="256",
        memory="512",
    )["taskDefinition"]["taskDefinitionArn"]


def build_world(revisions: dict[str, int] | None = None, lambda_versions: int = 3) -> World:
    """Cluster, services on their newest revision, the Lambda with versions 1..n and `live` on n, tables."""
    names = Names(PROJECT)
    revisions = revisions or {"orbit": 2, "axon": 3}
    ec2 = boto3.client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.1.0/24")["Subnet"]["SubnetId"]
    group = ec2.create_security_group(GroupName="tasks", Description="tasks", VpcId=vpc)["GroupId"]
    elbv2 = boto3.client("elbv2")
    target_group = elbv2.create_target_group(
        Name=f"{PROJECT}-orbit", Protocol="HTTP", Port=8080, VpcId=vpc, TargetType="ip"
    )["TargetGroups"][0]["TargetGroupArn"]

    ecs = boto3.client("ecs")
    ecs.create_cluster(clusterName=names.cluster)
    task_definitions: dict[str, list[str]] = {}
    for service, count in revisions.items():
        task_definitions[service] = [register_revision(ecs, names, service, f"commit{n}") for n in range(1, count + 1)]
        extra: dict[str, Any] = {}
        if service == "orbit":
            extra["loadBalancers"] = [{"targetGroupArn": target_group, "containerName": "orbit", "containerPort": 8080}]
        ecs.create_service(
            cluster=names.cluster,
            serviceName=names.service(service),
            taskDefinition=task_definitions[service][-1],
            desiredCount=2,
            launchType="FARGATE",
            networkConfiguration={"awsvpcConfiguration": {"subnets": [subnet], "securityGroups": [group]}},
            **extra,
        )

    role = boto3.client("iam").create_role(RoleName=f"{PROJECT}-governance", AssumeRolePolicyDocument="{}")
    lam = boto3.client("lambda")
    lam.create_function(
        FunctionName=names.governance_function,
        Runtime="python3.12",
        Role=role["Role"]["Arn"],
        Handler="governance.handler.lambda_handler",
        Code={"ZipFile": _zip()},
        Publish=True,
    )
    for _ in range(lambda_versions - 1):
        lam.update_function_code(FunctionName=names.governance_function, ZipFile=_zip(), Publish=True)
    lam.create_alias(
        FunctionName=names.governance_function, Name=names.governance_alias, FunctionVersion=str(lambda_versions)
    )
    lam.put_function_concurrency(FunctionName=names.governance_function, ReservedConcurrentExecutions=10)

    dynamodb = boto3.client("dynamodb")
    for definition in table_definitions(names):
        definition = {k: v for k, v in definition.items() if k != "TimeToLive"}
        dynamodb.create_table(**definition)
    return World(names, task_definitions, target_group, subnet, group)


@pytest.fixture
def world(emulation: Emulation) -> World:
    return build_world()


# --- running agentctl --------------------------------------------------------------------------------------


def run(*args: str, input: str | None = None) -> Result:
    """agentctl in this process (Click's CliRunner), with stdout and stderr kept apart."""
    from agentctl.main import cli

    return CliRunner().invoke(cli, list(args), input=input, catch_exceptions=False)


@pytest.fixture
def agentctl() -> Callable[..., Result]:
    return run
