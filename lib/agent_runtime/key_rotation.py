"""The Secrets Manager rotation Lambda for the service keys (a 30-day schedule in Terraform).

It follows Secrets Manager's four-step rotation protocol (createSecret, setSecret, testSecret, finishSecret):

- a credential secret (Orbit's signing key, or a client's) gets a new secret under the same access key id;
  the services accept the current and the previous version, so no request in flight fails;
- Governance's receipt key gets a new Ed25519 pair: the public half is published first (Axon accepts the
  current and previous public keys), and the private half becomes current only at finishSecret.

No downstream system holds these keys (the services read them from Secrets Manager), so setSecret has nothing
to do. Deployed from the same zip as the governance function; handler
`agent_runtime.key_rotation.lambda_handler`.
"""

from __future__ import annotations

import json
import logging
import uuid
from typing import Any

from botocore.exceptions import ClientError

from agent_runtime import aws, keys, receipts
from agent_runtime.logs import configure_logging
from agent_runtime.names import Names

log = logging.getLogger("agent_runtime.key_rotation")
PENDING = "AWSPENDING"


class RotationError(Exception):
    pass


def _is_receipt_key(secret_name: str, names: Names) -> bool:
    return secret_name == names.receipt_private_key_secret


def _pending_exists(sm: Any, secret_id: str, token: str) -> bool:
    try:
        sm.get_secret_value(SecretId=secret_id, VersionId=token, VersionStage=PENDING)
        return True
    except ClientError as exc:
        if exc.response["Error"]["Code"] == "ResourceNotFoundException":
            return False
        raise


def _current_credential(sm: Any, secret_id: str) -> keys.Credential | None:
    try:
        return keys.credential_from_json(
            sm.get_secret_value(SecretId=secret_id, VersionStage="AWSCURRENT")["SecretString"]
        )
    except ClientError as exc:
        if exc.response["Error"]["Code"] == "ResourceNotFoundException":
            return None
        raise


def _new_credential(sm: Any, secret_id: str, name: str, names: Names) -> str:
    current = _current_credential(sm, secret_id)
    if current is not None:
        return keys.credential_to_json(keys.generate_credential(current.principal, current.access_key_id))
    # Terraform creates Orbit's signing key empty; its first rotation (at the first apply) writes the first value.
    if name == names.orbit_signing_key_secret:
        return keys.credential_to_json(keys.generate_credential("orbit"))
    raise RotationError(f"{name} has no current value to rotate")


def create_secret(sm: Any, secret_id: str, name: str, token: str, names: Names) -> None:
    if not _pending_exists(sm, secret_id, token):
        if _is_receipt_key(name, names):
            value, _ = receipts.generate_key_pair()
        else:
            value = _new_credential(sm, secret_id, name, names)
        sm.put_secret_value(SecretId=secret_id, SecretString=value, ClientRequestToken=token, VersionStages=[PENDING])
    if _is_receipt_key(name, names):
        # Publish the public half now, while the old private key still signs: Axon accepts the current and the
        # previous public key, so receipts of either key verify. Same token, same value: a retry is a no-op.
        pending = sm.get_secret_value(SecretId=secret_id, VersionId=token, VersionStage=PENDING)["SecretString"]
        sm.put_secret_value(
            SecretId=names.receipt_public_key_secret,
            SecretString=receipts.public_pem_of(pending),
            ClientRequestToken=token,
        )


def test_secret(sm: Any, secret_id: str, name: str, token: str, names: Names) -> None:
    value = sm.get_secret_value(SecretId=secret_id, VersionId=token, VersionStage=PENDING)["SecretString"]
    try:
        if _is_receipt_key(name, names):
            private = receipts.load_private_key(value)
            public_pem = sm.get_secret_value(SecretId=names.receipt_public_key_secret, VersionStage="AWSCURRENT")[
                "SecretString"
            ]
            probe = private.sign(b"rotation probe")
            receipts.load_public_key(public_pem).verify(probe, b"rotation probe")
        else:
            keys.credential_from_json(value)
    except Exception as exc:
        raise RotationError(f"the pending version of {name} is not usable: {type(exc).__name__}") from exc


def finish_secret(sm: Any, secret_id: str, token: str) -> None:
    stages = sm.describe_secret(SecretId=secret_id)["VersionIdsToStages"]
    current = next((v for v, s in stages.items() if "AWSCURRENT" in s), None)
    if current != token:
        # No current version yet: the first value of a secret created empty.
        previous = {"RemoveFromVersionId": current} if current else {}
        sm.update_secret_version_stage(SecretId=secret_id, VersionStage="AWSCURRENT", MoveToVersionId=token, **previous)
    if PENDING in stages.get(token, []) or current != token:
        sm.update_secret_version_stage(SecretId=secret_id, VersionStage=PENDING, RemoveFromVersionId=token)


def rotate(sm: Any, event: dict[str, Any], names: Names) -> None:
    secret_id, token, step = event["SecretId"], event["ClientRequestToken"], event["Step"]
    described = sm.describe_secret(SecretId=secret_id)
    name = described["Name"]
    if not name.startswith(names.secret_prefix):
        raise RotationError(f"{name} is not a secret of {names.project}")
    stages = described.get("VersionIdsToStages", {})
    if token in stages and "AWSCURRENT" in stages[token] and PENDING not in stages[token]:
        return  # already rotated
    # Secrets Manager registers the version as AWSPENDING before createSecret; a version that exists without
    # that label was not created for this rotation.
    if token in stages and PENDING not in stages[token]:
        raise RotationError(f"version {token} of {name} is not pending rotation")
    if token not in stages and step != "createSecret":
        raise RotationError(f"version {token} of {name} does not exist")
    log.info("rotation step %s", step, extra={"event": "key_rotation", "secret": name, "step": step})
    if step == "createSecret":
        create_secret(sm, secret_id, name, token, names)
    elif step == "setSecret":
        return
    elif step == "testSecret":
        test_secret(sm, secret_id, name, token, names)
    elif step == "finishSecret":
        finish_secret(sm, secret_id, token)
    else:
        raise RotationError(f"unknown rotation step {step!r}")


def lambda_handler(event: dict[str, Any], context: Any) -> None:
    configure_logging("key-rotation")
    rotate(aws.client("secretsmanager"), event, Names.from_env())
    print(json.dumps({"event": "key_rotation_step_done", "step": event.get("Step")}), flush=True)


def rotate_now(sm: Any, secret_id: str, names: Names) -> str:
    """Run the whole rotation in this process (what agentctl does locally). Returns the new version id."""
    token = str(uuid.uuid4())
    name = sm.describe_secret(SecretId=secret_id)["Name"]
    if not name.startswith(names.secret_prefix):
        raise RotationError(f"{name} is not a secret of {names.project}")
    create_secret(sm, secret_id, name, token, names)
    test_secret(sm, secret_id, name, token, names)
    finish_secret(sm, secret_id, token)
    return token
