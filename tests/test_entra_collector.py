"""The entra and azure collectors against the fake Microsoft (fixtures/fake_microsoft) on
127.0.0.1 over TLS, through the real azure-identity and requests: the records, the API
budget (from the fake's own counts), permission and licence refusals as skipped rows,
throttling, paging, and the refusal to follow a link to another origin."""

from __future__ import annotations

import scanner.core.http as base
import pytest

from fixtures.fake_microsoft import ALICE, CAROL, DAVE, DEMO_SUBSCRIPTION, FakeMicrosoft
from fixtures.fake_microsoft.estates import SVC_DEPLOY_APP, SVC_DEPLOY_SP
from tests.entra_helpers import (RESTRICTED, RESTRICTED_SECRET, SRC, Account, Activity, AzureCollector,
                                 Credential, EntraCollector, Grant, Scope, azure_block, entra_block, run,
                                 tenant_with_clients)


@pytest.fixture(scope="module")
def server():
    s = FakeMicrosoft(tenant_with_clients()).start()
    yield s
    s.stop()


@pytest.fixture(autouse=True)
def _fresh(request):
    if "server" in request.fixturenames:
        s = request.getfixturevalue("server")
        s.reset_counts()
        yield
        s.clear_faults()
        assert s.writes == []  # read-only, whatever the test did
    else:
        yield


def leavers(*ids: str) -> Scope:
    return Scope(accounts={f"{SRC}|{i}" for i in ids})


def test_bulk_pass_reads_the_tenant_in_three_graph_listings(server, tmp_path):
    r = run(EntraCollector, entra_block(server), tmp=tmp_path)
    graph = [q.path for q in server.requests if q.path.startswith("/v1.0")]
    assert graph == ["/v1.0/users", "/v1.0/applications", "/v1.0/servicePrincipals"]
    main = r.coverage(server.tenant.tenant_id)[0]
    assert main.status == "ok" and main.api_calls == 3 and main.attributes["users"] == 6
    sessions = r.coverage("/sessions")[0]
    assert sessions.layer == "sessions" and sessions.status == "ok"
    alice = next(a for a in r.of(Account) if a.native_id == ALICE)
    assert alice.status == "disabled" and alice.attributes["sessions_valid_from"].startswith("2023-02-01")
    assert alice.attributes["employee_leave_at"].startswith("2026-11-01T17:00")
    app = next(a for a in r.of(Account) if a.native_id == SVC_DEPLOY_APP)
    assert app.kind == "app" and [o["id"] for o in app.attributes["owners"]] == [ALICE]
    assert app.attributes["tags"] == {"owner": "alice@example.com"}
    secrets = {c.name: c for c in r.of(Credential) if c.holder == app.uid}
    assert set(secrets) == {"deploy-pipeline", "hotfix", "old-ci"} and secrets["old-ci"].status == "expired"
    assert all(c.fingerprint is None and c.hint for c in secrets.values())  # Graph's hint, never a value
    assert not [a for a in r.of(Activity)]  # sign-ins only for leavers, in the deep pass


def test_deep_pass_asks_about_leavers_only_in_one_batch(server, tmp_path):
    r = run(EntraCollector, entra_block(server), deep=leavers(ALICE, CAROL), tmp=tmp_path)
    assert server.count("/v1.0/$batch") == 1 and server.count_batched() == 12  # six parts, two users
    assert {q.path.split("/")[3] for q in server.batched if q.path.startswith("/v1.0/users/")} <= {ALICE, CAROL}
    creds = r.of(Credential)
    grant = next(c for c in creds if c.kind == "oauth_grant")
    assert grant.holder == f"{SRC}|{ALICE}" and grant.name == "Acme Notes" and "offline_access" in grant.scopes
    devices = [c for c in creds if c.kind == "device"]
    assert len(devices) == 1 and sorted(devices[0].attributes["relations"]) == ["owned", "registered"]
    roles = [g for g in r.of(Grant) if g.via == "app_role"]
    assert [g.principal for g in roles] == [f"{SRC}|{ALICE}"]
    events = r.of(Activity)
    carol = [e for e in events if e.subject_account == f"{SRC}|{CAROL}" and e.action == "signIn"]
    assert {e.outcome for e in carol} == {"success", "failure"}  # the near miss: a refused sign-in
    added = [e for e in events if e.subject_credential]
    assert [e.subject_credential for e in added] == [
        f"{SRC}|{SVC_DEPLOY_APP}:secret:7d1a0c55-0000-4000-8000-000000000002"]
    deep = r.coverage("/leavers")[0]
    assert deep.status == "ok" and deep.api_calls == 1 and deep.attributes["batched_requests"] == 12


def test_missing_permissions_are_skipped_with_their_reason_not_failed(server, tmp_path):
    block = entra_block(server, client_id=RESTRICTED, client_secret=RESTRICTED_SECRET)
    r = run(EntraCollector, block, deep=leavers(ALICE), tmp=tmp_path)
    rows = {c.target.rsplit("/", 1)[-1]: c for c in r.coverage()}
    assert rows[server.tenant.tenant_id].status == "ok"  # users were read
    for part in ("applications", "servicePrincipals", "oauth2PermissionGrants", "appRoleAssignments",
                 "signIns", "directoryAudits", "users.employeeLeaveDateTime"):
        assert rows[part].status == "skipped" and rows[part].error, part
    assert "Authorization_RequestDenied" in rows["applications"].error
    assert "AuditLog.Read.All" in rows["signIns"].error and rows["signIns"].layer == "sessions"
    assert "User-LifeCycleInfo.Read.All" in rows["users.employeeLeaveDateTime"].error
    assert rows["leavers"].status == "ok"  # devices were still read
    assert [c.kind for c in r.of(Credential)] == ["device"]


