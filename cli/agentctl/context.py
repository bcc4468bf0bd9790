"""Where agentctl acts: the Platform, built once from the global options and the settings, and handed down."""

from __future__ import annotations

import click

from agentctl.local.platform import LocalPlatform
from agentctl.ops.aws_platform import AwsPlatform
from agentctl.ops.platform import Platform
from agentctl.ops.waiting import Progress
from agentctl.output import progress_line
from agentctl.settings import Settings

ENVIRONMENTS = ("local", "dev", "staging", "prod")


def build_platform(env: str, project: str | None) -> Platform:
    """The local stack (env local) or an AWS environment; every setting read and checked now."""
    settings = Settings.from_env(project=project)
    progress = Progress(progress_line, settings.poll_interval)
    if env == "local":
        return LocalPlatform.create(settings, progress)
    return AwsPlatform.create(env, settings, progress)


def target() -> Platform:
    """The Platform set up by the top-level command."""
    return click.get_current_context().find_object(Platform)
