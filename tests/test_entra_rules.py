"""The entra and azure rules: each plants the residue and its near miss, on records built
by the collectors' own transforms (so the attributes are the ones the collector writes)."""

from __future__ import annotations

from datetime import UTC, datetime

from collectors.azure import transform as az
from collectors.entra import transform as t
from fixtures.fake_microsoft import payloads as p
from rules.base import all_rules
from scanner.engine import context_from_records, run_rules
from scanner.core.model import Identity

NOW = datetime(2026, 11, 21, 12, tzinfo=UTC)
SRC = "entra:contoso"
LEFT = datetime(2026, 11, 1, tzinfo=UTC)


def people():
    return [Identity(id="alice@example.com", status="terminated", terminated_at=LEFT, emails=["alice@example.com"]),
            Identity(id="carol@example.com", status="terminated", terminated_at=LEFT, emails=["carol@example.com"]),
            Identity(id="bob@example.com", emails=["bob@example.com"])]


def user(uid, name, *, enabled=False, valid_from="2026-11-01T00:05:00Z"):
    return t.transform_user(p.user(uid, f"{name}@example.com", name, None, None, mail=f"{name}@example.com",
                                   enabled=enabled, sessions_valid_from=valid_from), SRC)


def findings(records, rule_prefix):
    ctx = context_from_records([*people(), *records], NOW)
    out, errors = run_rules(ctx, {k: v for k, v in all_rules().items() if k.startswith(rule_prefix)})
    assert errors == []
    return out


def by(fs, rule):
    return sorted((f.identity or "", f.severity) for f in fs if f.rule == rule)


def test_sessions_never_revoked_and_the_cleanly_revoked_near_miss():
    fs = findings([user("a", "alice", valid_from="2023-02-01T09:00:00Z"),
                   user("c", "carol", valid_from="2026-11-01T00:05:00Z"),
                   user("b", "bob", enabled=True, valid_from="2020-01-01T00:00:00Z")], "entra.")
    assert by(fs, "entra.sessions_not_revoked") == [("alice@example.com", "high")]
    assert next(f for f in fs if f.rule == "entra.sessions_not_revoked").layer == "sessions"


def test_sign_in_after_termination_counts_successes_only():
    alice, carol = user("a", "alice"), user("c", "carol")
    ok = p.sign_in("s1", {"id": "a", "displayName": "A", "userPrincipalName": "alice@example.com"},
                   "2026-11-10T08:15:00Z", app_id="x", app_name="OfficeHome")
    before = p.sign_in("s0", {"id": "a", "displayName": "A", "userPrincipalName": "alice@example.com"},
                       "2026-10-30T08:15:00Z", app_id="x", app_name="OfficeHome")
    refused = p.sign_in("s2", {"id": "c", "displayName": "C", "userPrincipalName": "carol@example.com"},
                        "2026-11-10T08:15:00Z", app_id="x", app_name="OfficeHome", error_code=50057)
    fs = findings([alice, carol, *(t.transform_sign_in(s, SRC) for s in (ok, before, refused))], "entra.")
    hit = [f for f in fs if f.rule == "entra.sign_in_after_termination"]
    assert [(f.identity, f.severity, f.evidence["event"]) for f in hit] == [
        ("alice@example.com", "critical", "signin:s1")]


def test_grant_device_and_app_role_of_a_leaver_not_of_an_active_user():
    alice, bob = user("a", "alice"), user("b", "bob", enabled=True)
    recs = [alice, bob]
    for who in ("a", "b"):
        holder = f"{SRC}|{who}"
        recs.append(t.transform_grant(p.permission_grant(f"g{who}", "sp", "graph", "offline_access Mail.Read",
                                                         principal_id=who, tenant="x"), SRC, holder, {}))
        recs.append(t.transform_device(p.device(f"d{who}", f"dd{who}", f"PC-{who}", "Windows", "10"), SRC,
                                       holder, ["registered"]))
        recs.append(t.transform_app_role({"id": f"r{who}", "resourceId": "sp", "resourceDisplayName": "SF",
                                          "appRoleId": "0"}, SRC, holder))
    fs = findings(recs, "entra.")
    assert by(fs, "entra.oauth_grant_of_leaver") == [("alice@example.com", "high")]
    assert by(fs, "entra.device_of_leaver") == [("alice@example.com", "medium")]
    assert by(fs, "entra.app_role_assignment_of_leaver") == [("alice@example.com", "medium")]
    # the generic credential rules leave the dedicated records alone (no double report)
    assert not [f for f in findings(recs, "credential.") if f.object_kind in ("device", "oauth_grant")]


