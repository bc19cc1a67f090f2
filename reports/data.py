"""The report's data, schema ``residual/report/v1`` (DESIGN.md): the one structure every
renderer starts from, built only from the inventory."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from scanner.engine import overall
from scanner.inventory import Inventory
from scanner.model import Coverage, Finding, Identity, LAYERS, severity_rank

SCHEMA = "residual/report/v1"


def _iso(dt: datetime | None) -> str | None:
    return dt.isoformat().replace("+00:00", "Z") if dt else None


def finding_dict(f: Finding) -> dict[str, Any]:
    return {
        "fingerprint": f.fingerprint, "rule": f.rule, "severity": f.severity, "title": f.title,
        "identity": f.identity, "system": f.system, "layer": f.layer,
        "object": {"kind": f.object_kind, "id": f.object_id, "name": f.object_name},
        "location": ({"path": f.location_path, "line": f.location_line}
                     if f.location_path else None),
        "evidence": f.evidence, "path": f.path, "frameworks": f.frameworks,
        "remediation": f.remediation, "status": f.status,
    }


def coverage_dict(c: Coverage) -> dict[str, Any]:
    return {"collector": c.collector, "target": c.target, "layer": c.layer, "status": c.status,
            "error": c.error, "records": c.records, "api_calls": c.api_calls}


def build_report(inv: Inventory, scan_id: str) -> dict[str, Any]:
    scan = inv.scan(scan_id) or {}
    identities = {i.id: i for i in inv.iter(Identity, scan_id)}
    verdicts = inv.verdicts(scan_id)
    findings = sorted(inv.load(Finding, scan_id),
                      key=lambda f: (-severity_rank(f.severity), f.rule, f.fingerprint))
    idents = []
    for ident_id, layers in sorted(verdicts.items()):
        ident = identities.get(ident_id)
        idents.append({
            "id": ident_id, "status": ident.status if ident else "unknown",
            "terminated_at": _iso(ident.terminated_at) if ident else None,
            "verdict": overall(layers),
            "layers": {l: layers[l] for l in LAYERS if l in layers},
        })
    return {
        "schema": SCHEMA,
        "scan": {"id": scan_id, "started_at": _iso(scan.get("started_at")),
                 "finished_at": _iso(scan.get("finished_at")),
                 "tool_version": scan.get("tool_version"), "status": scan.get("status"),
                 "config_digest": scan.get("config_digest"), "host": scan.get("host"),
                 "run_by": scan.get("run_by"), "command": scan.get("command")},
        "coverage": [coverage_dict(c) for c in inv.load(Coverage, scan_id)],
        "identities": idents,
        "findings": [finding_dict(f) for f in findings],
    }
