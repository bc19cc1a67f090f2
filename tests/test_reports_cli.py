"""History, diff, waivers and every report format through the real CLI, over two real
scans of a fake SCIM service provider (the real collector, over HTTP on 127.0.0.1)."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from fixtures.fake_scim import DEMO_TOKEN, FakeScim, demo_slack, scim_user
from reports.data import build_report
from scanner.core.store import Inventory
from tests.conftest import run_cli, write_config
from tests.test_reports_estate import ROSTER

SCHEMA = json.loads((Path(__file__).parent / "data" / "sarif-schema-2.1.0.json").read_text())
SCAN1_NOW = "2026-11-21T12:00:00+00:00"
SCAN2_NOW = "2026-12-15T12:00:00+00:00"  # after alice's waiver expired (2026-12-01)

WAIVERS = """\
waivers:
  # erin's suspension is under appeal: accepted until next year
  - rule: account.active_while_suspended
    identity: erin@example.com
    reason: "Suspension under appeal; Slack kept read-only"
    approver: hr-lead@example.com
    expires: 2027-03-31
  # alice's Slack account: accepted for a handover that must end on 1 December
  - rule: account.active_after_termination
    identity: alice@example.com
    object: "alice@example.com"
    reason: "Handover of shared channels"
    approver: ciso@example.com
    expires: 2026-12-01
"""


@pytest.fixture
def slack():
    with demo_slack(FakeScim(token=DEMO_TOKEN)) as s:
        yield s


def _config(tmp_path: Path, slack: FakeScim) -> Path:
    rows = ROSTER.read_text().splitlines()[1:]
    (tmp_path / "waivers.yaml").write_text(WAIVERS)
    return write_config(tmp_path, {
        "waivers": "waivers.yaml",
        "collectors": {"scim": [{"name": "slack", "url": slack.base_url, "token": "${SLACK_TOKEN}"}]},
    }, rows)


def _cli(*args: str, now: str = SCAN1_NOW, tmp: Path):
    return run_cli(*args, "-c", str(tmp / "residual.yaml"), cwd=tmp,
                   env={"RESIDUAL_NOW": now, "SLACK_TOKEN": DEMO_TOKEN})


def _findings(tmp: Path, scan_id: str | None = None) -> list[dict]:
    """The stored scan's findings (report/v1), read in-process: the CLI has exited."""
    with Inventory(tmp / "residual.duckdb", read_only=True) as inv:
        return build_report(inv, scan_id or inv.latest_scan_id())["findings"]


def test_two_scans_diff_waivers_and_every_format(tmp_path, slack):
    _config(tmp_path, slack)
    # --- scan 1: both waivers apply
    r = _cli("scan", "-q", tmp=tmp_path)
    assert r.returncode == 0, r.stderr  # the only high finding is waived: the gate passes
    first = _findings(tmp_path)
    by_key = {(f["rule"], f["identity"]): f for f in first}
    alice = by_key[("account.active_after_termination", "alice@example.com")]
    erin = by_key[("account.active_while_suspended", "erin@example.com")]
    assert alice["status"] == "waived" and alice["evidence"]["waiver"]["approver"] == "ciso@example.com"
    assert erin["status"] == "waived"

    # --- the estate changes: erin is deprovisioned, a new unowned account appears
    for u in slack.users:
        if u["userName"] == "erin@example.com":
            u["active"] = False
    slack.users.append(scim_user("U0NEW0001", "intern@vendor.example", display="Intern"))

    # --- scan 2, three weeks later: alice's waiver has expired (judged at RESIDUAL_NOW,
    # not the wall clock), erin's finding is resolved, the new account is new
    r = _cli("scan", "-q", now=SCAN2_NOW, tmp=tmp_path)
    assert r.returncode == 1, r.stderr  # alice's high finding is no longer waived
    second = _findings(tmp_path)
    by_key = {(f["rule"], f["identity"]): f for f in second}
    alice2 = by_key[("account.active_after_termination", "alice@example.com")]
    assert alice2["status"] == "persisting"
    assert alice2["evidence"]["expired_waiver"] == {
        "reason": "Handover of shared channels", "approver": "ciso@example.com", "expires": "2026-12-01"}
    assert ("account.active_while_suspended", "erin@example.com") not in by_key

    r = _cli("diff", "--format", "json", now=SCAN2_NOW, tmp=tmp_path)
    assert r.returncode == 1, r.stderr  # something is new
    d = json.loads(r.stdout)
    assert [x["fingerprint"] for x in d["resolved"]] == [erin["fingerprint"]]
    assert any("intern@vendor.example" in x["object"] for x in d["new"])
    assert alice2["fingerprint"] in {x["fingerprint"] for x in d["persisting"]}

    # --- every format through `residual report`
    html_path = tmp_path / "out" / "report.html"
    r = _cli("report", "--format", "html", "-o", str(html_path), now=SCAN2_NOW, tmp=tmp_path)
    assert r.returncode == 0, r.stderr
    page = html_path.read_text()
    assert (html_path.stat().st_mode & 0o077) == 0  # reports are private
    assert f"<strong>{len(d['new'])}</strong> new, <strong>1</strong> resolved" in page
    assert "<strong>A waiver expired on 2026-12-01</strong>" in page
    assert DEMO_TOKEN not in page and "token: &#39;${SLACK_TOKEN}&#39;" not in page
    assert "2026-12-15 12:00 UTC" in page

    r = _cli("report", "--format", "sarif", "--sarif-profile", "generic", now=SCAN2_NOW, tmp=tmp_path)
    assert r.returncode == 0, r.stderr
    sarif = json.loads(r.stdout)
    jsonschema.Draft4Validator(SCHEMA).validate(sarif)
    assert len(sarif["runs"][0]["results"]) == len(second)
    r = _cli("report", "--format", "sarif", now=SCAN2_NOW, tmp=tmp_path)  # github: no repo file here
    assert r.returncode == 0 and json.loads(r.stdout)["runs"][0]["results"] == []

    # csv, md, ocsf and bloodhound go through the same dispatch (tests/test_reports_formats.py
    # checks their content); here, that the CLI knows them
    r = _cli("report", "--format", "nope", now=SCAN2_NOW, tmp=tmp_path)
    assert r.returncode == 2
    for fmt in ("bloodhound", "csv", "html", "json", "md", "ocsf", "sarif"):
        assert fmt in r.stderr

    # the first scan can still be reported on, with its own waivers as they were then
    then = {f["fingerprint"]: f["status"] for f in _findings(tmp_path, d["from"])}
    assert then[alice2["fingerprint"]] == "waived"
    # the read-only CLI commands wrote nothing to the fake SaaS
    assert slack.writes == []


def test_bad_waivers_file_is_a_usage_error(tmp_path, slack):
    _config(tmp_path, slack)
    (tmp_path / "waivers.yaml").write_text("waivers:\n  - rule: x\n    reason: r\n    expires: 2027-01-01\n")
    r = _cli("scan", "-q", tmp=tmp_path)
    assert r.returncode == 2
    assert "approver: required key is missing" in r.stderr
    assert not (tmp_path / "residual.duckdb").exists()  # nothing written
