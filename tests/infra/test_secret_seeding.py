"""The Terraform contract of the service keys: infra/ creates the secrets empty and configures their rotation with
rotate_immediately, so the rotation function's first run must give each one a usable first value.

Run against the AWS emulator (moto) with Secrets Manager's four steps, as Secrets Manager sends them to the
function (a new token per rotation; the services then read the values the way they do at start-up)."""

from __future__ import annotations

import uuid

import boto3
import pytest
from moto import mock_aws

from agent_runtime import key_rotation, keys, receipts
from agent_runtime.names import Names

NAMES = Names("agent-runtime")
STEPS = ("createSecret", "setSecret", "testSecret", "finishSecret")


@pytest.fixture
def sm(monkeypatch):
    # The in-process emulator, whatever the session points boto3 at (other tests run an emulator server).
    for key in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_SECRETS_MANAGER", "AWS_PROFILE"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        client = boto3.client("secretsmanager", region_name="eu-west-1")
        # What infra/modules/security creates: the three secrets, without any value.
        for name in (NAMES.orbit_signing_key_secret, NAMES.receipt_private_key_secret, NAMES.receipt_public_key_secret):
            client.create_secret(Name=name)
        yield client


def rotate_once(sm, secret: str) -> str:
    token = str(uuid.uuid4())
    for step in STEPS:
        key_rotation.rotate(sm, {"SecretId": secret, "ClientRequestToken": token, "Step": step}, NAMES)
    return token


def stages(sm, secret: str) -> dict[str, list[str]]:
    return sm.describe_secret(SecretId=secret).get("VersionIdsToStages", {})


def test_first_rotation_seeds_orbits_signing_key_as_the_services_read_it(sm):
    token = rotate_once(sm, NAMES.orbit_signing_key_secret)
    assert stages(sm, NAMES.orbit_signing_key_secret) == {token: ["AWSCURRENT"]}
    [credential] = keys.read_secret_versions(sm, NAMES.orbit_signing_key_secret)
    assert credential.principal == "orbit"
    assert credential.access_key_id.startswith("AKAR")
    # The next (scheduled) rotation keeps the access key id and moves the first secret to AWSPREVIOUS.
    rotate_once(sm, NAMES.orbit_signing_key_secret)
    current, previous = keys.read_secret_versions(sm, NAMES.orbit_signing_key_secret)
    assert current.access_key_id == previous.access_key_id == credential.access_key_id
    assert previous.secret_access_key == credential.secret_access_key != current.secret_access_key


def test_first_rotation_seeds_the_receipt_key_pair(sm):
    token = rotate_once(sm, NAMES.receipt_private_key_secret)
    assert stages(sm, NAMES.receipt_private_key_secret) == {token: ["AWSCURRENT"]}
    private = receipts.load_private_key(sm.get_secret_value(SecretId=NAMES.receipt_private_key_secret)["SecretString"])
    public = receipts.load_public_key(sm.get_secret_value(SecretId=NAMES.receipt_public_key_secret)["SecretString"])
    public.verify(private.sign(b"seeded"), b"seeded")


def test_an_empty_client_credential_is_not_invented(sm):
    # Client credentials are created by agentctl with a value; an empty one has no principal to rotate for.
    name = NAMES.client_secret("alice")
    sm.create_secret(Name=name)
    with pytest.raises(key_rotation.RotationError, match="no current value"):
        rotate_once(sm, name)
    assert "AWSCURRENT" not in str(stages(sm, name))
