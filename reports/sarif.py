"""SARIF 2.1.0: findings for code-scanning dashboards and CI gates.

Findings with a file location (secrets and references in IaC) become results with a
``physicalLocation``; the others (an active account, a live key) carry a
``logicalLocation`` naming the object, so that every finding is one result. Every rule of
the catalog is in ``tool.driver.rules`` with its help text (the remediation), so a viewer
can explain a result without this tool. Waived findings are results with an accepted
``suppression`` (shown, never dropped); ``baselineState`` says new or unchanged against
the previous scan; failed or partial coverage becomes a tool execution notification, so a
SARIF consumer can tell "nothing found" from "not checked". Validated in the tests
against the official SARIF 2.1.0 schema.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

from reports import renderer
from reports.data import build_report
from reports.diff import diff_against_previous
from rules.base import all_rules

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
LEVELS = {"critical": "error", "high": "error", "medium": "warning", "low": "note", "info": "note"}
# GitHub code scanning reads rules' properties["security-severity"] (CVSS-like 0-10).
SECURITY_SEVERITY = {"critical": "9.5", "high": "8.0", "medium": "5.5", "low": "3.0", "info": "1.0"}


def _rule_descriptor(meta: Any) -> dict[str, Any]:
    help_text = meta.remediation or meta.title
    return {
        "id": meta.id,
        "name": "".join(p.capitalize() for p in meta.id.replace("-", "_").replace(".", "_").split("_")),
        "shortDescription": {"text": meta.title},
        "fullDescription": {"text": meta.description or meta.title},
        "help": {"text": f"{meta.title}. Remediation: {help_text}",
                 "markdown": f"**{meta.title}**\n\n{meta.description}\n\n**Remediation:** {help_text}\n\n"
                             f"Frameworks: {', '.join(meta.frameworks) or 'none'}"},
        "defaultConfiguration": {"level": LEVELS[meta.severity]},
        "properties": {"tags": ["security", "residual-access", *meta.frameworks],
                       "security-severity": SECURITY_SEVERITY[meta.severity],
                       "precision": "high", "family": meta.family, "layer": meta.layer or ""},
    }


def _fallback_descriptor(f: dict[str, Any]) -> dict[str, Any]:
    """A rule that produced findings but is not in this build's catalog (an older scan)."""
    return {"id": f["rule"], "shortDescription": {"text": f["title"]},
            "help": {"text": f"{f['title']}. Remediation: {f['remediation'] or 'see the finding'}"},
            "defaultConfiguration": {"level": LEVELS[f["severity"]]},
            "properties": {"tags": ["security", "residual-access", *f["frameworks"]],
                           "security-severity": SECURITY_SEVERITY[f["severity"]]}}


def artifact_uri(path: str) -> str:
    """A file path as a relative URI reference (spaces, quotes and markup percent-encoded)."""
    return quote(path, safe="/._-~")


def _result(f: dict[str, Any], index: int, baseline: str | None) -> dict[str, Any]:
    obj = f["object"]
    name = obj["name"] or obj["id"]
    text = f"{f['title']}: {obj['kind']} {name}" + (f" ({f['identity']})" if f["identity"] else "")
    result: dict[str, Any] = {
        "ruleId": f["rule"], "ruleIndex": index, "level": LEVELS[f["severity"]],
        "message": {"text": text},
        "partialFingerprints": {"residualFinding/v1": f["fingerprint"]},
        "properties": {"severity": f["severity"], "identity": f["identity"] or "",
                       "system": f["system"], "layer": f["layer"], "status": f["status"],
                       "frameworks": f["frameworks"], "path": f["path"],
                       "remediation": f["remediation"],
                       "evidence": json.loads(json.dumps(f["evidence"], default=str))},
    }
    location: dict[str, Any] = {"logicalLocations": [{
        "name": obj["id"] or name, "kind": obj["kind"] or "object",
        "fullyQualifiedName": (f["path"] or [""])[-1] or obj["id"]}]}
    if f["location"]:
        phys: dict[str, Any] = {"artifactLocation": {"uri": artifact_uri(f["location"]["path"])}}
        if f["location"].get("line"):
            phys["region"] = {"startLine": int(f["location"]["line"])}
        location = {"physicalLocation": phys, **location}
    result["locations"] = [location]
    if baseline:
        result["baselineState"] = baseline
    waiver = (f["evidence"] or {}).get("waiver") if f["status"] == "waived" else None
    if waiver:
        result["suppressions"] = [{
            "kind": "external", "status": "accepted",
            "justification": f"{waiver['reason']} (approved by {waiver['approver']}, "
                             f"until {waiver['expires']})"}]
    return result


def build_sarif(inv, scan_id: str) -> dict[str, Any]:

    report = build_report(inv, scan_id)
    scan = report["scan"]
    catalog = sorted(all_rules().values(), key=lambda r: r.meta.id)
    descriptors = [_rule_descriptor(r.meta) for r in catalog]
    index = {d["id"]: i for i, d in enumerate(descriptors)}
    for f in report["findings"]:
        if f["rule"] not in index:
            index[f["rule"]] = len(descriptors)
            descriptors.append(_fallback_descriptor(f))
    diff = diff_against_previous(inv, scan_id)
    new = {r["fingerprint"] for r in diff["new"]} if diff else None
    results = [_result(f, index[f["rule"]],
                       None if new is None else ("new" if f["fingerprint"] in new else "unchanged"))
               for f in report["findings"]]
    notifications = [
        {"level": "error" if c["status"] == "failed" else "warning",
         "message": {"text": f"{c['collector']} {c['target']} ({c['layer']}): {c['status']}"
                             + (f": {c['error']}" if c["error"] else "")}}
        for c in report["coverage"] if c["status"] in ("failed", "partial")]
    invocation: dict[str, Any] = {"executionSuccessful": scan.get("status") in ("complete", "incomplete"),
                                  "toolExecutionNotifications": notifications}
    if scan.get("started_at"):
        invocation["startTimeUtc"] = scan["started_at"]
    if scan.get("finished_at"):
        invocation["endTimeUtc"] = scan["finished_at"]
    return {
        "$schema": SARIF_SCHEMA, "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {"name": "residual", "version": scan.get("tool_version") or "0",
                                "semanticVersion": scan.get("tool_version") or "0.0.0",
                                "rules": descriptors}},
            "automationDetails": {"id": f"residual/{scan_id}"},
            "invocations": [invocation],
            "columnKind": "unicodeCodePoints",
            "results": results,
            "properties": {"scan": scan_id, "verdicts": {i["id"]: i["verdict"] for i in report["identities"]}},
        }],
    }


@renderer("sarif")
def render_sarif(inv, scan_id: str, given: Any = None) -> str:
    return json.dumps(build_sarif(inv, scan_id), indent=2, ensure_ascii=False, default=str)
