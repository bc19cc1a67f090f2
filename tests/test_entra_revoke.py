"""The Entra session revoker against the fake Graph started with allow_revoke: the plan
is pure, apply ends the sessions once and is idempotent, and a credential without
User.RevokeSessions.All (the read one) is refused, not retried into success."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

revoke = pytest.importorskip("collectors.revoke")  # issue 20's framework

from collectors.entra.revoke import EntraRevoker  # noqa: E402
from fixtures.fake_microsoft import ALICE, DEMO_CLIENT, DEMO_SECRET, FakeMicrosoft, READ_ROLES, Client  # noqa: E402
from scanner.core.model import Account, Identity  # noqa: E402
from tests.entra_helpers import SRC, entra_block, tenant_with_clients  # noqa: E402

WRITER, WRITER_SECRET = "0be5e1f0-0000-4000-8000-000000000003", "revoker-secret-not-real"
ALICE_ID = Identity(id="alice@example.com", status="terminated", emails=["alice@example.com"])


def revoker(server, **write):
    read = {k: v for k, v in entra_block(server).items() if k != "client_secret"}
    ctx = revoke.RevokeContext(system="entra", read_config=read, now=datetime(2026, 11, 21, tzinfo=UTC),
                               max_retries=1)
    return EntraRevoker(write or {"client_id": WRITER, "client_secret": WRITER_SECRET}, ctx)


@pytest.fixture
def server():
    t = tenant_with_clients()
    t.add_client(Client(WRITER, secret=WRITER_SECRET, roles=READ_ROLES | {"User.RevokeSessions.All"}))
    s = FakeMicrosoft(t, allow_revoke=True).start()
    yield s
    s.stop()


def accounts():
    return [Account(system="entra", source=SRC, native_id=ALICE, login="alice@example.com"),
            Account(system="entra", source=SRC, native_id="0a000000-x", login="svc", kind="app"),
            Account(system="okta", source="okta:acme", native_id="00u1", login="alice@example.com")]


def test_plan_is_one_action_per_entra_user_and_sends_nothing(server):
    actions = revoker(server).plan(ALICE_ID, accounts())
    assert [(a.verb, a.target, a.source) for a in actions] == [("revoke_sessions", ALICE, SRC)]
    assert "revokeSignInSessions" in actions[0].description
    assert server.count() == 0


def test_apply_revokes_once_and_again_harmlessly(server):
    r = revoker(server)
    action = r.plan(ALICE_ID, accounts())[0]
    first, second = r.apply(action), r.apply(action)
    assert first.ok and first.status == 200 and second.ok
    assert [x["user_id"] for x in server.revocations] == [ALICE, ALICE]
    assert server.revocations[0]["client_id"] == WRITER  # the write credential, not the read one
    assert server.tenant.user(ALICE)["signInSessionsValidFromDateTime"] >= "2026"


def test_the_read_credential_cannot_revoke(server):
    r = revoker(server, client_id=DEMO_CLIENT, client_secret=DEMO_SECRET)
    result = r.apply(r.plan(ALICE_ID, accounts())[0])
    assert not result.ok and result.status == 403 and "Authorization_RequestDenied" in result.detail
    assert server.revocations == []


def test_a_deleted_user_has_nothing_left_to_end(server):
    r = revoker(server)
    gone = revoke.RevokeAction("entra", SRC, "x", f"{SRC}|nobody", "revoke_sessions", "nobody", "")
    result = r.apply(gone)
    assert result.ok and result.status == 404


# --- end to end: `residual revoke-sessions` through the real CLI ----------------------------------


def journal_of(cfg):
    from scanner.core.store import Inventory
    inv = Inventory(str(cfg.parent / "residual.duckdb"))
    try:
        return inv.journal()
    finally:
        inv.close()


def test_revoke_sessions_cli_ends_alices_entra_sessions_journaled_reverified_and_idempotent(server, tmp_path):
    from tests.conftest import ROOT, run_cli, write_config
    import json
    roster = (ROOT / "fixtures" / "demo" / "roster.csv").read_text().splitlines()[1:]
    block = {**entra_block(server), "client_secret": "${ENTRA_READ_SECRET}",
             "revoke": {"client_id": WRITER, "client_secret": "${ENTRA_REVOKE_SECRET}"}}
    cfg = write_config(tmp_path, {"collectors": {"entra": [block]}}, roster)
    env = {"ENTRA_READ_SECRET": DEMO_SECRET, "ENTRA_REVOKE_SECRET": WRITER_SECRET}
    scan = run_cli("scan", "-c", str(cfg), "-q", env=env)
    assert scan.returncode == 1, scan.stderr[-3000:]
    before = json.loads(run_cli("report", "-c", str(cfg), "--format", "json", env=env).stdout)
    assert ("entra.sessions_not_revoked", "alice@example.com") in {(f["rule"], f["identity"])
                                                                  for f in before["findings"]}
    dry = run_cli("revoke-sessions", "-c", str(cfg), "alice@example.com", "--format", "json", env=env)
    assert dry.returncode == 0, dry.stderr[-2000:]
    assert [(a["verb"], a["target"]) for a in json.loads(dry.stdout)["actions"]] == [("revoke_sessions", ALICE)]
    assert server.revocations == [] and journal_of(cfg) == []  # a dry run sends and journals nothing

    r = run_cli("revoke-sessions", "-c", str(cfg), "alice@example.com", "--apply", "--format", "json", env=env)
    assert r.returncode == 0, r.stderr[-3000:]
    report = json.loads(r.stdout)
    assert report["applied"] and report["ok"] and [x["status"] for x in report["results"]] == [200]
    assert [(x["user_id"], x["client_id"]) for x in server.revocations] == [(ALICE, WRITER)]
    rows = journal_of(cfg)
    assert [x["phase"] for x in rows] == ["run-start", "planned", "sending", "sent", "verified", "run-end"]
    sent = rows[3]
    assert (sent["system"], sent["verb"], sent["target"], sent["ok"], sent["status"]) == \
        ("entra", "revoke_sessions", ALICE, True, 200)
    assert all(x["run_by"] and x["at"] for x in rows)
    verified = json.loads(rows[4]["detail"])
    assert verified["scan_id"] == report["verdict"]["scan_id"] and verified["layers"]["sessions"]
    # the re-verify read Entra again: her sessions are now valid only from the revocation on
    after = json.loads(run_cli("report", "-c", str(cfg), "--scan", verified["scan_id"], "--format", "json",
                               env=env).stdout)
    found_after = {(f["rule"], f["identity"]) for f in after["findings"]}
    assert ("entra.sessions_not_revoked", "alice@example.com") not in found_after
    assert ("entra.sign_in_after_termination", "alice@example.com") in found_after  # Entra was read
    assert verified["verdict"] == "residual"  # the sign-in after she left is still there to review
    assert WRITER_SECRET not in json.dumps(rows, default=str) and DEMO_SECRET not in json.dumps(rows, default=str)

    again = run_cli("revoke-sessions", "-c", str(cfg), "alice@example.com", "--apply", "--format", "json", env=env)
    assert again.returncode == 0, again.stderr[-2000:]
    assert json.loads(again.stdout)["ok"] and len(server.revocations) == 2  # a new run, harmless
    runs = {x["run_id"] for x in journal_of(cfg)}
    assert len(runs) == 2 and sum(x["phase"] == "run-end" for x in journal_of(cfg)) == 2
    assert [w for w in server.writes if not w.path.endswith("/revokeSignInSessions")] == []
