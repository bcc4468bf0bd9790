"""The deploy role is also the operators' role (docs/setup-guide.md): agentctl run with it against an AWS environment
must be allowed every AWS call agentctl makes. The calls are read from agentctl's source and the project modules it
uses (tests/infra/code_calls.py, as test_iam_vs_code.py does for the workload roles); agentctl's local stack is left
out, it talks to the emulator only. The check is one way: the role also holds what Terraform needs.

Per resource, one call is refused on purpose and is not an action this test can name: `agentctl tools sync` of a
sigv4 target reads Orbit's signing key, which no operator may read (test_exposure.py); agentctl says so."""

from __future__ import annotations

import functools
import re

from agent_runtime.names import Names

from . import deploy_role
from .code_calls import ROOT, Calls, component_calls, module_closure, package_modules
from .deploy_role import allows, table_arn

# Never followed: the local stack (it creates the emulator's tables and rotates keys in place, never in AWS).
LOCAL_ONLY = ("agentctl.local",)

# Calls agentctl makes that are deliberately NOT the deploy role's, and why. Each must stay both called and
# ungranted (a test checks): granting one means changing the decision and the documentation with it.
OTHER_ROLE = {
    # docs/runbook.md, "Backup and restore": backups and restores of the policies table run with an operator role
    # (or a dedicated one), not the CI deploy role, so that a compromised workflow cannot restore an old policy
    # set or delete the backups. agentctl backup create/list/prune/restore. (DescribeBackup, read-only, is the
    # deploy role's anyway: dynamodb:Describe* on the project's tables covers their backups' ARNs.)
    "dynamodb:CreateBackup": "agentctl backup create (docs/runbook.md: an operator role)",
    "dynamodb:ListBackups": "agentctl backup list/prune/restore (docs/runbook.md: an operator role)",
    "dynamodb:DeleteBackup": "agentctl backup prune (docs/runbook.md: an operator role)",
    "dynamodb:RestoreTableFromBackup": "agentctl backup restore (docs/runbook.md: an operator role)",
}

# agentctl's only transaction, PolicyStore._transact (policy push, limits, restore), is made of Put entries.
TRANSACTIONS = {("dynamodb", "TransactWriteItems"): ["dynamodb:PutItem"]}

# Actions AWS checks besides the call's own (the service authorisation reference's dependent actions), for the
# way agentctl calls them: secrets created with tags and the orbit key, a rotation that runs the rotation function.
DEPENDENT = {
    "secretsmanager:CreateSecret": {"secretsmanager:TagResource", "kms:GenerateDataKey", "kms:Decrypt"},
    "secretsmanager:PutSecretValue": {"kms:GenerateDataKey", "kms:Decrypt"},
    "secretsmanager:GetSecretValue": {"kms:Decrypt"},
    "secretsmanager:RotateSecret": {"lambda:InvokeFunction"},
}


@functools.cache
def agentctl_calls() -> Calls:
    return component_calls(package_modules("agentctl"), None, LOCAL_ONLY)


def needed() -> set[str]:
    actions = agentctl_calls().iam_actions(TRANSACTIONS)
    return actions.union(*(DEPENDENT.get(action, set()) for action in actions))


def test_the_operators_role_allows_every_call_agentctl_makes():
    assert agentctl_calls().dynamic_clients == (), "a client whose service is not a literal cannot be checked"
    missing = sorted(action for action in needed() - set(OTHER_ROLE) if not deploy_role.grants(action))
    assert missing == [], f"agentctl calls these in AWS; the deploy (operators') role does not allow them: {missing}"


def test_what_is_left_to_another_role_is_called_by_agentctl_and_not_granted():
    stale = sorted(set(OTHER_ROLE) - needed())
    assert stale == [], f"agentctl no longer calls these: remove them from OTHER_ROLE {stale}"
    granted = sorted(action for action in OTHER_ROLE if deploy_role.grants(action))
    assert granted == [], f"granted to the deploy role against OTHER_ROLE's decision (and docs/runbook.md): {granted}"


def test_the_analysis_finds_agentctls_characteristic_calls():
    # Guards the analysis: if it stopped following agentctl, the inclusion above would pass on an empty set.
    expected = {
        "dynamodb:BatchGetItem",  # PolicyStore.read_config: limits show/set, policy push, status
        "dynamodb:PutItem",  # the transaction of a policy push (TRANSACTIONS)
        "dynamodb:Query",  # policy replay reads the decision log
        "secretsmanager:GetSecretValue",  # keys list/rotate
        "secretsmanager:PutSecretValue",  # keys rotate, tools add
        "secretsmanager:RotateSecret",  # keys rotate-service
        "ecs:StopTask",  # chaos kill
        "lambda:UpdateAlias",  # rollback
        "xray:GetTraceSummaries",  # trace
        "logs:FilterLogEvents",  # logs
        "dynamodb:CreateBackup",  # backup create (OTHER_ROLE)
    }
    assert expected <= needed(), sorted(expected - needed())


def test_the_local_stack_is_left_out_and_would_change_the_answer():
    closure = module_closure(package_modules("agentctl"), LOCAL_ONLY)
    assert not [module for module in closure if module.startswith("agentctl.local")]
    # What only the local stack calls (it creates the emulator's tables): not an AWS need of the operators.
    everything = component_calls(package_modules("agentctl")).iam_actions(TRANSACTIONS)
    assert "dynamodb:CreateTable" in everything - needed()


def test_policy_store_transactions_are_puts_only():
    # TRANSACTIONS above is true only while PolicyStore writes Put entries in its transactions.
    source = (ROOT / "governance" / "lambda" / "governance" / "store.py").read_text(encoding="utf-8")
    assert re.findall(r'"(Put|Update|Delete|ConditionCheck)":', source) == ["Put"]


def test_each_table_action_of_the_operators_role_names_the_tables_agentctl_uses_it_on():
    # The inclusion above is per action; this pins each data action to its tables. No data access to the
    # rate-limit counters or the replay cache; the decision log by Query only (its resource policy, too).
    names = Names(deploy_role.PROJECT)
    tables = {
        "policies": names.policies_table,
        "tools": names.tools_table,
        "decision-log": names.decision_log_table,
        "rate-limits": names.rate_limits_table,
        "replay": names.replay_table,
    }
    expected = {
        "dynamodb:BatchGetItem": {"policies"},
        "dynamodb:GetItem": {"policies"},
        "dynamodb:PutItem": {"policies", "tools"},
        "dynamodb:Scan": {"policies", "tools"},
        "dynamodb:UpdateItem": {"tools"},
        "dynamodb:DeleteItem": {"tools"},
        "dynamodb:Query": {"decision-log"},
        "dynamodb:BatchWriteItem": set(),
    }
    for action, allowed in expected.items():
        prefix = f"{deploy_role.PROJECT}-"
        found = {kind for kind, table in tables.items() if allows(action, table_arn(table.removeprefix(prefix)))}
        assert found == allowed, action
