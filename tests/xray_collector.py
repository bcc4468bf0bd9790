"""What the ADOT collector does in AWS (it cannot run here: a container): span records, as the local trace files
hold them, sent to X-Ray as segment documents (PutTraceSegments), a segment per service's root span and a
subsegment per child (a segment is named by its service, a subsegment by its span). Used to test that
`agentctl trace` reads a trace back from X-Ray (moto's)."""

from __future__ import annotations

import json
from typing import Any

from agent_runtime.tracing import xray_trace_id

#: The attributes the collectors index (infra/modules/stack/main.tf, trace_indexed_attributes).
INDEXED = ("agent_runtime.correlation_id", "agent_runtime.decision_id", "agent_runtime.principal", "http.route")


def segments(spans: list[dict[str, Any]]) -> list[str]:
    """Segment documents (JSON text) of one trace's spans."""
    by_id = {span["span_id"]: span for span in spans}
    children: dict[str, list[dict[str, Any]]] = {}
    roots = []
    for span in spans:
        parent = by_id.get(span["parent_span_id"] or "")
        if parent is not None and parent["service"] == span["service"]:
            children.setdefault(parent["span_id"], []).append(span)
        else:
            roots.append(span)
    return [json.dumps(_document(root, children, top=True)) for root in roots]


def _document(span: dict[str, Any], children: dict[str, list[dict[str, Any]]], top: bool) -> dict[str, Any]:
    attributes = span["attributes"]
    document: dict[str, Any] = {
        "id": span["span_id"],
        "name": span["service"] if top else span["name"],  # as ADOT names a segment: by its service
        "start_time": span["start_ns"] / 1e9,
        "end_time": span["end_ns"] / 1e9,
        "annotations": {
            key.replace(".", "_"): value
            for key, value in attributes.items()
            if key in INDEXED and isinstance(value, str)
        },
        "metadata": {"default": attributes},
    }
    if span["status"] == "ERROR":
        document["fault"] = True
    if "http.response.status_code" in attributes:
        document["http"] = {"response": {"status": attributes["http.response.status_code"]}}
    if top:
        document["trace_id"] = xray_trace_id(span["trace_id"])
        if span["parent_span_id"]:
            document["parent_id"] = span["parent_span_id"]
    else:
        document["type"] = "subsegment"
    subsegments = [_document(child, children, top=False) for child in children.get(span["span_id"], [])]
    if subsegments:
        document["subsegments"] = subsegments
    return document


def put(xray: Any, spans: list[dict[str, Any]]) -> None:
    xray.put_trace_segments(TraceSegmentDocuments=segments(spans))
