"""Keys in Secrets Manager (moto): versions, the verifiers' key cache and its rate limits, the rotation Lambda."""

from __future__ import annotations

import threading

import boto3
import pytest
from moto import mock_aws

from agent_runtime import key_rotation, keys, receipts
from agent_runtime.names import Names
from agent_runtime.sigv4 import Credential

NAMES = Names("kt-project")


@pytest.fixture
def sm(monkeypatch):
    for key in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_LAMBDA", "AWS_PROFILE"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    with mock_aws():
        yield boto3.client("secretsmanager", region_name="us-east-1")


class CountingSource(keys.SecretsSource):
    """The real Secrets Manager source, counting how often the cache goes back to it."""

    def __init__(self, sm, **kwargs):
        super().__init__(sm, **kwargs)
        object.__setattr__(self, "calls", {"all": 0, "one": 0})

    def load_all(self):
        self.calls["all"] += 1
        names = keys.list_secret_names(self.sm, self.prefix or "")
        return {name: keys.read_secret_versions(self.sm, name) for name in names}

    def load_one(self, secret_id):
        self.calls["one"] += 1
        return super().load_one(secret_id)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_create_rotate_keeps_the_id_and_moves_the_old_secret_to_previous(sm):
    created = keys.create_client_key(sm, NAMES, "alice")
    rotated = keys.rotate_client_key(sm, NAMES, "alice")
    assert rotated.access_key_id == created.access_key_id
    versions = keys.read_secret_versions(sm, NAMES.client_secret("alice"))
    assert [(c.stage, c.secret_access_key) for c in versions] == [
        ("AWSCURRENT", rotated.secret_access_key),
        ("AWSPREVIOUS", created.secret_access_key),
    ]
    with pytest.raises(keys.KeyAdminError, match="already exists"):
        keys.create_client_key(sm, NAMES, "alice")
    with pytest.raises(keys.KeyAdminError, match="no credential"):
        keys.rotate_client_key(sm, NAMES, "bob")


def test_list_shows_no_secret_and_revoke_deletes(sm):
    created = keys.create_client_key(sm, NAMES, "alice")
    keys.create_client_key(sm, NAMES, "bob")
    infos = keys.list_client_keys(sm, NAMES)
    assert [i.principal for i in infos] == ["alice", "bob"]
    assert created.secret_access_key not in repr(infos)
    keys.revoke_client_key(sm, NAMES, "alice")
    assert [i.principal for i in keys.list_client_keys(sm, NAMES)] == ["bob"]
    with pytest.raises(keys.KeyAdminError):
        keys.revoke_client_key(sm, NAMES, "alice")


def test_unknown_key_ids_cause_rate_limited_full_reloads(sm):
    keys.create_client_key(sm, NAMES, "alice")
    source = CountingSource(sm, prefix=NAMES.client_secret_prefix)
    clock = Clock()
    cache = keys.KeyCache(source, ttl_seconds=300, refresh_interval=1.0, refresh_burst=2, clock=clock)
    assert cache.candidates("AKARNOPE") == []  # first load (stale cache) plus one miss reload
    baseline = source.calls["all"]
    for _ in range(50):
        assert cache.candidates("AKARNOPE-" + str(_)) == []
    assert source.calls["all"] - baseline <= 1  # the burst is spent: no more reloads in the same instant
    clock.now += 1.0
    bob = keys.create_client_key(sm, NAMES, "bob")
    assert cache.candidates(bob.access_key_id)[0].principal == "bob"  # a new key is found after one reload


def test_targeted_refresh_after_rotation(sm):
    created = keys.create_client_key(sm, NAMES, "alice")
    source = CountingSource(sm, prefix=NAMES.client_secret_prefix)
    clock = Clock()
    cache = keys.KeyCache(source, ttl_seconds=300, refresh_interval=1.0, refresh_burst=1, clock=clock)
    assert [c.secret_access_key for c in cache.candidates(created.access_key_id)] == [created.secret_access_key]
    rotated = keys.rotate_client_key(sm, NAMES, "alice")
    clock.now += 0.01
    assert cache.refresh(created.access_key_id) is True
    assert [c.secret_access_key for c in cache.candidates(created.access_key_id)] == [
        rotated.secret_access_key,
        created.secret_access_key,
    ]
    assert source.calls["one"] == 1
    clock.now += 0.01
    assert cache.refresh(created.access_key_id) is False  # rate-limited: no call
    assert source.calls["one"] == 1
    assert cache.refresh("AKARUNKNOWN") is False  # unknown ids never trigger a targeted reload


