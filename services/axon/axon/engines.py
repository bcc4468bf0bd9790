"""Reasoning engines: a deterministic built-in one (the default) and Amazon Bedrock's Converse API."""

from __future__ import annotations

import json
from typing import Any, Protocol

from botocore.exceptions import ClientError

HEARTBEAT = "Axon heartbeat OK"


class EngineError(Exception):
    """The engine could not answer (a model error, a timeout, throttling): Axon answers 503."""


class EngineRejected(Exception):
    """The engine refused this request itself (too long, filtered): Axon answers 400, and the circuit breaker in
    front of Axon does not count it, so one client cannot open the circuit for everyone."""


# Bedrock errors caused by the request rather than by the service.
_REJECTIONS = {"ValidationException"}


class Engine(Protocol):
    name: str

    def reason(self, intent: str, context: dict[str, Any]) -> str: ...


class BuiltinEngine:
    """Deterministic answers, no model: the heartbeat for call_reasoning, a summary of the request otherwise."""

    name = "builtin"

    def reason(self, intent: str, context: dict[str, Any]) -> str:
        prompt = context.get("prompt")
        if intent == "call_reasoning" and not prompt:
            return HEARTBEAT
        subject = prompt if isinstance(prompt, str) else json.dumps(context, sort_keys=True)
        return f"{intent}: {subject[:200]}"


class BedrockEngine:
    """Amazon Bedrock through boto3's Converse API (model chosen by AXON_BEDROCK_MODEL_ID)."""

    name = "bedrock"

    def __init__(self, client: Any, model_id: str, max_tokens: int = 512) -> None:
        if not model_id:
            raise ValueError("AXON_BEDROCK_MODEL_ID is required with AXON_ENGINE=bedrock")
        self._client = client
        self._model_id = model_id
        self._max_tokens = max_tokens

    def reason(self, intent: str, context: dict[str, Any]) -> str:
        prompt = context.get("prompt")
        text = prompt if isinstance(prompt, str) and prompt else f"Intent: {intent}\nContext: {json.dumps(context)}"
        try:
            response = self._client.converse(
                modelId=self._model_id,
                messages=[{"role": "user", "content": [{"text": text}]}],
                inferenceConfig={"maxTokens": self._max_tokens},
            )
            parts = response["output"]["message"]["content"]
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code in _REJECTIONS:
                raise EngineRejected(code) from exc
            raise EngineError(f"bedrock converse failed: {code}") from exc
        except Exception as exc:  # connection errors, timeouts, a malformed answer
            raise EngineError(f"bedrock converse failed: {type(exc).__name__}") from exc
        if response.get("stopReason") == "content_filtered":
            raise EngineRejected("content filtered")
        answer = "".join(part.get("text", "") for part in parts if isinstance(part, dict))
        if not answer:
            raise EngineError("bedrock returned no text")
        return answer


def make_engine(kind: str, model_id: str = "", timeout_seconds: float = 30.0) -> Engine:
    if kind == "builtin":
        return BuiltinEngine()
    if kind == "bedrock":
        from agent_runtime import aws

        # One attempt bounded by the engine timeout: Orbit waits a little longer than this (ORBIT_AXON_TIMEOUT_MS),
        # so a slow answer still arrives, and a retry could not fit in the time Orbit gives.
        client = aws.client("bedrock-runtime", read_timeout=timeout_seconds, max_attempts=1)
        return BedrockEngine(client, model_id)
    raise ValueError(f"AXON_ENGINE must be 'builtin' or 'bedrock', not {kind!r}")
