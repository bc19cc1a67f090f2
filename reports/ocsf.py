"""OCSF Detection Finding events (class 2004, category 2 Findings) for SIEMs.

One event per finding, as a JSON array (OCSF 1.3 attribute names), as a finding's
lifecycle against the previous estate scan (reports.diff), so that a SIEM keeps one
finding per ``finding_info.uid`` instead of a new one each night:
- activity 1 Create for a new finding (every finding of a first scan), 2 Update for a
  persisting one, 3 Close with status 4 Resolved for one the previous scan had and this
  one does not (its last state, from the previous scan);
- ``finding_info.first_seen_time``: the first scan that had the finding;
  ``last_seen_time``: this scan (the previous one for a closed finding);
  ``created_time`` = first seen, ``modified_time`` = this scan;
- ``finding_info.uid`` is the finding's stable fingerprint; ``analytic`` names the rule;
- ``severity_id``: info 1, low 2, medium 3, high 4, critical 5;
- ``status_id``: 1 New for open findings, 3 Suppressed for waived ones (the waiver in
  ``status_detail``), 4 Resolved for closed ones;
- ``time``: the scan's analysis time, in milliseconds since the epoch;
- ``resources``: the object, typed by its system and kind (a Kubernetes Secret or an
  AWS key is a resource; only an IaC finding's location is a file, in
  ``evidences[].file``), with the identity as ``owner`` and an e-mail observable;
  ``unmapped``: what OCSF has no attribute for (layer, graph path, frameworks).
Every record is checked with py-ocsf-models in the tests.
"""

from __future__ import annotations

import json
import posixpath
from typing import Any

from reports import renderer
from reports.data import build_report, finding_dict, scan_now
from reports.diff import diff_against_previous
from scanner.core.model import Finding
from scanner.core.timeparse import json_default

CLASS_UID, CATEGORY_UID = 2004, 2
ACTIVITIES = {"new": (1, "Create"), "persisting": (2, "Update"), "resolved": (3, "Close")}
OCSF_VERSION = "1.3.0"
SEVERITY_IDS = {"info": 1, "low": 2, "medium": 3, "high": 4, "critical": 5}
SEVERITY_NAMES = {"info": "Informational", "low": "Low", "medium": "Medium", "high": "High",
                  "critical": "Critical"}


def ocsf_event(f: dict[str, Any], time_ms: int, scan: dict[str, Any], state: str = "new",
               first_seen_ms: int | None = None, last_seen_ms: int | None = None) -> dict[str, Any]:
    """``state``: new, persisting or resolved (the finding against the previous scan)."""
    obj = f["object"]
    waived = f["status"] == "waived"
    activity_id, activity = ACTIVITIES[state]
    if state == "resolved":
        status_id, status = 4, "Resolved"
    else:
        status_id, status = (3, "Suppressed") if waived else (1, "New")
    evidence = json.loads(json.dumps(f["evidence"] or {}, default=json_default))
    ev: dict[str, Any] = {"data": evidence}
    resource: dict[str, Any] = {"uid": obj["id"], "name": obj["name"] or obj["id"],
                                "type": f"{f['system'].split(':', 1)[0]} {obj['kind']}".strip()}
    if f["location"] and f["system"] != "iac":  # a cluster object's or a service's place
        resource["data"] = {"location": f["location"]["path"]}
    if f["identity"]:
        # the roster's identity (a person or a non-human identity), not one account of it
        resource["owner"] = {"uid": f["identity"], "name": f["identity"], "type_id": 0, "type": "Unknown",
                             "account": {"uid": f["identity"], "name": f["identity"],
                                         "type_id": 99, "type": "residual roster identity"},
                             **({"email_addr": f["identity"]} if "@" in f["identity"] else {})}
    if f["location"] and f["system"] == "iac":
        path = f["location"]["path"]
        ev["file"] = {"name": posixpath.basename(path) or path, "path": path, "type_id": 1,
                      "type": "Regular File"}
    event: dict[str, Any] = {
        "class_uid": CLASS_UID, "class_name": "Detection Finding",
        "category_uid": CATEGORY_UID, "category_name": "Findings",
        "activity_id": activity_id, "activity_name": activity,
        "type_uid": CLASS_UID * 100 + activity_id, "type_name": f"Detection Finding: {activity}",
        "severity_id": SEVERITY_IDS[f["severity"]], "severity": SEVERITY_NAMES[f["severity"]],
        "status_id": status_id, "status": status,
        "time": time_ms,
        "message": f"{f['title']}: {obj['kind']} {obj['name'] or obj['id']}",
        "finding_info": {
            "uid": f["fingerprint"], "title": f["title"],
            "desc": f["remediation"] and f"{f['title']}. {f['remediation']}" or f["title"],
            "types": [f["rule"]],
            "analytic": {"uid": f["rule"], "name": f["rule"], "type_id": 1, "type": "Rule"},
            "created_time": first_seen_ms or time_ms, "modified_time": time_ms,
            "first_seen_time": first_seen_ms or time_ms, "last_seen_time": last_seen_ms or time_ms,
        },
        "metadata": {"version": OCSF_VERSION, "uid": f"{scan['id']}:{f['fingerprint']}",
                     "product": {"name": "residual", "vendor_name": "residual",
                                 "version": scan.get("tool_version") or "0"},
                     "log_name": "residual-findings"},
        "resources": [resource],
        "evidences": [ev],
        "remediation": {"desc": f["remediation"]},
        "unmapped": {"identity": f["identity"], "system": f["system"], "layer": f["layer"],
                     "path": f["path"], "frameworks": f["frameworks"], "scan_id": scan["id"],
                     "residual_status": f["status"]},
    }
    if f["identity"] and "@" in f["identity"]:
        event["observables"] = [{"name": "resources.owner.email_addr", "type_id": 5,
                                 "type": "Email Address", "value": f["identity"]}]
    if waived and state != "resolved":
        w = evidence.get("waiver", {})
        event["status_detail"] = (f"waived by {w.get('approver')} until {w.get('expires')}: "
                                  f"{w.get('reason')}")
    return event


