"""A local server speaking the Lambda Invoke API for the governance function.

The AWS emulator cannot run Lambda code without Docker, so the local stack serves the real handler here:
`POST /2015-03-31/functions/{name}/invocations` runs `governance.handler.lambda_handler(event, context)` once
per request, and Orbit calls it with boto3's `lambda.invoke` exactly as in AWS. Run it under gunicorn with
one thread per worker (agentctl.local.lambda_api_conf): like Lambda, each worker (a warm instance) handles one
invocation at a time; connections are kept alive.
"""

from __future__ import annotations

import json
import logging
import os
import time
import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from flask import Flask, Response, request

from agent_runtime.names import Names

log = logging.getLogger("agentctl.lambda_api")
_QUALIFIERS = {None, "", "$LATEST", Names.governance_alias}


@dataclass
class LambdaContext:
    """The attributes of AWS's context object that handlers and Powertools read."""

    function_name: str
    aws_request_id: str
    deadline: float
    memory_limit_in_mb: int = 512
    function_version: str = "$LATEST"
    log_group_name: str = ""
    log_stream_name: str = "local"

    @property
    def invoked_function_arn(self) -> str:
        return f"arn:aws:lambda:us-east-1:000000000000:function:{self.function_name}"

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self.deadline - time.monotonic()) * 1000))


def _error(status: int, error_type: str, message: str) -> Response:
    response = Response(json.dumps({"Type": "User", "message": message}), status=status, mimetype="application/json")
    response.headers["x-amzn-ErrorType"] = error_type
    return response


def _split_name(raw: str) -> tuple[str, str | None]:
    """Accept `name`, `name:qualifier`, and the partial or full ARN forms."""
    name = unquote(raw)
    if name.startswith("arn:"):
        parts = name.split(":")
        name = ":".join(parts[6:]) if len(parts) > 6 else ""
    function, _, qualifier = name.partition(":")
    return function, qualifier or None


def create_app() -> Flask:
    from governance.handler import lambda_handler  # the real handler, imported once per warm worker

    names = Names.from_env()
    function_name = os.environ.get("LAMBDA_FUNCTION_NAME", names.governance_function)
    timeout_seconds = float(os.environ.get("LAMBDA_TIMEOUT_SECONDS", "10"))
    app = Flask(__name__)

    @app.get("/health")
    def health() -> Any:
        return {"status": "healthy", "service": "governance-lambda-api", "function": function_name}

    @app.post("/2015-03-31/functions/<path:function>/invocations")
    def invoke(function: str) -> Response:
        name, qualifier = _split_name(function)
        qualifier = request.args.get("Qualifier", qualifier)
        if name != function_name or qualifier not in _QUALIFIERS:
            return _error(404, "ResourceNotFoundException", f"Function not found: {function}")
        invocation_type = request.headers.get("X-Amz-Invocation-Type", "RequestResponse")
        if invocation_type == "DryRun":
            return Response(status=204)
        raw = request.get_data()
        try:
            event = json.loads(raw) if raw else {}
        except ValueError:
            return _error(400, "InvalidRequestContentException", "Could not parse request body into json")
        context = LambdaContext(function_name, str(uuid.uuid4()), time.monotonic() + timeout_seconds)
        try:
            result = lambda_handler(event, context)
            body, function_error = json.dumps(result), None
        except Exception as exc:
            log.exception("unhandled error in the governance handler")
            body = json.dumps({"errorMessage": str(exc), "errorType": type(exc).__name__})
            function_error = "Unhandled"
        response = Response(body, status=202 if invocation_type == "Event" else 200, mimetype="application/json")
        response.headers["X-Amz-Executed-Version"] = "1"
        response.headers["X-Amzn-RequestId"] = context.aws_request_id
        if function_error:
            response.headers["X-Amz-Function-Error"] = function_error
        return response

    return app
