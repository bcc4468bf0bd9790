"""The pinned dependency files agree: what the service images install is a subset of the main lock, at the same
versions, so that the tests run what production runs."""

from __future__ import annotations

import re

from tests.conftest import ROOT

_PIN = re.compile(r"^([A-Za-z0-9_.\-\[\]]+)==([^\s\\]+)", re.MULTILINE)


def _pins(path: str) -> dict[str, str]:
    text = (ROOT / path).read_text()
    return {name.lower().split("[")[0].replace("_", "-"): version for name, version in _PIN.findall(text)}


def test_runtime_requirements_are_the_main_ones_at_the_same_versions():
    main, runtime = _pins("requirements.lock"), _pins("requirements-runtime.in")
    assert runtime
    mismatched = {name: (version, main.get(name)) for name, version in runtime.items() if main.get(name) != version}
    assert mismatched == {}


def test_every_direct_requirement_is_pinned_in_its_lock():
    for source, lock in [
        ("requirements.in", "requirements.lock"),
        ("requirements-runtime.in", "requirements-runtime.lock"),
        ("requirements-mcp-proxy.in", "requirements-mcp-proxy.lock"),
    ]:
        direct, locked = _pins(source), _pins(lock)
        assert {name: locked.get(name) for name in direct} == direct, source
