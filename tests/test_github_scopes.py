"""GitHub with a classic token holding only the scopes docs/permissions/github.md lists:
a field that needs more (``User.email``, ``Enterprise.ownerInfo``) is a ``skipped`` part
naming the scope GitHub asks for, never a failed org; enterprise-level SAML; a deploy key
disabled by policy; fine-grained PATs asked per login."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from pathlib import Path

import pytest

from collectors.base import CollectorContext, Scope
from collectors.github.collector import GitHubCollector
from fixtures.fake_github import DEMO_TOKEN, demo_org
from scanner.core.store import Inventory, Sink
from scanner.core.model import Account, Coverage, Credential
from scanner.core.secrets import Fingerprinter

NOW = datetime(2026, 11, 21, 12, tzinfo=UTC)
FP = Fingerprinter(b"test-key-0123456789abcdef")
DOCUMENTED = {"read:org", "repo", "admin:org_hook"}  # docs/permissions/github.md, Option 2


@pytest.fixture
def demo():
    s = demo_org().start()
    yield s
    s.stop()


def run(server, tmp_path: Path, scope: Scope | None = None, **config):
    inv = Inventory(":memory:")
    scan = inv.begin_scan("test")
    sink = Sink(inv, scan)
    cfg = {"org": "acme", "token": DEMO_TOKEN, "base_url": server.url, **config}
    GitHubCollector(cfg, CollectorContext(fingerprinter=FP, cache_dir=tmp_path, now=NOW)).collect(sink, scope)
    sink.flush()
    return inv, scan


def coverage(inv, scan):
    return {c.target: c for c in inv.load(Coverage, scan)}


def test_documented_scopes_read_the_org_and_skip_only_member_emails(demo, tmp_path):
    demo.token_scopes[DEMO_TOKEN] = set(DOCUMENTED)
    inv, scan = run(demo, tmp_path)
    cov = coverage(inv, scan)
    assert cov["acme"].status == "ok"
    row = cov["acme/member-emails"]
    assert row.status == "skipped" and "user:email" in row.error and "read:user" in row.error
    accounts = {a.native_id: a for a in inv.load(Account, scan)}
    assert "alice-gh" in accounts and accounts["alice-gh"].email is None  # read, without e-mail


def test_email_scope_granted_reads_emails_and_no_skipped_row(demo, tmp_path):
    demo.token_scopes[DEMO_TOKEN] = DOCUMENTED | {"read:user"}
    inv, scan = run(demo, tmp_path)
    assert "acme/member-emails" not in coverage(inv, scan)
    accounts = {a.native_id: a for a in inv.load(Account, scan)}
    assert accounts["bob-gh"].email == "bob@example.com"


def test_enterprise_saml_links_identities_where_the_org_has_no_idp(demo, tmp_path):
    demo.saml = None
    demo.enterprise = "acme-corp"
    demo.enterprise_saml = {"alice-gh": "alice@example.com"}
    inv, scan = run(demo, tmp_path, enterprise="acme-corp")
    accounts = {a.native_id: a for a in inv.load(Account, scan)}
    assert accounts["alice-gh"].attributes.get("linked_emails") == ["alice@example.com"]
    assert "linked_emails" not in accounts["bob-gh"].attributes
    assert "acme/enterprise-saml-identities" not in coverage(inv, scan)


def test_enterprise_saml_without_read_enterprise_is_skipped_naming_it(demo, tmp_path):
    demo.saml = None
    demo.enterprise = "acme-corp"
    demo.enterprise_saml = {"alice-gh": "alice@example.com"}
    demo.token_scopes[DEMO_TOKEN] = DOCUMENTED | {"read:user"}
    inv, scan = run(demo, tmp_path, enterprise="acme-corp")
    cov = coverage(inv, scan)
    assert cov["acme"].status == "ok"
    row = cov["acme/enterprise-saml-identities"]
    assert row.status == "skipped" and "read:enterprise" in row.error


def test_targeted_verify_links_her_enterprise_saml_identity(demo, tmp_path):
    demo.saml = None
    demo.enterprise = "acme-corp"
    demo.enterprise_saml = {"alice-gh": "alice@example.com", "bob-gh": "bob@example.com"}
    inv, scan = run(demo, tmp_path, Scope(logins={"github": {"alice-gh"}}), enterprise="acme-corp")
    accounts = {a.native_id: a for a in inv.load(Account, scan)}
    assert accounts["alice-gh"].attributes.get("linked_emails") == ["alice@example.com"]
    assert "bob-gh" not in accounts


def test_org_idp_present_enterprise_is_not_asked(demo, tmp_path):
    demo.enterprise = "acme-corp"
    run(demo, tmp_path, enterprise="acme-corp")
    assert not any("EnterpriseSamlIdentities" in (r.body or b"").decode() for r in demo.requests)


def test_deploy_key_disabled_by_policy_is_inactive_from_graphql(demo, tmp_path):
    repo = next(r for r in demo.repos.values() if r.deploy_keys)
    repo.deploy_keys[0]["enabled"] = False
    demo.fault(r"^/repos/acme/[^/]+/keys$", status=403, body={
        "message": "Must have admin rights to Repository.", "documentation_url": "https://docs.github.com/rest"})
    inv, scan = run(demo, tmp_path)
    keys = [c for c in inv.load(Credential, scan) if c.kind == "deploy_key"]
    title = repo.deploy_keys[0]["title"]
    assert [k.status for k in keys if k.name == title] == ["inactive"]
    assert all(k.status == "active" for k in keys if k.name != title)


def test_fine_grained_pats_are_asked_with_one_owner_value_per_login(demo, tmp_path):
    demo.tokens["fake-app-token"] = "app"
    mine = copy.deepcopy(demo.fine_grained_pats[0])
    mine.update({"id": 25390, "token_id": 98790, "token_name": "alice laptop", "owner": demo._stub("alice-gh")})
    demo.fine_grained_pats.append(mine)
    demo.add_member("alice-bot", "member", name="Alice's bot")
    theirs = copy.deepcopy(mine)
    theirs.update({"id": 25391, "token_id": 98791, "token_name": "alice bot", "owner": demo._stub("alice-bot")})
    demo.fine_grained_pats.append(theirs)
    inv, scan = run(demo, tmp_path, Scope(logins={"github": {"alice-gh", "alice-bot"}}), token="fake-app-token")
    names = sorted(c.name for c in inv.load(Credential, scan) if c.attributes.get("fine_grained"))
    assert names == ["alice bot", "alice laptop"]  # not deploy-bot's, and not none
    asked = [r for r in demo.requests if r.path == "/orgs/acme/personal-access-tokens"]
    assert asked and sorted(asked[0].query["owner[]"]) == ["alice-bot", "alice-gh"]
