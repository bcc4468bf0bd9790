"""The DynamoDB tables, as `create_table` arguments.

The local bootstrap creates exactly these; infra/modules/dynamodb declares the same names, keys and TTL
attributes (tests/infra/test_table_parity.py compares the two).
"""

from __future__ import annotations

from typing import Any

from agent_runtime.names import Names

#: Attribute holding the epoch second after which DynamoDB's TTL may delete an item.
TTL_ATTRIBUTE = "expires_at"


def table_definitions(names: Names) -> list[dict[str, Any]]:
    """`create_table` keyword arguments for every table, plus `TimeToLive` where TTL is on."""
    return [
        {
            # One item per Cedar policy (policy_id = its @id annotation), plus the policy-set version item.
            "TableName": names.policies_table,
            "KeySchema": [{"AttributeName": "policy_id", "KeyType": "HASH"}],
            "AttributeDefinitions": [{"AttributeName": "policy_id", "AttributeType": "S"}],
            "BillingMode": "PAY_PER_REQUEST",
        },
        {
            # Fixed-window rate-limit counters and the limit settings: pk = "<scope>#<key>#<window>".
            "TableName": names.rate_limits_table,
            "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
            "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
            "BillingMode": "PAY_PER_REQUEST",
            "TimeToLive": {"AttributeName": TTL_ATTRIBUTE, "Enabled": True},
        },
        {
            # Signatures already accepted (SigV4 replay protection across replicas) and used receipts.
            "TableName": names.replay_table,
            "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
            "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
            "BillingMode": "PAY_PER_REQUEST",
            "TimeToLive": {"AttributeName": TTL_ATTRIBUTE, "Enabled": True},
        },
        {
            # Every decision's Cedar request, by hour (agent_runtime.decision_log.DecisionLog), expired by TTL.
            "TableName": names.decision_log_table,
            "KeySchema": [
                {"AttributeName": "pk", "KeyType": "HASH"},
                {"AttributeName": "sk", "KeyType": "RANGE"},
            ],
            "AttributeDefinitions": [
                {"AttributeName": "pk", "AttributeType": "S"},
                {"AttributeName": "sk", "AttributeType": "S"},
            ],
            "BillingMode": "PAY_PER_REQUEST",
            "TimeToLive": {"AttributeName": TTL_ATTRIBUTE, "Enabled": True},
        },
        {
            # MCP targets and the tools of their synced generation (agent_runtime.tools.ToolStore).
            "TableName": names.tools_table,
            "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
            "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
            "BillingMode": "PAY_PER_REQUEST",
        },
    ]
