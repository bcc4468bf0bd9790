"""What `terraform validate` would catch first, checked without providers: every var., local., module., data.,
ephemeral. and resource reference resolves to a declaration, and every module call passes known, complete inputs."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from .hcl_tools import (
    ENVS,
    MODULES,
    blocks,
    env_dirs,
    locals_of,
    module_dirs,
    outputs_of,
    parse_dir,
    parse_text,
    variables_of,
)

META_ARGUMENTS = {"source", "version", "providers", "depends_on", "count", "for_each"}
_REFERENCE = re.compile(
    r"(?<![\w.])(?:(var|local)\.(\w+)|module\.(\w+)\.(\w+)|(data|ephemeral)\.(\w+)\.(\w+)|"
    r"((?:aws|random|tls)_\w+)\.([A-Za-z_][\w-]*))"
)


def _strip_comments(text: str) -> str:
    lines = []
    for line in text.splitlines():
        in_string = False
        cut = len(line)
        for index, char in enumerate(line):
            if char == '"' and (index == 0 or line[index - 1] != "\\"):
                in_string = not in_string
            elif not in_string and (char == "#" or line.startswith("//", index)):
                cut = index
                break
        lines.append(line[:cut])
    return "\n".join(lines)


def unresolved_references(texts: list[str], module_outputs: dict[str, set[str]] | None = None) -> list[str]:
    """References in the HCL `texts` (one module) that name nothing declared in it."""
    docs = [parse_text(text) for text in texts]
    variables = set(variables_of(docs))
    local_names = set(locals_of(docs))
    declared = {
        kind: {(block.type, block.name) for block in blocks(docs, kind)} for kind in ("resource", "data", "ephemeral")
    }
    calls = {name for doc in docs for entry in doc.get("module", []) for name in entry}
    problems = []
    for text in texts:
        for match in _REFERENCE.finditer(_strip_comments(text)):
            kind, name, module, output, block_kind, block_type, block_name, res_type, res_name = match.groups()
            if kind == "var" and name not in variables:
                problems.append(f"var.{name}")
            elif kind == "local" and name not in local_names:
                problems.append(f"local.{name}")
            elif module and module not in calls:
                problems.append(f"module.{module}")
            elif module and module_outputs is not None and output not in module_outputs.get(module, set()):
                problems.append(f"module.{module}.{output}")
            elif block_kind and (block_type, block_name) not in declared[block_kind]:
                problems.append(f"{block_kind}.{block_type}.{block_name}")
            elif res_type and (res_type, res_name) not in declared["resource"]:
                problems.append(f"{res_type}.{res_name}")
    return sorted(set(problems))


def _texts(directory: Path) -> list[str]:
    return [path.read_text(encoding="utf-8") for path in sorted(directory.glob("*.tf"))]


def _module_calls(directory: Path) -> dict[str, dict]:
    return {
        name: body for doc in parse_dir(directory) for entry in doc.get("module", []) for name, body in entry.items()
    }


def _called_outputs(directory: Path) -> dict[str, set[str]]:
    outputs = {}
    for name, body in _module_calls(directory).items():
        target = (directory / body["source"]).resolve()
        outputs[name] = set(outputs_of(parse_dir(target)))
    return outputs


@pytest.mark.parametrize("directory", [*module_dirs(), *env_dirs()], ids=lambda path: f"{path.parent.name}/{path.name}")
def test_every_reference_resolves(directory):
    assert unresolved_references(_texts(directory), _called_outputs(directory)) == []


@pytest.mark.parametrize("directory", [MODULES / "stack", *env_dirs()], ids=lambda path: path.name)
def test_module_calls_pass_known_and_complete_inputs(directory):
    for name, body in _module_calls(directory).items():
        target = (directory / body["source"]).resolve()
        assert target.is_dir(), f"{directory.name}: module {name} source {body['source']} does not exist"
        variables = variables_of(parse_dir(target))
        arguments = set(body) - META_ARGUMENTS
        assert arguments - set(variables) == set(), f"{directory.name}: unknown inputs of module {name}"
        required = {var for var, spec in variables.items() if "default" not in spec}
        assert required - arguments == set(), f"{directory.name}: missing inputs of module {name}"


def test_environments_call_the_stack_module():
    for env in env_dirs():
        assert _module_calls(env)["stack"]["source"] == "../../modules/stack"
    assert ENVS.is_dir()


def test_unresolved_references_are_found():
    text = """
    variable "known" {
      type        = string
      description = "d"
    }
    locals {
      a = var.known
    }
    resource "aws_s3_bucket" "this" {
      bucket = "${var.unknown}-${local.missing}" # var.in_a_comment is ignored
      tags   = { owner = aws_iam_role.ghost.arn, name = local.a }
    }
    output "x" {
      description = "d"
      value       = module.absent.y
    }
    """
    assert unresolved_references([text]) == ["aws_iam_role.ghost", "local.missing", "module.absent", "var.unknown"]
