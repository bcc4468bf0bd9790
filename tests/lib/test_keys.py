"""Keys in Secrets Manager (moto): versions, the verifiers' key cache and its rate limits, the rotation Lambda."""

from __future__ import annotations

import threading
import time

import boto3
import pytest
from botocore.exceptions import ClientError
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
        object.__setattr__(self, "calls", {"list": 0, "one": 0})
        object.__setattr__(self, "lock", threading.Lock())

    def versions(self, confirm=False):
        with self.lock:
            self.calls["list"] += 1
        return super().versions(confirm=confirm)

    def load_one(self, secret_id):
        with self.lock:
            self.calls["one"] += 1
        return super().load_one(secret_id)


def run_concurrently(count: int, work) -> list:
    """`work(i)` in `count` threads started together; their results in order."""
    results: list = [None] * count
    barrier = threading.Barrier(count)

    def run(i: int) -> None:
        barrier.wait()
        results[i] = work(i)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


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


def test_concurrent_first_requests_of_a_new_key_all_find_it(sm):
    keys.create_client_key(sm, NAMES, "alice")
    source = CountingSource(sm, prefix=NAMES.client_secret_prefix)
    cache = keys.KeyCache(source, ttl_seconds=300, refresh_interval=1.0, refresh_burst=1)
    assert cache.candidates("AKARWARMUP") == []  # first load, plus the budget's one reload for this unknown id
    bob = keys.create_client_key(sm, NAMES, "bob")  # created after the cache loaded: unknown to it
    found = run_concurrently(16, lambda _: cache.candidates(bob.access_key_id))
    assert [c[0].principal if c else None for c in found] == ["bob"] * 16
    # The budget was spent: the sixteen waited for the next allowed reload and shared it.
    assert source.calls["list"] == 3


def test_a_reload_reads_only_the_secrets_that_changed(sm):
    for name in ("a1", "a2", "a3", "a4", "a5"):
        keys.create_client_key(sm, NAMES, name)
    source = CountingSource(sm, prefix=NAMES.client_secret_prefix)
    cache = keys.KeyCache(source, ttl_seconds=300, refresh_interval=0.0)
    assert cache.candidates("AKARNOPE1") == []
    assert source.calls["one"] == 5
    new = keys.create_client_key(sm, NAMES, "new")
    keys.rotate_client_key(sm, NAMES, "a2")
    keys.revoke_client_key(sm, NAMES, "a3")
    assert cache.candidates(new.access_key_id)[0].principal == "new"
    assert source.calls["one"] == 5 + 2  # the new secret and the rotated one; nothing else read again
    assert [i.principal for i in keys.list_client_keys(sm, NAMES) if cache.candidates(i.access_key_id)] == [
        "a1",
        "a2",
        "a4",
        "a5",
        "new",
    ]


def test_a_flood_of_made_up_ids_costs_one_listing_per_interval_and_refuses_no_real_key(sm):
    keys.create_client_key(sm, NAMES, "alice")
    source = CountingSource(sm, prefix=NAMES.client_secret_prefix)
    cache = keys.KeyCache(source, ttl_seconds=300, refresh_interval=0.2, refresh_burst=2, unknown_wait_seconds=2.0)
    cache.candidates("AKARWARMUP")
    reads_before = source.calls["one"]
    created: dict[str, str] = {}

    def request(i: int):
        if i == 100:  # a real key created in the middle of the flood is found by its first request
            created["id"] = keys.create_client_key(sm, NAMES, "late").access_key_id
            return cache.candidates(created["id"])
        return cache.candidates(f"AKARMADEUP{i:04d}")

    started = time.monotonic()
    results = run_concurrently(200, request)
    elapsed = time.monotonic() - started
    assert [c.principal for c in results[100]] == ["late"]
    assert all(r == [] for i, r in enumerate(results) if i != 100)
    # The budget: two at once, then one per 0.2 s; the listings served every waiting request at once.
    assert source.calls["list"] <= 1 + 2 + elapsed / 0.2 + 1
    assert source.calls["one"] - reads_before == 1  # only the new secret was ever read
    listings = source.calls["list"]
    for _ in range(50):  # a made-up id seen again is answered from the negative cache
        assert cache.candidates("AKARMADEUP0007") == []
    assert source.calls["list"] == listings


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
    assert source.calls["one"] == 2
    clock.now += 0.01
    assert cache.refresh(created.access_key_id) is False  # rate-limited: no call
    assert source.calls["one"] == 2
    assert cache.refresh("AKARUNKNOWN") is False  # unknown ids never trigger a targeted reload


