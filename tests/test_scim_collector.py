"""The SCIM 2.0 collector against the fake SCIM server, over real HTTP."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from collectors.base import CollectorContext
from collectors.scim.collector import (
    ScimClient, ScimCollector, transform_groups, transform_spc, transform_user,
    transform_users,
)
from fixtures.fake_scim import DEMO_TOKEN, FakeScim, demo_slack, scim_user
from scanner.config import check_block
from scanner.core import http
from scanner.core.model import Account, Coverage, Grant, Resource
from scanner.core.secrets import Fingerprinter
from scanner.core.store import Inventory, Sink
from fixtures import SAMPLES as SAMPLES_ROOT

SAMPLES = (SAMPLES_ROOT / "scim")
NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)


def sample(name: str):
    p = SAMPLES / name
    if not p.exists():
        pytest.skip(f"reference sample {p} not available")
    return json.loads(p.read_text())


def run(server: FakeScim, tmp_path: Path, **cfg):
    block = check_block({"name": "slack", "url": server.base_url, "token": server.token, **cfg},
                        ScimCollector.options, "collectors.scim[0]", Path("t.yaml"))
    inv = Inventory(":memory:")
    scan = inv.begin_scan("test")
    sink = Sink(inv, scan)
    ctx = CollectorContext(fingerprinter=Fingerprinter(b"k" * 32), cache_dir=tmp_path, now=NOW)
    c = ScimCollector(block, ctx)
    c.collect(sink, None)
    sink.flush()
    return c, inv, scan


@pytest.fixture(scope="module")
def _server():
    with FakeScim(token=DEMO_TOKEN, prefix="/scim/v2") as s:
        yield s


@pytest.fixture
def slack(_server):
    """One server for the module (starting and stopping one costs ~0.5 s), reset to the
    demo estate, with pages capped at 2, before each test."""
    s = demo_slack(_server)
    s.token, s.max_results, s.filter_supported, s.groups_enabled = DEMO_TOKEN, 2, True, True
    s.clear_faults()
    s.reset_counts()
    return s


# --- transforms, on the RFC samples ------------------------------------------------------


def test_transform_users_list_sample():
    body = sample("Users_list.json")
    accounts, bad = transform_users(body["Resources"], "scim:app")
    assert bad == 0
    babs, jsmith = accounts
    assert (babs.native_id, babs.login, babs.email, babs.status) == (
        "2819c223-7f76-453a-919d-413861904646", "bjensen@example.com", "bjensen@example.com", "active")
    assert babs.attributes["linked_emails"] == ["bjensen@example.com", "babs@jensen.org"]
    assert babs.created_at == datetime(2010, 1, 23, 4, 56, 22, tzinfo=UTC)
    assert babs.uid == "scim:app|2819c223-7f76-453a-919d-413861904646"
    assert jsmith.status == "disabled" and jsmith.attributes["scim_active"] is False


def test_transform_enterprise_user_sample():
    acc = transform_user(sample("User.json"), "scim:app")
    assert acc.attributes["employee_number"] == "701984"
    assert acc.attributes["manager"] == {"id": "26118915-6090-4610-87e4-49d8ca9f808d",
                                         "name": "John Smith"}
    assert acc.attributes["department"] == "Tour Operations"


def test_transform_spc_sample():
    caps = transform_spc(sample("ServiceProviderConfig.json"))
    assert caps.filter_supported and caps.max_results == 200 and caps.known


def test_malformed_users_are_counted_not_fatal():
    good = scim_user("u1", "a@example.com")
    accounts, bad = transform_users([good, {"id": "x"}, "junk", None], "scim:app")
    assert [a.native_id for a in accounts] == ["u1"] and bad == 3


def test_nested_group_member_is_a_group_grant():
    groups = [{"id": "g1", "displayName": "all", "members": [
        {"value": "u1", "display": "A"}, {"value": "g2", "type": "Group"}]}]
    resources, grants, bad = transform_groups(groups, "scim:app")
    assert [(g.principal, g.via) for g in grants] == [("scim:app|u1", "direct"),
                                                      ("scim:app|group:g2", "group")]


# --- over HTTP ----------------------------------------------------------------------------


def test_demo_slack_records_and_paging(slack, tmp_path):
    c, inv, scan = run(slack, tmp_path, page_size=100)
    accounts = {a.login: a for a in inv.load(Account, scan)}
    assert set(accounts) == {"alice@example.com", "bob@example.com", "carol@example.com",
                             "erin@example.com", "old-contractor@vendor.example"}
    assert accounts["carol@example.com"].status == "disabled"
    assert accounts["alice@example.com"].system == "scim:slack"
    assert accounts["bob@example.com"].attributes["manager"]["name"] == "Alice Archer"
    # the server caps pages at 2 (ServiceProviderConfig maxResults): 5 users = 3 pages
    assert slack.count("/scim/v2/Users") == 3
    assert slack.count("/scim/v2/ServiceProviderConfig") == 1
    assert slack.count("/scim/v2/Groups") == 1
    starts = [r.arg("startIndex") for r in slack.requests if r.path.endswith("/Users")]
    assert starts == ["1", "3", "5"]
    assert all(r.arg("count") == "2" for r in slack.requests if r.path.endswith("/Users"))
    grants = inv.load(Grant, scan)
    admins = [g for g in grants if g.resource.endswith("ad4000000002")]
    assert [g.principal for g in admins] == [accounts["alice@example.com"].uid]
    app = [g for g in grants if g.resource == "scim:slack|app"]
    assert accounts["carol@example.com"].uid not in {g.principal for g in app}  # inactive: no membership
    assert len(app) == 4
    cov, = inv.load(Coverage, scan)
    assert (cov.status, cov.layer, cov.api_calls) == ("ok", "saas", slack.count())
    assert slack.writes == []


def test_filter_is_sent_when_supported(slack, tmp_path):
    c, inv, scan = run(slack, tmp_path, filter='userName eq "alice@example.com"')
    assert [a.login for a in inv.load(Account, scan)] == ["alice@example.com"]
    assert slack.requests[1].arg("filter") == 'userName eq "alice@example.com"'
    # group members that were not listed do not dangle
    assert {g.principal for g in inv.load(Grant, scan)} == {a.uid for a in inv.load(Account, scan)}


def test_filter_unsupported_falls_back_to_the_whole_list(slack, tmp_path):
    slack.filter_supported = False
    c, inv, scan = run(slack, tmp_path, filter='userName eq "alice@example.com"')
    assert len(inv.load(Account, scan)) == 5
    assert all(r.arg("filter") is None for r in slack.requests)
    cov, = inv.load(Coverage, scan)
    assert cov.status == "ok" and "filter_ignored" in cov.attributes


def test_groups_endpoint_missing_is_skipped_and_user_groups_used(slack, tmp_path):
    slack.groups_enabled = False
    c, inv, scan = run(slack, tmp_path)
    rows = {c.target: c for c in inv.load(Coverage, scan)}
    assert rows["slack"].status == "ok"
    assert rows["slack/Groups"].status == "skipped" and "404" in rows["slack/Groups"].error
    names = {r.name for r in inv.load(Resource, scan) if r.kind == "group"}
    assert names == {"engineering", "workspace-admins"}


def test_missing_service_provider_config_is_skipped(slack, tmp_path):
    slack.fault(r"/ServiceProviderConfig$", status=404,
                body={"schemas": ["urn:ietf:params:scim:api:messages:2.0:Error"],
                      "detail": "not found", "status": "404"})
    c, inv, scan = run(slack, tmp_path, page_size=2)
    rows = {c.target: c.status for c in inv.load(Coverage, scan)}
    assert rows == {"slack": "ok", "slack/ServiceProviderConfig": "skipped"}
    assert len(inv.load(Account, scan)) == 5


def test_bad_token_fails_the_target_without_leaking_it(slack, tmp_path):
    slack.token = "the-right-one-not-real"
    c, inv, scan = run(slack, tmp_path, token=DEMO_TOKEN)
    cov, = inv.load(Coverage, scan)
    assert cov.status == "failed" and "401" in cov.error
    assert DEMO_TOKEN not in cov.error and "the-right-one" not in cov.error
    assert inv.load(Account, scan) == []


def test_retries_5xx_and_429_honouring_retry_after(slack, tmp_path, monkeypatch):
    waits: list[float] = []
    monkeypatch.setattr(http, "sleep", waits.append)
    slack.fault(r"/Users$", status=503, times=1, retry_after=7)
    slack.fault(r"/Groups$", status=429, times=1, retry_after=3)
    c, inv, scan = run(slack, tmp_path, page_size=100)
    cov, = inv.load(Coverage, scan)
    assert cov.status == "ok" and len(inv.load(Account, scan)) == 5
    assert waits == [7.0, 3.0]


def test_retries_are_bounded(slack, tmp_path):
    slack.fault(r"/Users$", status=503)
    c, inv, scan = run(slack, tmp_path)
    cov, = inv.load(Coverage, scan)
    assert cov.status == "failed" and "503" in cov.error
    assert slack.count("/scim/v2/Users") == 1 + c.ctx.max_retries


def test_malformed_user_makes_coverage_partial(slack, tmp_path):
    slack.users.append({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "id": "broken"})
    c, inv, scan = run(slack, tmp_path, page_size=100)
    cov, = inv.load(Coverage, scan)
    assert cov.status == "partial" and cov.attributes["malformed_users"] == 1
    assert len(inv.load(Account, scan)) == 5


def test_server_returning_fewer_than_asked_is_followed(slack):
    """count is a request, not a promise: follow what came back."""
    slack.max_results = 1
    client = ScimClient(slack.base_url, DEMO_TOKEN)
    assert len(list(client.list("Users", page_size=50))) == 5
    assert slack.count("/scim/v2/Users") == 5


def test_budget_scales_with_pages(slack, tmp_path):
    slack.max_results = 100
    slack.users = [scim_user(f"u{i:04d}", f"user{i}@example.com") for i in range(250)]
    c, inv, scan = run(slack, tmp_path, page_size=100)
    # 1 ServiceProviderConfig + 3 pages of users + 1 page of groups
    assert slack.count() == 5 == c.calls
    assert len(inv.load(Account, scan)) == 250


def test_the_fake_records_writes_so_the_read_only_check_can_fail(slack):
    import requests

    r = requests.patch(f"{slack.base_url}/Users/{'x'}", json={}, timeout=5,
                       headers={"Authorization": f"Bearer {DEMO_TOKEN}"})
    assert r.status_code == 405 and len(slack.writes) == 1
    assert r.json()["schemas"] == ["urn:ietf:params:scim:api:messages:2.0:Error"]


def test_fake_payloads_have_the_shape_of_the_reference_samples():
    from fixtures.fake_scim import scim_error

    ref_list = sample("Users_list.json")
    ref_user = ref_list["Resources"][1]
    fake_user = scim_user("1", "a@example.com", active=False)
    assert set(ref_user) <= set(fake_user) and set(fake_user["meta"]) == set(ref_user["meta"])
    enterprise = scim_user("2", "b@example.com", employee_number="7", manager=("1", "A"))
    ref_ent = sample("User.json")
    key = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
    assert enterprise["schemas"] == ref_ent["schemas"]
    assert set(enterprise[key]["manager"]) == set(ref_ent[key]["manager"])
    assert list(scim_error(404, "x").body) == list(sample("Error_404.json"))
    assert set(scim_error(400, "x", "mutability").body) == set(sample("Error_400_mutability.json"))


def test_list_envelope_matches_the_rfc_sample(slack):
    import requests

    body = requests.get(f"{slack.base_url}/Users", params={"startIndex": 3, "count": 10}, timeout=5,
                        headers={"Authorization": f"Bearer {DEMO_TOKEN}"}).json()
    assert list(body) == list(sample("Users_list.json"))
    assert (body["totalResults"], body["startIndex"], body["itemsPerPage"]) == (5, 3, 2)


def test_untyped_members_resolve_against_groups_not_a_user_that_does_not_exist(slack, tmp_path):
    # python-scim2-server answers members with ``value`` only (type and $ref are optional)
    from fixtures.fake_scim import ADMINS, ENGINEERING
    slack.member_refs = False
    admins = next(g for g in slack.groups if g["id"] == ADMINS)
    admins["members"].append({"value": ENGINEERING, "display": "engineering"})  # nested group
    c, inv, scan = run(slack, tmp_path, page_size=100)
    grants = inv.load(Grant, scan)
    assert "scim:slack|" + ENGINEERING not in {g.principal for g in grants}  # no such user
    nested = [g for g in grants if g.principal == f"scim:slack|group:{ENGINEERING}"]
    assert [(g.resource, g.via) for g in nested] == [(f"scim:slack|group:{ADMINS}", "group")]
    accounts = {a.login: a for a in inv.load(Account, scan)}
    direct = {g.principal for g in grants if g.resource == f"scim:slack|group:{ADMINS}" and g.via == "direct"}
    assert direct == {accounts["alice@example.com"].uid}


def test_targeted_pass_asks_groups_by_member_when_user_groups_is_omitted(slack, tmp_path):
    from collectors.base import Scope
    from fixtures.fake_scim import ALICE, ADMINS
    slack.user_groups = False
    block = check_block({"name": "slack", "url": slack.base_url, "token": DEMO_TOKEN},
                        ScimCollector.options, "collectors.scim[0]", Path("t.yaml"))
    inv = Inventory(":memory:")
    scan = inv.begin_scan("test")
    sink = Sink(inv, scan)
    ScimCollector(block, CollectorContext(fingerprinter=Fingerprinter(b"k" * 32), cache_dir=tmp_path,
                                          now=NOW)).collect(sink, Scope(accounts={f"scim:slack|{ALICE}"}))
    sink.flush()
    groups = {r.name for r in inv.load(Resource, scan) if r.kind == "group"}
    assert groups == {"engineering", "workspace-admins"}  # her admin group was not missed
    assert {g.resource for g in inv.load(Grant, scan) if g.principal == f"scim:slack|{ALICE}"} >= {
        f"scim:slack|group:{ADMINS}"}
    assert ("/scim/v2/Groups", f'members.value eq "{ALICE}"') in [(r.path, r.arg("filter")) for r in slack.requests]
    (cov,) = [c for c in inv.load(Coverage, scan) if c.target == "slack"]
    assert cov.status == "ok"
