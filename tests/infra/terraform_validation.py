"""Run a module variable's own validation rules with the terraform binary of the virtualenv (1.0.3, no provider
needed): the variable block is copied into an empty configuration and planned with each value. Only the message
changes (1.0.3 wants it to start with a capital letter; newer versions do not), never the condition."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from .hcl_tools import block_text

TERRAFORM = Path(sys.executable).with_name("terraform")
REFUSED = "Invalid value for variable"


def _run(args: list[str], cwd: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CHECKPOINT_DISABLE": "1", "TF_IN_AUTOMATION": "1", "TF_CLI_ARGS": ""}
    return subprocess.run([str(TERRAFORM), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


def accepted(path: Path, name: str, values: list[Any]) -> dict[str, bool]:
    """For each value: does the rule accept it? A string is given as it is (-var takes a string variable's value
    literally); numbers and lists as JSON, which is also HCL."""
    block = block_text(path.read_text(encoding="utf-8"), f'variable "{name}"')
    block = re.sub(r'error_message\s*=\s*".*"', 'error_message = "Refused by the rule."', block)
    results = {}
    with tempfile.TemporaryDirectory() as directory:
        Path(directory, "main.tf").write_text(block + "\n", encoding="utf-8")
        init = _run(["init", "-backend=false", "-input=false", "-no-color"], directory)
        assert init.returncode == 0, init.stdout + init.stderr
        for value in values:
            shown = value if isinstance(value, str) else json.dumps(value)
            plan = _run(["plan", "-input=false", "-no-color", "-refresh=false", "-var", f"{name}={shown}"], directory)
            output = plan.stdout + plan.stderr
            assert plan.returncode == 0 or REFUSED in output, output
            results[shown] = plan.returncode == 0
    return results
