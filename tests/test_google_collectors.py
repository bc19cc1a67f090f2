"""The google_workspace and gcp collectors: pure transforms on the reference samples, and
the real collectors (google-auth + google-api-python-client) against the fake Google:
what each pass reads, what it costs, read-only, and refusals that are skipped, named, and
never clean."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from collectors.base import CollectorContext, Scope
from collectors.gcp.collector import GcpCollector
from collectors.gcp import transform as gt
from collectors.google_workspace.collector import GoogleWorkspaceCollector
from collectors.google_workspace import transform as wt
from fixtures.fake_google import ADMIN, ALICE_KEY, AUTH, demo_google, start_demo
from fixtures.fake_google.app import FakeGoogle
from scanner.core.store import Inventory, Sink
from scanner.core.model import Account, Activity, Coverage, Credential, Grant, Resource
from scanner.core.secrets import Fingerprinter

from fixtures import SAMPLES
NOW = datetime(2026, 11, 21, 12, tzinfo=UTC)
WS = "google_workspace:C0acme123"
ALICE_UID = f"{WS}|110000000000000000001"
DEPLOY = "svc-deploy@acme-prod.iam.gserviceaccount.com"


def sample(name: str):
    return json.loads((SAMPLES / name).read_text())  # a missing sample fails, never skips


# --- transforms on the samples ------------------------------------------------------------------


def test_user_transform_on_the_sample():
    users = sample("google-workspace/admin_directory_v1_users.json")["users"]
    accounts, bad = wt.transform_users(users + [{"id": "x"}, "junk"], WS)
    assert bad == 2 and len(accounts) == len(users)
    suspended = [a for a in accounts if a.attributes["suspended"]]
    assert suspended and all(a.status == "suspended" for a in suspended)
    assert all(a.login == a.login.lower() and a.email for a in accounts)


def test_never_signed_in_is_no_last_seen():
    u = {"id": "1", "primaryEmail": "New@Example.com", "lastLoginTime": "1970-01-01T00:00:00.000Z",
         "archived": True, "aliases": ["n@example.com"]}
    acc = wt.transform_user(u, WS)
    assert acc.last_seen_at is None and acc.attributes["never_signed_in"] is True
    assert acc.status == "disabled" and acc.attributes["linked_emails"] == ["new@example.com", "n@example.com"]


def test_token_asp_and_device_transforms_on_the_samples():
    acc = Account(system="google_workspace", source=WS, native_id="u1", login="a@example.com")
    tok = sample("google-workspace/admin_directory_v1_users_USERKEY_tokens.json")["items"][0]
    grant = wt.transform_token(tok, WS, acc)
    assert grant.kind == "oauth_grant" and grant.holder == acc.uid and grant.scopes == tok["scopes"]
    assert grant.native_id == f"oauth:u1:{tok['clientId']}"
    asp = sample("google-workspace/admin_directory_v1_users_USERKEY_asps.json")["items"][0]
    pw = wt.transform_asp(asp, WS, acc)
    assert pw.kind == "app_password" and pw.created_at is not None and pw.created_at.year > 2000
    phone = sample("google-workspace/admin_directory_v1_customer_CUSTOMER_devices_mobile.json")["mobiledevices"][0]
    assert wt.transform_mobile(phone, WS, acc).native_id == f"mobile:{phone['resourceId']}"
    book = sample("google-workspace/admin_directory_v1_customer_CUSTOMER_devices_chromeos.json")["chromeosdevices"][0]
    assert wt.transform_chromeos(book, WS, acc).attributes["serial"] == book["serialNumber"]
    with pytest.raises(ValueError):
        wt.transform_token({"displayText": "no client"}, WS, acc)


def test_activity_transform_on_the_samples():
    acc = Account(system="google_workspace", source=WS, native_id="u1", login="a@example.com")
    login = sample("google-workspace/admin_reports_v1_activity_users_all_applications_login.json")["items"][0]
    rows = wt.transform_activity(login, WS, acc)
    assert rows and all(r.category == "session" and r.at is not None for r in rows)
    token = sample("google-workspace/admin_reports_v1_activity_users_all_applications_token.json")["items"][0]
    rows = wt.transform_activity(token, WS, acc)
    authorize = [r for r in rows if r.action == "authorize"]
    assert all(r.subject_credential and r.subject_credential.startswith(f"{WS}|oauth:u1:") for r in authorize)
    with pytest.raises(ValueError):
        wt.transform_activity({"id": {}}, WS, acc)


def test_key_and_policy_transforms_on_the_samples():
    src = "gcp:acme"
    sa = sample("gcp/iam_v1_projects_PROJECT_serviceAccounts.json")["accounts"][0]
    acc = gt.transform_service_account(sa, src)
    assert acc.kind == "service_account" and acc.native_id == sa["email"].lower()
    keys = sample("gcp/iam_v1_projects_PROJECT_serviceAccounts_SA_keys.json")["keys"]
    creds = [gt.transform_key(k, src, acc, {}) for k in keys]
    user_managed = [c for c in creds if c is not None]
    assert user_managed and all(c.kind == "access_key" and not c.attributes["created_by_known"]
                                for c in user_managed)
    assert len(user_managed) == sum(1 for k in keys if k.get("keyType") != "SYSTEM_MANAGED")
    pol = sample("gcp/cloudresourcemanager_v3_projects_PROJECT_getIamPolicy.json")
    res = Resource(system="gcp", source=src, native_id="projects/p", kind="project")
    grants = gt.transform_policy(pol, src, res, {})
    assert len(grants) == sum(len(b["members"]) for b in pol["bindings"])
    assert {g.permission for g in grants} == {b["role"] for b in pol["bindings"]}
    assert gt.member_parts("deleted:user:erin@example.com?uid=1") == ("user", "erin@example.com", True)
    assert gt.owner_of("Used by CI (owner: Alice@Example.com)") == "alice@example.com"
    assert gt.owner_of("no owner here") is None


# --- the collectors against the fake -------------------------------------------------------------


class Run:
    def __init__(self, server, tmp: Path, block: dict, cls, scope: Scope | None = None, deep: Scope | None = None):
        self.inv = Inventory(":memory:")
        self.scan = self.inv.begin_scan("test")
        sink = Sink(self.inv, self.scan)
        ctx = CollectorContext(fingerprinter=Fingerprinter(b"k" * 32), cache_dir=tmp, now=NOW, base_dir=tmp)
        self.collector = cls(block, ctx)
        self.collector.collect(sink, scope)
        if deep is not None:
            self.collector.deepen(sink, deep)
        sink.flush()

    def all(self, cls):
        return self.inv.load(cls, self.scan)

    def cov(self, target):
        return next(c for c in self.all(Coverage) if c.target == target)


def ws_block(server, tmp, **kw):
    return {"customer": "C0acme123", "subject": ADMIN, "api_endpoint": server.url,
            "credentials_file": str(server.write_key_file(tmp / "key.json")), **kw}


def gcp_block(server, tmp, **kw):
    """``keys: iam`` (keys.list per account in the bulk pass) unless a test says otherwise:
    these tests count IAM calls; the default (``keys: asset``) and ``keys: leavers`` have
    their own."""
    return {"organization": "445566778899", "api_endpoint": server.url, "keys": "iam",
            "credentials_file": str(server.write_key_file(tmp / "key.json")), **kw}


@pytest.fixture
def fresh():
    s = start_demo()
    yield s
    s.stop()


LEAVERS = Scope(emails={"alice@example.com", "carol@example.com"})


def test_workspace_bulk_is_users_only_and_deep_pass_asks_per_leaver(fresh, tmp_path):
    run = Run(fresh, tmp_path, ws_block(fresh, tmp_path), GoogleWorkspaceCollector, deep=LEAVERS)
    accounts = {a.login: a for a in run.all(Account)}
    assert accounts["alice@example.com"].status == "suspended"
    assert accounts["alice@example.com"].attributes["aliases"] == ["a.archer@example.com"]
    assert accounts["bob@example.com"].status == "active" and "erin@example.com" not in accounts
    creds = {c.native_id.split(":")[0] + ":" + c.name: c for c in run.all(Credential)}
    assert {c.holder for c in creds.values()} == {ALICE_UID}  # carol: cleanly suspended, nothing
    assert {c.kind for c in creds.values()} == {"oauth_grant", "app_password", "device"}
    assert sorted(c.attributes.get("device") for c in creds.values() if c.kind == "device") == ["chromeos", "mobile"]
    acts = run.all(Activity)
    assert {(a.attributes["application"], a.at.date().isoformat()) for a in acts
            if a.subject_account == ALICE_UID} == {("login", "2026-10-30"), ("login", "2026-11-03"),
                                                  ("token", "2026-11-04")}
    calls = fresh.calls()
    # bulk: one users.list page; deep: six calls per leaver, and never a call about bob
    assert calls["directory.users.list"] == 1
    assert calls["directory.tokens.list"] == calls["directory.asps.list"] == 2
    assert calls["directory.mobiledevices.list"] == calls["directory.chromeosdevices.list"] == 2
    assert calls["reports.activities.list"] == 4
    assert not [r for r in fresh.requests if "bob" in r.path or "bob" in str(r.query)]
    assert fresh.writes == [] and fresh.revocations == []
    # counted calls are the requests the server saw (token requests included)
    assert run.collector.calls == len(fresh.requests)
    assert run.cov("C0acme123").status == "ok" and run.cov("C0acme123/leavers").api_calls == 12


def test_workspace_missing_scope_is_skipped_named_and_not_clean(tmp_path):
    """The admin console delegated everything but the security scope: the token is
    refused as a whole, residual asks scope by scope, skips grants and app passwords
    naming the scope, and the leaver pass is partial."""
    s = demo_google(FakeGoogle())
    s.delegations[next(iter(s.delegations))].discard(AUTH + "admin.directory.user.security")
    s.start()
    try:
        run = Run(s, tmp_path, ws_block(s, tmp_path), GoogleWorkspaceCollector, deep=LEAVERS)
    finally:
        s.stop()
    skipped = [c for c in run.all(Coverage) if c.status == "skipped"]
    assert [c.target for c in skipped] == ["C0acme123/tokens and app passwords"]
    assert "admin.directory.user.security" in skipped[0].error
    assert run.cov("C0acme123").status == "ok"
    deep = run.cov("C0acme123/leavers")
    assert deep.status == "partial" and "admin.directory.user.security" in deep.error
    kinds = {c.kind for c in run.all(Credential)}
    assert kinds == {"device"}  # devices and reports still ran
    assert s.calls()["directory.tokens.list"] == 0


def test_workspace_admin_without_privilege_is_skipped_naming_it(fresh, tmp_path):
    fresh.deny("reports.activities.list")
    run = Run(fresh, tmp_path, ws_block(fresh, tmp_path), GoogleWorkspaceCollector, deep=LEAVERS)
    row = next(c for c in run.all(Coverage) if c.status == "skipped")
    assert row.target == "C0acme123/login and token events" and "Reports" in row.error
    assert run.cov("C0acme123/leavers").status == "partial"
    assert fresh.calls()["reports.activities.list"] == 1  # refused once, not retried
    assert not run.all(Activity)


def test_workspace_rate_limit_403_and_429_are_backed_off(fresh, tmp_path):
    fresh.throttle("directory.users.list", status=403, times=1)
    fresh.throttle("directory.tokens.list", status=429, times=2)
    run = Run(fresh, tmp_path, ws_block(fresh, tmp_path), GoogleWorkspaceCollector, deep=LEAVERS)
    assert run.cov("C0acme123").status == "ok" and run.cov("C0acme123/leavers").status == "ok"
    assert fresh.calls()["directory.users.list"] == 2 and fresh.calls()["directory.tokens.list"] == 4
    assert any(c.kind == "oauth_grant" for c in run.all(Credential))


def test_workspace_pages_to_the_end(fresh, tmp_path):
    run = Run(fresh, tmp_path, ws_block(fresh, tmp_path, page_size=1), GoogleWorkspaceCollector)
    assert len(run.all(Account)) == 4 and fresh.calls()["directory.users.list"] == 4


def test_gcp_with_cloud_asset(fresh, tmp_path):
    run = Run(fresh, tmp_path, gcp_block(fresh, tmp_path), GcpCollector)
    keys = {c.name: c for c in run.all(Credential)}
    alice = keys[ALICE_KEY]
    assert alice.status == "active" and alice.attributes["created_by"] == "alice@example.com"
    assert alice.attributes["never_expires"] and alice.expires_at is None
    assert keys["a1ce0000000000000000000000000000000000a2"].status == "inactive"
    assert keys["0d000000000000000000000000000000000000d1"].attributes["created_by_known"] is False
    assert not [c for c in keys.values() if c.attributes["key_type"] == "SYSTEM_MANAGED"]
    sas = {a.native_id: a for a in run.all(Account)}
    assert sas[DEPLOY].attributes["tags"] == {"owner": "alice@example.com"}
    members = {(g.attributes["resource_name"], g.permission, g.attributes["member"]) for g in run.all(Grant)}
    assert ("projects/acme-prod", "roles/editor", "user:dave@example.com") in members
    assert ("projects/acme-prod", "roles/viewer", "deleted:user:erin@example.com?uid=113000000000000000005") in members
    assert (f"projects/acme-prod/serviceAccounts/{DEPLOY}", "roles/iam.serviceAccountTokenCreator",
            "user:alice@example.com") in members
    calls = fresh.calls()
    assert calls["cloudasset.searchAllResources"] == 1 and calls["cloudasset.searchAllIamPolicies"] == 1
    assert calls["crm.projects.getIamPolicy"] == 0 and calls["iam.serviceAccounts.list"] == 0
    assert calls["iam.serviceAccounts.keys.list"] == 5 and calls["logging.entries.list"] == 1
    assert run.cov("organizations/445566778899").status == "ok" and fresh.writes == []


def test_gcp_falls_back_to_the_iam_api_when_asset_is_disabled(fresh, tmp_path):
    asset = {(g.attributes["resource_name"], g.permission, g.attributes["member"])
             for g in Run(fresh, tmp_path / "a", gcp_block(fresh, tmp_path), GcpCollector).all(Grant)}
    fresh.disable_service("cloudasset")
    run = Run(fresh, tmp_path / "b", gcp_block(fresh, tmp_path), GcpCollector)
    iam = {(g.attributes["resource_name"], g.permission, g.attributes["member"]) for g in run.all(Grant)}
    assert iam == asset  # the same bindings, read the other way
    skipped = [c for c in run.all(Coverage) if c.status == "skipped"]
    assert len(skipped) == 1 and "SERVICE_DISABLED" in skipped[0].error
    assert run.cov("organizations/445566778899").status == "ok"
    assert fresh.calls()["crm.projects.getIamPolicy"] == 4  # DELETE_REQUESTED too: it can be restored
    assert {c.name for c in run.all(Credential)} >= {ALICE_KEY}


def test_gcp_missing_role_is_skipped_naming_it_and_partial(fresh, tmp_path):
    fresh.deny("logging.entries.list")
    run = Run(fresh, tmp_path, gcp_block(fresh, tmp_path), GcpCollector)
    row = next(c for c in run.all(Coverage) if c.status == "skipped")
    assert row.target.endswith("/audit log") and "roles/logging.viewer" in row.error
    assert run.cov("organizations/445566778899").status == "partial"
    assert all(c.attributes["created_by"] is None for c in run.all(Credential))


def test_gcp_projects_target_and_config_check(fresh, tmp_path):
    run = Run(fresh, tmp_path, {**gcp_block(fresh, tmp_path), "organization": None,
                                "projects": ["acme-staging"], "asset_inventory": "off"}, GcpCollector)
    assert {a.native_id for a in run.all(Account)} == {"svc-staging@acme-staging.iam.gserviceaccount.com"}
    assert fresh.calls()["cloudasset.searchAllResources"] == 0
    assert GcpCollector.check_config({"organization": "1", "projects": ["p"]}).startswith("organization:")
    assert GcpCollector.check_config({}) and GcpCollector.check_config({"folders": ["1"]}) is None


def test_gcp_keys_from_cloud_asset_match_the_iam_api(fresh, tmp_path):
    def keys(run):
        return {(c.native_id, c.status, c.attributes["created_by"], c.expires_at) for c in run.all(Credential)}
    iam = Run(fresh, tmp_path / "a", gcp_block(fresh, tmp_path), GcpCollector)
    before = fresh.calls()["iam.serviceAccounts.keys.list"]
    asset = Run(fresh, tmp_path / "b", gcp_block(fresh, tmp_path, keys="asset"), GcpCollector)
    assert keys(asset) == keys(iam) and len(keys(iam)) == 4
    assert fresh.calls()["iam.serviceAccounts.keys.list"] == before  # not one per account
    fresh.disable_service("cloudasset")  # no Cloud Asset: keys.list per account again
    fallback = Run(fresh, tmp_path / "c", gcp_block(fresh, tmp_path, keys="asset"), GcpCollector)
    assert keys(fallback) == keys(iam) and fresh.calls()["iam.serviceAccounts.keys.list"] == before + 5


def test_gcp_default_reads_every_key_from_cloud_asset_without_a_call_per_account(fresh, tmp_path):
    block = {k: v for k, v in gcp_block(fresh, tmp_path).items() if k != "keys"}
    default = Run(fresh, tmp_path, block, GcpCollector)
    iam = Run(fresh, tmp_path / "b", gcp_block(fresh, tmp_path), GcpCollector)
    keys = lambda r: sorted(c.native_id for c in r.all(Credential))  # noqa: E731
    assert keys(default) == keys(iam) and ALICE_KEY in {c.name for c in default.all(Credential)}
    assert fresh.calls()["iam.serviceAccounts.keys.list"] == len(iam.all(Account))  # iam's, none of default's
    assert [c.status for c in default.all(Coverage)] == ["ok"]


def test_gcp_keys_leavers_lists_keys_only_of_service_accounts_tied_to_a_leaver(fresh, tmp_path):
    """keys: leavers: the bulk pass lists no key; the deep pass lists the keys of svc-deploy
    only (alice owns it, created its keys and its own policy names her); bob's svc-reports
    is not asked about (dave's key there is older than the audit log: its creator is
    unknown). The keys not listed are a skipped row and the target is partial: the cloud
    layer is never clean on them."""
    run = Run(fresh, tmp_path, gcp_block(fresh, tmp_path, keys="leavers"), GcpCollector,
              deep=Scope(emails={"alice@example.com", "carol@example.com", "dave@example.com"}))
    keys = {c.name: c for c in run.all(Credential)}
    assert set(keys) == {ALICE_KEY, "a1ce0000000000000000000000000000000000a2"}
    assert keys[ALICE_KEY].attributes["created_by"] == "alice@example.com"
    keys_path = [r for r in fresh.requests if r.path.endswith("/keys")]
    assert len(keys_path) == fresh.calls()["iam.serviceAccounts.keys.list"] == 1
    assert DEPLOY in keys_path[0].path
    skipped = [c for c in run.all(Coverage) if c.status == "skipped"]
    assert [c.target for c in skipped] == ["organizations/445566778899/keys of service accounts not tied to a leaver"]
    main = run.cov("organizations/445566778899")
    assert main.status == "partial" and "not checked (keys: leavers)" in main.error
    assert run.cov("organizations/445566778899/leavers").status == "ok"
    assert run.collector.calls == len(fresh.requests)


def test_gcp_deep_pass_without_the_keys_permission_is_partial(fresh, tmp_path):
    fresh.deny("iam.serviceAccounts.keys.list")
    run = Run(fresh, tmp_path, gcp_block(fresh, tmp_path, keys="leavers"), GcpCollector,
              deep=Scope(emails={"alice@example.com"}))
    deep = run.cov("organizations/445566778899/leavers")
    assert deep.status == "partial" and "roles/iam.securityReviewer" in deep.error
    assert not run.all(Credential)


def test_gcp_deep_pass_asks_nothing_when_no_leaver_is_tied_to_a_service_account(fresh, tmp_path):
    Run(fresh, tmp_path, gcp_block(fresh, tmp_path, keys="leavers"), GcpCollector,
        deep=Scope(emails={"carol@example.com"}))
    assert fresh.calls()["iam.serviceAccounts.keys.list"] == 0


def test_google_times_are_read_by_the_one_lenient_parser():
    """Both collectors read payload times with scanner.core.timeparse.timestamp (no copy of
    ts() of their own): Google's RFC 3339 with milliseconds, 1970 for "never signed in"
    (kept, the transform compares it), and None for what cannot be read."""
    from scanner.core import timeparse
    assert wt.ts is gt.ts is timeparse.timestamp
    assert wt.ts("2026-11-03T08:14:02.000Z") == datetime(2026, 11, 3, 8, 14, 2, tzinfo=UTC)
    assert wt.ts("1970-01-01T00:00:00.000Z") == wt.NEVER_SIGNED_IN
    assert [wt.ts(v) for v in (None, "", "not a time")] == [None, None, None]
    assert wt.ms("1717200000000") == datetime(2024, 6, 1, tzinfo=UTC) and wt.ms("0") is None


# --- key usage (Activity Analyzer) ---------------------------------------------------------------


OLD_KEY = "0d000000000000000000000000000000000000d1"  # svc-reports, 2024, never authenticated
BOB_KEY = "b0b00000000000000000000000000000000000b1"  # svc-reports, authenticated 2026-11-29


def _unused(run) -> dict[str, dict]:
    """credential.unused over the run's records, by key id (the real rule)."""
    from rules.base import all_rules
    from scanner.core.options import Policy
    from scanner.engine import context_from_records
    recs = [*run.all(Account), *run.all(Credential), *run.all(Grant), *run.all(Resource), *run.all(Coverage)]
    ctx = context_from_records(recs, NOW, Policy(unused_after_days=90))
    return {h.object_name: h.evidence for h in all_rules()["credential.unused"].fn(ctx)}


