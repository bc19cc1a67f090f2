"""Machine formats over the two-scan estate: SARIF (validated against the official 2.1.0
schema), CSV, Markdown, OCSF Detection Finding, BloodHound OpenGraph; plus diff and
waivers as library calls (tests/test_reports_cli.py drives them through the CLI)."""

from __future__ import annotations

import copy
import csv
import io
import json
import re
from datetime import date
from pathlib import Path

import jsonschema
import pytest

from reports import ReportInput, render
from reports.csv_report import COLUMNS, finding_row, safe_cell
from reports.data import build_report
from reports.diff import diff_against_previous, diff_scans
from reports.markdown import code, md_escape
from reports.waivers import load_waivers
from scanner.core.errors import ConfigError
from scanner.core.model import Finding
from scanner.core.store import Inventory
from tests.conftest import NOW
from tests.consumers import ocsf_problems
from tests.test_reports_estate import XSS_IMG, XSS_PATH, XSS_SCRIPT, build_estate
from reports import ReportInput

SCHEMA = json.loads((Path(__file__).parent / "data" / "sarif-schema-2.1.0.json").read_text())


@pytest.fixture(scope="module")
def estate(tmp_path_factory):
    return build_estate(tmp_path_factory.mktemp("formats"))


@pytest.fixture(scope="module")
def out(estate):
    with Inventory(estate.path, read_only=True) as inv:
        rendered = {fmt: render(fmt, inv, estate.scan2, ReportInput.from_config(estate.config))
                    for fmt in ("csv", "md", "ocsf", "bloodhound", "json")}
        # every finding as a result (the github profile keeps files of a repository only:
        # tests/test_reports_consumers.py)
        rendered["sarif"] = render("sarif", inv, estate.scan2, ReportInput.from_config(estate.config), sarif_profile="generic")
        rendered["sarif_github"] = render("sarif", inv, estate.scan2, ReportInput.from_config(estate.config))
        rendered["findings"] = build_report(inv, estate.scan2)["findings"]
    return rendered


# --- SARIF --------------------------------------------------------------------------


def test_sarif_validates_against_the_official_schema(out):
    doc = json.loads(out["sarif"])
    jsonschema.Draft4Validator(SCHEMA).validate(doc)
    broken = copy.deepcopy(doc)
    broken["runs"][0]["results"][0]["level"] = "fatal"  # the validator does bite
    assert list(jsonschema.Draft4Validator(SCHEMA).iter_errors(broken))


def test_sarif_results_rules_locations_suppressions(out, estate):
    from rules.base import all_rules

    run = json.loads(out["sarif"])["runs"][0]
    rules = run["tool"]["driver"]["rules"]
    ids = [r["id"] for r in rules]
    assert set(all_rules()) <= set(ids)
    assert all(r["help"]["text"] and r["shortDescription"]["text"] for r in rules)
    results = run["results"]
    assert len(results) == len(out["findings"])
    for r in results:
        assert ids[r["ruleIndex"]] == r["ruleId"]
    assert all(r["locations"][0]["logicalLocations"][0]["name"] for r in results)
    located = [r for r in results if "physicalLocation" in r["locations"][0]]
    assert len(located) == 1
    phys = located[0]["locations"][0]["physicalLocation"]
    assert phys["region"] == {"startLine": 12}
    assert phys["artifactLocation"]["uri"] == \
        "infra/%3Cimg%20src%3Dx%20onerror%3Dalert%281%29%3E/%22quoted%22%20%27main%27.tf"
    assert located[0]["partialFingerprints"]["residualFinding/v1"] == estate.exposure_fp
    assert located[0]["baselineState"] == "new" and located[0]["level"] == "error"
    waived = [r for r in results if r.get("suppressions")]
    assert len(waived) == 1 and waived[0]["suppressions"][0]["status"] == "accepted"
    assert "ciso@example.com" in waived[0]["suppressions"][0]["justification"]
    assert {r["baselineState"] for r in results} == {"new", "unchanged"}


def test_sarif_github_profile_counts_what_has_no_repository_file(out):
    run = json.loads(out["sarif_github"])["runs"][0]
    assert run["results"] == []  # the estate has no configured IaC tree: no file to point at
    notes = [n["message"]["text"] for n in run["invocations"][0]["toolExecutionNotifications"]]
    n = len(out["findings"])
    assert any(t.startswith(f"{n} of {n} findings are not about a file of the repository") for t in notes)


def test_sarif_reports_failed_coverage_as_notifications(estate):
    with Inventory(estate.path, read_only=True) as inv:
        run = json.loads(render("sarif", inv, estate.scan1, ReportInput.from_config(estate.config),
                                sarif_profile="generic"))["runs"][0]
    jsonschema.Draft4Validator(SCHEMA).validate({"version": "2.1.0", "runs": [run]})
    notes = run["invocations"][0]["toolExecutionNotifications"]
    assert [n["level"] for n in notes] == ["error"]
    assert "kubernetes prod (kubernetes): failed: ConnectionError" in notes[0]["message"]["text"]
    assert run["results"] and {r["baselineState"] for r in run["results"]} == {"new"}  # a first scan


