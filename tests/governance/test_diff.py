"""Diffs between stored policy-set versions (the store in process, against the AWS emulator)."""

from __future__ import annotations

import pytest

from governance.diff import diff_versions
from governance.policies import parse_policies
from governance.store import StoreError

FORBID = '@id("no-bob")\nforbid(principal == Client::"bob", action, resource);'
REASONING = (
    '@id("allow-call-reasoning")\n@description("Reasoning, from the internal network only.")\n'
    'permit(principal, action == Action::"call_reasoning", resource == Service::"axon")\n'
    'when { context.source_ip.isInRange(ip("10.0.0.0/8")) };'
)


def test_the_default_pair_is_the_live_version_against_the_one_before(store):
    store.commit(parse_policies(FORBID))  # v2
    store.commit(parse_policies(REASONING))  # v3: the default policy changed
    diff = diff_versions(store)
    assert (diff.version_a, diff.version_b, diff.unchanged) == (2, 3, 1)
    (change,) = diff.changes
    assert (change.policy_id, change.change) == ("allow-call-reasoning", "changed")
    lines = change.diff.splitlines()
    assert lines[:2] == ["--- v2/allow-call-reasoning", "+++ v3/allow-call-reasoning"]
    assert '+@description("Reasoning, from the internal network only.")' in lines
    assert any(line.startswith("+") and "isInRange" in line for line in lines)
    assert not any(line.startswith(("+", "-")) and "call_reasoning" in line for line in lines)  # unchanged lines


def test_added_and_removed_across_several_versions(store):
    store.commit(parse_policies(FORBID))  # v2
    store.commit(deletes=["allow-call-reasoning"])  # v3
    diff = diff_versions(store, 1, 3)
    assert [(c.policy_id, c.change) for c in diff.changes] == [
        ("allow-call-reasoning", "removed"),
        ("no-bob", "added"),
    ]
    added = diff.changes[1].diff.splitlines()
    assert added[:2] == ["--- /dev/null", "+++ v3/no-bob"]
    assert all(line.startswith("+") for line in added[3:])
    assert diff_versions(store, 3, 1).changes[1].change == "removed"
    # Only A: against the live version.
    assert [c.policy_id for c in diff_versions(store, 2).changes] == ["allow-call-reasoning"]


def test_the_first_version_against_the_empty_set(store):
    diff = diff_versions(store)
    assert (diff.version_a, diff.version_b) == (0, 1)
    assert [(c.policy_id, c.change) for c in diff.changes] == [("allow-call-reasoning", "added")]


def test_the_same_version_and_a_content_identical_one_show_nothing(store):
    store.commit(parse_policies(FORBID))
    store.commit(deletes=["no-bob"])  # v3 has the content of v1
    assert diff_versions(store, 1, 3).changes == []
    assert diff_versions(store, 2, 2).to_dict()["changes"] == []


@pytest.mark.parametrize("versions", [(0, 5), (-1, 1), (7, None)])
def test_a_version_that_does_not_exist_is_refused(store, versions):
    with pytest.raises(StoreError, match="does not exist"):
        diff_versions(store, *versions)
