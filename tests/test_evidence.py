"""`residual evidence` over a history made by real scans (moto for AWS, the GitHub fake),
time pinned per scan with RESIDUAL_NOW, the real CLI in a subprocess.

The history: scan 1 sees everything; alice's second access key is deleted; scan 2 sees
it gone (CloudTrail says bob deleted it on 2026-11-05); the GitHub fake is stopped, so scan 3's code-hosting layer fails. A waiver
accepts alice's console password. What must follow, each asserted below: the deleted key
is `removed` at the time of CloudTrail's DeleteAccessKey, by bob, and breaches the 24 h SLA; the key never
removed is `open` with its age; alice's GitHub access is `not evidenced` (never shown
removed) and her code-hosting gap is listed; carol (terminated in the period) is in the
population; dave (terminated before it) is not; the waiver is an exception; the manifest
verifies and fails when one byte changes."""

from __future__ import annotations

import csv
import io
import json

import boto3
import pytest
import yaml

from fixtures import fake_cloudtrail as ct
from fixtures.aws_estate import FAKE_ENV, AwsServer, plant_demo
from fixtures.fake_github import DEMO_TOKEN, start_demo
from tests.conftest import ROOT, run_cli

ALICE, CAROL, DAVE = "alice@example.com", "carol@example.com", "dave@example.com"
TIMES = ("2026-11-02T09:00:00+00:00", "2026-11-09T09:00:00+00:00", "2026-11-16T09:00:00+00:00")


def _scan(cfg, when):
    r = run_cli("scan", "-q", "-c", str(cfg), env={**FAKE_ENV, "RESIDUAL_NOW": when})
    assert r.returncode in (0, 1, 3), r.stderr[-2000:]
    return r


