"""PolicyStore's write primitives, the only writes of the policies table (a push and a backup's switch-over both
use them): items written once, a manifest published only over the version it started from."""

from __future__ import annotations

import boto3
import pytest
from moto import mock_aws

from agent_runtime.names import Names
from agent_runtime.tables import table_definitions
from governance.policies import parse_policies
from governance.store import KEY, ConcurrentChangeError, Limits, PolicyStore, StoreError, manifest_number

NAMES = Names("store-test")
PERMIT = '@id("allow")\npermit(principal, action == Action::"call_reasoning", resource == Service::"axon");'
FORBID = '@id("no-bob")\nforbid(principal == Client::"bob", action, resource);'


@pytest.fixture
def store(monkeypatch) -> PolicyStore:
    for key in ("AWS_ENDPOINT_URL", "AWS_PROFILE"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        dynamodb = boto3.client("dynamodb", region_name="us-east-1")
        for definition in table_definitions(NAMES):
            if definition["TableName"] == NAMES.policies_table:
                dynamodb.create_table(**{k: v for k, v in definition.items() if k != "TimeToLive"})
        yield PolicyStore(dynamodb, NAMES.policies_table)


def item(key: str, **attributes: str) -> dict:
    return {KEY: {"S": key}, **{name: {"S": value} for name, value in attributes.items()}}


def test_put_missing_never_overwrites(store):
    assert store.put_missing([item("policy#a#1", text="first")]) == (["policy#a#1"], [])
    written, present = store.put_missing([item("policy#a#1", text="second"), item("policy#b#1", text="b")])
    assert (written, present) == (["policy#b#1"], ["policy#a#1"])
    by_key = {i[KEY]["S"]: i for i in store.all_items()}
    assert by_key["policy#a#1"]["text"]["S"] == "first"


def test_publish_is_conditional_on_the_version_it_started_from(store):
    store.put_missing([item("policy#a#1", id="a")])
    assert store.publish({"a": "policy#a#1"}, expected=0) == 1
    assert store.read_config().version == 1
    with pytest.raises(ConcurrentChangeError):
        store.publish({}, expected=0)  # someone published version 1 meanwhile
    with pytest.raises(ConcurrentChangeError):
        store.publish({}, expected=1, version=1)  # never over an existing manifest
    assert store.manifest(1) == {"a": "policy#a#1"}
    assert store.publish({}, expected=1, version=5, restored_from="arn:backup", restored_version=1) == 5
    items = {i[KEY]["S"]: i for i in store.all_items()}
    assert items["manifest#5"]["restored_from"]["S"] == "arn:backup"
    assert items["manifest#5"]["restored_version"]["N"] == "1"
    assert items["policyset"]["restored_from"]["S"] == "arn:backup"
    assert sorted(filter(None, map(manifest_number, items))) == [1, 5]


def test_a_failed_publish_writes_nothing_not_even_the_limits(store):
    store.publish({}, expected=0)
    limits = item("limits")
    limits.update({"global": {"N": "7"}, "per_principal": {"N": "7"}, "per_ip": {"N": "7"}})
    before = store.all_items()
    with pytest.raises(ConcurrentChangeError):
        store.publish({}, expected=3, limits_item=limits)
    assert store.all_items() == before
    store.publish({}, expected=1, limits_item=limits)
    assert store.read_config().limits == Limits(7, 7, 7)
    with pytest.raises(StoreError, match="not a limits item"):
        store.publish({}, expected=2, limits_item=item("policyset"))


def test_restore_pointer_only_where_the_pointer_is_lost(store):
    store.publish({}, expected=0)
    pointer = next(i for i in store.all_items() if i[KEY]["S"] == "policyset")
    with pytest.raises(ConcurrentChangeError):
        store.restore_pointer(pointer)
    store.dynamodb.delete_item(TableName=store.table, Key={KEY: {"S": "policyset"}})
    assert store.read_config().version == 0
    store.restore_pointer(pointer)
    assert store.read_config().version == 1


def test_commit_writes_a_policy_item_once_and_an_old_version_keeps_its_text(store):
    (first,) = parse_policies(PERMIT, source="first.cedar")
    store.commit([first])
    store.commit(deletes=["allow"])
    (again,) = parse_policies(PERMIT, source="moved/elsewhere.cedar")  # the same policy back, from another file
    assert store.commit([again]) == (3, True)
    assert store.load(1)[0].source == "first.cedar"  # version 1 still reads what it held: the item was not rewritten
    store.commit(parse_policies(FORBID))
    assert [p.policy_id for p in store.load(4)] == ["allow", "no-bob"]
