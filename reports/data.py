"""The report's data, schema ``residual/report/v1`` (DESIGN.md): the one structure every
renderer starts from, built only from the inventory. Its types are in reports/schema.py
(the source of docs/report.schema.json)."""

from __future__ import annotations

import hashlib
import json
import re
from datetime import UTC, datetime
from typing import Any, Iterator

from reports.schema import SCHEMA_ID, CoverageEntry, FindingEntry, Report
from scanner.core.model import Coverage, Finding, Identity, LAYERS, SEVERITIES, severity_rank
from scanner.core.store import Inventory
from scanner.core.timeparse import json_default, parse_time, rfc3339
from scanner.engine import overall

SCHEMA = SCHEMA_ID


def _iso(dt: datetime | None) -> str | None:
    return rfc3339(dt) if dt else None


# How Python's str() wrote a datetime into evidence before json_default (inventories of
# earlier releases hold such strings): read back as RFC 3339 in every report.
_PY_DATETIME = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(\.\d+)?([+-]\d\d:\d\d)?$")


def _rfc3339_values(value: Any) -> Any:
    if isinstance(value, str):
        return rfc3339(datetime.fromisoformat(value)) if _PY_DATETIME.match(value) else value
    if isinstance(value, dict):
        return {k: _rfc3339_values(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_rfc3339_values(v) for v in value]
    return value


def finding_dict(f: Finding) -> FindingEntry:
    return {
        "fingerprint": f.fingerprint, "rule": f.rule, "severity": f.severity, "title": f.title,
        "identity": f.identity, "system": f.system, "layer": f.layer,
        "object": {"kind": f.object_kind, "id": f.object_id, "name": f.object_name},
        "location": ({"path": f.location_path, "line": f.location_line}
                     if f.location_path else None),
        "evidence": _rfc3339_values(f.evidence), "path": f.path, "frameworks": f.frameworks,
        "remediation": f.remediation, "status": f.status,
    }


def coverage_dict(c: Coverage) -> CoverageEntry:
    return {"collector": c.collector, "target": c.target, "layer": c.layer, "status": c.status,
            "error": c.error, "records": c.records, "api_calls": c.api_calls}


def report_head(inv: Inventory, scan_id: str) -> Report:
    """The report data without its findings: what every renderer needs whatever the size
    of the estate (the scan, its coverage, the leavers' verdicts). ``build_report`` adds
    the findings; the HTML report streams them instead (``iter_findings``)."""
    scan = inv.scan(scan_id) or {}
    verdicts = inv.verdicts(scan_id)
    identities = {i.id: i for i in inv.iter(Identity, scan_id, "id IN (SELECT DISTINCT identity "
                                            "FROM verdicts WHERE scan_id = ?)", [scan_id])}
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
                 "run_by": scan.get("run_by"), "command": scan.get("command"),
                 # what the scan saw (docs/design.md, Scan history): a partial scan's
                 # skipped layers are "not run", a targeted run speaks for its targets only
                 "kind": scan.get("kind"), "targets": scan.get("targets"),
                 "only": (scan.get("attributes") or {}).get("only"),
                 "not_run": (scan.get("attributes") or {}).get("not_run") or []},
        "coverage": [coverage_dict(c) for c in inv.load(Coverage, scan_id)],
        "identities": idents,
        "findings": [],
    }


def build_report(inv: Inventory, scan_id: str) -> Report:
    """The whole report data (what ``residual report --format json`` writes). It holds
    every finding anyway, so it loads them in one go and sorts in Python (faster than
    streaming); ``iter_findings`` gives the same order for renderers that stream."""
    report = report_head(inv, scan_id)
    findings = sorted(inv.load(Finding, scan_id),
                      key=lambda f: (-severity_rank(f.severity), f.rule, f.fingerprint))
    report["findings"] = [finding_dict(f) for f in findings]
    return report


# The report's finding order (most severe first, then rule, then fingerprint) in SQL, so
# that findings can be streamed from DuckDB in the order every renderer shows them.
SEVERITY_ORDER_SQL = ("CASE severity " + " ".join(
    f"WHEN '{s}' THEN {i}" for i, s in enumerate(reversed(SEVERITIES))) + f" ELSE {len(SEVERITIES)} END")


def iter_findings(inv: Inventory, scan_id: str, where: str = "", params: list[Any] | None = None,
                  extra: str = "NULL", order: str = "", extra_params: list[Any] | None = None,
                  batch_rows: int = 5000) -> Iterator[tuple[Finding, Any]]:
    """Findings of one scan streamed from DuckDB in report order, each with the value of
    the SQL expression ``extra`` (e.g. "is it in the previous scan?"), so that a renderer
    never holds every finding at once. ``order`` (SQL) goes before the report order (the
    HTML report groups by rule first); the parameters of ``extra`` come first (it
    precedes the WHERE clause).

    Why two steps: sorting whole rows made DuckDB materialise every finding with its
    evidence (230 MB at 150k findings). Only the narrow keys are sorted (kept in Arrow); rows are
    then fetched ``batch_rows`` at a time by fingerprint."""
    keys = inv.query_arrow(
        f'SELECT fingerprint, {extra} FROM findings AS f WHERE scan_id = ?'
        + (f" AND ({where})" if where else "")
        + f" ORDER BY {order + ', ' if order else ''}{SEVERITY_ORDER_SQL}, rule, fingerprint",
        [*(extra_params or []), scan_id, *(params or [])])
    for start in range(0, keys.num_rows, batch_rows):  # keys stay in Arrow: ~40 B a finding
        part = keys.slice(start, batch_rows)
        chunk = list(zip(part.column(0).to_pylist(), part.column(1).to_pylist()))
        rows: dict[str, list[Finding]] = {}
        for f in inv.iter(Finding, scan_id, "fingerprint IN (SELECT unnest(CAST(? AS VARCHAR[])))",
                          [[k for k, _ in chunk]], batch_rows=batch_rows):
            rows.setdefault(f.fingerprint, []).append(f)
        for fp, x in chunk:
            yield rows[fp].pop(0), x


