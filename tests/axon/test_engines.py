"""Axon's reasoning engines. Bedrock cannot run here: its client is stubbed at the boto3 boundary (Stubber)."""

from __future__ import annotations

import boto3
import pytest
from botocore.stub import Stubber

from axon.engines import HEARTBEAT, BedrockEngine, BuiltinEngine, EngineError, EngineRejected, make_engine

MODEL = "anthropic.claude-3-haiku-20240307-v1:0"


def test_builtin_engine_answers_the_heartbeat_and_is_deterministic():
    engine = BuiltinEngine()
    assert engine.reason("call_reasoning", {}) == HEARTBEAT
    assert engine.reason("summarize", {"prompt": "abc"}) == engine.reason("summarize", {"prompt": "abc"})


@pytest.fixture
def bedrock():
    client = boto3.client("bedrock-runtime", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    with Stubber(client) as stubber:
        yield BedrockEngine(client, MODEL), stubber


def _request(text: str) -> dict:
    return {
        "modelId": MODEL,
        "messages": [{"role": "user", "content": [{"text": text}]}],
        "inferenceConfig": {"maxTokens": 512},
    }


def test_bedrock_converse(bedrock):
    engine, stubber = bedrock
    stubber.add_response(
        "converse",
        {
            "output": {"message": {"role": "assistant", "content": [{"text": "an answer"}]}},
            "stopReason": "end_turn",
            "usage": {"inputTokens": 1, "outputTokens": 2, "totalTokens": 3},
            "metrics": {"latencyMs": 5},
        },
        _request("hello"),
    )
    assert engine.reason("summarize", {"prompt": "hello"}) == "an answer"


def test_a_request_bedrock_refuses_is_the_clients_problem(bedrock):
    engine, stubber = bedrock
    stubber.add_client_error("converse", service_error_code="ValidationException", http_status_code=400)
    with pytest.raises(EngineRejected):
        engine.reason("summarize", {"prompt": "x" * 10})


@pytest.mark.parametrize(
    ("code", "status"), [("ThrottlingException", 429), ("ModelTimeoutException", 408), ("InternalServerException", 500)]
)
def test_a_bedrock_outage_is_an_engine_error(bedrock, code, status):
    engine, stubber = bedrock
    stubber.add_client_error("converse", service_error_code=code, http_status_code=status)
    with pytest.raises(EngineError):
        engine.reason("summarize", {"prompt": "x"})


def test_unknown_engine_is_refused():
    with pytest.raises(ValueError, match="AXON_ENGINE"):
        make_engine("gpt")
    with pytest.raises(ValueError, match="AXON_BEDROCK_MODEL_ID"):
        BedrockEngine(object(), "")
