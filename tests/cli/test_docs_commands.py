"""Every agentctl command line in the runbook, the failure plan and the troubleshooting guide parses: a real
command, real options, and values its options and arguments accept (Click parses it; nothing is run)."""

from __future__ import annotations

import re
import shlex

import click
import pytest

from tests.conftest import ROOT

DOCS = ["runbook.md", "failure-resilience.md", "troubleshooting.md"]
_INLINE = re.compile(r"`([^`\n]+)`")
_STOP = {"|", "||", "&&", ";", ">", ">>", "2>&1", "&"}


def agentctl_lines(text: str) -> list[tuple[int, str, bool]]:
    """(line number, command, in a code block) of every `agentctl ...` command in the text."""
    found, in_block = [], False
    for number, line in enumerate(text.splitlines(), 1):
        if line.lstrip().startswith("```"):
            in_block = not in_block
            continue
        candidates = [line.strip()] if in_block else [m.group(1) for m in _INLINE.finditer(line)]
        for candidate in candidates:
            match = re.search(r"(?:^|\s)((?:\./)?(?:\.venv/bin/)?agentctl(?:\s.*)?)$", candidate)
            if match and not candidate.startswith("agentctl:"):
                found.append((number, match.group(1), in_block))
    return found


def parse(command: str) -> click.Context:
    from agentctl.main import cli, hoist_global_options

    words = []
    for word in shlex.split(command, comments=True)[1:]:
        if word in _STOP:
            break
        words.append(word)
    ctx = cli.make_context("agentctl", hoist_global_options(words))
    current: click.Command = cli
    rest = [*ctx._protected_args, *ctx.args]
    while isinstance(current, click.Group):
        name, sub, rest = current.resolve_command(ctx, rest)
        ctx = sub.make_context(name, rest, parent=ctx)
        current = sub
        rest = [*getattr(ctx, "_protected_args", []), *ctx.args]
    assert not rest, f"unexpected arguments {rest}"
    return ctx


@pytest.mark.parametrize("doc", DOCS)
def test_every_agentctl_line_parses(doc, monkeypatch):
    monkeypatch.setenv("ENVIRONMENT", "local")
    text = (ROOT / "docs" / doc).read_text(encoding="utf-8")
    lines = agentctl_lines(text)
    assert len(lines) >= 10, "the doc should show its procedures as agentctl commands"
    problems = []
    for number, command, in_block in lines:
        try:
            parse(command)
        except (click.exceptions.MissingParameter, click.exceptions.NoArgsIsHelpError) as exc:
            if in_block:  # a prose reference may name a command without its arguments; a command line may not
                problems.append(f"{doc}:{number}: {command}: {exc.format_message()}")
        except click.ClickException as exc:
            problems.append(f"{doc}:{number}: {command}: {exc.format_message()}")
    assert not problems, "\n".join(problems)


def test_the_parser_catches_a_wrong_option_or_value():
    with pytest.raises(click.UsageError):
        parse("agentctl rollback axon --to-version 3")
    with pytest.raises(click.BadParameter):
        parse("agentctl rollback nginx")
    with pytest.raises(click.BadParameter):
        parse("agentctl scale axon many")
    assert parse("agentctl chaos kill axon --env staging --yes").params["yes"] is True


def test_the_failure_plan_keeps_the_specifications_layout():
    text = (ROOT / "docs" / "failure-resilience.md").read_text(encoding="utf-8")
    for word in ("Symptoms", "Detection", "Recovery"):
        assert text.count(f"**{word}**") >= 5, word
    runbook = (ROOT / "docs" / "runbook.md").read_text(encoding="utf-8")
    assert len(re.findall("Procedure|Steps|Commands", runbook)) >= 5
