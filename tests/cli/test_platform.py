"""The seam between agentctl's commands and where they act: settings read once and checked, one Platform built
from them, AWS clients from one session with the platform's region and endpoints, and an environment that
agentctl never writes."""

from __future__ import annotations

import ast
import json
import os
import re
from pathlib import Path

import pytest

from agentctl.context import build_platform
from agentctl.local.platform import LocalPlatform
from agentctl.ops.aws_platform import AwsPlatform
from agentctl.ops.waiting import Progress
from agentctl.settings import Settings, SettingsError
from tests.cli.conftest import PROJECT, run
from tests.conftest import ROOT


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("AGENTCTL_POLL_SECONDS", "soon", "AGENTCTL_POLL_SECONDS must be a number, not 'soon'"),
        ("AGENTCTL_LOG_SETTLE_SECONDS", "-1", "AGENTCTL_LOG_SETTLE_SECONDS must be a number of seconds, 0 or more"),
        ("AGENTCTL_POLL_SECONDS", "nan", "AGENTCTL_POLL_SECONDS must be a number of seconds, 0 or more, not nan"),
        ("ORBIT_PORT", "80800", "ORBIT_PORT='80800' is not a port number"),
        ("PROJECT_NAME", "Bad_Name", "PROJECT_NAME 'Bad_Name' is not valid"),
    ],
)
def test_a_bad_setting_is_one_line_naming_the_variable(variable, value, message, tmp_path, monkeypatch):
    monkeypatch.setenv("AGENT_RUNTIME_STATE_DIR", str(tmp_path))
    monkeypatch.setenv(variable, value)
    for env in ("local", "dev"):
        result = run("--env", env, "status")
        assert result.exit_code == 1
        assert result.stderr.startswith(f"agentctl: {message}")
        assert len(result.stderr.strip().splitlines()) == 1


def test_the_settings_are_read_from_the_environment_once_and_frozen(tmp_path):
    env = {
        "AGENTCTL_POLL_SECONDS": "0.001",  # raised to the floor
        "AGENTCTL_TERRAFORM": "/opt/terraform",
        "AGENT_RUNTIME_STATE_DIR": str(tmp_path),
        "AXON_PORT": "18081",
        "PROJECT_NAME": "from-env",
        "AWS_DEFAULT_REGION": "eu-west-2",
    }
    settings = Settings.from_env(env)
    assert settings.poll_interval == 0.05
    assert settings.terraform == "/opt/terraform"
    assert settings.state_dir == tmp_path.resolve()
    assert settings.ports.axon == 18081
    assert settings.names.project == "from-env"
    assert settings.local_region == "eu-west-2"
    assert Settings.from_env(env, project="from-option").names.project == "from-option"
    with pytest.raises(AttributeError):
        settings.poll_seconds = 1.0  # type: ignore[misc]
    with pytest.raises(SettingsError, match="PROJECT_NAME 'X' is not valid"):
        Settings.from_env(env, project="X")


def test_the_local_platform_talks_to_its_stack_whatever_the_callers_aws_settings(tmp_path, monkeypatch):
    monkeypatch.setenv("AWS_REGION", "us-west-2")
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:1")
    settings = Settings.from_env({"AGENT_RUNTIME_STATE_DIR": str(tmp_path), "AWS_EMULATOR_PORT": "14566"})
    platform = LocalPlatform.create(settings, Progress())
    dynamodb, lam = platform.clients.dynamodb, platform.clients.lambda_
    assert dynamodb.meta.region_name == "us-east-1"  # the stack's region (its default), not AWS_REGION's
    assert dynamodb.meta.endpoint_url == "http://127.0.0.1:14566"
    assert lam.meta.endpoint_url == f"http://127.0.0.1:{settings.ports.governance}"
    assert dynamodb._request_signer._credentials.access_key == "testing"  # the emulator's, never the user's
    assert platform.orbit_url == f"http://127.0.0.1:{settings.ports.orbit}"


def test_the_aws_platform_follows_the_users_configuration_with_one_session(monkeypatch):
    monkeypatch.setenv("AWS_REGION", "eu-central-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    platform = build_platform("staging", "other-project")
    assert isinstance(platform, AwsPlatform)
    assert platform.region == "eu-central-1"
    assert platform.names.project == "other-project"
    clients = platform.clients
    assert clients.ecs.meta.region_name == clients.dynamodb.meta.region_name == "eu-central-1"
    assert clients.ecs is clients.ecs  # built once
    assert clients.session is platform.clients.session


def test_agentctl_never_writes_the_environment(world, tmp_path, monkeypatch):
    """What the removed autouse fixture of these tests used to undo: agentctl pointed this process's AWS
    configuration at its target. Local and AWS commands, with --project, now leave os.environ as it was."""
    monkeypatch.setenv("AGENT_RUNTIME_STATE_DIR", str(tmp_path))
    before = dict(os.environ)
    local = run("--env", "local", "--project", "elsewhere", "status", "--output", "json")
    assert local.exit_code == 0, local.output
    assert json.loads(local.stdout)["project"] == "elsewhere"
    health = run("--env", "dev", "health")
    assert health.exit_code == 0, health.output
    status = run("--env", "staging", "--project", PROJECT, "status", "--output", "json")
    assert status.exit_code == 0, status.output
    assert dict(os.environ) == before


def _imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
    return found


def test_the_layers_keep_their_rules():
    """ops/ is the work: it never imports the local stack's package nor Click; nothing in agentctl writes
    os.environ; no drill asks which platform it runs on."""
    package = ROOT / "cli" / "agentctl"
    for path in (package / "ops").rglob("*.py"):
        imports = _imports(path)
        assert not [m for m in imports if m.startswith("agentctl.local")], path
        assert "click" not in imports, path
    writes = re.compile(r"os\.environ\[[^]]+\]\s*=[^=]|environ\.(update|pop|setdefault|clear)\(|putenv|del os\.environ")
    for path in package.rglob("*.py"):
        found = writes.search(path.read_text(encoding="utf-8"))
        assert found is None, f"{path} writes the environment ({found and found.group(0)})"
    chaos = (package / "ops" / "chaos.py").read_text(encoding="utf-8")
    assert "is_local" not in chaos
    assert "type: ignore" not in chaos
