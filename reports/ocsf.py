"""OCSF Detection Finding events (class 2004, category 2 Findings) for SIEMs.

One event per finding, as a JSON array (OCSF 1.3 attribute names). Mapping:
- ``finding_info.uid`` is the finding's stable fingerprint, so a SIEM can de-duplicate
  across nightly scans; ``finding_info.analytic`` names the rule.
- ``severity_id``: info 1, low 2, medium 3, high 4, critical 5.
- ``status_id``: 1 New for new and persisting findings, 3 Suppressed for waived ones
  (the waiver goes in ``status_detail``).
- ``time``: the scan's analysis time, in milliseconds since the epoch.
- ``resources``: the object (key, account, file...); ``evidences[].data``: the evidence;
  ``unmapped``: what OCSF has no attribute for (identity, layer, graph path, frameworks).
"""

from __future__ import annotations

import json
import posixpath
from typing import Any

from reports import renderer
from reports.data import build_report, scan_now

CLASS_UID, CATEGORY_UID, ACTIVITY_CREATE = 2004, 2, 1
OCSF_VERSION = "1.3.0"
SEVERITY_IDS = {"info": 1, "low": 2, "medium": 3, "high": 4, "critical": 5}
SEVERITY_NAMES = {"info": "Informational", "low": "Low", "medium": "Medium", "high": "High",
                  "critical": "Critical"}


def ocsf_event(f: dict[str, Any], time_ms: int, scan: dict[str, Any]) -> dict[str, Any]:
    obj = f["object"]
    waived = f["status"] == "waived"
    evidence = json.loads(json.dumps(f["evidence"] or {}, default=str))
    ev: dict[str, Any] = {"data": evidence}
    if f["location"]:
        path = f["location"]["path"]
        ev["file"] = {"name": posixpath.basename(path) or path, "path": path, "type_id": 1,
                      "type": "Regular File"}
    event: dict[str, Any] = {
        "class_uid": CLASS_UID, "class_name": "Detection Finding",
        "category_uid": CATEGORY_UID, "category_name": "Findings",
        "activity_id": ACTIVITY_CREATE, "activity_name": "Create",
        "type_uid": CLASS_UID * 100 + ACTIVITY_CREATE, "type_name": "Detection Finding: Create",
        "severity_id": SEVERITY_IDS[f["severity"]], "severity": SEVERITY_NAMES[f["severity"]],
        "status_id": 3 if waived else 1, "status": "Suppressed" if waived else "New",
        "time": time_ms,
        "message": f"{f['title']}: {obj['kind']} {obj['name'] or obj['id']}",
        "finding_info": {
            "uid": f["fingerprint"], "title": f["title"],
            "desc": f["remediation"] and f"{f['title']}. {f['remediation']}" or f["title"],
            "types": [f["rule"]],
            "analytic": {"uid": f["rule"], "name": f["rule"], "type_id": 1, "type": "Rule"},
            "created_time": time_ms,
        },
        "metadata": {"version": OCSF_VERSION, "uid": f"{scan['id']}:{f['fingerprint']}",
                     "product": {"name": "residual", "vendor_name": "residual",
                                 "version": scan.get("tool_version") or "0"},
                     "log_name": "residual-findings"},
        "resources": [{"uid": obj["id"], "name": obj["name"] or obj["id"], "type": obj["kind"]}],
        "evidences": [ev],
        "remediation": {"desc": f["remediation"]},
        "unmapped": {"identity": f["identity"], "system": f["system"], "layer": f["layer"],
                     "path": f["path"], "frameworks": f["frameworks"], "scan_id": scan["id"],
                     "residual_status": f["status"]},
    }
    if waived:
        w = evidence.get("waiver", {})
        event["status_detail"] = (f"waived by {w.get('approver')} until {w.get('expires')}: "
                                  f"{w.get('reason')}")
    return event


def build_ocsf(inv, scan_id: str) -> list[dict[str, Any]]:
    report = build_report(inv, scan_id)
    time_ms = int(scan_now(inv, scan_id).timestamp() * 1000)
    return [ocsf_event(f, time_ms, report["scan"]) for f in report["findings"]]


@renderer("ocsf")
def render_ocsf(inv, scan_id: str, given: Any = None) -> str:
    return json.dumps(build_ocsf(inv, scan_id), indent=2, ensure_ascii=False)
