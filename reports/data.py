"""The report's data, schema ``residual/report/v1`` (DESIGN.md): the one structure every
renderer starts from, built only from the inventory."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any

from scanner.engine import overall
from scanner.inventory import Inventory
from scanner.model import Coverage, Finding, Identity, LAYERS, SEVERITIES, severity_rank

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


# --- helpers shared by the renderers (the JSON shape above stays as DESIGN.md says) ---


def canonical_json(data: Any) -> str:
    """The one serialisation the report's digest is computed over: sorted keys, no
    whitespace, UTF-8. Anyone can re-derive the digest from the JSON embedded in the
    HTML report (or from ``residual report --format json``) with the same settings."""
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def data_digest(data: dict[str, Any]) -> str:
    """SHA-256 of the report's data, printed in the appendix so that a copy of the report
    can be checked against the inventory it came from."""
    return hashlib.sha256(canonical_json(data).encode("utf-8")).hexdigest()


def scan_now(inv: Inventory, scan_id: str) -> datetime:
    """The scan's "now" (the analysis time the scan ran with, pinned in tests; else its
    start): ages in a report are measured from it, not from the moment the report is
    rendered, so that a report rendered twice says the same thing."""
    scan = inv.scan(scan_id) or {}
    pinned = (scan.get("attributes") or {}).get("now")
    if pinned:
        t = datetime.fromisoformat(str(pinned).replace("Z", "+00:00"))
        return t if t.tzinfo else t.replace(tzinfo=UTC)
    return scan.get("started_at") or datetime.now(UTC)


def severity_counts(findings: list[dict[str, Any]], include_waived: bool = False) -> dict[str, int]:
    """Findings per severity, highest first (waived ones left out unless asked)."""
    out = {s: 0 for s in reversed(SEVERITIES)}
    for f in findings:
        if include_waived or f.get("status") != "waived":
            out[f["severity"]] = out.get(f["severity"], 0) + 1
    return out


def configured_layers(report: dict[str, Any]) -> set[str]:
    """Layers some collector (or the roster, for ``directory``) covered in this scan."""
    layers = {c["layer"] for c in report["coverage"] if c.get("layer")}
    for ident in report["identities"]:
        layers |= {l for l, v in ident["layers"].items() if v != "not_configured"}
    return layers


def history(inv: Inventory, upto_scan_id: str) -> list[dict[str, Any]]:
    """Findings per finished scan up to (and including) ``upto_scan_id``, in scan order,
    for the findings-over-time chart: open (not waived) per severity, and waived."""
    scans = []
    for s in inv.scans():  # in scan order (monotonic sequence, not wall-clock time)
        if s["status"] in ("complete", "incomplete") or s["id"] == upto_scan_id:
            scans.append(s)
        if s["id"] == upto_scan_id:
            break
    ids = [s["id"] for s in scans]
    counts: dict[str, dict[str, int]] = {}
    if ids:
        marks = ", ".join("?" for _ in ids)
        for scan_id, severity, status, n in inv.query(
                f"SELECT scan_id, severity, status, count(*) FROM findings WHERE scan_id IN ({marks}) "
                "GROUP BY scan_id, severity, status", ids):
            row = counts.setdefault(scan_id, {})
            key = "waived" if status == "waived" else severity
            row[key] = row.get(key, 0) + int(n)
    out = []
    for s in scans:
        row = counts.get(s["id"], {})
        out.append({"scan_id": s["id"], "started_at": _iso(s["started_at"]),
                    "now": (s.get("attributes") or {}).get("now"), "status": s["status"],
                    "open": sum(v for k, v in row.items() if k != "waived"),
                    "waived": row.get("waived", 0),
                    "by_severity": {sev: row.get(sev, 0) for sev in reversed(SEVERITIES)}})
    return out


AGE_BUCKETS: tuple[tuple[str, float], ...] = (
    ("< 30 d", 30), ("30-90 d", 90), ("90-180 d", 180), ("180 d-1 y", 365),
    ("1-2 y", 730), ("> 2 y", float("inf")),
)


def credential_ages(inv: Inventory, scan_id: str, now: datetime) -> dict[str, Any]:
    """Age histogram of the scan's live credentials (from ``created_at``, measured at the
    scan's start). One row per credential uid (the deep pass may re-emit a credential);
    credentials without a creation date are counted apart, not guessed."""
    rows = inv.query(
        "SELECT source, native_id, min(created_at), max(CASE WHEN status = 'active' THEN 1 ELSE 0 END) "
        "FROM credentials WHERE scan_id = ? GROUP BY source, native_id", [scan_id])
    buckets = {label: 0 for label, _ in AGE_BUCKETS}
    unknown, inactive = 0, 0
    naive_now = now.astimezone(UTC).replace(tzinfo=None)
    for _src, _nid, created, active in rows:
        if not active:
            inactive += 1
            continue
        if created is None:
            unknown += 1
            continue
        age = (naive_now - created).total_seconds() / 86400
        for label, limit in AGE_BUCKETS:
            if age < limit:
                buckets[label] += 1
                break
    return {"buckets": buckets, "unknown": unknown, "inactive": inactive,
            "total": sum(buckets.values()) + unknown}
