"""Governance in process against the AWS emulator (moto): the bootstrapped tables, the policy store, and the
Lambda handler with its audit events collected."""

from __future__ import annotations

import importlib
import logging

import boto3
import pytest
from moto import mock_aws

from agent_runtime import receipts
from agent_runtime.names import Names
from agentctl.local.bootstrap import bootstrap
from governance.store import PolicyStore
from tests.conftest import ROOT

NAMES = Names("gov-test")


@pytest.fixture
def aws(monkeypatch):
    for key in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_LAMBDA", "AWS_PROFILE"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("PROJECT_NAME", NAMES.project)
    monkeypatch.setenv("GOVERNANCE_CONFIG_REFRESH_SECONDS", "0")  # every decision reads the store afresh
    with mock_aws():
        dynamodb = boto3.client("dynamodb", region_name="us-east-1")
        sm = boto3.client("secretsmanager", region_name="us-east-1")
        bootstrap(
            dynamodb,
            sm,
            NAMES,
            ROOT / "governance" / "policies" / "default",
            ROOT / "governance" / "policies" / "schema.cedarschema",
        )
        yield dynamodb, sm


@pytest.fixture
def store(aws) -> PolicyStore:
    return PolicyStore(aws[0], NAMES.policies_table)


class Context:
    function_name = "gov-test-governance"
    aws_request_id = "req-1"
    memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:gov-test-governance"

    def get_remaining_time_in_millis(self) -> int:
        return 5000


class AuditCollector(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.events: list[dict] = []

    def emit(self, record: logging.LogRecord) -> None:
        if getattr(record, "event", None) == "audit":
            self.events.append(dict(vars(record)))


@pytest.fixture
def handler(aws):
    module = importlib.reload(importlib.import_module("governance.handler"))
    collector = AuditCollector()
    logging.getLogger("governance.audit").addHandler(collector)
    module.audit_events = collector.events
    yield module
    logging.getLogger("governance.audit").removeHandler(collector)


def event(principal: str = "alice", **overrides) -> dict:
    base = {
        "principal": principal,
        "intent": "call_reasoning",
        "context": {"user_id": "u1", "request_id": "r1"},
        "source_ip": "10.0.0.7",
        "correlation_id": "corr-1",
        "request_digest": receipts.request_digest("call_reasoning", {"user_id": "u1"}),
    }
    base.update(overrides)
    return base


def tool_event(principal: str = "alice", **overrides) -> dict:
    base = {
        "kind": "tool_call",
        "principal": principal,
        "target": "payments",
        "tool": "transfer",
        "input": {"amount": 150},
        "arguments_sha256": "a" * 64,
        "request_digest": receipts.tool_call_digest("transfer", {"amount": 150}),
        "user_id": "",
        "request_id": "7",
        "source_ip": "10.0.0.9",
        "correlation_id": "corr-tool",
    }
    base.update(overrides)
    return base
