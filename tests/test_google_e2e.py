"""End to end through the real CLI: the CSV roster merged with Workspace as a roster
source, the google_workspace and gcp collectors against the fake Google on 127.0.0.1;
scan, report, verify, plan. Read-only throughout (the fake records any write)."""

from __future__ import annotations

import json
import shutil

import pytest

from fixtures.fake_google import ADMIN, ALICE_KEY, AUTH, demo_google
from fixtures.fake_google.app import FakeGoogle
from tests.conftest import ROOT, run_cli, write_config


def google_config(tmp, server, extra_roster=True):
    shutil.copy(ROOT / "fixtures" / "demo" / "roster.csv", tmp / "roster.csv")
    key = server.write_key_file(tmp / "google-key.json")
    ws = {"customer": "C0acme123", "subject": ADMIN, "credentials_file": "google-key.json",
          "api_endpoint": server.url}
    roster = [{"csv": "roster.csv"}] + ([{"google_workspace": dict(ws)}] if extra_roster else [])
    return write_config(tmp, {"roster": roster, "collectors": {
        "google_workspace": [ws],
        "gcp": [{"organization": "445566778899", "credentials_file": str(key), "api_endpoint": server.url}]}})


@pytest.fixture(scope="module")
def estate(tmp_path_factory):
    server = demo_google(FakeGoogle()).start()
    tmp = tmp_path_factory.mktemp("google")
    cfg = google_config(tmp, server)
    scan = run_cli("scan", "-c", str(cfg), "-q")
    report = run_cli("report", "-c", str(cfg), "--format", "json")
    yield {"server": server, "cfg": cfg, "scan": scan, "tmp": tmp,
           "report": json.loads(report.stdout) if report.returncode == 0 else report}
    server.stop()


def findings(report, **match):
    return [f for f in report["findings"] if all(f.get(k) == v for k, v in match.items())]


def test_scan_exits_1_reads_everything_and_writes_nothing(estate):
    assert estate["scan"].returncode == 1, estate["scan"].stderr[-2000:]
    cov = {(c["collector"], c["target"]): c for c in estate["report"]["coverage"]}
    assert cov[("google_workspace:C0acme123", "C0acme123")]["status"] == "ok"
    assert cov[("google_workspace:C0acme123", "C0acme123/leavers")]["status"] == "ok"
    assert cov[("gcp:445566778899", "organizations/445566778899")]["status"] == "ok"
    assert cov[("roster:google_workspace", "google_workspace")]["status"] == "ok"
    assert all(c["api_calls"] > 0 for k, c in cov.items() if "google" in k[0] or "gcp" in k[0])
    assert estate["server"].writes == [] and estate["server"].revocations == []


def test_alice_workspace_residue(estate):
    r, alice = estate["report"], "alice@example.com"
    grant, = findings(r, identity=alice, rule="google_workspace.grant_of_leaver")
    assert "NoteSync" in grant["object"]["name"] and grant["layer"] == "directory"
    assert findings(r, identity=alice, rule="google_workspace.app_password_of_leaver")
    assert len(findings(r, identity=alice, rule="google_workspace.device_of_leaver")) == 2
    login, = findings(r, identity=alice, rule="google_workspace.login_after_termination")
    assert login["severity"] == "critical" and login["evidence"]["first_event_id"] == "-6549203718362749002"
    token, = findings(r, identity=alice, rule="google_workspace.token_used_after_termination")
    assert token["severity"] == "critical" and token["evidence"]["grant_still_present"] is True


def test_alice_cloud_residue_and_the_near_misses(estate):
    r, alice = estate["report"], "alice@example.com"
    created, = findings(r, identity=alice, rule="gcp.key_created_by_leaver")
    assert created["object"]["id"].endswith(ALICE_KEY) and created["layer"] == "cloud"
    assert findings(r, identity=alice, rule="gcp.key_of_sa_owner_left")
    members = {f["evidence"]["member"] for f in findings(r, rule="gcp.binding_names_leaver")}
    assert {"user:alice@example.com", "user:dave@example.com",
            "deleted:user:erin@example.com?uid=113000000000000000005"} <= members
    # near misses: bob's key and his grant; the disabled key alice made; carol named nowhere
    assert not [f for f in r["findings"] if f["rule"].startswith(("gcp.", "google_workspace."))
                and f["identity"] in ("bob@example.com", "carol@example.com")]
    assert not [f for f in r["findings"] if "a1ce0000000000000000000000000000000000a2" in f["object"]["id"]
                and f["rule"].startswith("gcp.key")]