def _app(obj, name, owners, passwords):
    payload = {**p.application(obj, f"appid-{obj}", name, passwords=passwords),
               "owners": [{"@odata.type": "#microsoft.graph.user", "id": o, "userPrincipalName": f"{n}@example.com",
                           "mail": f"{n}@example.com"} for o, n in owners]}
    return t.transform_app(payload, SRC, NOW, "tenant")


def test_owner_departed_ownerless_and_owned_by_an_active_user():
    live = [p.password_credential("k1", "live", "2026-03-01T00:00:00Z", "2027-03-01T00:00:00Z", "Q8~")]
    dep, dep_creds = _app("o1", "svc-deploy", [("a", "alice")], live)
    orphan, orphan_creds = _app("o2", "legacy", [], live)
    kept, kept_creds = _app("o3", "reports", [("b", "bob")], live)
    fs = findings([user("a", "alice"), user("b", "bob", enabled=True), dep, orphan, kept,
                   *dep_creds, *orphan_creds, *kept_creds], "entra.")
    assert by(fs, "entra.app_owner_departed") == [("alice@example.com", "high")]
    assert [f.object_name for f in fs if f.rule == "entra.app_without_owner"] == ["legacy"]
    # no generic duplicates: orphaned/unowned/nhi rules skip Entra apps
    generic = findings([user("a", "alice"), dep, orphan, *dep_creds, *orphan_creds], "credential.")
    assert generic == []


def test_secret_lifetime_never_expiring_too_long_and_within_policy():
    creds = [p.password_credential("k1", "forever", "2024-04-01T00:00:00Z", "2299-12-31T23:59:59Z", "Zp7"),
             p.password_credential("k2", "long", "2026-01-01T00:00:00Z", "2029-01-01T00:00:00Z", "Ab1"),
             p.password_credential("k3", "fine", "2026-06-01T00:00:00Z", "2027-06-01T00:00:00Z", "Cd2")]
    app, secrets = _app("o1", "payroll", [("b", "bob")], creds)
    fs = findings([user("b", "bob", enabled=True), app, *secrets], "entra.")
    assert sorted((f.object_name, f.severity) for f in fs if f.rule == "entra.secret_lifetime") == [
        ("payroll: forever", "medium"), ("payroll: long", "low")]


def test_secret_added_by_leaver_after_termination_and_by_an_active_user():
    creds = [p.password_credential("k1", "hotfix", "2026-11-05T22:10:00Z", "2027-05-05T00:00:00Z", "xW2"),
             p.password_credential("k2", "ok", "2026-11-05T22:10:00Z", "2027-05-05T00:00:00Z", "xW3")]
    app, secrets = _app("o1", "svc", [("a", "alice"), ("b", "bob")], creds)

    def audit(ev_id, actor, key):
        return t.transform_audit(p.directory_audit(
            ev_id, t.SECRET_AUDIT, "2026-11-05T22:10:00Z", category="ApplicationManagement", operation="Update",
            actor_id=actor, targets=[{"id": "o1", "type": "Application", "displayName": "svc"}],
            modified=[{"displayName": "KeyDescription", "oldValue": None,
                       "newValue": f"[KeyIdentifier={key},KeyType=Password]"}]), SRC)
    k1, k2 = "7d1a0c55-0000-4000-8000-000000000001", "7d1a0c55-0000-4000-8000-000000000002"
    creds[0]["keyId"], creds[1]["keyId"] = k1, k2
    app, secrets = _app("o1", "svc", [("a", "alice"), ("b", "bob")], creds)
    fs = findings([user("a", "alice"), user("b", "bob", enabled=True), app, *secrets,
                   audit("e1", "a", k1), audit("e2", "b", k2)], "entra.")
    hits = [(f.object_name, f.severity) for f in fs if f.rule == "entra.secret_added_by_leaver"]
    # k2 was added by bob, but after owner alice's termination: still a way back in for her
    assert sorted(hits) == [("svc: hotfix", "critical"), ("svc: ok", "high")]
    fs = findings([user("b", "bob", enabled=True), *_app("o9", "x", [("b", "bob")], creds[:1])[1],
                   _app("o9", "x", [("b", "bob")], creds[:1])[0]], "entra.")
    assert not [f for f in fs if f.rule == "entra.secret_added_by_leaver"]


