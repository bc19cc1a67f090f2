"""The JSON report's types (schema ``residual/report/v1``) and its JSON Schema.

``reports.data`` builds the report as these TypedDicts; ``json_schema()`` turns them into
JSON Schema 2020-12, written to ``docs/report.schema.json`` by
``python -m reports.schema > docs/report.schema.json``. Why generated: a hand-written
schema drifts from the code; tests/test_reports_schema.py fails when the file differs from
what these types give, and validates every JSON report the test suite writes against it.
"""

from __future__ import annotations

import json
import sys
import types
import typing
from typing import Any, Literal, NewType, TypedDict, Union

from scanner.core.model import LAYERS, SEVERITIES, VERDICTS

# An RFC 3339 instant in UTC (``2026-11-21T12:00:00Z``): scanner.core.timeparse.rfc3339.
Timestamp = NewType("Timestamp", str)
Severity = NewType("Severity", str)
Layer = NewType("Layer", str)
# a leaver's verdict (scanner.engine.overall) and a layer's (a partial scan's skipped layer: not_run)
Verdict = NewType("Verdict", str)
LayerVerdict = NewType("LayerVerdict", str)
SCHEMA_ID = "residual/report/v1"


class ScanInfo(TypedDict):
    id: str
    started_at: Timestamp | None
    finished_at: Timestamp | None
    tool_version: str | None
    status: str | None
    config_digest: str | None
    host: str | None
    run_by: str | None
    command: str | None
    kind: str | None  # estate, partial, targeted, shard
    targets: list[str] | None
    only: list[str] | None
    not_run: list[str]


class CoverageEntry(TypedDict):
    collector: str
    target: str
    layer: str
    status: str  # ok, partial, failed, ...
    error: str | None
    # null: not recorded (a column the inventory gained after that scan was written)
    records: int | None
    api_calls: int | None


class IdentityVerdict(TypedDict):
    id: str
    status: str
    terminated_at: Timestamp | None
    verdict: Verdict
    layers: dict[str, LayerVerdict]


class FindingObject(TypedDict):
    kind: str
    id: str
    name: str


class FindingLocation(TypedDict):
    path: str
    line: int | None


class FindingEntry(TypedDict):
    fingerprint: str
    rule: str
    severity: Severity
    title: str
    identity: str | None
    system: str
    layer: Layer
    object: FindingObject
    location: FindingLocation | None
    evidence: dict[str, Any]
    path: list[str]
    frameworks: list[str]
    remediation: str
    status: Literal["new", "persisting", "waived"]


class Report(TypedDict):
    schema: Literal["residual/report/v1"]
    scan: ScanInfo
    coverage: list[CoverageEntry]
    identities: list[IdentityVerdict]
    findings: list[FindingEntry]


NEW_TYPES: dict[Any, dict[str, Any]] = {
    Timestamp: {"type": "string", "format": "date-time",
                "pattern": r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$"},
    Severity: {"enum": list(SEVERITIES)},
    Layer: {"type": "string", "examples": list(LAYERS)},
    Verdict: {"enum": ["clean", "residual", "incomplete"]},
    LayerVerdict: {"enum": [*VERDICTS, "not_run"]},
}
PRIMITIVES = {str: "string", int: "integer", float: "number", bool: "boolean", type(None): "null"}


def _schema(tp: Any, defs: dict[str, Any]) -> dict[str, Any]:
    if tp in NEW_TYPES:
        return dict(NEW_TYPES[tp])
    if tp in PRIMITIVES:
        return {"type": PRIMITIVES[tp]}
    if tp is Any:
        return {}
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin is Literal:
        return {"enum": list(args)}
    if origin in (Union, types.UnionType):
        return {"anyOf": [_schema(a, defs) for a in args]}
    if origin is list:
        return {"type": "array", "items": _schema(args[0], defs)}
    if origin is dict:
        return {"type": "object", "additionalProperties": _schema(args[1], defs)}
    if typing.is_typeddict(tp):
        if tp.__name__ not in defs:
            defs[tp.__name__] = {}  # recursion guard
            hints = typing.get_type_hints(tp)
            defs[tp.__name__] = {"type": "object", "additionalProperties": False,
                                 "required": list(hints),
                                 "properties": {k: _schema(v, defs) for k, v in hints.items()}}
        return {"$ref": f"#/$defs/{tp.__name__}"}
    raise TypeError(f"no JSON Schema for {tp!r}")


def json_schema() -> dict[str, Any]:
    defs: dict[str, Any] = {}
    root = _schema(Report, defs)
    return {"$schema": "https://json-schema.org/draft/2020-12/schema",
            "title": f"residual JSON report ({SCHEMA_ID})",
            "description": "What `residual report --format json` writes. Generated from "
                           "reports/schema.py; do not edit by hand.",
            **root, "$defs": defs}


def schema_text() -> str:
    return json.dumps(json_schema(), indent=2) + "\n"


if __name__ == "__main__":
    sys.stdout.write(schema_text())