def test_concurrent_mismatches_share_one_reload(sm):
    created = keys.create_client_key(sm, NAMES, "alice")
    source = CountingSource(sm, prefix=NAMES.client_secret_prefix)
    cache = keys.KeyCache(source, ttl_seconds=300, refresh_interval=5.0, refresh_burst=1)
    cache.candidates(created.access_key_id)
    keys.rotate_client_key(sm, NAMES, "alice")
    results: list[bool] = []
    threads = [threading.Thread(target=lambda: results.append(cache.refresh(created.access_key_id))) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert source.calls["one"] == 1
    assert results.count(True) >= 1


def test_cache_serves_stale_keys_when_secrets_manager_fails(sm):
    created = keys.create_client_key(sm, NAMES, "alice")
    clock = Clock()
    source = CountingSource(sm, prefix=NAMES.client_secret_prefix)
    cache = keys.KeyCache(source, ttl_seconds=10, clock=clock)
    assert cache.candidates(created.access_key_id)

    def broken():
        raise RuntimeError("Secrets Manager is down")

    object.__setattr__(source, "load_all", broken)
    clock.now += 11
    assert cache.candidates(created.access_key_id)[0].principal == "alice"


def test_seed_from_env_and_current(sm):
    seed = keys.seed_from_env('{"principal": "orbit", "access_key_id": "AKARSEED", "secret_access_key": "s"}')
    assert seed == [Credential("AKARSEED", "s", "orbit")]
    assert keys.seed_from_env({"principal": "orbit", "access_key_id": "AKARSEED", "secret_access_key": "s"}) == seed
    assert keys.seed_from_env("not json") == []
    keys.ensure_signing_key(sm, NAMES.orbit_signing_key_secret, "orbit")
    cache = keys.KeyCache(keys.SecretsSource(sm, secret_id=NAMES.orbit_signing_key_secret))
    assert cache.current().principal == "orbit"


def test_rotation_lambda_rotates_a_credential_in_four_steps(sm):
    keys.ensure_signing_key(sm, NAMES.orbit_signing_key_secret, "orbit")
    before = keys.read_secret_versions(sm, NAMES.orbit_signing_key_secret)[0]
    token = "11111111-2222-3333-4444-555555555555"
    for step in ("createSecret", "setSecret", "testSecret", "finishSecret"):
        event = {"SecretId": NAMES.orbit_signing_key_secret, "ClientRequestToken": token, "Step": step}
        key_rotation.rotate(sm, event, NAMES)
    # A retried step is harmless once the rotation is done.
    key_rotation.rotate(
        sm, {"SecretId": NAMES.orbit_signing_key_secret, "ClientRequestToken": token, "Step": "finishSecret"}, NAMES
    )
    current, previous = keys.read_secret_versions(sm, NAMES.orbit_signing_key_secret)
    assert current.access_key_id == before.access_key_id
    assert current.secret_access_key != before.secret_access_key
    assert previous.secret_access_key == before.secret_access_key


def test_rotate_now_receipt_key_publishes_the_matching_public_key(sm):
    private, public = receipts.generate_key_pair()
    sm.create_secret(Name=NAMES.receipt_private_key_secret, SecretString=private)
    sm.create_secret(Name=NAMES.receipt_public_key_secret, SecretString=public)
    key_rotation.rotate_now(sm, NAMES.receipt_private_key_secret, NAMES)
    new_private = sm.get_secret_value(SecretId=NAMES.receipt_private_key_secret, VersionStage="AWSCURRENT")[
        "SecretString"
    ]
    assert new_private != private
    publics = receipts.public_key_loader(sm, NAMES.receipt_public_key_secret)()
    assert publics[0] == receipts.public_pem_of(new_private)
    assert publics[1] == public  # the previous public key is still there for receipts in flight


def test_rotation_refuses_foreign_secrets(sm):
    sm.create_secret(Name="someone-else/key", SecretString="{}")
    with pytest.raises(key_rotation.RotationError, match="not a secret of"):
        key_rotation.rotate_now(sm, "someone-else/key", NAMES)


class SlowSource:
    """A source that takes a while, counting its full loads."""

    def __init__(self, credential: Credential) -> None:
        self.credential = credential
        self.loads = 0
        self.lock = threading.Lock()

    def load_all(self):
        with self.lock:
            self.loads += 1
        import time

        time.sleep(0.2)
        return {"s": [self.credential]}

    def load_one(self, secret_id):
        return [self.credential]


def test_one_reload_at_a_time_and_the_others_use_the_cached_keys():
    credential = Credential("AKARHERD", "s", "alice")
    source = SlowSource(credential)
    clock = Clock()
    cache = keys.KeyCache(source, ttl_seconds=30, clock=clock)
    assert cache.candidates("AKARHERD")
    assert source.loads == 1
    clock.now += 31  # every cached key is now stale
    found: list[bool] = []
    threads = [threading.Thread(target=lambda: found.append(bool(cache.candidates("AKARHERD")))) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert found == [True] * 16
    assert source.loads == 2  # one reload for sixteen concurrent requests
