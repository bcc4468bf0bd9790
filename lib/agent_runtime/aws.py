"""boto3 clients built the standard way, so AWS_ENDPOINT_URL, AWS_REGION and AWS_PROFILE work as expected."""

from __future__ import annotations

import os
from typing import Any

import boto3
from botocore.config import Config

DEFAULT_REGION = "us-east-1"


def region(session: boto3.session.Session | None = None) -> str:
    """AWS_REGION (what the AWS SDKs and Lambda set; botocore itself does not read it), then boto3's own chain
    (AWS_DEFAULT_REGION, then the profile in the config file), else us-east-1."""
    return os.environ.get("AWS_REGION") or (session or boto3.session.Session()).region_name or DEFAULT_REGION


def client(
    service: str,
    *,
    connect_timeout: float = 2.0,
    read_timeout: float = 5.0,
    max_attempts: int = 3,
    max_pool_connections: int = 20,
    session: boto3.session.Session | None = None,
    endpoint_url: str | None = None,
    region_name: str | None = None,
) -> Any:
    """A boto3 client with explicit timeouts and botocore's standard retry mode (backoff with jitter).

    The region and the endpoint come from boto3's own configuration chain (AWS_REGION, AWS_ENDPOINT_URL,
    AWS_ENDPOINT_URL_<SERVICE>, the profile and its config file) unless a caller that holds its own `session`
    (agentctl's platform) names them: agentctl's local platform talks to the stack in the stack's region, whatever
    AWS_REGION says.
    """
    session = session or boto3.session.Session()
    config = Config(
        region_name=region_name or region(session),
        connect_timeout=connect_timeout,
        read_timeout=read_timeout,
        retries={"mode": "standard", "max_attempts": max_attempts},
        max_pool_connections=max_pool_connections,
        tcp_keepalive=True,
    )
    return session.client(service, config=config, **({"endpoint_url": endpoint_url} if endpoint_url else {}))
