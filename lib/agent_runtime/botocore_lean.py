"""Less CPU per boto3 call on a hot path, without leaving boto3: what botocore recomputes on every call although
its answer never changes for a long-lived client.

- The User-Agent string: botocore builds it twice per request (when the request is made, and again just before
  it is signed, "to include every registered feature"), sanitising each component character by character: about
  a fifth of a DynamoDB call's client CPU. The string depends only on the client and on the features registered
  for the call, so it is computed once per set of features.
- Parameter validation of the request against the service model: the hot paths (Governance's counters and
  decision log, Orbit's Invoke) send requests whose shape is fixed by our own code, and the service still
  validates them (a malformed request is an error answer, never an accepted one).

`lean(client)` returns the same client, changed in place; every other behaviour (credentials chain, endpoints,
retries, signing, parsing, errors) is botocore's own.
"""

from __future__ import annotations

from typing import Any

from botocore.useragent import get_context
from botocore.validate import ParamValidationDecorator


def _cached_user_agent(creator: Any) -> None:
    build = creator.to_string
    cache: dict[frozenset[str], str] = {}

    def to_string() -> str:
        context = get_context()
        key = frozenset(context.features) if context is not None else frozenset()
        value = cache.get(key)
        if value is None:
            value = cache[key] = build()
        return value

    creator.to_string = to_string


def lean(client: Any, *, validate: bool = False) -> Any:
    """`client` with its User-Agent cached and (unless `validate`) no client-side parameter validation. Anything
    that is not a botocore client (a test's stand-in) is returned as it is."""
    if not hasattr(client, "_user_agent_creator") or not hasattr(client, "_serializer"):
        return client
    _cached_user_agent(client._user_agent_creator)
    serializer = client._serializer
    if not validate and isinstance(serializer, ParamValidationDecorator):
        client._serializer = serializer._serializer
    return client
