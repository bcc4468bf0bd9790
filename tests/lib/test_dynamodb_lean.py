"""agent_runtime.dynamodb_lean against a real DynamoDB API (moto's server): the same answers and errors as boto3,
signatures a SigV4 verifier accepts, kept-alive connections that recover when the server closed them."""

from __future__ import annotations

import socket

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws
from moto.server import ThreadedMotoServer

from agent_runtime.dynamodb_lean import LeanDynamoDB
from agent_runtime.sigv4 import Credential, RawRequest, SigV4Verifier, StaticKeys


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def client():
    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port)
    server.start()
    dynamodb = boto3.session.Session().client(
        "dynamodb",
        region_name="us-east-1",
        endpoint_url=f"http://127.0.0.1:{port}",
        aws_access_key_id="AKIDLEAN",
        aws_secret_access_key="lean-secret",
    )
    dynamodb.create_table(
        TableName="counters",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    yield dynamodb
    server.stop()


def _add(client, key: str, by: int = 1) -> dict:
    return client.update_item(
        TableName="counters",
        Key={"pk": {"S": key}},
        UpdateExpression="ADD #n :by",
        ExpressionAttributeNames={"#n": "count"},
        ExpressionAttributeValues={":by": {"N": str(by)}},
        ReturnValues="UPDATED_NEW",
    )


def test_counts_and_items_are_what_boto3_sees(client):
    lean = LeanDynamoDB(client)
    answers = [int(_add(lean, "k")["Attributes"]["count"]["N"]) for _ in range(5)]
    assert answers == [1, 2, 3, 4, 5]  # exact: each call counted once
    assert _add(client, "k")["Attributes"]["count"]["N"] == "6"  # boto3 reads the same item
    lean.put_item(TableName="counters", Item={"pk": {"S": "log"}, "record": {"S": "x"}})
    assert client.get_item(TableName="counters", Key={"pk": {"S": "log"}})["Item"]["record"] == {"S": "x"}
    assert lean.describe_table(TableName="counters")["Table"]["TableName"] == "counters"  # other calls: boto3


def test_errors_are_botocore_client_errors(client):
    with pytest.raises(ClientError) as raised:
        LeanDynamoDB(client).update_item(
            TableName="missing", Key={"pk": {"S": "k"}}, UpdateExpression="ADD #n :by",
            ExpressionAttributeNames={"#n": "count"}, ExpressionAttributeValues={":by": {"N": "1"}},
        )  # fmt: skip
    assert raised.value.response["Error"]["Code"] == "ResourceNotFoundException"


def test_signature_is_valid_sigv4(client):
    lean = LeanDynamoDB(client)
    body = b'{"TableName":"counters"}'
    headers = lean.signed_headers("DescribeTable", body)
    verifier = SigV4Verifier(
        service="dynamodb",
        region="us-east-1",
        keys=StaticKeys([Credential("AKIDLEAN", "lean-secret", "lean")]),
        replay_guard=None,
    )
    verified = verifier.verify(RawRequest("POST", "/", "", {k.lower(): v for k, v in headers.items()}, body))
    assert verified.principal == "lean"


def test_a_connection_closed_by_the_server_is_replaced(client):
    lean = LeanDynamoDB(client)
    _add(lean, "stale")
    connection = lean._local.connection
    if connection.sock is not None:  # moto's server already closes after each answer; else close it here
        connection.sock.shutdown(socket.SHUT_RDWR)
    assert _add(lean, "stale")["Attributes"]["count"]["N"] == "2"  # sent once on a new connection


def test_mocked_clients_go_through_botocore():
    with mock_aws():
        dynamodb = boto3.session.Session().client(
            "dynamodb", region_name="us-east-1", aws_access_key_id="a", aws_secret_access_key="b"
        )
        dynamodb.create_table(
            TableName="counters",
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        assert _add(LeanDynamoDB(dynamodb), "m")["Attributes"]["count"]["N"] == "1"
