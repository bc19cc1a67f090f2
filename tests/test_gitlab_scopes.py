"""GitLab where no instance administrator is at hand (gitlab.com) or where Admin Mode
shrinks an administrator's view: the group credentials inventory for a top-level group's
Owner, skipped parts that say why, and an Admin Mode view that is named, not mistaken for
a complete one."""

from __future__ import annotations

import pytest

from fixtures.fake_gitlab import ADMIN_TOKEN, FakeGitLab, demo_instance
from scanner.core.model import Credential
from tests.test_gitlab_collector import Run

OWNER_TOKEN = "fake-gitlab-group-owner-token"


@pytest.fixture
def dotcom():
    """The demo estate as on gitlab.com: a service account owns the top-level group acme."""
    data = demo_instance()
    acme = next(g for g in data.groups if g["full_path"] == "acme")
    owner = data.add_user("group_owner_sa", name="residual (acme)", token=OWNER_TOKEN)
    data.add_member(acme, owner, "owner")
    alice, bob = data.user("aarcher"), data.user("bbaker")
    data.enterprise_users[acme["id"]] = {alice["id"], bob["id"]}
    with FakeGitLab(data) as s:
        yield s


def test_top_level_owner_reads_the_credentials_inventory(dotcom, tmp_path):
    acme = next(g for g in dotcom.data.groups if g["full_path"] == "acme")
    dotcom.data.credentials_inventory.add(acme["id"])  # Ultimate
    r = Run(dotcom, tmp_path, token=OWNER_TOKEN)
    alice = f"gitlab:127.0.0.1:{dotcom.port}|aarcher"
    creds = {(c.kind, c.name) for c in r.load(Credential) if c.holder == alice}
    assert ("pat", "laptop") in creds and ("ssh_key", "alice@laptop") in creds
    assert ("pat", "support-session") not in creds  # impersonation tokens: admins only
    main = r.main()
    assert "personal access tokens of other users" not in (main.error or "")
    assert main.attributes["credentials_inventory"] == ["acme"]
    assert not [c for c in r.coverage() if "personal access tokens" in c.target]
    assert dotcom.writes == []


def test_no_credentials_inventory_is_skipped_with_the_reason_and_partial(dotcom, tmp_path):
    r = Run(dotcom, tmp_path, token=OWNER_TOKEN)  # acme is not on Ultimate: 403
    rows = {c.target.split(":", 2)[2]: c for c in r.coverage() if c.status == "skipped"}
    for part in ("credentials inventory of personal access tokens", "credentials inventory of SSH keys",
                 "credentials inventory of access tokens"):
        assert part in rows and "acme (403 forbidden)" in rows[part].error
    main = r.main()
    assert main.status == "partial" and "credentials inventory" in main.error


def test_admin_mode_without_the_scope_is_a_named_shrunken_view(tmp_path):
    data = demo_instance()
    data.admin_mode = True
    data.token_scopes[ADMIN_TOKEN] = ["read_api"]
    with FakeGitLab(data) as s:
        r = Run(s, tmp_path, admin=True)
        (row,) = r.coverage(":admin-mode")
        assert row.status == "skipped" and "admin_mode" in row.error
        assert r.main().status == "partial" and "admin_mode" in r.main().error


def test_admin_mode_with_the_scope_reads_as_administrator(tmp_path):
    data = demo_instance()
    data.admin_mode = True
    data.token_scopes[ADMIN_TOKEN] = ["read_api", "admin_mode"]
    with FakeGitLab(data) as s:
        r = Run(s, tmp_path, admin=True)
        assert not r.coverage(":admin-mode")
        assert any(c.name == "laptop" for c in r.load(Credential))  # the admin PAT listing
        assert s.count("/api/v4/personal_access_tokens/self") == 0  # an admin view: not asked
