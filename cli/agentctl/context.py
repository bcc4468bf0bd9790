"""Where agentctl acts: the local stack or an AWS environment, and the names that go with it."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import click

from agent_runtime import aws
from agent_runtime.names import Names
from agentctl.errors import EXIT_REFUSED, AgentctlError
from agentctl.local.stack import LocalStack

ENVIRONMENTS = ("local", "dev", "staging", "prod")


@dataclass
class Target:
    env: str
    names: Names
    stack: LocalStack | None  # set for env=local

    @property
    def is_local(self) -> bool:
        return self.env == "local"

    def client(self, service: str, **kwargs: Any) -> Any:
        return aws.client(service, **kwargs)

    @property
    def client_key_kms(self) -> str | None:
        """Client credentials are encrypted with Orbit's KMS key in AWS (Terraform's alias)."""
        return None if self.is_local else f"alias/{self.names.project}-orbit"

    def refuse_prod(self, allowed: bool, flag: str = "--allow-prod") -> None:
        if self.env == "prod" and not allowed:
            raise AgentctlError(f"refusing to act on prod without {flag}", EXIT_REFUSED)


def resolve_target(env: str, project: str | None) -> Target:
    if project:
        os.environ["PROJECT_NAME"] = project
    try:
        names = Names.from_env()
    except ValueError as exc:
        raise AgentctlError(str(exc)) from exc
    if env != "local":
        os.environ["ENVIRONMENT"] = env
        return Target(env, names, None)
    stack = LocalStack.from_env()
    # Every AWS client agentctl builds from here on talks to the local stack.
    os.environ.update(stack.aws_env())
    return Target(env, stack.names, stack)


def target() -> Target:
    """The Target set up by the top-level command."""
    return click.get_current_context().find_object(Target)