def test_tenant_without_premium_licence_skips_sign_ins_and_says_why(tmp_path):
    t = tenant_with_clients()
    t.premium = False
    s = FakeMicrosoft(t).start()
    try:
        r = run(EntraCollector, entra_block(s), deep=leavers(ALICE), tmp=tmp_path)
    finally:
        s.stop()
    row = next(c for c in r.coverage("/signIns"))
    assert row.status == "skipped" and "licence" in row.error and "NonPremium" in row.error
    assert r.coverage("/leavers")[0].status == "ok"
    assert not [e for e in r.of(Activity) if e.action == "signIn"]


def test_a_throttled_batch_item_is_sent_again_after_retry_after(server, tmp_path, monkeypatch):
    sleeps: list[float] = []
    monkeypatch.setattr(base, "sleep", sleeps.append)
    server.fault(r"/users/[^/]+/registeredDevices$", status=429, retry_after=3, times=1)
    r = run(EntraCollector, entra_block(server), deep=leavers(ALICE), tmp=tmp_path)
    assert sleeps == [3.0] and server.count("/v1.0/$batch") == 2
    assert r.coverage("/leavers")[0].status == "ok"
    assert [c.kind for c in r.of(Credential) if c.kind == "device"] == ["device"]


def test_an_item_failing_for_good_makes_the_deep_pass_partial_not_clean(server, tmp_path):
    server.fault(r"/users/[^/]+/oauth2PermissionGrants$", status=500)
    r = run(EntraCollector, entra_block(server), deep=leavers(ALICE), tmp=tmp_path, max_retries=1)
    row = r.coverage("/leavers")[0]
    assert row.status == "partial" and "oauth2PermissionGrants" in row.error


def test_paging_follows_next_links_to_the_end(server, tmp_path):
    r = run(EntraCollector, entra_block(server, page_size=2), tmp=tmp_path)
    assert server.count("/v1.0/users") == 3 and len([a for a in r.of(Account) if a.kind == "user"]) == 6
    assert r.coverage(server.tenant.tenant_id)[0].status == "ok"


def test_a_next_link_to_another_origin_is_refused(server, tmp_path):
    server.fault(r"^/v1\.0/users$", status=200, body={
        "value": [], "@odata.nextLink": "https://graph.attacker.example/v1.0/users?$skiptoken=x"})
    r = run(EntraCollector, entra_block(server), tmp=tmp_path)
    row = r.coverage(server.tenant.tenant_id)[0]
    assert row.status == "failed" and "another origin" in row.error
    assert r.coverage("/sessions")[0].status == "failed"


def test_a_block_without_a_credential_fails_naming_the_key(server, tmp_path):
    block = entra_block(server)
    del block["client_secret"]
    r = run(EntraCollector, block, tmp=tmp_path)
    row = r.coverage(server.tenant.tenant_id)[0]
    assert row.status == "failed" and "client_secret" in row.error
    assert server.count() == 0


def test_azure_reads_assignments_and_pim_per_subscription(server, tmp_path):
    r = run(AzureCollector, azure_block(server), tmp=tmp_path)
    sub = r.coverage(DEMO_SUBSCRIPTION)[0]
    assert sub.status == "ok" and sub.attributes == {"role_assignments": 5, "pim_eligible": 1}
    grants = {(g.principal, g.permission, g.via) for g in r.of(Grant)}
    assert (DAVE, "Contributor", "role_assignment") in grants
    assert (SVC_DEPLOY_SP, "Contributor", "role_assignment") in grants
    assert (DAVE, "User Access Administrator", "pim_eligible") in grants
    assert server.count("/subscriptions") == 4  # subscriptions, roleDefinitions, assignments, PIM


def test_azure_pim_refused_by_rbac_is_skipped(server, tmp_path):
    client = server.tenant.clients[next(iter(server.tenant.clients))]
    client.denied_actions.add("Microsoft.Authorization/roleEligibilityScheduleInstances/read")
    try:
        r = run(AzureCollector, azure_block(server, client_id=client.client_id, client_secret=client.secret),
                tmp=tmp_path)
    finally:
        client.denied_actions.clear()
    assert r.coverage(DEMO_SUBSCRIPTION)[0].status == "ok"
    row = r.coverage("/roleEligibilityScheduleInstances")[0]
    assert row.status == "skipped" and "AuthorizationFailed" in row.error


def test_azure_with_no_readable_subscription_is_not_clean(server, tmp_path):
    r = run(AzureCollector, azure_block(server, client_id=RESTRICTED, client_secret=RESTRICTED_SECRET),
            tmp=tmp_path)
    row = r.coverage("subscriptions")[0]
    assert row.status == "failed" and "Reader" in row.error


def test_azure_targeted_asks_by_principal_id(server, tmp_path):
    r = run(AzureCollector, azure_block(server, subscriptions=[DEMO_SUBSCRIPTION]),
            scope=Scope(accounts={f"{SRC}|{ALICE}", "github:acme|alice-gh"}), tmp=tmp_path)
    asked = [q.arg("$filter") for q in server.requests if q.path.endswith("/roleAssignments")]
    assert asked == [f"principalId eq '{ALICE}'"]
    assert {g.principal for g in r.of(Grant)} == {ALICE}