def _first_seen(inv, scan_id: str, fingerprints: list[str]) -> dict[str, int]:
    """Each fingerprint's first scan up to ``scan_id`` (scan order), as its analysis time
    in milliseconds."""
    first = dict(inv.query(
        "SELECT f.fingerprint, arg_min(s.scan_id, s.seq) FROM findings f JOIN scans s USING (scan_id) "
        "WHERE f.fingerprint IN (SELECT unnest(?::VARCHAR[])) AND s.seq <= coalesce("
        "(SELECT seq FROM scans WHERE scan_id = ?), (SELECT max(seq) FROM scans)) "
        "GROUP BY f.fingerprint", [fingerprints, scan_id]))
    times = {sid: int(scan_now(inv, sid).timestamp() * 1000) for sid in set(first.values())}
    return {fp: times[sid] for fp, sid in first.items()}


def build_ocsf(inv, scan_id: str) -> list[dict[str, Any]]:
    report = build_report(inv, scan_id)
    time_ms = int(scan_now(inv, scan_id).timestamp() * 1000)
    diff = diff_against_previous(inv, scan_id)
    persisting = {r["fingerprint"] for r in diff["persisting"]} if diff else set()
    resolved: list[dict[str, Any]] = []
    previous_ms = time_ms
    if diff and diff["resolved"]:
        gone = [r["fingerprint"] for r in diff["resolved"]]
        resolved = [finding_dict(f) for f in inv.load(
            Finding, diff["from"], "fingerprint IN (SELECT unnest(?::VARCHAR[]))", [gone])]
        previous_ms = int(scan_now(inv, diff["from"]).timestamp() * 1000)
    first = _first_seen(inv, scan_id, [f["fingerprint"] for f in report["findings"] + resolved])
    events = [ocsf_event(f, time_ms, report["scan"],
                         "persisting" if f["fingerprint"] in persisting else "new",
                         first.get(f["fingerprint"])) for f in report["findings"]]
    events += [ocsf_event(f, time_ms, report["scan"], "resolved", first.get(f["fingerprint"]), previous_ms)
               for f in resolved]
    return events


@renderer("ocsf")
def render_ocsf(inv, scan_id: str, given: Any = None) -> str:
    return json.dumps(build_ocsf(inv, scan_id), indent=2, ensure_ascii=False)
