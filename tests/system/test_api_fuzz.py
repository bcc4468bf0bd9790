"""API fuzzing with schemathesis against the running Orbit and Axon: every generated request is signed the way
a real client (or Orbit) signs it; no 5xx, nothing outside the OpenAPI documents. Unsigned and mis-signed
variants of the same requests get their 401. Also: the Flask routes and the OpenAPI documents agree."""

from __future__ import annotations

import uuid

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, assume, settings

from agent_runtime import aws
from agent_runtime.keys import read_secret_versions
from agent_runtime.names import Names
from agent_runtime.sigv4 import sign
from tests.conftest import ROOT

pytestmark = pytest.mark.stack

ORBIT = schemathesis.openapi.from_path(ROOT / "docs" / "openapi" / "orbit.yaml")
AXON = schemathesis.openapi.from_path(ROOT / "docs" / "openapi" / "axon.yaml")
FUZZ = settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
# positive_data_acceptance expects a 2xx for every schema-valid body, but a valid intent no policy permits is a
# 403 by design. ignored_auth judges the random apiKey schemathesis generates, which we replace with a real
# SigV4 signature; test_unsigned_and_mis_signed_dispatches_get_401 checks authentication instead.
EXCLUDED = [schemathesis.checks.positive_data_acceptance, schemathesis.checks.ignored_auth]
_session = requests.Session()


def _prepared(case, base_url: str) -> requests.PreparedRequest:
    kwargs = case.as_transport_kwargs(base_url=base_url)
    headers = {k: v for k, v in kwargs.pop("headers", {}).items() if k.lower() != "authorization"}
    # A fresh, signed correlation id keeps every generated request unique (no accidental replay).
    headers["X-Correlation-ID"] = str(uuid.uuid4())
    kwargs.pop("cookies", None)
    return requests.Request(headers=headers, **kwargs).prepare()


def _signed(prepared: requests.PreparedRequest, credential, service: str) -> requests.PreparedRequest:
    body = prepared.body or b""
    body = body.encode() if isinstance(body, str) else body
    unsigned = {k: v for k, v in prepared.headers.items() if k.lower() in ("content-length",)}
    to_sign = {k: v for k, v in prepared.headers.items() if k.lower() not in ("content-length", "connection")}
    prepared.headers = {
        **sign(prepared.method, prepared.url, body, credential, service=service, region="us-east-1", headers=to_sign),
        **unsigned,
    }
    return prepared


def _wants_auth(case) -> bool:
    """Generated cases carry the (placeholder) Authorization header unless the case is about its absence."""
    return any(name.lower() == "authorization" for name in (case.headers or {}))


def _send(prepared: requests.PreparedRequest) -> requests.Response:
    return _session.send(prepared, timeout=15)


@pytest.fixture(scope="module")
def orbit_key(stack):
    return read_secret_versions(aws.client("secretsmanager"), Names(stack.project).orbit_signing_key_secret)[0]


@ORBIT.parametrize()
@FUZZ
def test_orbit_conforms_to_its_openapi_document(case, stack, quickstart):
    prepared = _prepared(case, stack.url("orbit"))
    if _wants_auth(case):
        prepared = _signed(prepared, quickstart, "execute-api")
    response = _send(prepared)
    assert response.status_code < 500 or response.status_code == 503, response.text
    case.validate_response(response, excluded_checks=EXCLUDED)


@AXON.parametrize()
@FUZZ
def test_axon_conforms_to_its_openapi_document(case, stack, orbit_key):
    prepared = _prepared(case, stack.url("axon"))
    if _wants_auth(case):
        prepared = _signed(prepared, orbit_key, "axon")
    response = _send(prepared)
    assert response.status_code < 500 or response.status_code == 503, response.text
    # Generated receipts are never Governance's: POST /reason must refuse every one of them.
    if case.operation.path == "/reason" and case.method == "POST":
        assert response.status_code in ((400, 403, 413) if _wants_auth(case) else (401,)), response.text
    case.validate_response(response, excluded_checks=EXCLUDED)


@ORBIT.include(path="/dispatch").parametrize()
@settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_unsigned_and_mis_signed_dispatches_get_401(case, stack, quickstart):
    assume(case.method == "POST")  # schemathesis also probes other methods (405): not what this test is about
    unsigned = _send(_prepared(case, stack.url("orbit")))
    assert (unsigned.status_code, unsigned.json()["code"]) == (401, "MISSING_AUTHORIZATION")
    mis_signed = _signed(_prepared(case, stack.url("orbit")), quickstart, "execute-api")
    auth = mis_signed.headers["Authorization"]
    mis_signed.headers["Authorization"] = auth[:-1] + ("0" if auth[-1] != "0" else "1")
    response = _send(mis_signed)
    assert (response.status_code, response.json()["code"]) == (401, "INVALID_SIGNATURE")


def _document_routes(schema) -> set[tuple[str, str]]:
    return {(op.ok().method.upper(), op.ok().path) for op in schema.get_all_operations()}


def _flask_routes(app) -> set[tuple[str, str]]:
    routes = set()
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static":
            continue
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            routes.add((method, rule.rule))
    return routes


def test_flask_routes_and_openapi_documents_agree(stack):
    from axon.app import create_app as create_axon
    from orbit.app import create_app as create_orbit

    assert _flask_routes(create_orbit()) == _document_routes(ORBIT)
    assert _flask_routes(create_axon()) == _document_routes(AXON)
