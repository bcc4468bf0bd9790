"""The client examples in docs/api.md run, as written, against the running stack."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.stack


def code_block(language: str, heading: str) -> str:
    text = (ROOT / "docs" / "api.md").read_text()
    section = text.split(heading, 1)[1]
    match = re.search(rf"```{language}\n(.*?)```", section, re.S)
    assert match, f"no {language} block under {heading}"
    return match.group(1)


def test_python_example_runs(stack, tmp_path):
    created = stack.create_key("docs-python-example")
    script = tmp_path / "client.py"
    script.write_text(code_block("python", "### Python"))
    env = {
        **os.environ,
        "ORBIT_URL": stack.url("orbit"),
        "AGENT_ACCESS_KEY_ID": created["access_key_id"],
        "AGENT_SECRET_ACCESS_KEY": created["secret_access_key"],
        "AWS_REGION": "us-east-1",
    }
    result = subprocess.run(
        [sys.executable, str(script)], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "healthy"
    assert lines[1].startswith("200 ")
    assert "'Axon heartbeat OK'" in lines[1]


def test_the_docs_hold_no_key_material():
    # The examples read the credential from the environment: no access key id is ever written in the docs.
    for doc in [ROOT / "README.md", *(ROOT / "docs").glob("*.md")]:
        assert not re.search(r"AKAR[A-Z2-7]{16}", doc.read_text()), doc.name


def test_javascript_example_runs(stack, tmp_path):
    created = stack.create_key("docs-js-example")
    script = tmp_path / "client.js"
    script.write_text(code_block("javascript", "### JavaScript"))
    env = {
        **os.environ,
        "ORBIT_URL": stack.url("orbit"),
        "AGENT_ACCESS_KEY_ID": created["access_key_id"],
        "AGENT_SECRET_ACCESS_KEY": created["secret_access_key"],
        "AWS_REGION": "us-east-1",
        "NODE_PATH": str(ROOT / "node_modules"),
    }
    result = subprocess.run(["node", str(script)], env=env, capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("200 "), result.stdout
    assert "Axon heartbeat OK" in result.stdout
