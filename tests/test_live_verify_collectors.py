"""Scope narrowing of the Okta and SCIM collectors (``verify --live``), against the fakes
over real HTTP: only the scoped users are asked about and emitted, a user that is gone is
not an error, and a SCIM server that cannot filter is listed whole but kept narrow."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from collectors.base import CollectorContext, Scope
from collectors.okta.collector import OktaCollector
from collectors.scim.collector import ScimCollector
from fixtures.fake_okta import ALICE, DEMO_TOKEN as OKTA_TOKEN, demo_okta, okta_user
from fixtures.fake_scim import ALICE as SCIM_ALICE, DEMO_TOKEN as SCIM_TOKEN, demo_slack
from scanner.config import check_block
from scanner.core.model import Account, Coverage, Credential, Grant, Resource
from scanner.core.secrets import Fingerprinter
from scanner.core.store import Inventory, Sink

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)


def collect(cls, block: dict, scope: Scope, tmp_path: Path):
    block = check_block(block, cls.options, f"collectors.{cls.name}[0]", Path("t.yaml"))
    inv = Inventory(":memory:")
    scan = inv.begin_scan("test")
    sink = Sink(inv, scan)
    c = cls(block, CollectorContext(fingerprinter=Fingerprinter(b"k" * 32), cache_dir=tmp_path, now=NOW))
    c.collect(sink, scope)
    sink.flush()
    return inv, scan


@pytest.fixture
def okta():
    with demo_okta() as s:
        yield s


def okta_block(s):
    return {"domain": "acme.okta.com", "base_url": s.url, "token": OKTA_TOKEN}


def test_okta_known_account_asks_only_about_her(okta, tmp_path):
    scope = Scope(accounts={f"okta:acme.okta.com|{ALICE}"}, emails={"alice@example.com"},
                  logins={"okta": {"alice@example.com"}})
    inv, scan = collect(OktaCollector, okta_block(okta), scope, tmp_path)
    accounts = inv.load(Account, scan)
    assert [a.login for a in accounts] == ["alice@example.com"]
    grants = inv.load(Grant, scan)
    assert {g.resource.split("|")[1] for g in grants} == {"app:0oaslack00000000s001", "app:0oagithub0000000g002"}
    assert {g.attributes["scope"] for g in grants} == {"USER", "GROUP"}  # from the assignment itself
    assert [c.native_id for c in inv.load(Credential, scan)] == ["00Talice000000000t01"]
    paths = [r.path for r in okta.requests]
    assert paths.count(f"/api/v1/users/{ALICE}") == 1 and "/api/v1/users" not in paths  # login not asked again
    (cov,) = [c for c in inv.load(Coverage, scan) if c.target == "acme.okta.com"]
    assert cov.status == "ok" and cov.api_calls == okta.count() and cov.attributes["scoped"]
    assert okta.count() == 5  # budget: her user, her apps, 2 assignments, the API-token list
    assert okta.writes == []


def test_okta_by_email_when_nothing_is_known_yet_and_a_deleted_user(okta, tmp_path):
    scope = Scope(emails={"bob@example.com"}, logins={"okta": {"gone@example.com"}})
    inv, scan = collect(OktaCollector, okta_block(okta), scope, tmp_path)
    assert [a.login for a in inv.load(Account, scan)] == ["bob@example.com"]
    assert inv.load(Credential, scan) == []  # alice's token is not bob's business
    (cov,) = [c for c in inv.load(Coverage, scan) if c.target == "acme.okta.com"]
    assert cov.status == "ok"  # a user Okta does not have is an answer, not a failure
    flt = [r.arg("search") for r in okta.requests if r.path == "/api/v1/users"]
    assert flt == ['profile.email eq "bob@example.com"']


def test_okta_mixed_case_email_is_found_by_a_case_insensitive_search(okta, tmp_path):
    # Okta keeps the case the admin typed; the roster's e-mail is lower-cased. ``filter``
    # compares exactly, so only ``search`` finds her.
    okta.users.append(okta_user("00ufrank00000000f006", "Frank.Miller@Example.com", "Frank", "Miller"))
    scope = Scope(emails={"frank.miller@example.com"})
    inv, scan = collect(OktaCollector, okta_block(okta), scope, tmp_path)
    assert [a.native_id for a in inv.load(Account, scan)] == ["00ufrank00000000f006"]


def test_okta_scope_with_nothing_for_okta_emits_nothing(okta, tmp_path):
    inv, scan = collect(OktaCollector, okta_block(okta), Scope(logins={"github": {"x"}}), tmp_path)
    assert inv.load(Account, scan) == [] and inv.load(Resource, scan) == []


@pytest.fixture
def slack():
    with demo_slack() as s:
        yield s


def scim_block(s):
    return {"name": "slack", "url": s.base_url, "token": SCIM_TOKEN}


def test_scim_by_id_then_by_email(slack, tmp_path):
    scope = Scope(accounts={f"scim:slack|{SCIM_ALICE}"}, emails={"alice@example.com", "erin@example.com"})
    inv, scan = collect(ScimCollector, scim_block(slack), scope, tmp_path)
    assert sorted(a.login for a in inv.load(Account, scan)) == ["alice@example.com", "erin@example.com"]
    groups = {r.name for r in inv.load(Resource, scan) if r.kind == "group"}
    assert groups == {"engineering", "workspace-admins"}  # from the users' groups attribute
    reqs = [(r.path, r.arg("filter")) for r in slack.requests]
    assert (f"/Users/{SCIM_ALICE}", None) in reqs
    assert ("/Users", 'emails eq "erin@example.com"') in reqs
    assert not any(p == "/Users" and f is None for p, f in reqs) and ("/Groups", None) not in reqs
    assert len(reqs) == 3  # budget: alice by id, ServiceProviderConfig, erin by e-mail


def test_scim_server_without_filters_is_listed_but_kept_narrow(slack, tmp_path):
    slack.filter_supported = False
    inv, scan = collect(ScimCollector, scim_block(slack), Scope(emails={"erin@example.com"}), tmp_path)
    assert [a.login for a in inv.load(Account, scan)] == ["erin@example.com"]
    (cov,) = [c for c in inv.load(Coverage, scan) if c.target == "slack"]
    assert cov.status == "ok" and "filter_ignored" in cov.attributes


def test_scim_account_deleted_since_the_last_scan(slack, tmp_path):
    scope = Scope(accounts={"scim:slack|5f1c0a9e-dead-4a6b-9a01-000000000000"})
    inv, scan = collect(ScimCollector, scim_block(slack), scope, tmp_path)
    assert inv.load(Account, scan) == []
    (cov,) = [c for c in inv.load(Coverage, scan) if c.target == "slack"]
    assert cov.status == "ok" and slack.writes == []


def test_scim_outage_is_a_failed_row_not_a_clean_one(slack, tmp_path):
    slack.fault(r"/Users", status=503)
    inv, scan = collect(ScimCollector, scim_block(slack), Scope(emails={"erin@example.com"}), tmp_path)
    (cov,) = [c for c in inv.load(Coverage, scan) if c.target == "slack"]
    assert cov.status == "failed" and "503" in (cov.error or "")
