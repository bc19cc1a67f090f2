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
