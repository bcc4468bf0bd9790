"""agentctl chaos: failure drills with a steady-state check before and after, an automatic restore, a report."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from agentctl.context import target
from agentctl.errors import AgentctlError
from agentctl.local.bootstrap import QUICKSTART_PRINCIPAL
from agentctl.ops import chaos as ops
from agentctl.ops import client as orbit_client
from agentctl.ops.platform import Platform
from agentctl.output import ALLOW_PROD_OPTION, OUTPUT_OPTION, YES_OPTION, check_line, confirm, emit_json, seconds_option


def _probe_target(platform: Platform, url: str | None, principal: str | None) -> ops.ProbeTarget:
    url = url or platform.orbit_url
    if url is None:
        raise click.UsageError("--url (or ORBIT_URL) is required outside the local stack: Orbit's base URL")
    try:
        credential = orbit_client.stored_credential(
            platform.clients.secretsmanager, platform.names, principal or QUICKSTART_PRINCIPAL
        )
    except orbit_client.DispatchError as exc:
        raise AgentctlError(str(exc)) from exc
    return ops.ProbeTarget(url, credential, platform.region)


def _show(report: ops.Report) -> None:
    data = report.to_dict()
    click.echo(f"drill        {report.drill} {report.target} ({report.environment}, id {report.drill_id})")
    click.echo(f"hypothesis   {report.hypothesis}")
    click.echo("steady state before:")
    for check in report.steady_state_before:
        click.echo(f"  {check_line(check)}")
    click.echo(f"fault        {json.dumps(report.fault)}")
    for key, value in report.observations.items():
        shown = json.dumps(value) if isinstance(value, (dict, list)) else value
        click.echo(f"observed     {key}: {shown}")
    click.echo(f"restore      {json.dumps(report.restore)}")
    click.echo("steady state after:")
    for check in report.steady_state_after:
        click.echo(f"  {check_line(check)}")
    if report.error:
        click.echo(f"error        {report.error}")
    click.echo(f"verdict      {report.verdict}")
    click.echo(f"result       {'PASSED' if data['passed'] else 'FAILED'}")


def _run(drill: ops.Drill, question: str, yes: bool, output: str, report_file: Path | None) -> None:
    """Confirm, run the drill, render its report; a drill that did not pass exits non-zero."""
    confirm(f"{question} in {drill.platform.env}? ({drill.hypothesis})", yes)
    report = ops.run(drill, recovery_timeout=drill.timeout)
    data: dict[str, Any] = report.to_dict()
    if report_file is not None:
        report_file.write_text(json.dumps(data, indent=2, default=str) + "\n", encoding="utf-8")
    if output == "json":
        emit_json(data)
    else:
        _show(report)
    if not report.passed:
        why = "interrupted" if report.interrupted else report.verdict
        restored = "restored" if report.restored else "NOT RESTORED: see the report's restore field"
        raise AgentctlError(f"drill {report.drill} failed ({why}); {restored}")


_COMMON = [
    seconds_option("--timeout", None, "Seconds the drill may wait for recovery (default: 60 locally, 600 in AWS)."),
    click.option(
        "--report",
        "report_file",
        type=click.Path(dir_okay=False, writable=True, path_type=Path),
        default=None,
        help="Also write the JSON report to this file.",
    ),
    YES_OPTION,
    ALLOW_PROD_OPTION,
    OUTPUT_OPTION,
]

_PROBES = [
    click.option(
        "--duration",
        type=click.FloatRange(min=1, max=3600),
        default=10,
        show_default=True,
        help="Seconds the outage lasts.",
    ),
    click.option(
        "--rate",
        type=click.FloatRange(min=0.1, max=50),
        default=5,
        show_default=True,
        help="Probe dispatches per second during the outage.",
    ),
    click.option("--url", envvar="ORBIT_URL", default=None, help="Orbit's base URL (default: the local stack's)."),
    click.option(
        "--principal",
        default=None,
        help=f"Sign the probes with this client's stored credential (default: {QUICKSTART_PRINCIPAL}).",
    ),
]


def _options(options: list[Any]) -> Callable[[Any], Any]:
    def apply(function: Any) -> Any:
        for option in reversed(options):
            function = option(function)
        return function

    return apply


@click.group()
def chaos() -> None:
    """Failure drills. Each checks the steady state, injects one fault, observes, restores automatically (also
    on Ctrl-C), checks the steady state again, and reports as JSON. Refused on prod without --allow-prod."""


@chaos.command("kill")
@click.argument("service", type=click.Choice(["axon", "orbit", "governance"]))
@_options(_COMMON)
def kill(
    service: str, timeout: float | None, report_file: Path | None, yes: bool, allow_prod: bool, output: str
) -> None:
    """Kill SERVICE and measure the time until it is back (MTTR).

    Locally the process is killed (SIGKILL) and supervisord restarts it; in AWS one random task of the ECS
    service is stopped (blast radius 1) and ECS brings the service back to its desired count.
    """
    platform = target()
    platform.refuse_prod(allow_prod)
    drill = ops.KillDrill(platform, service, timeout or platform.drill_timeout)
    _run(drill, f"Kill {drill.crash.victim}", yes, output, report_file)


@chaos.command("governance-outage")
@_options(_PROBES)
@_options(_COMMON)
def governance_outage(
    duration: float,
    rate: float,
    url: str | None,
    principal: str | None,
    timeout: float | None,
    report_file: Path | None,
    yes: bool,
    allow_prod: bool,
    output: str,
) -> None:
    """Take Governance away while probes are sent: every probe must get 503 and none may reach Axon.

    Locally the governance program is stopped; in AWS the function's reserved concurrency is set to 0 (every
    invocation throttled) and put back afterwards. Probes that reached Axon are counted from Axon's
    axon_requests_total metric locally, from Axon's log group in AWS.
    """
    platform = target()
    platform.refuse_prod(allow_prod)
    probe = _probe_target(platform, url, principal)
    drill = ops.GovernanceOutage(platform, probe, timeout or platform.drill_timeout, duration, rate)
    _run(drill, f"Take Governance down for {duration:g}s", yes, output, report_file)


@chaos.command("axon-outage")
@_options(_PROBES)
@click.option(
    "--max-latency",
    type=click.FloatRange(min=0.1),
    default=3.0,
    show_default=True,
    help="Seconds within which Orbit must answer each probe.",
)
@_options(_COMMON)
def axon_outage(
    duration: float,
    rate: float,
    url: str | None,
    principal: str | None,
    max_latency: float,
    timeout: float | None,
    report_file: Path | None,
    yes: bool,
    allow_prod: bool,
    output: str,
) -> None:
    """Take Axon away while probes are sent: Orbit must answer each with 503 quickly, never hang.

    Locally the axon program is stopped; in AWS the Axon service is scaled to 0 with its autoscaling
    suspended, and both are put back afterwards.
    """
    platform = target()
    platform.refuse_prod(allow_prod)
    probe = _probe_target(platform, url, principal)
    drill = ops.AxonOutage(platform, probe, timeout or platform.drill_timeout, duration, rate, max_latency)
    _run(drill, f"Take Axon down for {duration:g}s", yes, output, report_file)


COMMANDS = (chaos,)
