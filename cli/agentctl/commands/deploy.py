"""agentctl deploy / agentctl down: bring an environment up, take the local stack down."""

from __future__ import annotations

import click

from agentctl.context import target
from agentctl.errors import AgentctlError
from agentctl.local import stack as local_stack
from agentctl.output import OUTPUT_OPTION, emit_json, progress


def _local_summary(result: dict, stack: local_stack.LocalStack) -> str:
    return "\n".join(
        [
            "",
            f"agent-runtime is running locally (PROJECT_NAME={stack.project}, ENVIRONMENT=local)",
            f"  Orbit         {result['urls']['orbit']}   POST /dispatch, GET /health, GET /metrics",
            f"  Axon          {result['urls']['axon']}   GET /health, GET|POST /reason (signed by Orbit)",
            f"  Governance    {result['urls']['governance']}   Lambda Invoke API, "
            f"function {stack.names.governance_function}:live",
            f"  AWS emulator  {result['endpoint']}",
            f"  State & logs  {result['state_dir']}",
            "",
            "Send a first signed request:",
            '  .venv/bin/agentctl dispatch --intent call_reasoning --context \'{"user_id": "u1"}\'',
            "",
            "Check health: .venv/bin/agentctl health      Stop everything: make down",
        ]
    )


@click.command()
@click.option("--plan-only", is_flag=True, help="Show every step without changing anything (AWS environments).")
@OUTPUT_OPTION
def deploy(plan_only: bool, output: str) -> None:
    """Deploy the environment chosen with --env (default: the local stack)."""
    tgt = target()
    if not tgt.is_local:
        raise AgentctlError(f"deploying to {tgt.env} is not available in this version; see docs/setup-guide.md")
    if plan_only:
        raise AgentctlError("--plan-only applies to AWS environments; the local stack has nothing to plan")
    result = local_stack.deploy(tgt.stack, progress)
    if output == "json":
        emit_json(result)
    else:
        click.echo(_local_summary(result, tgt.stack))


@click.command()
def down() -> None:
    """Stop the local stack: every process, every port."""
    tgt = target()
    if not tgt.is_local:
        raise AgentctlError("down stops the local stack; AWS environments are destroyed with terraform")
    busy = local_stack.down(tgt.stack, progress)
    if busy:
        raise AgentctlError(f"ports still in use after stopping the stack: {', '.join(map(str, busy))}")
    click.echo("local stack stopped; nothing left listening")


COMMANDS = (deploy, down)
