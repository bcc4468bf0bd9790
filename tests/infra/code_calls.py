"""Which AWS API actions each deployed component's code can call, read from the Python source with `ast`.

A component is its entry functions (every function of a service's package, or the functions of a Lambda
handler's module, or every function of agentctl) and everything they can reach: functions are linked by name (a
call or a reference such as `target=self._reload`) inside the project modules the entry modules import, directly
or not, but those excluded (agentctl's local stack, which never runs against AWS). In the reached functions:

- the boto3 clients: `aws.client("<service>")` (or `boto3.client`, `session.client`) with a literal service name,
  and agentctl's client attributes (`ecs = _Client("ecs")` in a class body, reached when the class is named);
- the API calls: any method call `x.<name>(...)` named like a method of those clients (botocore's
  `method_to_api_mapping` turns a method into its operation), and `get_paginator("<method>")`.

Linking by name over-approximates (a function of the same name elsewhere counts as reachable), never the
reverse, so an action the code needs is never missed; the test names what it found, and an over-approximation
shows up as an action to explain. An operation becomes an IAM action as `<signing name>:<Operation>`, except
for the few listed in IAM_ACTIONS, where AWS authorises the call under another name.
"""

from __future__ import annotations

import ast
import functools
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import boto3

ROOT = Path(__file__).resolve().parents[2]

# Import name of each project package -> its folder.
PACKAGES = {
    "agent_runtime": ROOT / "lib" / "agent_runtime",
    "orbit": ROOT / "services" / "orbit" / "orbit",
    "axon": ROOT / "services" / "axon" / "axon",
    "governance": ROOT / "governance" / "lambda" / "governance",
    "agentctl": ROOT / "cli" / "agentctl",
}

# Operations AWS authorises under another action name (service, operation) -> IAM actions. None: the actions
# depend on the request (a transaction's items), so the code must not use it without this table saying how.
IAM_ACTIONS: dict[tuple[str, str], list[str] | None] = {
    ("lambda", "Invoke"): ["lambda:InvokeFunction"],
    ("bedrock-runtime", "Converse"): ["bedrock:InvokeModel"],
    ("bedrock-runtime", "ConverseStream"): ["bedrock:InvokeModelWithResponseStream"],
    ("dynamodb", "TransactGetItems"): ["dynamodb:GetItem"],
    ("dynamodb", "TransactWriteItems"): None,
}

# aws.client(...), boto3.client(...), session.client(...); agentctl's `_Client("<service>")` attributes.
CLIENT_FACTORIES = {"client", "_Client"}
# The project's factories, which forward their argument: agent_runtime.aws.client, agentctl's AwsClients.client and
# the descriptor (_Client.__get__) that calls it with the service its attribute names.
FACTORY_FUNCTIONS = {
    ("agent_runtime.aws", "client"),
    ("agentctl.ops.platform", "client"),
    ("agentctl.ops.platform", "__get__"),
}


@dataclass
class Function:
    module: str
    name: str
    cls: str | None = None  # the class a method belongs to
    names: set[str] = field(default_factory=set)  # every name and attribute it uses (calls and references)
    methods_called: set[str] = field(default_factory=set)  # obj.<method>(...) calls
    services: set[str] = field(default_factory=set)  # literal service names of the clients it builds
    paginated: set[str] = field(default_factory=set)  # get_paginator("<method>")
    dynamic_clients: list[str] = field(default_factory=list)  # client(...) calls without a literal service


def module_path(module: str) -> Path | None:
    package, _, rest = module.partition(".")
    root = PACKAGES.get(package)
    if root is None:
        return None
    base = root.joinpath(*rest.split(".")) if rest else root
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


@functools.cache
def parse_module(module: str) -> ast.Module:
    path = module_path(module)
    assert path is not None, module
    return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def imports_of(module: str) -> set[str]:
    """Project modules `module` imports anywhere in it (functions included)."""
    found = set()
    package = module if module_path(module) and module_path(module).name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(parse_module(module)):
        if isinstance(node, ast.Import):
            candidates = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1] + ([base] if base else []))
            candidates = [base] + [f"{base}.{alias.name}" for alias in node.names]
        else:
            continue
        found.update(name for name in candidates if module_path(name) is not None)
    return found


def package_modules(entry: str) -> list[str]:
    """Every module of a project package (or `entry` itself when it is a module)."""
    if entry not in PACKAGES:
        return [entry]
    root = PACKAGES[entry]
    return sorted(
        ".".join((entry, *path.relative_to(root).with_suffix("").parts)).removesuffix(".__init__")
        for path in root.rglob("*.py")
    )


def excluded(module: str, prefixes: Iterable[str]) -> bool:
    return any(module == prefix or module.startswith(f"{prefix}.") for prefix in prefixes)


def module_closure(entries: Iterable[str], exclude: tuple[str, ...] = ()) -> set[str]:
    seen: set[str] = set()
    pending = list(entries)
    while pending:
        module = pending.pop()
        if module in seen or excluded(module, exclude):
            continue
        seen.add(module)
        pending.extend(imports_of(module) - seen)
    return seen


