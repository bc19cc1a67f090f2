"""SARIF 2.1.0: findings for code-scanning dashboards and CI gates.

Two profiles (``residual report --format sarif --sarif-profile github|generic``):

- ``github`` (the default) uploads to GitHub code scanning as it is. GitHub rejects a
  whole upload when one result has no physical location, resolves paths against the
  repository root, and caps a run at 25,000 results and an upload at 10 MB gzipped. So
  only findings whose location is a file of a configured IaC tree (now, not only in git
  history) are results, with the path relative to the repository root, ``uriBaseId``
  ``%SRCROOT%`` and ``versionControlProvenance`` when the tree is a git checkout; the
  others (accounts, keys, Kubernetes objects) and any results over the limits are left
  out and counted in a run notification that says where they are (the JSON and HTML
  reports), so that a SARIF consumer never takes a short SARIF for the whole story.
- ``generic`` keeps every finding as one result; those without a file carry a
  ``logicalLocation`` naming the object.

Every rule of the catalog is in ``tool.driver.rules`` with its help text (the
remediation), so a viewer can explain a result without this tool. Waived findings are
results with an accepted ``suppression`` (shown, never dropped); ``baselineState`` says
new or unchanged against the previous scan (all new on a first scan); failed or partial
coverage becomes a tool execution notification, so a SARIF consumer can tell "nothing
found" from "not checked". Validated in the tests against the official SARIF 2.1.0
schema, Microsoft's SARIF Multitool and GitHub's upload constraints (tests/consumers.py).
"""

from __future__ import annotations

import gzip
import inspect
import json
from importlib import metadata
from typing import Any
from urllib.parse import quote

from reports import renderer
from reports.data import build_report
from reports.diff import diff_against_previous
from reports.sarif_repo import SRCROOT, Tree, line_hash, local_trees, repo_path
from rules.base import all_rules
from scanner.core.timeparse import json_default

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
LEVELS = {"critical": "error", "high": "error", "medium": "warning", "low": "note", "info": "note"}
# GitHub code scanning reads rules' properties["security-severity"] (CVSS-like 0-10).
SECURITY_SEVERITY = {"critical": "9.5", "high": "8.0", "medium": "5.5", "low": "3.0", "info": "1.0"}
PROFILES = ("github", "generic")
# GitHub code scanning's upload limits (docs.github.com, "SARIF support for code scanning")
GITHUB_MAX_RESULTS = 25_000
GITHUB_MAX_GZIP_BYTES = 10 * 1024 * 1024


def project_url() -> str | None:
    """The project's home page from the installed package's metadata (``[project.urls]``),
    for ``informationUri`` and each rule's ``helpUri``; None when none is declared (an
    invented address would be worse than none)."""
    try:
        urls = metadata.metadata("residual").get_all("Project-URL") or []
    except metadata.PackageNotFoundError:
        return None
    return next((u.split(",", 1)[1].strip() for u in urls if "," in u), None)


def _rule_descriptor(meta: Any, home: str | None) -> dict[str, Any]:
    help_text = inspect.cleandoc(meta.remediation or meta.title)
    description = inspect.cleandoc(meta.description or meta.title)
    out = {
        "id": meta.id,
        "name": "".join(p.capitalize() for p in meta.id.replace("-", "_").replace(".", "_").split("_")),
        "shortDescription": {"text": meta.title},
        "fullDescription": {"text": description},
        "help": {"text": f"{meta.title}. Remediation: {help_text}",
                 "markdown": f"**{meta.title}**\n\n{description}\n\n**Remediation:** {help_text}\n\n"
                             f"Frameworks: {', '.join(meta.frameworks) or 'none'}"},
        "defaultConfiguration": {"level": LEVELS[meta.severity]},
        "properties": {"tags": ["security", "residual-access", *meta.frameworks],
                       "security-severity": SECURITY_SEVERITY[meta.severity],
                       "precision": "high", "family": meta.family, "layer": meta.layer or ""},
    }
    if home:
        out["helpUri"] = f"{home.rstrip('/')}/blob/main/docs/rules.md#{quote(meta.id)}"
    return out


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


def _result(f: dict[str, Any], index: int, baseline: str | None,
            placed: tuple[Tree, str] | None = None) -> dict[str, Any]:
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
                       "evidence": json.loads(json.dumps(f["evidence"], default=json_default))},
    }
    location: dict[str, Any] = {"logicalLocations": [{
        "name": obj["id"] or name, "kind": obj["kind"] or "object",
        "fullyQualifiedName": (f["path"] or [""])[-1] or obj["id"]}]}
    if placed is not None:
        uri = artifact_uri(placed[1])
        result["partialFingerprints"]["primaryLocationLineHash"] = line_hash(f["rule"], uri, f)
        phys: dict[str, Any] = {"artifactLocation": {"uri": uri, "uriBaseId": SRCROOT}}
        if f["location"].get("line"):
            phys["region"] = {"startLine": int(f["location"]["line"])}
        location = {"physicalLocation": phys, **location}
    elif f["location"]:
        phys = {"artifactLocation": {"uri": artifact_uri(f["location"]["path"])}}
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