@pytest.fixture(scope="module")
def history(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("evidence")
    roster = (ROOT / "fixtures" / "demo" / "roster.csv").read_text().splitlines()
    roster[0] += ",notified_at"
    roster = [roster[0]] + [row + (",2026-10-31T16:00:00Z" if row.startswith(ALICE) else ",")
                            for row in roster[1:]]
    (tmp / "roster.csv").write_text("\n".join(roster) + "\n")
    (tmp / "waivers.yaml").write_text(yaml.safe_dump({"waivers": [{
        "rule": "credential.live_of_leaver", "object": "alice console password",
        "reason": "break-glass until the vault migration", "approver": "ciso@example.com",
        "expires": "2027-06-30"}]}))
    with AwsServer() as aws, ct.FakeCloudTrail() as trail:
        made = plant_demo(aws.url)
        trail.add_event(ct.cloudtrail_event(
            "DeleteAccessKey", "iam.amazonaws.com", "2026-11-05T10:00:00Z", ct.iam_user_identity("bob"),
            request={"userName": "alice", "accessKeyId": made["keys"]["alice"][1]},
            resources=[("AWS::IAM::AccessKey", made["keys"]["alice"][1]), ("AWS::IAM::User", "alice")]))
        gh = start_demo()
        gh.start()
        cfg = tmp / "residual.yaml"
        cfg.write_text(yaml.safe_dump({
            "inventory": "residual.duckdb", "roster": [{"csv": "roster.csv"}],
            "waivers": "waivers.yaml",
            "collectors": {"aws": [{"name": "demo", "endpoint_url": aws.url, "regions": ["us-east-1"],
                                    "cloudtrail": True, "cloudtrail_endpoint_url": trail.url}],
                           "github": [{"org": getattr(gh, "org", "acme"), "token": DEMO_TOKEN,
                                       "base_url": gh.url}]},
            "network": {"max_retries": 0, "timeout_s": 5}}))
        _scan(cfg, TIMES[0])
        k1, k2 = made["keys"]["alice"]
        iam = boto3.client("iam", endpoint_url=aws.url, region_name="us-east-1", **{
            "aws_access_key_id": "testing", "aws_secret_access_key": "testing"})
        iam.delete_access_key(UserName="alice", AccessKeyId=k2)
        _scan(cfg, TIMES[1])
        gh.stop()
        _scan(cfg, TIMES[2])
    return {"cfg": cfg, "tmp": tmp, "k1": k1, "k2": k2}


def _evidence(history, fmt, out=None, frm="2026-10-01", to="2026-12-31"):
    args = ["evidence", "-c", str(history["cfg"]), "--from", frm, "--to", to, "--format", fmt]
    if out:
        args += ["-o", str(out)]
    r = run_cli(*args, env={"RESIDUAL_NOW": "2026-12-31T12:00:00+00:00"})
    assert r.returncode == 0, r.stderr[-2000:]
    return r


@pytest.fixture(scope="module")
def doc(history):
    return json.loads(_evidence(history, "json").stdout)


def _leaver(doc, ident):
    return next(lv for lv in doc["evidence"]["population"] if lv["id"] == ident)


def _item(lv, handle):
    """An item by its name or by the end of its uid (an access key's id)."""
    return next(i for i in lv["items"] if handle in (i["name"], i["handle"]))


def test_population_is_the_terminations_of_the_period(doc):
    ids = {lv["id"] for lv in doc["evidence"]["population"]}
    assert ALICE in ids and CAROL in ids
    assert DAVE not in ids  # terminated 2026-09-30, before the period
    assert "bob@example.com" not in ids  # active
    assert len(doc["evidence"]["scans"]) == 3
    assert all(s["tool_version"] and s["config_digest"] for s in doc["evidence"]["scans"])


def test_removed_key_has_its_removal_time_and_breaches_the_sla(doc, history):
    alice = _leaver(doc, ALICE)
    k2 = _item(alice, history["k2"])
    scans = doc["evidence"]["scans"]
    assert k2["state"] == "removed" and k2["gone_in_scan"] == scans[1]["id"]
    # CloudTrail's DeleteAccessKey (bob, 2026-11-05 10:00) names the key by its id: it is the
    # removal time, not scan 2's upper bound
    assert k2["removal_at"] == "2026-11-05T10:00:00Z" and k2["removal_basis"] == "event"
    assert (k2["removal_event"]["action"], k2["removal_event"]["actor"]) == ("DeleteAccessKey", "bob")
    assert k2["last_seen_live"] == "2026-11-02T09:00:00Z"
    assert k2["sla"] == "breached" and k2["hours_from_termination"] == 4 * 24 + 10
    assert k2["hours_from_notification"] == 4 * 24 + 18  # IT was told the evening before


def test_key_never_removed_is_open_with_its_age(doc, history):
    k1 = _item(_leaver(doc, ALICE), history["k1"])
    assert k1["state"] == "open" and k1["sla"] == "open" and k1["removal_at"] is None
    assert k1["age_days"] == pytest.approx(15.4, abs=0.1)  # to scan 3, 2026-11-16 09:00
    assert _leaver(doc, ALICE)["sla"] == "open"


def test_a_layer_that_failed_is_not_evidenced_never_removed(doc):
    alice = _leaver(doc, ALICE)
    gh = [i for i in alice["items"] if i["system"].startswith("github")]
    assert gh, "alice's GitHub accounts and keys were seen in scans 1 and 2"
    assert {i["state"] for i in gh} == {"not_evidenced"}
    assert all(i["removal_at"] is None for i in gh)
    assert {"layer": "code-hosting", "verdict": "incomplete"}.items() <= next(
        g for g in alice["gaps"] if g["layer"] == "code-hosting").items()


def test_waiver_is_an_exception(doc):
    alice = _leaver(doc, ALICE)
    assert any(x["approver"] == "ciso@example.com" and "break-glass" in x["reason"]
               for x in alice["exceptions"])
    assert _item(alice, "alice console password")["state"] == "waived"
    assert not _leaver(doc, CAROL)["exceptions"]


def test_use_after_termination_is_listed(doc):
    uses = _leaver(doc, ALICE)["used_after_termination"]
    assert any(u.get("rule") == "credential.used_after_termination" for u in uses)
    assert not _leaver(doc, CAROL)["used_after_termination"]


def test_every_format_renders_and_its_manifest_verifies(history, tmp_path):
    for fmt in ("html", "csv", "md", "json"):
        out = tmp_path / f"evidence.{fmt}"
        _evidence(history, fmt, out)
        r = run_cli("evidence", "-c", str(history["cfg"]), "--verify", str(out))
        assert r.returncode == 0, (fmt, r.stdout, r.stderr)
        data = bytearray(out.read_bytes())
        i = data.find(b"alice")
        data[i] = ord("A")  # one byte
        out.write_bytes(bytes(data))
        r = run_cli("evidence", "-c", str(history["cfg"]), "--verify", str(out))
        assert r.returncode == 1 and "does not match" in r.stdout, (fmt, r.stdout)


def test_csv_is_one_row_per_leaver_and_item_with_controls(history):
    rows = list(csv.DictReader(io.StringIO(_evidence(history, "csv").stdout)))
    alice = [r for r in rows if r["leaver_id"] == ALICE]
    assert any(r["handle"] == history["k2"] and r["state"] == "removed" for r in alice)
    assert any(r["item_kind"] == "coverage" and r["layer"] == "code-hosting" for r in alice)
    assert all("SOC2:CC6.2" in r["controls"] and "OWASP-NHI:NHI1:2025" in r["controls"]
               for r in rows)
    assert any(r["leaver_id"] == CAROL for r in rows)


def test_html_has_no_external_asset_and_a_timeline_per_item(history):
    html = _evidence(history, "html").stdout
    assert "<svg" in html and 'id="population"' in html
    assert "src=" not in html and "http://" not in html.split("<!-- residual-evidence-manifest")[0]


def test_a_period_with_no_leaver_is_empty_not_an_error(history):
    doc = json.loads(_evidence(history, "json", frm="2025-01-01", to="2025-01-31").stdout)
    assert doc["evidence"]["population"] == []


def test_bad_dates_are_one_line_exit_2(history):
    r = run_cli("evidence", "-c", str(history["cfg"]), "--from", "2026-13-01", "--to", "2026-12-01")
    assert r.returncode == 2 and "--from" in r.stderr and "Traceback" not in r.stderr


def test_input_digests_name_the_scan_whose_rows_changed(history, tmp_path):
    """rows_sha256 is the same for the same rows, and a change to one row drawn from scan 2
    changes scan 2's digest only."""
    import shutil

    import duckdb

    def inputs(h):
        doc = json.loads(_evidence(h, "json").stdout)
        assert doc["manifest"]["rows_digest"].startswith("sha256")
        return [i["rows_sha256"] for i in doc["manifest"]["inputs"]]

    before = inputs(history)
    assert before == inputs(history) and len(set(before)) == 3
    for name in ("residual.yaml", "roster.csv", "waivers.yaml", "residual.duckdb"):
        shutil.copy(history["tmp"] / name, tmp_path / name)
    scan2 = json.loads(_evidence(history, "json").stdout)["evidence"]["scans"][1]["id"]
    con = duckdb.connect(str(tmp_path / "residual.duckdb"))
    n = con.execute("UPDATE credentials SET status = 'inactive' WHERE scan_id = ? AND "
                    "holder LIKE '%:user/alice' AND status = 'active' AND kind = 'access_key'",
                    [scan2]).fetchone()[0]
    con.close()
    assert n >= 1
    after = inputs({**history, "cfg": tmp_path / "residual.yaml"})
    assert after[1] != before[1] and (after[0], after[2]) == (before[0], before[2])
