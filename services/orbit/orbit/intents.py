"""The intents a client may ask for: the actions the Cedar schema declares for Client on Service::"axon".

A permit without an action constraint would otherwise allow any made-up intent (`drop_all_tables`), so Orbit
refuses an intent the schema does not declare before Governance is asked. Cedar itself answers whether an action
is declared (a request built against the schema fails for an unknown action); the answer per intent is cached.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from pathlib import Path

import cedarpy

_EMPTY_POLICIES = cedarpy.PolicySet.from_json_str('{"staticPolicies": {}, "templates": {}, "templateLinks": []}')
_NO_ENTITIES = cedarpy.Entities.from_json_str("[]")
_CONTEXT_ERROR = "while parsing context"


class IntentCatalog:
    def __init__(self, schema_text: str, cache_size: int = 4096) -> None:
        self._schema = cedarpy.Schema.from_str(schema_text)
        self._cache_size = cache_size
        self._known: OrderedDict[str, bool] = OrderedDict()
        self._lock = threading.Lock()

    @classmethod
    def from_file(cls, path: str | Path) -> IntentCatalog:
        return cls(Path(path).read_text(encoding="utf-8"))

    def declares(self, intent: str) -> bool:
        with self._lock:
            known = self._known.get(intent)
            if known is not None:
                self._known.move_to_end(intent)
                return known
        request = {
            "principal": {"type": "Client", "id": "probe"},
            "action": {"type": "Action", "id": intent},
            "resource": {"type": "Service", "id": "axon"},
            "context": {},
        }
        # The probe's context is not the schema's, so an intent Clients may ask of Service::"axon" fails only on the
        # context; an undeclared action, or one that applies to other principals or resources (a tool action, an
        # action group), fails on something else.
        result = cedarpy.is_authorized(request, _EMPTY_POLICIES, _NO_ENTITIES, schema=self._schema)
        known = all(_CONTEXT_ERROR in error for error in result.diagnostics.errors)
        with self._lock:
            self._known[intent] = known
            if len(self._known) > self._cache_size:
                self._known.popitem(last=False)
        return known
