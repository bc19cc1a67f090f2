"""Diff two scans by finding fingerprint: new, resolved, persisting.

A finding's fingerprint is stable across scans (rule + identity + object), so a finding
that disappears was resolved (or its object is gone) and one that appears is new. A
waived finding is still a finding: it stays in the diff, with its status, so that a
waiver never makes residue look fixed.

Only what both scans looked at is compared: a layer a partial scan did not run, or an
identity a targeted run was not about, is neither "resolved" nor "new" (docs/design.md).
"""

from __future__ import annotations

from typing import Any

from scanner.core.model import Finding, severity_rank
from scanner.core.store import Inventory


def _row(f: Finding) -> dict[str, Any]:
    return {"fingerprint": f.fingerprint, "rule": f.rule, "severity": f.severity,
            "identity": f.identity, "title": f.title,
            "object": f"{f.object_kind} {f.object_name or f.object_id}".strip(),
            "layer": f.layer, "status": f.status}


def _sorted(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(rows, key=lambda r: (-severity_rank(r["severity"]), r["rule"], r["fingerprint"]))


def _comparable(inv: Inventory, *scan_ids: str) -> tuple[str, list[Any]]:
    """SQL (and its parameters) keeping the findings both scans looked at."""
    where, params, not_run, targets = [], [], set(), None
    for sid in scan_ids:
        scan = inv.scan(sid) or {}
        not_run |= set((scan.get("attributes") or {}).get("not_run") or ())
        if scan.get("kind") == "targeted":
            about = set(scan.get("targets") or ())
            targets = about if targets is None else targets & about
    if not_run:
        where.append("layer NOT IN (SELECT unnest(?::VARCHAR[]))")
        params.append(sorted(not_run))
    if targets is not None:
        where.append("identity IN (SELECT unnest(?::VARCHAR[]))")
        params.append(sorted(targets))
    return " AND ".join(where), params


def diff_scans(inv: Inventory, from_id: str, to_id: str) -> dict[str, Any]:
    where, params = _comparable(inv, from_id, to_id)
    old = {f.fingerprint: f for f in inv.load(Finding, from_id, where, params)}
    new = {f.fingerprint: f for f in inv.load(Finding, to_id, where, params)}
    return {
        "from": from_id, "to": to_id,
        "new": _sorted([_row(new[k]) for k in new.keys() - old.keys()]),
        "resolved": _sorted([_row(old[k]) for k in old.keys() - new.keys()]),
        "persisting": _sorted([_row(new[k]) for k in new.keys() & old.keys()]),
    }


def diff_against_previous(inv: Inventory, scan_id: str) -> dict[str, Any] | None:
    """The diff the HTML report shows: this scan against the finished scan before it
    (None for a first scan)."""
    previous = inv.previous_scan_id(scan_id)
    if not previous:
        return None
    return diff_scans(inv, previous, scan_id)
