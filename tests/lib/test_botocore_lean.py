"""agent_runtime.botocore_lean: a lean client sends the same requests, with the same User-Agent, and is answered."""

from __future__ import annotations

import boto3
from botocore.stub import Stubber

from agent_runtime.botocore_lean import lean


def _client():
    return boto3.session.Session().client(
        "dynamodb", region_name="us-east-1", aws_access_key_id="a", aws_secret_access_key="b"
    )


def test_user_agent_is_the_same_and_computed_once_per_feature_set():
    plain, leaned = _client(), lean(_client())
    creator = leaned._user_agent_creator
    assert creator.to_string() == plain._user_agent_creator.to_string()
    assert creator.to_string() is creator.to_string()  # cached


def test_requests_still_work_and_validation_is_off():
    client = lean(_client())
    with Stubber(client) as stub:
        stub.add_response("put_item", {}, {"TableName": "t", "Item": {"pk": {"S": "x"}}})
        client.put_item(TableName="t", Item={"pk": {"S": "x"}})
    # Without client-side validation a wrong type reaches the serializer (the service would refuse it) instead of
    # raising ParamValidationError here.
    assert type(client._serializer).__name__ != "ParamValidationDecorator"


def test_stand_ins_are_left_alone():
    stand_in = object()
    assert lean(stand_in) is stand_in