# --- CSV ----------------------------------------------------------------------------


def test_csv_one_row_a_finding(out):
    rows = list(csv.DictReader(io.StringIO(out["csv"])))
    assert tuple(rows[0].keys()) == COLUMNS
    assert len(rows) == len(out["findings"])
    assert [r["fingerprint"] for r in rows] == [f["fingerprint"] for f in out["findings"]]
    exposure = next(r for r in rows if r["location_path"])
    assert exposure["location_path"] == XSS_PATH and exposure["location_line"] == "12"
    waived = [r for r in rows if r["status"] == "waived"]
    assert [(r["waiver_approver"], r["waiver_expires"]) for r in waived] == [("ciso@example.com", "2027-01-31")]
    assert any(r["expired_waiver"] == "2026-11-01" for r in rows)


def test_csv_neutralises_formulas():
    assert safe_cell("=HYPERLINK(\"http://x\")") == "'=HYPERLINK(\"http://x\")"
    assert safe_cell("@SUM(A1)") == "'@SUM(A1)" and safe_cell("-1+2") == "'-1+2"
    assert safe_cell("alice") == "alice" and safe_cell(12) == 12
    f = {"fingerprint": "f", "severity": "low", "status": "new", "rule": "r", "title": "t",
         "identity": None, "system": "github", "layer": "code-hosting",
         "object": {"kind": "repo", "id": "=cmd|' /C calc'!A0", "name": "+x"},
         "location": None, "remediation": "", "frameworks": [], "path": [], "evidence": {}}
    row = finding_row(f)
    assert row["object_id"].startswith("'=") and row["object_name"] == "'+x"


# --- Markdown -----------------------------------------------------------------------


def test_markdown_for_tickets_keeps_hostile_values_inert(out):
    md = out["md"]
    assert md.startswith("# Residual access: scan ")
    assert "## alice@example.com: residual" in md.replace("\\", "")
    assert "- [ ] **critical** Credential used after its holder's termination" in md
    assert "- [x] **high** Active account of a terminated identity" in md  # waived = ticked
    assert "waived** by ciso@example.com until 2027-01-31" in md
    assert "**not configured**: layer ci-cd was not checked at all" in md
    # outside code spans nothing can open a tag; inside them it is literal text
    no_code = re.sub(r"(`+) ?.*? ?\1", "", md)
    assert "<" not in no_code
    assert code(f"SHA256:exampleAliceKey ({XSS_SCRIPT})") in md and code(f"{XSS_PATH}:12") in md
    assert md_escape("a|b*c_<x>") == "a\\|b\\*c\\_&lt;x&gt;"
    assert code("a`b") == "``a`b``" and code("`x") == "`` `x ``"


# --- OCSF ---------------------------------------------------------------------------


def test_ocsf_detection_findings_follow_the_findings_lifecycle(out, estate):
    events = json.loads(out["ocsf"])
    assert ocsf_problems(events) == []  # py-ocsf-models, every record
    with Inventory(estate.path, read_only=True) as inv:
        diff = diff_against_previous(inv, estate.scan2)
    state = {**{r["fingerprint"]: 1 for r in diff["new"]}, **{r["fingerprint"]: 2 for r in diff["persisting"]}}
    assert diff["new"] and diff["persisting"] and diff["resolved"]
    opened, closed = events[:len(out["findings"])], events[len(out["findings"]):]
    assert len(closed) == len(diff["resolved"])
    sev = {"info": 1, "low": 2, "medium": 3, "high": 4, "critical": 5}
    for e, f in zip(opened, out["findings"]):
        activity = state[f["fingerprint"]]
        assert (e["class_uid"], e["category_uid"], e["activity_id"], e["type_uid"]) == \
            (2004, 2, activity, 200400 + activity)
        assert e["severity_id"] == sev[f["severity"]]
        assert e["time"] == int(NOW.timestamp() * 1000) == e["finding_info"]["last_seen_time"]
        first = e["finding_info"]["first_seen_time"]
        assert (first < e["time"]) if activity == 2 else (first == e["time"])  # Update: seen before
        assert e["finding_info"]["uid"] == f["fingerprint"] and e["finding_info"]["title"]
        assert e["metadata"]["product"]["name"] == "residual" and e["metadata"]["version"]
        assert e["status_id"] == (3 if f["status"] == "waived" else 1)
    assert {e["finding_info"]["uid"] for e in closed} == {r["fingerprint"] for r in diff["resolved"]}
    assert all((e["activity_id"], e["type_uid"], e["status_id"], e["status"]) == (3, 200403, 4, "Resolved")
               and e["finding_info"]["last_seen_time"] < e["time"] for e in closed)
    exposure = next(e for e in events if e["finding_info"]["uid"] == estate.exposure_fp)
    assert exposure["evidences"][0]["file"]["path"] == XSS_PATH
    assert exposure["resources"][0]["owner"]["email_addr"] == "alice@example.com"
    assert {"name": "resources.owner.email_addr", "type_id": 5, "type": "Email Address",
            "value": "alice@example.com"} in exposure["observables"]
    assert not any("file" in ev for e in events if e["unmapped"]["system"] != "iac" for ev in e["evidences"])


