"""agent_runtime.aws_lean against real servers: DynamoDB (moto's server) with the same answers and errors as boto3,
and a Lambda Invoke API that checks every signature; connections that recover when the server closed them."""

from __future__ import annotations

import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws
from moto.server import ThreadedMotoServer

from agent_runtime.aws_lean import LeanDynamoDB, LeanLambda
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
        aws_secret_access_key="lean-secret",  # pragma: allowlist secret (the emulator's dummy credential)
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
    headers = lean.signed_headers("/", "", {"x-amz-target": "DynamoDB_20120810.DescribeTable"}, body)
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
    sock = lean._http._local.sock
    if sock is not None:  # moto's server already closes after each answer; else close it here
        sock.shutdown(socket.SHUT_RDWR)
    assert _add(lean, "stale")["Attributes"]["count"]["N"] == "2"  # sent once on a new connection


def test_the_dynamodb_replay_store_is_lean_and_refuses_a_second_use(client, monkeypatch):
    from agent_runtime.replay import make_replay_store

    client.create_table(
        TableName="replay",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    monkeypatch.setenv("AWS_ENDPOINT_URL", client.meta.endpoint_url)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDLEAN")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "lean-secret")  # pragma: allowlist secret (the emulator's dummy)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    store = make_replay_store("dynamodb", table_name="replay")
    assert isinstance(store._dynamodb, LeanDynamoDB)
    assert store.first_use("sig-1", 4_000_000_000)
    assert not store.first_use("sig-1", 4_000_000_000)  # ConditionalCheckFailedException, read as a replay
    assert store.first_use("sig-2", 4_000_000_000)


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


# --- Lambda Invoke ----------------------------------------------------------------------------------------------

_VERIFIER = SigV4Verifier(
    service="lambda", region="us-east-1", keys=StaticKeys([Credential("AKIDLEAN", "lean-secret", "orbit")]),
    replay_guard=None,
)  # fmt: skip


class _InvokeApi(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    seen: ClassVar[list[tuple[str, dict]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        path, _, query = self.path.partition("?")
        headers = {k.lower(): v for k, v in self.headers.items()}
        try:
            _VERIFIER.verify(RawRequest("POST", path, query, headers, body))
        except Exception as exc:  # the test fails on the status below
            return self._answer(403, {"message": str(exc)}, {"x-amzn-ErrorType": "InvalidSignatureException"})
        event = json.loads(body)
        _InvokeApi.seen.append((self.path, event))
        if "/functions/missing/" in path:
            return self._answer(
                404, {"Type": "User", "message": "no"}, {"x-amzn-ErrorType": "ResourceNotFoundException"}
            )
        extra = {"X-Amz-Function-Error": "Unhandled"} if event.get("fail") else {}
        return self._answer(200, {"echo": event}, {"X-Amz-Executed-Version": "3", **extra})

    def _answer(self, status: int, data: dict, headers: dict) -> None:
        payload = json.dumps(data).encode()
        self.send_response(status)
        for name, value in {"Content-Type": "application/json", "Content-Length": str(len(payload)), **headers}.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture(scope="module")
def invoke_api():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _InvokeApi)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    client = boto3.session.Session().client(
        "lambda", region_name="us-east-1", endpoint_url=f"http://127.0.0.1:{server.server_address[1]}",
        aws_access_key_id="AKIDLEAN", aws_secret_access_key="lean-secret",
    )  # fmt: skip
    lean = LeanLambda(client)
    yield lean
    lean._drop()
    server.shutdown()
    server.server_close()


def test_invoke_is_signed_and_answered_like_boto3(invoke_api):
    answer = invoke_api.invoke(FunctionName="gov", Qualifier="live", Payload=json.dumps({"a": 1}).encode())
    assert answer["StatusCode"] == 200
    assert "FunctionError" not in answer
    assert answer["ExecutedVersion"] == "3"
    assert json.loads(answer["Payload"].read()) == {"echo": {"a": 1}}
    assert _InvokeApi.seen[-1][0] == "/2015-03-31/functions/gov/invocations?Qualifier=live"
    again = invoke_api.invoke(FunctionName="gov", Payload=b'{"fail": true}')  # the same kept-alive connection
    assert again["FunctionError"] == "Unhandled"


def test_invoke_errors_are_client_errors(invoke_api):
    with pytest.raises(ClientError) as raised:
        invoke_api.invoke(FunctionName="missing", Payload=b"{}")
    assert raised.value.response["Error"]["Code"] == "ResourceNotFoundException"


def test_a_dead_invoke_api_is_a_botocore_connection_error():
    port = _free_port()
    client = boto3.session.Session().client(
        "lambda", region_name="us-east-1", endpoint_url=f"http://127.0.0.1:{port}",
        aws_access_key_id="a", aws_secret_access_key="b",
    )  # fmt: skip
    from botocore.exceptions import BotoCoreError

    with pytest.raises(BotoCoreError):
        LeanLambda(client).invoke(FunctionName="gov", Payload=b"{}")
