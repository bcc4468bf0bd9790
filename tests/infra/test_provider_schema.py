"""The part of `terraform validate` that can run without downloading the provider: every resource and data source
type under infra/ exists in the pinned hashicorp/aws provider, and so does every argument, nested block and
attribute reference (the schema: tests/infra/provider_schema.py)."""

from __future__ import annotations

import re
from typing import Any

import pytest

from . import provider_schema
from .hcl_tools import ENVS, INFRA, all_blocks, as_list, parse_file, tf_files
from .test_references import _strip_comments

META_ARGUMENTS = {"count", "for_each", "depends_on", "lifecycle", "provider", "provisioner", "connection"}
BUILTIN_TYPES = {"terraform_data"}  # Terraform's own resource, no provider's
_ATTRIBUTE_REF = re.compile(
    r"(?<![\w.])(data\.)?(aws_[a-z0-9_]+)\.([A-Za-z_][\w-]*)(?:\[[^\]]*\])?\.([a-z_][a-z0-9_]*)"
)


@pytest.fixture(scope="module")
def schema() -> provider_schema.Schema:
    return provider_schema.load()


def unknown_arguments(body: dict[str, Any], block: provider_schema.Block, where: str) -> list[str]:
    problems = []
    for key, value in body.items():
        if key in META_ARGUMENTS:
            continue
        if key == "dynamic":
            for dynamic in as_list(value):
                for name, spec in dynamic.items():
                    nested = block.arguments.get(name)
                    if nested is None:
                        problems.append(f"{where}: dynamic {name} is not a nested block")
                        continue
                    for content in as_list(spec.get("content")):
                        problems += unknown_arguments(content, nested, f"{where}.{name}")
            continue
        if key not in block.arguments:
            problems.append(f"{where}: unknown argument or block {key}")
            continue
        nested = block.arguments[key]
        if nested is not None:
            for item in as_list(value):
                if isinstance(item, dict):
                    problems += unknown_arguments(item, nested, f"{where}.{key}")
    return problems


def test_the_schema_is_of_the_locked_provider_version(schema):
    lock = (ENVS / "dev" / ".terraform.lock.hcl").read_text(encoding="utf-8")
    assert re.search(rf'version\s*=\s*"{re.escape(schema.provider_version)}"', lock), schema.provider_version


def test_every_resource_and_data_source_type_exists(schema):
    missing = []
    for kind, known in (("resource", schema.resources), ("data", schema.data_sources)):
        for block in all_blocks(kind):
            if block.type not in known and block.type not in BUILTIN_TYPES:
                missing.append(f"{block.path.relative_to(INFRA)}: {kind} {block.type}")
    assert missing == []


def test_every_argument_and_nested_block_exists(schema):
    problems = []
    for kind, known in (("resource", schema.resources), ("data", schema.data_sources)):
        for block in all_blocks(kind):
            if block.type in known:
                where = f"{block.path.relative_to(INFRA)}: {block.address}"
                problems += unknown_arguments(block.body, known[block.type], where)
    assert problems == []


def test_every_attribute_reference_exists(schema):
    problems = []
    for path in tf_files():
        for match in _ATTRIBUTE_REF.finditer(_strip_comments(path.read_text(encoding="utf-8"))):
            data, tf_type, _, attribute = match.groups()
            kind = "data" if data else "resource"
            known = schema.attributes.get((kind, tf_type))
            if known is not None and attribute not in known:
                problems.append(f"{path.relative_to(INFRA)}: {match.group(0)}")
    assert problems == []


def test_the_checks_find_what_does_not_exist(schema):
    lambda_function = schema.resources["aws_lambda_function"]
    body = parse_file(INFRA / "modules" / "lambda" / "main.tf")["resource"]
    governance = next(entry["aws_lambda_function"]["governance"] for entry in body if "aws_lambda_function" in entry)
    assert unknown_arguments(governance, lambda_function, "governance") == []
    broken = dict(governance, memory_sise=512, vpc_config=[{"subnet_ids": [], "security_groups": []}])
    assert sorted(unknown_arguments(broken, lambda_function, "governance")) == [
        "governance.vpc_config: unknown argument or block security_groups",
        "governance: unknown argument or block memory_sise",
    ]
    assert "inference_profile_arn" in schema.attributes[("data", "aws_bedrock_inference_profile")]
    assert "no_such_attribute" not in schema.attributes[("resource", "aws_lb")]