def test_tenant_consent_by_leaver():
    ev = p.directory_audit("c1", "Consent to application", "2026-06-01T09:30:00Z", category="ApplicationManagement",
                           operation="Assign", actor_id="a",
                           targets=[{"id": "sf", "displayName": "Salesforce", "type": "ServicePrincipal"}],
                           modified=[{"displayName": "ConsentAction.Permissions", "oldValue": None,
                                      "newValue": "[[ConsentType: AllPrincipals, Scope: User.Read]]"}])
    mine = {**ev, "id": "c2", "targetResources": [{**ev["targetResources"][0], "modifiedProperties": [
        {"displayName": "x", "newValue": "[[ConsentType: Principal, Scope: User.Read]]"}]}]}
    fs = findings([user("a", "alice"), t.transform_audit(ev, SRC), t.transform_audit(mine, SRC)], "entra.")
    assert by(fs, "entra.tenant_consent_by_leaver") == [("alice@example.com", "medium")]


def test_azure_assignments_of_leaver_of_their_sp_and_of_an_active_user():
    sp_payload = {**p.service_principal("sp1", "appid-o1", "svc-deploy", owner_org="tenant"), "owners": []}
    sp, _ = t.transform_app(sp_payload, SRC, NOW, "tenant", "servicePrincipal")
    app, _ = _app("o1", "svc-deploy", [("a", "alice")], [])
    ra = lambda n, who, kind, role: az.transform_assignment(  # noqa: E731
        p.role_assignment(n, "sub", who, kind, role), "azure:sub",
        {"8e3af657-a8ff-443c-a75c-2fe8c4bcb635": "Owner", "b24988ac-6180-42a0-ab88-20f7382dd24c": "Contributor"})
    recs = [user("a", "alice"), user("b", "bob", enabled=True), sp, app,
            ra("n1", "a", "User", "8e3af657-a8ff-443c-a75c-2fe8c4bcb635"),
            ra("n2", "sp1", "ServicePrincipal", "8e3af657-a8ff-443c-a75c-2fe8c4bcb635"),
            ra("n3", "b", "User", "b24988ac-6180-42a0-ab88-20f7382dd24c"),
            az.transform_assignment(p.eligibility_instance("e1", "sub", {"id": "a"}, "User",
                                                           "18d7d88d-d35e-4fb5-a5c3-7773c20a72d9",
                                                           start="2025-01-01T00:00:00Z", end="2026-12-31T00:00:00Z"),
                                    "azure:sub", {}, "pim_eligible"),
            az.transform_assignment(p.eligibility_instance("e2", "sub", {"id": "a"}, "User",
                                                           "18d7d88d-d35e-4fb5-a5c3-7773c20a72d9",
                                                           start="2025-01-01T00:00:00Z", end="2026-01-01T00:00:00Z"),
                                    "azure:sub", {}, "pim_eligible")]
    fs = findings(recs, "azure.")
    hits = sorted((f.evidence["principal_id"], f.severity) for f in fs if f.rule == "azure.role_assignment_of_leaver")
    assert hits == [("a", "high"), ("sp1", "critical")]  # the SP can still sign in with Owner
    assert [f.object_id for f in fs if f.rule == "azure.pim_eligible_leaver"] == [
        "/subscriptions/sub/providers/Microsoft.Authorization/RoleEligibilityScheduleInstances/e1"]
