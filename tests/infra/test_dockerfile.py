"""services/Dockerfile: one definition for both images, in step with the task definitions (no Docker engine here,
so the file is read, not built)."""

from __future__ import annotations

import json
import re

import pytest

from .hcl_tools import MODULES, ROOT, locals_of, parse_dir

DOCKERFILE = ROOT / "services" / "Dockerfile"
ECS_LOCALS = locals_of(parse_dir(MODULES / "ecs"))


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments), continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text(encoding="utf-8"))
    found = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            found.append((keyword.upper(), rest.strip()))
    return found


def stages() -> dict[str, list[tuple[str, str]]]:
    """Instructions of each named stage; the final, unnamed one under ""."""
    result: dict[str, list[tuple[str, str]]] = {}
    current = None
    for keyword, rest in instructions():
        if keyword == "FROM":
            match = re.fullmatch(r"(\S+)(?: AS (\S+))?", rest, re.IGNORECASE)
            assert match, rest
            current = match.group(2) or ""
            result[current] = [("FROM", match.group(1))]
        elif current is not None:
            result[current].append((keyword, rest))
    return result


def test_one_dockerfile_replaces_the_two_service_ones():
    assert DOCKERFILE.is_file()
    assert not (ROOT / "services" / "orbit" / "Dockerfile").exists()
    assert not (ROOT / "services" / "axon" / "Dockerfile").exists()


def test_the_service_build_argument_selects_the_final_stage():
    before_first_from = []
    for keyword, rest in instructions():
        if keyword == "FROM":
            break
        before_first_from.append((keyword, rest))
    assert ("ARG", "SERVICE") in before_first_from, "SERVICE without a default, declared before the first FROM"
    assert stages()[""][0] == ("FROM", "${SERVICE}")


@pytest.mark.parametrize("service", ["orbit", "axon"])
def test_each_service_stage_matches_its_task_definition(service):
    stage = stages()[service]
    assert stage[0] == ("FROM", "runtime")
    port = ECS_LOCALS["ports"][service]
    assert ("EXPOSE", str(port)) in stage
    command = json.loads(next(rest for keyword, rest in stage if keyword == "CMD"))
    assert command[:3] == ["gunicorn", "--config", "python:agent_runtime.gunicorn_conf"]
    assert command[command.index("--bind") + 1] == f"0.0.0.0:{port}"
    assert command[-1] == f"{service}.app:create_app()"
    health = next(rest for keyword, rest in stage if keyword == "HEALTHCHECK")
    assert f"http://127.0.0.1:{port}/health" in health


def test_the_image_runs_as_the_task_definitions_user():
    runtime = stages()["runtime"]
    assert ("USER", ECS_LOCALS["container_user"]) in runtime
    assert any(keyword == "RUN" and "--uid 10001 --gid 10001" in rest for keyword, rest in runtime)
    builder = stages()["builder"]
    assert ("RUN", "pip install --no-cache-dir --require-hashes -r requirements-runtime.lock") in builder


def test_the_builder_can_compile_the_c_parser_and_the_image_has_no_compiler():
    """gunicorn-h1c in the runtime lock is an sdist: the builder needs a C compiler, the runtime image must not."""
    assert "\ngunicorn-h1c==" in (ROOT / "requirements-runtime.lock").read_text(encoding="utf-8")
    found = stages()
    builder = [f"{keyword} {rest}" for keyword, rest in found["builder"]]
    install = next(i for i, line in enumerate(builder) if "--require-hashes" in line)
    assert any("apt-get install" in line and " gcc " in line for line in builder[:install])
    runtime = [f"{keyword} {rest}" for keyword, rest in found["runtime"]]
    assert not any("gcc" in line for line in runtime)
    assert "COPY --from=builder /opt/venv /opt/venv" in runtime
