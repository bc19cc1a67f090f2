"""Diff two scans by finding fingerprint: new, resolved, persisting."""

from __future__ import annotations

from typing import Any

from scanner.inventory import Inventory
from scanner.model import Finding


def _row(f: Finding) -> dict[str, Any]:
    return {"fingerprint": f.fingerprint, "rule": f.rule, "severity": f.severity,
            "identity": f.identity, "title": f.title,
            "object": f"{f.object_kind} {f.object_name or f.object_id}".strip()}


def diff_scans(inv: Inventory, from_id: str, to_id: str) -> dict[str, Any]:
    old = {f.fingerprint: f for f in inv.load(Finding, from_id)}
    new = {f.fingerprint: f for f in inv.load(Finding, to_id)}
    return {
        "from": from_id, "to": to_id,
        "new": [_row(new[k]) for k in sorted(new.keys() - old.keys())],
        "resolved": [_row(old[k]) for k in sorted(old.keys() - new.keys())],
        "persisting": [_row(new[k]) for k in sorted(new.keys() & old.keys())],
    }