def _literal(node: ast.expr | None) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def _function(module: str, node: ast.AST, name: str, cls: str | None) -> Function:
    """One function with everything nested in it (inner functions and lambdas run on its behalf)."""
    function = Function(module, name, cls)
    for child in ast.walk(node):
        if isinstance(child, ast.Name):
            function.names.add(child.id)
        elif isinstance(child, ast.Attribute):
            function.names.add(child.attr)
        elif isinstance(child, ast.Call):
            callee = child.func
            called = callee.attr if isinstance(callee, ast.Attribute) else getattr(callee, "id", None)
            first = child.args[0] if child.args else None
            if isinstance(callee, ast.Attribute):
                function.methods_called.add(callee.attr)
            if called in CLIENT_FACTORIES:
                service = _literal(first)
                if (module, name) in FACTORY_FUNCTIONS:
                    pass  # the factory itself: its callers name the service
                elif service is None:
                    function.dynamic_clients.append(f"{module}.{name}: {ast.unparse(child)}")
                else:
                    function.services.add(service)
            elif called == "get_paginator" and _literal(first):
                function.paginated.add(_literal(first))
    return function


def functions_of(module: str) -> list[Function]:
    """Module-level functions and methods (a function nested in another is part of it), and each class body's
    attributes as a function named like the class (reached when the class is named: its client attributes)."""
    found = []
    for node in parse_module(module).body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            found.append(_function(module, node, node.name, None))
        elif isinstance(node, ast.ClassDef):
            methods = [item for item in node.body if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef))]
            attributes = ast.Module(body=[item for item in node.body if item not in methods], type_ignores=[])
            found.append(_function(module, attributes, node.name, None))
            found.extend(_function(module, item, item.name, node.name) for item in methods)
    return found


@functools.cache
def api_methods(service: str) -> dict[str, str]:
    """Client method name -> operation name, from botocore's service model (offline)."""
    return dict(boto3.client(service, region_name="us-east-1").meta.method_to_api_mapping)


@functools.cache
def signing_name(service: str) -> str:
    return boto3.client(service, region_name="us-east-1").meta.service_model.signing_name


@dataclass(frozen=True)
class Calls:
    services: frozenset[str]
    operations: frozenset[tuple[str, str]]  # (service, operation)
    dynamic_clients: tuple[str, ...]

    def iam_actions(self, known: dict[tuple[str, str], list[str]] | None = None) -> set[str]:
        """`known`: the actions of operations whose actions depend on the request, as this component makes them."""
        table = {**IAM_ACTIONS, **(known or {})}
        actions = set()
        for service, operation in self.operations:
            mapped = table.get((service, operation), [f"{signing_name(service)}:{operation}"])
            if mapped is None:
                raise AssertionError(f"{service}.{operation}: its IAM actions depend on the request; list them")
            actions.update(mapped)
        return actions


def component_calls(
    entry_modules: Iterable[str], entry_functions: set[str] | None = None, exclude: tuple[str, ...] = ()
) -> Calls:
    """What the code reachable from `entry_modules` calls. Entry functions: every function of those modules, or
    only the named ones (for a module that also holds code other programs run). `exclude`: module prefixes never
    followed (code that does not run where the component's role applies)."""
    entry_modules = [module for module in entry_modules if not excluded(module, exclude)]
    closure = module_closure(entry_modules, exclude)
    functions = [function for module in sorted(closure) for function in functions_of(module)]
    by_name: dict[str, list[Function]] = {}
    for function in functions:
        by_name.setdefault(function.name, []).append(function)
    pending = [
        function
        for function in functions
        if function.module in entry_modules and (entry_functions is None or function.name in entry_functions)
    ]
    # Fixpoint: a function is reached when a reached function uses its name; a method, only when its class is
    # named by a reached function too (it is built or referred to) or the caller is of the same class. So
    # `public_key.verify(...)` in code that never names SigV4Verifier does not reach SigV4Verifier.verify.
    reached: dict[int, Function] = {id(function): function for function in pending}
    changed = True
    while changed:
        changed = False
        used = set().union(*(function.names for function in reached.values()))
        classes = {function.cls for function in reached.values() if function.cls}
        for function in functions:
            if id(function) in reached or function.name not in used:
                continue
            if function.cls is not None and function.cls not in used and function.cls not in classes:
                continue
            reached[id(function)] = function
            changed = True
    services = {service for function in reached.values() for service in function.services}
    operations = set()
    for function in reached.values():
        for service in services:
            methods = api_methods(service)
            for name in function.methods_called | function.paginated:
                if name in methods:
                    operations.add((service, methods[name]))
    dynamic = tuple(sorted(entry for function in reached.values() for entry in function.dynamic_clients))
    return Calls(frozenset(services), frozenset(operations), dynamic)
