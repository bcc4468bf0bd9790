"""The hashicorp/aws provider's schema, offline, from the jsii assembly of the PyPI package cdktf-cdktf-provider-aws
(bindings generated from the provider version infra/ pins; see its README's first line).

Each resource or data source is a jsii class whose documentation links to its registry page
(`.../docs/resources/<name>`); its `<Class>Config` interface holds the arguments, each documented with the
registry anchor of its Terraform name (`#<argument>`), and the nested blocks as structs ("<name> block."); the
class's own properties are the attributes other blocks can refer to. Only the package's data file is read: the
package is not imported (that would start jsii's Node.js runtime).
"""

from __future__ import annotations

import functools
import json
import re
import tarfile
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

PACKAGE = "cdktf-cdktf-provider-aws"
_LINK = re.compile(
    r"registry\.terraform\.io/providers/hashicorp/aws/([0-9.]+)/docs/(resources|data-sources)/\S+ (\S+)\}"
)
_ANCHOR = re.compile(r"#(\w+) \w+#\w+\}")
_BLOCK = re.compile(r"^(\w+) block\.$")
_CAMEL = re.compile(r"(?<=[a-z0-9])([A-Z])")


@dataclass
class Block:
    """Arguments (Terraform name -> nested Block, or None for a plain argument) of a resource or nested block."""

    arguments: dict[str, Block | None] = field(default_factory=dict)


@dataclass
class Schema:
    provider_version: str
    resources: dict[str, Block]
    data_sources: dict[str, Block]
    attributes: dict[tuple[str, str], set[str]]  # (kind, type) -> attribute names


def _assembly_path() -> Path:
    files = metadata.files(PACKAGE) or []
    matches = [file for file in files if str(file).endswith(".jsii.tgz")]
    assert matches, f"{PACKAGE} is not installed (requirements.lock): make venv"
    return Path(matches[0].locate())


def _fqns(type_ref: Any) -> list[str]:
    """Every provider struct named in a jsii type reference (a block is a struct, or a list of them)."""
    if isinstance(type_ref, dict):
        found = [type_ref["fqn"]] if str(type_ref.get("fqn", "")).startswith("@cdktf/provider-aws.") else []
        for value in type_ref.values():
            found.extend(_fqns(value))
        return found
    if isinstance(type_ref, list):
        return [fqn for item in type_ref for fqn in _fqns(item)]
    return []


def _snake(name: str) -> str:
    return _CAMEL.sub(r"_\1", name).lower()


def _properties(types: dict[str, Any], fqn: str) -> list[dict[str, Any]]:
    spec = types[fqn]
    properties = list(spec.get("properties", []))
    for parent in spec.get("interfaces", []):
        if parent.startswith("@cdktf/provider-aws."):
            properties.extend(_properties(types, parent))
    return properties


def _block(types: dict[str, Any], fqn: str, seen: tuple[str, ...] = ()) -> Block:
    block = Block()
    for prop in _properties(types, fqn):
        summary = prop.get("docs", {}).get("summary", "")
        anchor = _ANCHOR.search(summary)
        nested_block = _BLOCK.match(summary)
        if anchor:
            block.arguments[anchor.group(1)] = None
        elif nested_block:
            structs = [name for name in _fqns(prop["type"]) if name not in seen]
            block.arguments[nested_block.group(1)] = _block(types, structs[0], (*seen, fqn)) if structs else Block()
    return block


@functools.cache
def load() -> Schema:
    with tarfile.open(_assembly_path()) as archive:
        member = archive.extractfile("package/.jsii")
        assert member is not None
        types = json.load(member)["types"]
    resources: dict[str, Block] = {}
    data_sources: dict[str, Block] = {}
    attributes: dict[tuple[str, str], set[str]] = {}
    versions = set()
    for fqn, spec in types.items():
        if spec.get("kind") != "class":
            continue
        link = _LINK.search(spec.get("docs", {}).get("summary", ""))
        if not link or f"{fqn}Config" not in types:
            continue
        version, kind, tf_type = link.groups()
        versions.add(version)
        block = _block(types, f"{fqn}Config")
        (resources if kind == "resources" else data_sources)[tf_type] = block
        outputs = {_snake(prop["name"]) for prop in spec.get("properties", []) if not prop.get("static")}
        attributes[("resource" if kind == "resources" else "data", tf_type)] = outputs | set(block.arguments)
    assert len(versions) == 1, versions
    return Schema(versions.pop(), resources, data_sources, attributes)
