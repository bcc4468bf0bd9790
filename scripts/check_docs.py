"""Docs as tests: every command the docs show must exist.

- every `agentctl ...` command line in README.md and docs/*.md (code blocks and inline code) names a real command
  and real options, checked against agentctl's own Click command tree (nothing is executed);
- every `make <target>` names a target of the Makefile;
- every script named (scripts/..., tasks/...) exists, and shell scripts are executable.

Exit 1 with one line per problem. Run by tasks/test-task-7.sh.
"""

from __future__ import annotations

import os
import re
import shlex
import sys
from collections.abc import Iterator
from pathlib import Path

import click

ROOT = Path(__file__).resolve().parents[1]
_FENCE = re.compile(r"^(\s*)(```|~~~)")
_INLINE = re.compile(r"`([^`\n]+)`")
_AGENTCTL = re.compile(r"(?:^|\s|\$\s*)((?:\./)?(?:\.venv/bin/)?agentctl(?:\s.*)?)$")
_MAKE = re.compile(r"(?:^|[\s`(])make\s+([a-z][a-z0-9-]*)")
_SCRIPT = re.compile(r"(?<![\w/.-])((?:\./)?(?:scripts|tasks)/[\w.-]+\.(?:sh|py))")
_END_OF_COMMAND = {"|", "||", "&&", ";", ">", ">>", "2>&1", "#", "&"}


def docs() -> list[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def command_lines(text: str) -> Iterator[tuple[int, str]]:
    """(line number, text) of every line in a code block, joined over `\\` continuations, and inline code."""
    in_block = False
    pending: tuple[int, str] | None = None
    for number, line in enumerate(text.splitlines(), 1):
        if _FENCE.match(line):
            in_block = not in_block
            continue
        if in_block:
            if pending:
                start, joined = pending
                line, number = joined + " " + line.strip(), start
                pending = None
            if line.rstrip().endswith("\\"):
                pending = (number, line.rstrip()[:-1])
                continue
            yield number, line.strip()
        else:
            for match in _INLINE.finditer(line):
                yield number, match.group(1).strip()


def _tokens(command: str) -> list[str]:
    try:
        words = shlex.split(command, comments=False)
    except ValueError:
        words = command.split()
    tokens = []
    for word in words:
        if word in _END_OF_COMMAND or word.startswith("#"):
            break
        word = word.strip("[]")
        if word:
            tokens.append(word)
    return tokens


def _option_names(command: click.Command) -> dict[str, click.Option]:
    names: dict[str, click.Option] = {}
    for param in command.get_params(click.Context(command)):
        if isinstance(param, click.Option):
            for name in [*param.opts, *param.secondary_opts]:
                names[name] = param
    return names


def check_agentctl(command: str, cli: click.Group) -> str | None:
    """None when the command line is valid, else why not."""
    from agentctl.main import hoist_global_options

    tokens = hoist_global_options(_tokens(command)[1:])  # drop "agentctl"; global options go anywhere
    current: click.Command = cli
    path = ["agentctl"]
    while True:
        options = _option_names(current)
        # options of the current level (global options come before the subcommand)
        while tokens and tokens[0].startswith("-"):
            word = tokens.pop(0)
            name = word.split("=", 1)[0]
            if name not in options:
                return f"{' '.join(path)} has no option {name}"
            option = options[name]
            if "=" not in word and not option.is_flag and not option.count and tokens:
                tokens.pop(0)  # its value (which may hold a '=': --tool NAME=N)
        if isinstance(current, click.Group) and tokens:
            name = tokens.pop(0)
            sub = current.get_command(click.Context(current), name)
            if sub is None:
                if name.isupper() or name.startswith(("<", "$")) or "|" in name:
                    return None  # a usage placeholder such as SERVICE
                return f"{' '.join(path)} has no command {name!r}"
            current, path = sub, [*path, name]
            continue
        break
    if isinstance(current, click.Group):
        return None  # `agentctl keys` alone: shows the group's help
    options = _option_names(current)
    arguments = [p for p in current.params if isinstance(p, click.Argument)]
    positional = 0
    while tokens:
        word = tokens.pop(0)
        if word.startswith("-") and len(word) > 1:
            name = word.split("=", 1)[0]
            if name not in options:
                return f"{' '.join(path)} has no option {name}"
            option = options[name]
            if "=" not in word and not option.is_flag and not option.count and tokens:
                tokens.pop(0)
        elif "|" in word:
            continue  # usage alternatives like table|json
        else:
            positional += 1
    capacity = sum(a.nargs if a.nargs >= 0 else 10**6 for a in arguments)
    if positional > capacity:
        return f"{' '.join(path)} takes {capacity} argument(s), the docs give {positional}"
    return None


def makefile_targets() -> set[str]:
    targets = set()
    for line in (ROOT / "Makefile").read_text().splitlines():
        match = re.match(r"^([a-z][a-z0-9-]*)\s*:", line)
        if match:
            targets.add(match.group(1))
    return targets


def main() -> int:
    os.environ.setdefault("ENVIRONMENT", "local")
    from agentctl.main import cli

    targets = makefile_targets()
    problems: list[str] = []
    counts = {"agentctl": 0, "make": 0, "scripts": 0}
    for doc in docs():
        where = doc.relative_to(ROOT)
        text = doc.read_text(encoding="utf-8")
        for number, line in command_lines(text):
            match = _AGENTCTL.search(line)
            if match and not line.startswith("agentctl:"):
                counts["agentctl"] += 1
                problem = check_agentctl(match.group(1).replace(".venv/bin/", "").lstrip("./"), cli)
                if problem:
                    problems.append(f"{where}:{number}: {problem}: {match.group(1)}")
            for target in _MAKE.findall(line):
                counts["make"] += 1
                if target not in targets:
                    problems.append(f"{where}:{number}: no make target {target!r}")
        for number, line in enumerate(text.splitlines(), 1):
            for script in _SCRIPT.findall(line):
                counts["scripts"] += 1
                path = ROOT / script.removeprefix("./")
                if not path.is_file():
                    problems.append(f"{where}:{number}: no script {script}")
                elif path.suffix == ".sh" and not os.access(path, os.X_OK):
                    problems.append(f"{where}:{number}: {script} is not executable")
    for problem in problems:
        print(problem, file=sys.stderr)
    print(
        f"docs commands: {counts['agentctl']} agentctl lines, {counts['make']} make targets, "
        f"{counts['scripts']} script references checked; {len(problems)} problem(s)"
    )
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