def _github_results(report: dict[str, Any], given: Any, index: dict[str, int],
                    baseline, max_results: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]], Tree | None]:
    """The results GitHub accepts (a file of one repository is the location), capped at
    its limits, and the notifications saying what was left out and where it is."""
    trees = local_trees(given)
    placed = [(f, repo_path(f, trees)) for f in report["findings"]]
    in_repo = [(f, p) for f, p in placed if p is not None]
    repo = in_repo[0][1][0] if in_repo else None
    other_repo = [f for f, p in in_repo if p[0].repo != repo.repo] if repo else []
    results = [_result(f, index[f["rule"]], baseline(f), p) for f, p in in_repo if p[0].repo == repo.repo]
    left_out = max(0, len(results) - max_results)
    results = results[:max_results]  # most severe first: the report's order
    while results and len(gzip.compress(json.dumps(results).encode())) > GITHUB_MAX_GZIP_BYTES * 0.9:
        cut = max(1, len(results) // 10)
        results, left_out = results[:-cut], left_out + cut
    where = (f"residual report --scan {report['scan']['id']} --format json (or html; "
             "--sarif-profile generic keeps every finding in SARIF)")
    notes = []
    no_file = len(placed) - len(in_repo)
    if no_file:
        notes.append(f"{no_file} of {len(placed)} findings are not about a file of the repository "
                     f"(accounts, keys, tokens, cluster objects, secrets only in git history) and "
                     f"are not in this SARIF: see {where}")
    if other_repo:
        notes.append(f"{len(other_repo)} findings are in files of other repositories and are not "
                     f"in this SARIF: see {where}")
    if left_out:
        notes.append(f"{left_out} results over GitHub's limits ({max_results} per run, "
                     f"{GITHUB_MAX_GZIP_BYTES // (1024 * 1024)} MB gzipped) were left out, the least "
                     f"severe first: see {where}")
    return results, [{"level": "note", "message": {"text": n}} for n in notes], repo


def build_sarif(inv, scan_id: str, given: Any = None, profile: str = "github",
                max_results: int = GITHUB_MAX_RESULTS) -> dict[str, Any]:
    """``max_results``: GitHub's per-run limit (a parameter so that a test can reach it
    with a small estate)."""

    if profile not in PROFILES:
        raise ValueError(f"unknown SARIF profile {profile!r} (known: {', '.join(PROFILES)})")
    report = build_report(inv, scan_id)
    scan = report["scan"]
    home = project_url()
    catalog = sorted(all_rules().values(), key=lambda r: r.meta.id)
    descriptors = [_rule_descriptor(r.meta, home) for r in catalog]
    index = {d["id"]: i for i, d in enumerate(descriptors)}
    for f in report["findings"]:
        if f["rule"] not in index:
            index[f["rule"]] = len(descriptors)
            descriptors.append(_fallback_descriptor(f))
    diff = diff_against_previous(inv, scan_id)
    new = {r["fingerprint"] for r in diff["new"]} if diff else None

    def baseline(f: dict[str, Any]) -> str:
        return "new" if new is None or f["fingerprint"] in new else "unchanged"

    notifications = [
        {"level": "error" if c["status"] == "failed" else "warning",
         "message": {"text": f"{c['collector']} {c['target']} ({c['layer']}): {c['status']}"
                             + (f": {c['error']}" if c["error"] else "")}}
        for c in report["coverage"] if c["status"] in ("failed", "partial")]
    repo: Tree | None = None
    if profile == "github":
        results, left_out, repo = _github_results(report, given, index, baseline, max_results)
        notifications += left_out
    else:
        results = [_result(f, index[f["rule"]], baseline(f)) for f in report["findings"]]
    invocation: dict[str, Any] = {"executionSuccessful": scan.get("status") in ("complete", "incomplete"),
                                  "toolExecutionNotifications": notifications}
    if scan.get("started_at"):
        invocation["startTimeUtc"] = scan["started_at"]
    if scan.get("finished_at"):
        invocation["endTimeUtc"] = scan["finished_at"]
    driver: dict[str, Any] = {"name": "residual", "version": scan.get("tool_version") or "0",
                              "semanticVersion": scan.get("tool_version") or "0.0.0",
                              "rules": descriptors}
    if home:
        driver["informationUri"] = home
    run: dict[str, Any] = {
        "tool": {"driver": driver},
        "automationDetails": {"id": f"residual/{scan_id}"},
        "invocations": [invocation],
        "columnKind": "unicodeCodePoints",
        "results": results,
        "properties": {"scan": scan_id, "profile": profile,
                       "verdicts": {i["id"]: i["verdict"] for i in report["identities"]}},
    }
    if repo is not None:
        run["originalUriBaseIds"] = {SRCROOT: {"uri": repo.repo.as_uri() + "/"}}
        if repo.commit:
            run["versionControlProvenance"] = [{
                "repositoryUri": repo.remote or repo.repo.as_uri(), "revisionId": repo.commit,
                "mappedTo": {"uriBaseId": SRCROOT}}]
    return {"$schema": SARIF_SCHEMA, "version": "2.1.0", "runs": [run]}


@renderer("sarif")
def render_sarif(inv, scan_id: str, given: Any = None, sarif_profile: str = "github") -> str:
    return json.dumps(build_sarif(inv, scan_id, given, sarif_profile), indent=2,
                      ensure_ascii=False, default=json_default)
