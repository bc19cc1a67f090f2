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