def test_gcp_key_usage_ages_a_never_used_key_and_spares_a_used_one(fresh, tmp_path):
    """Activity Analyzer answers for every project with keys (one call each): bob's key
    authenticated last week (no finding), the 2024 key never did (unused, never used)."""
    run = Run(fresh, tmp_path, gcp_block(fresh, tmp_path), GcpCollector)
    keys = {c.name: c for c in run.all(Credential)}
    assert keys[BOB_KEY].last_used_at == datetime(2026, 11, 29, 7, tzinfo=UTC)
    assert keys[OLD_KEY].last_used_at is None and keys[OLD_KEY].attributes["last_used_unknown"] is False
    assert fresh.calls()["policyanalyzer.activities.query"] == len({c.attributes["project"] for c in keys.values()})
    found = _unused(run)
    assert found[OLD_KEY]["never_used"] is True and BOB_KEY not in found
    assert [c.status for c in run.all(Coverage)] == ["ok"]


def test_gcp_key_usage_refused_leaves_use_unknown_partial_and_no_guess(fresh, tmp_path):
    """Without the Activity Analysis Viewer role the use of every key is unknown: a skipped
    row names the role, the target is partial, and no key is called unused or never used."""
    fresh.deny("policyanalyzer.activities.query")
    run = Run(fresh, tmp_path, gcp_block(fresh, tmp_path), GcpCollector)
    row = next(c for c in run.all(Coverage) if c.status == "skipped")
    assert row.target.endswith("/key usage") and "roles/policyanalyzer.activityAnalysisViewer" in row.error
    assert run.cov("organizations/445566778899").status == "partial"
    assert all(c.attributes["last_used_unknown"] is True for c in run.all(Credential))
    assert _unused(run) == {}


def test_gcp_key_usage_off_asks_nothing(fresh, tmp_path):
    run = Run(fresh, tmp_path, gcp_block(fresh, tmp_path, key_usage=False), GcpCollector)
    assert fresh.calls().get("policyanalyzer.activities.query", 0) == 0
    assert all(c.attributes["last_used_unknown"] is True for c in run.all(Credential))
    assert [c.status for c in run.all(Coverage)] == ["ok"]