def test_verify_alice_residual_carol_clean(estate):
    a = run_cli("verify", "-c", str(estate["cfg"]), "--scan", "latest", "--format", "json", "alice@example.com")
    assert a.returncode == 1 and '"directory": "residual"' in a.stdout and '"cloud": "residual"' in a.stdout
    c = run_cli("verify", "-c", str(estate["cfg"]), "--scan", "latest", "--format", "json", "carol@example.com")
    assert c.returncode == 0, c.stdout + c.stderr
    assert '"directory": "clean"' in c.stdout and '"cloud": "clean"' in c.stdout


def test_plan_has_the_google_steps_quoted(estate):
    p = run_cli("plan", "-c", str(estate["cfg"]), "alice@example.com", "--format", "sh")
    assert p.returncode == 0, p.stderr
    text = p.stdout
    assert ("-X DELETE https://admin.googleapis.com/admin/directory/v1/users/110000000000000000001/tokens/"
            "284736291045-9f3kq2m1x7v0c5b8n6z4a2s1d3f5g7h9.apps.googleusercontent.com\n") in text
    assert "/asps/1\n" in text and "/signOut\n" in text and "admin_account_wipe" in text
    runnable = [ln for ln in text.splitlines() if ln.startswith(("curl", "gcloud"))]
    assert len(runnable) == len(set(runnable))  # one object, one command
    assert "deprovision" in text
    disable = f"gcloud iam service-accounts keys disable {ALICE_KEY}"
    delete = f"gcloud iam service-accounts keys delete {ALICE_KEY}"
    assert disable in text and delete in text and text.index(disable) < text.index(delete)
    assert ("gcloud iam service-accounts remove-iam-policy-binding svc-deploy@acme-prod.iam.gserviceaccount.com "
            "--project acme-prod --member=user:alice@example.com --role=roles/iam.serviceAccountTokenCreator") in text
    assert "gcloud iam service-accounts update svc-deploy@acme-prod.iam.gserviceaccount.com" in text  # new owner
    assert "# gcloud projects remove-iam-policy-binding acme-prod --member=serviceAccount:svc-deploy" in text
    erin = run_cli("plan", "-c", str(estate["cfg"]), "erin@example.com", "--format", "sh").stdout
    assert "--member='deleted:user:erin@example.com?uid=113000000000000000005'" in erin  # quoted: '?'
    assert erin.index("remove-iam-policy-binding") > erin.index("phase 3")


def test_a_scope_not_delegated_makes_carol_incomplete_not_clean(tmp_path):
    server = demo_google(FakeGoogle())
    server.delegations[next(iter(server.delegations))].discard(AUTH + "admin.reports.audit.readonly")
    server.start()
    try:
        cfg = google_config(tmp_path, server, extra_roster=False)
        r = run_cli("verify", "-c", str(cfg), "--format", "json", "carol@example.com")
    finally:
        server.stop()
    assert r.returncode == 3, r.stdout + r.stderr
    assert '"directory": "incomplete"' in r.stdout and '"cloud": "clean"' in r.stdout
    assert server.writes == []


def test_malformed_gcp_config_is_one_line_exit_2(tmp_path):
    cfg = write_config(tmp_path, {"collectors": {"gcp": [{"organization": "1", "projects": ["p"]}]}}, [])
    r = run_cli("scan", "-c", str(cfg))
    assert r.returncode == 2 and "collectors.gcp[0].organization" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def test_no_token_or_private_key_in_the_inventory_or_report(estate):
    blob = (estate["tmp"] / "residual.duckdb").read_bytes() + json.dumps(estate["report"]).encode()
    private = estate["server"].key_info()["private_key"]
    body = "".join(private.splitlines()[1:-1])
    assert b"ya29." not in blob and body[:40].encode() not in blob and b"PRIVATE KEY" not in blob