def test_concurrent_mismatches_share_one_reload(sm):
    created = keys.create_client_key(sm, NAMES, "alice")
    source = CountingSource(sm, prefix=NAMES.client_secret_prefix)
    cache = keys.KeyCache(source, ttl_seconds=300, refresh_interval=5.0, refresh_burst=1)
    cache.candidates(created.access_key_id)
    keys.rotate_client_key(sm, NAMES, "alice")
    reads = source.calls["one"]
    results = run_concurrently(8, lambda _: cache.refresh(created.access_key_id))
    assert source.calls["one"] == reads + 1
    assert results.count(True) >= 1


def test_stale_keys_are_served_while_secrets_manager_fails_but_never_past_the_bound(sm):
    created = keys.create_client_key(sm, NAMES, "alice")
    clock = Clock()
    source = CountingSource(sm, prefix=NAMES.client_secret_prefix)
    cache = keys.KeyCache(source, ttl_seconds=10, max_stale_seconds=60, refresh_interval=1.0, clock=clock)
    assert cache.candidates(created.access_key_id)
    keys.revoke_client_key(sm, NAMES, "alice")

    def throttled(confirm=False):
        raise ClientError({"Error": {"Code": "ThrottlingException", "Message": "Rate exceeded"}}, "ListSecrets")

    object.__setattr__(source, "versions", throttled)
    clock.now += 11  # past the TTL: the reload fails, the cached (revoked) key is still served...
    assert cache.candidates(created.access_key_id)[0].principal == "alice"
    clock.now += 50  # ...but not longer than max_stale after the last successful load: fail closed
    with pytest.raises(keys.KeyStoreUnavailable):
        cache.candidates(created.access_key_id)
    object.__setattr__(source, "versions", lambda confirm=False: keys.SecretsSource.versions(source, confirm=confirm))
    clock.now += 1
    assert cache.candidates(created.access_key_id) == []  # Secrets Manager answers again: the revocation holds


class LaggingListing(keys.SecretsSource):
    """Secrets Manager in AWS: ListSecrets "might not reflect changes from the last five minutes". This listing
    is frozen at its first answer; DescribeSecret and GetSecretValue stay consistent, as in AWS."""

    def __init__(self, sm, **kwargs):
        super().__init__(sm, **kwargs)
        object.__setattr__(self, "frozen", None)

    def versions(self, confirm=False):
        real_list = keys._list_secrets
        if self.frozen is None:
            object.__setattr__(self, "frozen", real_list(self.sm, self.prefix))
        keys._list_secrets = lambda sm, prefix: self.frozen
        try:
            return super().versions(confirm=confirm)
        finally:
            keys._list_secrets = real_list


def test_a_revocation_holds_within_the_ttl_even_when_the_listing_lags(sm):
    alice = keys.create_client_key(sm, NAMES, "alice")
    bob = keys.create_client_key(sm, NAMES, "bob")
    clock = Clock()
    cache = keys.KeyCache(
        LaggingListing(sm, prefix=NAMES.client_secret_prefix), ttl_seconds=10, refresh_interval=0.0, clock=clock
    )
    assert cache.candidates(alice.access_key_id)[0].principal == "alice"
    keys.revoke_client_key(sm, NAMES, "alice")
    rotated = keys.rotate_client_key(sm, NAMES, "bob")
    clock.now += 1
    assert cache.candidates("AKARMADEUP01") == []  # an unknown-id reload: the stale listing still shows alice...
    assert cache.candidates(alice.access_key_id)  # ...so she is still served, within the TTL
    clock.now += 10  # past the TTL: the reload describes every listed secret, and alice's is gone
    assert cache.candidates(alice.access_key_id) == []
    assert [c.secret_access_key for c in cache.candidates(bob.access_key_id)] == [
        rotated.secret_access_key,
        bob.secret_access_key,
    ]  # and bob's rotation, invisible in the listing, was read too
    for _ in range(3):  # unknown-id reloads from the stale listing do not bring the revoked key back
        clock.now += 1
        assert cache.candidates(f"AKARMADEUP0{_}") == []
        assert cache.candidates(alice.access_key_id) == []


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
    """A source that takes a while to list, counting its listings."""

    def __init__(self, credential: Credential) -> None:
        self.credential = credential
        self.loads = 0
        self.lock = threading.Lock()

    def versions(self, confirm=False):
        with self.lock:
            self.loads += 1
        time.sleep(0.2)
        return {"s": (f"AWSCURRENT=v{self.loads}",)}

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
    found = run_concurrently(16, lambda _: bool(cache.candidates("AKARHERD")))
    assert found == [True] * 16
    assert source.loads == 2  # one reload for sixteen concurrent requests


def test_concurrent_first_loads_share_one_listing():
    source = SlowSource(Credential("AKARHERD", "s", "alice"))
    cache = keys.KeyCache(source, ttl_seconds=30)
    found = run_concurrently(12, lambda _: bool(cache.candidates("AKARHERD")))
    assert found == [True] * 12
    assert source.loads == 1
