"""boto3 clients built the standard way, so AWS_ENDPOINT_URL, AWS_REGION and AWS_PROFILE work as expected."""

from __future__ import annotations

import os
from typing import Any

import boto3
from botocore.config import Config

DEFAULT_REGION = "us-east-1"


def region() -> str:
    return os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or DEFAULT_REGION


def client(
    service: str,
    *,
    connect_timeout: float = 2.0,
    read_timeout: float = 5.0,
    max_attempts: int = 3,
    max_pool_connections: int = 20,
) -> Any:
    """A boto3 client with explicit timeouts and botocore's standard retry mode (backoff with jitter).

    The endpoint comes from boto3's own configuration chain (AWS_ENDPOINT_URL, AWS_ENDPOINT_URL_<SERVICE>,
    the profile), never from code.
    """
    config = Config(
        region_name=region(),
        connect_timeout=connect_timeout,
        read_timeout=read_timeout,
        retries={"mode": "standard", "max_attempts": max_attempts},
        max_pool_connections=max_pool_connections,
        tcp_keepalive=True,
    )
    return boto3.session.Session().client(service, config=config)