def test_ocsf_first_scan_creates_every_finding(estate):
    with Inventory(estate.path, read_only=True) as inv:
        events = json.loads(render("ocsf", inv, estate.scan1, ReportInput.from_config(estate.config)))
        n = len(build_report(inv, estate.scan1)["findings"])
    assert len(events) == n and {e["activity_id"] for e in events} == {1}
    assert ocsf_problems(events) == []


# --- BloodHound OpenGraph -------------------------------------------------------------


def test_bloodhound_opengraph_export(out):
    doc = json.loads(out["bloodhound"])
    assert doc["metadata"] == {"source_kind": "Residual"}
    nodes = {n["id"]: n for n in doc["graph"]["nodes"]}
    kind_re = re.compile(r"^[A-Za-z0-9_]+$")
    for n in nodes.values():
        assert 1 <= len(n["kinds"]) <= 3 and n["kinds"][-1] == "Residual"
        assert all(kind_re.match(k) for k in n["kinds"])
        for v in n["properties"].values():
            assert isinstance(v, (str, int, float, bool)) or (
                isinstance(v, list) and all(isinstance(x, str) for x in v))
    for e in doc["graph"]["edges"]:
        assert kind_re.match(e["kind"])
        assert e["start"]["value"] in nodes and e["end"]["value"] in nodes
        assert e["start"]["match_by"] == e["end"]["match_by"] == "id"
    alice = "identity:alice@example.com"
    key = "credential:aws:123456789012|AKIAEXAMPLEALICE0001"
    assert nodes[alice]["kinds"][0] == "ResidualIdentity"
    assert nodes[key]["kinds"][:2] == ["ResidualCredential", "ResidualAws"]
    assert nodes[key]["properties"]["residual_max_severity"] == "critical"
    edges = {(e["start"]["value"], e["end"]["value"]): e["kind"] for e in doc["graph"]["edges"]}
    acc = "account:aws:123456789012|arn:aws:iam::123456789012:user/alice"
    assert edges[(alice, acc)] == "ResidualHasAccount"
    assert edges[(acc, key)] == "ResidualHoldsCredential"
    assert edges[(alice, "identity:svc-deploy")] == "ResidualOwns"
    # the hostile account is a node like any other, its name kept as data
    assert any(n["properties"].get("name") == XSS_IMG for n in nodes.values())


# --- diff and waivers (library) -----------------------------------------------------


def test_diff_new_resolved_persisting(estate):
    with Inventory(estate.path, read_only=True) as inv:
        d = diff_scans(inv, estate.scan1, estate.scan2)
        assert diff_against_previous(inv, estate.scan2) == d
        assert diff_against_previous(inv, estate.scan1) is None
    new = {(r["rule"], r["object"]) for r in d["new"]}
    assert new == {("credential.live_of_leaver", "pat laptop token"),
                   ("credential.no_expiry", "pat laptop token"),
                   ("exposure.secret_in_iac", f"exposure {XSS_PATH}")}
    assert {r["object"] for r in d["resolved"]} == {"access_key AKIAEXAMPLEALICE0002"}
    persisting = {(r["rule"], r["identity"], r["status"]) for r in d["persisting"]}
    assert ("account.active_after_termination", "dave@example.com", "waived") in persisting
    assert not ({r["fingerprint"] for r in d["new"]} & {r["fingerprint"] for r in d["persisting"]})


def _finding(**kw) -> Finding:
    base = dict(rule="account.active_after_termination", severity="high", title="t", layer="saas",
                identity="alice@example.com", object_id="U1", object_name="alice",
                fingerprint="fp1")
    return Finding(**{**base, **kw})


def test_waivers_match_expire_and_validate(tmp_path):
    p = tmp_path / "w.yaml"
    p.write_text("waivers:\n"
                 "  - fingerprint: fp1\n    reason: r1\n    approver: a1\n    expires: 2026-12-31\n"
                 "  - rule: account.unowned\n    object: 'svc-*'\n    reason: r2\n    approver: a2\n"
                 "    expires: 2026-11-20\n")
    waive = load_waivers(p, today=date(2026, 11, 21))
    assert waive(_finding()) == {"reason": "r1", "approver": "a1", "expires": "2026-12-31"}
    assert waive(_finding(fingerprint="other")) is None
    expired = _finding(rule="account.unowned", object_name="svc-build", fingerprint="x")
    assert waive(expired) is None
    assert expired.evidence["expired_waiver"]["expires"] == "2026-11-20"
    # the same waiver the day before it expires still applies
    assert load_waivers(p, today=date(2026, 11, 20))(
        _finding(rule="account.unowned", object_name="svc-build", fingerprint="x"))["approver"] == "a2"
    p.write_text("waivers:\n  - fingerprint: fp1\n    reason: r\n    expires: 2026-12-31\n")
    with pytest.raises(ConfigError, match="approver: required"):
        load_waivers(p)
