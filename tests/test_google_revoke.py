"""The Workspace session revoker: users.signOut with the revoke block's own credentials,
only against a fake started with allow_revoke; planning is pure."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

revoke = pytest.importorskip("collectors.revoke", reason="the revoker framework (issue 20) is not on main yet")

from collectors.google_workspace.revoke import GoogleWorkspaceRevoker  # noqa: E402
from fixtures.fake_google import ADMIN, start_demo  # noqa: E402
from scanner.core.model import Account, Identity  # noqa: E402

WS = "google_workspace:C0acme123"
ALICE = Account(system="google_workspace", source=WS, native_id="110000000000000000001", login="alice@example.com")
OTHER = Account(system="okta", source="okta:x", native_id="00u1", login="alice@example.com")


def revoker(server, tmp_path):
    ctx = revoke.RevokeContext(system="google_workspace", now=datetime(2026, 11, 21, tzinfo=UTC),
                               read_config={"customer": "C0acme123", "api_endpoint": server.url})
    return GoogleWorkspaceRevoker({"subject": ADMIN, "credentials_file": str(server.write_key_file(tmp_path / "w.json"))},
                                  ctx)


def test_plan_is_pure_and_only_for_this_customer(tmp_path):
    s = start_demo(allow_revoke=True)
    try:
        r = revoker(s, tmp_path)
        actions = r.plan(Identity(id="alice@example.com", status="terminated"), [ALICE, OTHER])
        assert [(a.verb, a.target, a.account) for a in actions] == [("sign_out", ALICE.native_id, ALICE.uid)]
        assert s.requests == []  # planning sent nothing
        first = r.apply(actions[0])
        again = r.apply(actions[0])  # idempotent
        assert first.ok and again.ok and first.status == 204
        assert [x["user"] for x in s.revocations] == ["alice@example.com", "alice@example.com"]
        gone = r.apply(revoke.RevokeAction("google_workspace", WS, "x", "u", "sign_out", "nobody@example.com", ""))
        assert gone.ok and gone.status == 404
    finally:
        s.stop()


def test_a_read_only_fake_refuses_and_the_result_says_so(tmp_path):
    s = start_demo(allow_revoke=False)
    try:
        r = revoker(s, tmp_path)
        action = r.plan(Identity(id="alice@example.com"), [ALICE])[0]
        res = r.apply(action)
        assert not res.ok and res.status == 405 and s.revocations == []
        assert "ya29" not in res.detail  # no token in the answer
    finally:
        s.stop()


# --- end to end: `residual revoke-sessions` through the real CLI ----------------------------------


def test_revoke_sessions_cli_signs_alice_out_journaled_reverified_and_idempotent(tmp_path):
    """The read block and the revoke block each name a key file relative to the config's
    folder; the revoke block's is the write service account's."""
    import json
    import shutil

    from scanner.core.store import Inventory
    from tests.conftest import ROOT, run_cli, write_config

    def journal():
        inv = Inventory(str(tmp_path / "residual.duckdb"))
        try:
            return inv.journal()
        finally:
            inv.close()

    s = start_demo(allow_revoke=True)
    try:
        shutil.copy(ROOT / "fixtures" / "demo" / "roster.csv", tmp_path / "roster.csv")
        s.write_key_file(tmp_path / "google-key.json")
        s.write_key_file(tmp_path / "google-revoke-key.json")
        ws = {"customer": "C0acme123", "subject": ADMIN, "credentials_file": "google-key.json",
              "api_endpoint": s.url, "revoke": {"subject": ADMIN, "credentials_file": "google-revoke-key.json"}}
        cfg = write_config(tmp_path, {"roster": [{"csv": "roster.csv"}], "collectors": {"google_workspace": [ws]}})
        scan = run_cli("scan", "-c", str(cfg), "-q", cwd=ROOT)
        assert scan.returncode == 1, scan.stderr[-3000:]
        dry = run_cli("revoke-sessions", "-c", str(cfg), "alice@example.com", "--format", "json", cwd=ROOT)
        assert dry.returncode == 0, dry.stderr[-2000:]
        assert [(a["verb"], a["system"]) for a in json.loads(dry.stdout)["actions"]] == [("sign_out", "google_workspace")]
        assert s.revocations == [] and journal() == []

        r = run_cli("revoke-sessions", "-c", str(cfg), "alice@example.com", "--apply", "--format", "json", cwd=ROOT)
        assert r.returncode == 0, r.stderr[-3000:]
        report = json.loads(r.stdout)
        assert report["applied"] and report["ok"] and [x["status"] for x in report["results"]] == [204]
        assert [x["user"] for x in s.revocations] == ["alice@example.com"]
        rows = journal()
        assert [x["phase"] for x in rows] == ["run-start", "planned", "sending", "sent", "verified", "run-end"]
        assert (rows[3]["system"], rows[3]["verb"], rows[3]["ok"], rows[3]["status"]) == \
            ("google_workspace", "sign_out", True, 204)
        verified = json.loads(rows[4]["detail"])
        assert verified["scan_id"] == report["verdict"]["scan_id"] and verified["verdict"] in ("residual", "clean")
        # the re-verify was a live read of Workspace for her (not the old scan's records)
        cov = json.loads(run_cli("report", "-c", str(cfg), "--scan", verified["scan_id"], "--format", "json",
                                 cwd=ROOT).stdout)["coverage"]
        assert any(c["collector"].startswith("google_workspace") and c["status"] == "ok" and c["api_calls"] > 0
                   for c in cov)
        key = json.loads((tmp_path / "google-revoke-key.json").read_text())["private_key"]
        assert key[40:80] not in json.dumps(rows, default=str)

        again = run_cli("revoke-sessions", "-c", str(cfg), "alice@example.com", "--apply", "--format", "json",
                        cwd=ROOT)
        assert again.returncode == 0, again.stderr[-2000:]
        assert json.loads(again.stdout)["ok"] and len(s.revocations) == 2  # a new run, harmless
        assert sum(x["phase"] == "run-end" for x in journal()) == 2
        assert [w for w in s.writes if "signOut" not in w.path] == []
    finally:
        s.stop()