def streamed_digest(inv: Inventory, scan_id: str, head: dict[str, Any]) -> tuple[str, int]:
    """``data_digest(build_report(...))`` computed without holding the findings: the
    canonical JSON is fed to SHA-256 piece by piece (the head, then each finding in
    report order). Returns the digest and the number of findings."""
    text = canonical_json({**head, "findings": []})
    marker = '"findings":[]'  # a key: inside a string the quotes would be escaped
    cut = text.index(marker) + len(marker) - 1
    h = hashlib.sha256(text[:cut].encode("utf-8"))
    n = 0
    for f, _ in iter_findings(inv, scan_id):
        h.update((("," if n else "") + canonical_json(finding_dict(f))).encode("utf-8"))
        n += 1
    h.update(text[cut:].encode("utf-8"))
    return h.hexdigest(), n


# --- helpers shared by the renderers (the JSON shape above stays as DESIGN.md says) ---


def canonical_json(data: Any) -> str:
    """The one serialisation the report's digest is computed over: sorted keys, no
    whitespace, UTF-8. Anyone can re-derive the digest from the JSON embedded in the
    HTML report (or from ``residual report --format json``) with the same settings."""
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=json_default)


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
        t = parse_time(str(pinned))
        if t:
            return t
    return scan.get("started_at") or datetime.now(UTC)


def severity_counts(findings: list[dict[str, Any]], include_waived: bool = False) -> dict[str, int]:
    """Findings per severity, highest first (waived ones left out unless asked)."""
    out = {s: 0 for s in reversed(SEVERITIES)}
    for f in findings:
        if include_waived or f.get("status") != "waived":
            out[f["severity"]] = out.get(f["severity"], 0) + 1
    return out


def configured_layers(report: dict[str, Any]) -> set[str]:
    """Layers some collector (or the roster, for ``directory``) covered in this scan, or
    that are configured and this partial scan did not run (``not_run_layers``)."""
    layers = {c["layer"] for c in report["coverage"] if c.get("layer")}
    layers |= set(report["scan"].get("not_run") or ())
    for ident in report["identities"]:
        layers |= {l for l, v in ident["layers"].items() if v != "not_configured"}
    return layers


def not_run_layers(report: dict[str, Any]) -> list[str]:
    """Configured layers a partial scan (``scan --only``) skipped: checked by none of its
    collectors, though configured (not "not configured": not run)."""
    return [l for l in LAYERS if l in set(report["scan"].get("not_run") or ())]


def scan_scope_note(report: dict[str, Any]) -> str | None:
    """One sentence when the scan did not see the whole estate, for every renderer."""
    scan = report["scan"]
    if scan.get("kind") == "partial":
        return (f"Partial scan (--only {', '.join(scan.get('only') or []) or '?'}): it does not "
                "replace the estate's latest scan; the layers it skipped were not run.")
    if scan.get("kind") == "targeted":
        return (f"Targeted run about {', '.join(scan.get('targets') or []) or 'unrecorded identities'}: "
                "its verdicts speak for them only.")
    if scan.get("kind") == "shard":
        return "Shard scan: collection only; verdicts come from the merged scan."
    return None


def history(inv: Inventory, upto_scan_id: str) -> list[dict[str, Any]]:
    """Findings per finished estate scan up to (and including) ``upto_scan_id``, in scan order,
    for the findings-over-time chart: open (not waived) per severity, and waived."""
    scans = []
    for s in inv.scans():  # in scan order (monotonic sequence, not wall-clock time)
        # estate scans only: a partial, targeted or shard scan saw part of the estate, and
        # its smaller count is not a drop in findings (docs/design.md, Scan history)
        if (s["status"] in ("complete", "incomplete") and s.get("kind") == "estate") \
                or s["id"] == upto_scan_id:
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
    naive_now = now.astimezone(UTC).replace(tzinfo=None)
    bucket_sql = " ".join(f"WHEN age < {limit} THEN {i}" for i, (_, limit) in enumerate(AGE_BUCKETS)
                          if limit != float("inf"))
    rows = inv.query(
        "WITH c AS (SELECT min(created_at) AS created, "
        "max(CASE WHEN status = 'active' THEN 1 ELSE 0 END) AS active "
        "FROM credentials WHERE scan_id = ? GROUP BY source, native_id), "
        "a AS (SELECT active, created, epoch(CAST(? AS TIMESTAMP) - created) / 86400.0 AS age FROM c) "
        "SELECT CASE WHEN active = 0 THEN 'inactive' WHEN created IS NULL THEN 'unknown' "
        f"ELSE CAST(CASE {bucket_sql} ELSE {len(AGE_BUCKETS) - 1} END AS VARCHAR) END, count(*) "
        "FROM a GROUP BY ALL", [scan_id, naive_now])
    buckets = {label: 0 for label, _ in AGE_BUCKETS}
    unknown, inactive = 0, 0
    for key, n in rows:
        if key == "inactive":
            inactive = int(n)
        elif key == "unknown":
            unknown = int(n)
        else:
            buckets[AGE_BUCKETS[int(key)][0]] += int(n)
    return {"buckets": buckets, "unknown": unknown, "inactive": inactive,
            "total": sum(buckets.values()) + unknown}
