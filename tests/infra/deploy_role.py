"""The deploy role (the operators' role too) as the tests read it: every statement of the policy documents its
managed policies are built from (`deploy_policies` in the cicd module), and what they allow on a resource, with
the ARN patterns rendered for a sample account so that a test can ask about one concrete ARN."""

from __future__ import annotations

import re
from fnmatch import fnmatchcase
from typing import Any

from .hcl_tools import MODULES, as_list, blocks, locals_of, nested, parse_dir

CICD = parse_dir(MODULES / "cicd")
SECURITY = parse_dir(MODULES / "security")

# The sample account the patterns are rendered for.
PROJECT, PARTITION, REGION, ACCOUNT = "acme", "aws", "eu-west-1", "123456789012"


def secret_arn(name: str) -> str:
    """A secret's ARN as Secrets Manager makes it: the name, "-" and six random characters."""
    return f"arn:{PARTITION}:secretsmanager:{REGION}:{ACCOUNT}:secret:{PROJECT}/{name}-Ab12Cd"


def table_arn(name: str) -> str:
    return f"arn:{PARTITION}:dynamodb:{REGION}:{ACCOUNT}:table/{PROJECT}-{name}"


def service_keys() -> list[str]:
    """The secrets the security module creates: the service keys."""
    return list(locals_of(SECURITY)["secrets"])


def _documents() -> dict[str, dict[str, Any]]:
    return {block.name: block.body for block in blocks(CICD, "data", "aws_iam_policy_document")}


def deploy_documents() -> list[str]:
    """Names of the policy documents attached to the deploy role, from `deploy_policies`."""
    names = []
    for reference in locals_of(CICD)["deploy_policies"].values():
        match = re.fullmatch(r"\$\{data\.aws_iam_policy_document\.(\w+)\.json\}", str(reference))
        assert match, f"deploy_policies: cannot follow {reference}"
        names.append(match.group(1))
    return names


def deploy_statements() -> list[dict[str, Any]]:
    documents = _documents()
    return [statement for name in deploy_documents() for statement in nested(documents[name], "statement")]


def _substitutions() -> dict[str, str]:
    values = {
        "local.partition": PARTITION,
        "local.region": REGION,
        "local.account_id": ACCOUNT,
        "var.project_name": PROJECT,
    }
    for service, prefix in locals_of(CICD)["arn_prefix"].items():
        values[f"local.arn_prefix.{service}"] = _substitute(str(prefix), values)
    return values


def _substitute(text: str, values: dict[str, str]) -> str:
    return re.sub(r"\$\{([\w.]+)\}", lambda m: values.get(m.group(1), m.group(0)), text)


def render(value: Any) -> list[str]:
    """The concrete patterns of a resource or condition value: literals and "${...}" references rendered, the
    list of the service keys' ARN patterns expanded."""
    if value == "${local.service_key_arns}":
        template = re.search(r'"(.*)"', str(locals_of(CICD)["service_key_arns"])).group(1)
        return [render(template.replace("${name}", name))[0] for name in locals_of(CICD)["service_keys"]]
    if isinstance(value, list):
        return [pattern for item in value for pattern in render(item)]
    return [_substitute(str(value), _substitutions())]


def _matches(statement: dict[str, Any], action: str, arn: str) -> bool:
    actions = [str(pattern) for pattern in as_list(statement.get("actions"))]
    resources = render(statement.get("resources"))
    return any(fnmatchcase(action, pattern) for pattern in actions) and any(
        fnmatchcase(arn, pattern) for pattern in resources
    )


def allows(action: str, arn: str) -> bool:
    """An Allow statement grants `action` on `arn`, and no unconditional Deny takes it back (a conditional Deny is
    ignored: the question is what the role could do in the most favourable request)."""
    statements = deploy_statements()
    allowed = any(s.get("effect", "Allow") == "Allow" and _matches(s, action, arn) for s in statements)
    denied = any(
        s.get("effect") == "Deny" and not nested(s, "condition") and _matches(s, action, arn) for s in statements
    )
    return allowed and not denied


def granted_actions() -> set[str]:
    """Every action pattern of the Allow statements."""
    return {
        str(action)
        for statement in deploy_statements()
        if statement.get("effect", "Allow") == "Allow"
        for action in as_list(statement.get("actions"))
    }


def grants(action: str) -> bool:
    return any(fnmatchcase(action, pattern) for pattern in granted_actions())


def statement(sid: str) -> dict[str, Any]:
    [found] = [s for s in deploy_statements() if s.get("sid") == sid]
    return found
