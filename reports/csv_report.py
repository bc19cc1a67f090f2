"""CSV: one row a finding, for spreadsheets and ticket imports.

Cells that a spreadsheet would run as a formula (starting with ``=``, ``+``, ``-``,
``@``, tab or carriage return) are prefixed with ``'``: a repository or file named
``=HYPERLINK(...)`` in someone's estate must not become a live formula in an auditor's
spreadsheet (CSV injection). A NUL in a value (which spreadsheets and many CSV readers
cut the cell or the file at) is written as U+FFFD, before that check, so ``\0=...``
cannot turn into a formula.

``bom=True`` (``residual report --format csv --bom``) starts the file with a UTF-8 byte
order mark, which Excel needs to read the file as UTF-8 rather than the machine's code
page (names with accents, ``→`` in paths); without it the file is plain UTF-8, as
scripts and ``csv`` readers expect.
"""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from reports import renderer
from reports.data import build_report
from scanner.core.timeparse import json_default

COLUMNS = ("fingerprint", "severity", "status", "rule", "title", "identity", "system", "layer",
           "object_kind", "object_id", "object_name", "location_path", "location_line",
           "remediation", "frameworks", "path", "waiver_reason", "waiver_approver",
           "waiver_expires", "expired_waiver", "evidence")
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


BOM = "\ufeff"


def safe_cell(value: Any) -> Any:
    if isinstance(value, str):
        value = value.replace("\0", "\ufffd")
        if value.startswith(FORMULA_START):
            return "'" + value
    return value


def finding_row(f: dict[str, Any]) -> dict[str, Any]:
    ev = dict(f["evidence"] or {})
    waiver = ev.pop("waiver", None) if f["status"] == "waived" else None
    expired = ev.pop("expired_waiver", None)
    loc = f["location"] or {}
    row = {
        "fingerprint": f["fingerprint"], "severity": f["severity"], "status": f["status"],
        "rule": f["rule"], "title": f["title"], "identity": f["identity"] or "",
        "system": f["system"], "layer": f["layer"], "object_kind": f["object"]["kind"],
        "object_id": f["object"]["id"], "object_name": f["object"]["name"],
        "location_path": loc.get("path") or "", "location_line": loc.get("line") or "",
        "remediation": f["remediation"], "frameworks": ";".join(f["frameworks"]),
        "path": " -> ".join(f["path"]),
        "waiver_reason": waiver["reason"] if waiver else "",
        "waiver_approver": waiver["approver"] if waiver else "",
        "waiver_expires": waiver["expires"] if waiver else "",
        "expired_waiver": expired["expires"] if expired else "",
        "evidence": json.dumps(ev, sort_keys=True, default=json_default),
    }
    return {k: safe_cell(v) for k, v in row.items()}


@renderer("csv")
def render_csv(inv, scan_id: str, given: Any = None, bom: bool = False) -> str:
    buf = io.StringIO()
    if bom:
        buf.write(BOM)
    w = csv.DictWriter(buf, fieldnames=COLUMNS, lineterminator="\n")
    w.writeheader()
    for f in build_report(inv, scan_id)["findings"]:
        w.writerow(finding_row(f))
    return buf.getvalue()
