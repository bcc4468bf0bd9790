"""agentctl's entry point: global options, command registration, one readable line for every error."""

from __future__ import annotations

import importlib
import pkgutil
import sys
from typing import Any

import click

from agentctl.context import ENVIRONMENTS, build_platform
from agentctl.errors import EXIT_USAGE, AgentctlError, translate

GLOBAL_OPTIONS = ("--env", "--project")


def hoist_global_options(args: list[str]) -> list[str]:
    """`agentctl deploy --env dev` means `agentctl --env dev deploy`: global options are accepted anywhere."""
    hoisted: list[str] = []
    rest: list[str] = []
    tokens = iter(args)
    for token in tokens:
        name = token.split("=", 1)[0]
        if name in GLOBAL_OPTIONS and rest:
            hoisted.append(token)
            if "=" not in token:
                hoisted.append(next(tokens, ""))
        else:
            rest.append(token)
    return hoisted + rest


class _Group(click.Group):
    """Turns any exception from a command into one line on stderr and a non-zero exit, never a traceback; a
    closed output pipe ends the command quietly."""

    def main(self, args: Any = None, *extra: Any, **kwargs: Any) -> Any:
        args = hoist_global_options(list(sys.argv[1:] if args is None else args))
        return super().main(args, *extra, **kwargs)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except click.UsageError as exc:
            # One line, not Click's three: what was wrong and where to look.
            where = exc.ctx.command_path if exc.ctx else ctx.command_path
            raise AgentctlError(f"{where}: {exc.format_message()} (see --help)", EXIT_USAGE) from exc
        except (click.exceptions.Exit, click.exceptions.Abort, click.ClickException):
            raise
        except BrokenPipeError:
            # Whoever read our output went away (`agentctl logs | head`): Click's main ends quietly, for every
            # command, with no "Broken pipe" line and no flush error at exit.
            raise
        except Exception as exc:  # the single place where errors become a readable line
            raise translate(exc) from exc


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--env",
    "env",
    type=click.Choice(ENVIRONMENTS),
    envvar="ENVIRONMENT",
    default="local",
    show_default="ENVIRONMENT or local",
    help="Where to act.",
)
@click.option("--project", default=None, help="PROJECT_NAME (default: $PROJECT_NAME or agent-runtime).")
@click.version_option(package_name="agent-runtime")
@click.pass_context
def cli(ctx: click.Context, env: str, project: str | None) -> None:
    """Operate agent-runtime: deploy, check health, manage keys and policies, roll back, recover."""
    ctx.obj = build_platform(env, project)


def _register() -> None:
    """Every module of agentctl.commands contributes its COMMANDS: one module per command (group)."""
    import agentctl.commands

    for info in sorted(pkgutil.iter_modules(agentctl.commands.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"agentctl.commands.{info.name}")
        for command in module.COMMANDS:
            cli.add_command(command)


_register()
