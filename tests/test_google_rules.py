"""rules/google.py: each rule with its residue planted and its near miss beside it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from rules.base import all_rules
from scanner.engine import context_from_records, run_rules
from scanner.core.model import Account, Activity, Credential, Grant, Identity, Resource

NOW = datetime(2026, 11, 21, 12, tzinfo=UTC)
GONE = datetime(2026, 11, 1, tzinfo=UTC)
WS, GCP = "google_workspace:C1", "gcp:org"


def people():
    return [Identity(id="alice@example.com", status="terminated", terminated_at=GONE, emails=["alice@example.com"]),
            Identity(id="carol@example.com", status="terminated", terminated_at=GONE, emails=["carol@example.com"]),
            Identity(id="bob@example.com", emails=["bob@example.com"])]


def ws_account(uid: str, email: str, status: str = "suspended") -> Account:
    return Account(system="google_workspace", source=WS, native_id=uid, login=email, email=email, status=status)


def findings(records, rule_prefix: str):
    ctx = context_from_records(records, NOW)
    rules = {k: v for k, v in all_rules().items() if k.startswith(rule_prefix)}
    got, errors = run_rules(ctx, rules)
    assert errors == []
    return got


def test_grant_app_password_and_device_of_a_leaver_not_of_an_active_user():
    alice, bob = ws_account("1", "alice@example.com"), ws_account("2", "bob@example.com", "active")
    recs = [*people(), alice, bob]
    for acc in (alice, bob):
        recs += [Credential(system="google_workspace", source=WS, native_id=f"oauth:{acc.native_id}:app", kind="oauth_grant",
                            holder=acc.uid, name="NoteSync", attributes={"client_id": "app"}),
                 Credential(system="google_workspace", source=WS, native_id=f"asp:{acc.native_id}:1", kind="app_password",
                            holder=acc.uid, name="Mail"),
                 Credential(system="google_workspace", source=WS, native_id=f"mobile:{acc.native_id}", kind="device",
                            holder=acc.uid, name="Pixel", last_used_at=GONE + timedelta(days=3),
                            attributes={"device": "mobile"})]
    got = findings(recs, "google_workspace.")
    assert {(f.rule, f.identity) for f in got} == {
        ("google_workspace.grant_of_leaver", "alice@example.com"),
        ("google_workspace.app_password_of_leaver", "alice@example.com"),
        ("google_workspace.device_of_leaver", "alice@example.com")}
    device = next(f for f in got if f.rule == "google_workspace.device_of_leaver")
    assert device.severity == "high" and device.evidence["synced_after_termination"] is True
    assert all(f.layer == "directory" for f in got)


def test_login_and_token_use_after_termination_critical_before_it_nothing():
    alice, carol = ws_account("1", "alice@example.com"), ws_account("3", "carol@example.com")
    grant = Credential(system="google_workspace", source=WS, native_id="oauth:1:app", kind="oauth_grant",
                       holder=alice.uid, name="NoteSync", attributes={"client_id": "app"})

    def event(acc, app, at, n, outcome="success", client=None):
        return Activity(source=WS, native_id=f"{app}:{n}", system="google_workspace",
                        action="authorize" if app == "token" else "login_success", at=at,
                        category="session" if app == "login" else "use", subject_account=acc.uid,
                        subject_credential=f"{WS}|oauth:{acc.native_id}:{client}" if client else None,
                        outcome=outcome, attributes={"application": app, "event_id": n, "client_id": client})
    recs = [*people(), alice, carol, grant,
            event(alice, "login", GONE + timedelta(days=2), "e1"),
            event(alice, "login", GONE - timedelta(days=2), "e0"),  # before: no finding
            event(alice, "token", GONE + timedelta(days=3), "e2", client="app"),
            event(carol, "login", GONE - timedelta(hours=1), "e3"),  # the near miss
            event(carol, "login", GONE + timedelta(days=1), "e4", outcome="failure")]  # refused: not use
    got = findings(recs, "google_workspace.")
    login = [f for f in got if f.rule == "google_workspace.login_after_termination"]
    token = [f for f in got if f.rule == "google_workspace.token_used_after_termination"]
    assert [(f.identity, f.severity, f.evidence["first_event_id"], f.evidence["events"]) for f in login] == [
        ("alice@example.com", "critical", "e1", 1)]
    assert [(f.identity, f.subject, f.evidence["grant_still_present"]) for f in token] == [
        ("alice@example.com", grant.node, True)]


def gcp_records():
    deploy = Account(system="gcp", source=GCP, native_id="svc-deploy@p.iam.gserviceaccount.com",
                     login="svc-deploy@p.iam.gserviceaccount.com", kind="service_account",
                     attributes={"project": "p", "tags": {"owner": "alice@example.com"}})
    reports = Account(system="gcp", source=GCP, native_id="svc-reports@p.iam.gserviceaccount.com",
                      login="svc-reports@p.iam.gserviceaccount.com", kind="service_account",
                      attributes={"project": "p", "tags": {"owner": "bob@example.com"}})

    def key(acc, kid, creator, status="active"):
        return Credential(system="gcp", source=GCP, native_id=f"projects/p/serviceAccounts/{acc.native_id}/keys/{kid}",
                          kind="access_key", holder=acc.uid, name=kid, status=status,
                          created_at=NOW - timedelta(days=30),
                          attributes={"key_id": kid, "service_account": acc.native_id, "project": "p",
                                      "created_by": creator, "never_expires": True, "last_used_unknown": True})
    project = Resource(system="gcp", source=GCP, native_id="projects/p", kind="project", name="p")

    def bind(member, role="roles/editor", principal=None):
        from collectors.gcp.transform import member_parts
        mtype, email, deleted = member_parts(member)
        return Grant(system="gcp", source=GCP, principal=principal or member, resource=project.uid, permission=role,
                     via="binding", attributes={"member": member, "member_type": mtype, "email": email,
                                                "deleted": deleted, "resource_name": "projects/p"})
    return [*people(), deploy, reports, project,
            key(deploy, "k1", "alice@example.com"), key(deploy, "k2", "alice@example.com", status="inactive"),
            key(reports, "k3", "bob@example.com"), key(reports, "k4", "carol@example.com"),
            bind("user:alice@example.com"), bind("user:bob@example.com"),
            bind("deleted:user:carol@example.com?uid=9", "roles/viewer"),
            bind("deleted:serviceAccount:old@p.iam.gserviceaccount.com?uid=8", "roles/viewer"),
            bind("serviceAccount:svc-deploy@p.iam.gserviceaccount.com", principal=deploy.uid),
            bind("serviceAccount:svc-reports@p.iam.gserviceaccount.com", principal=reports.uid)]


def test_gcp_keys_of_an_sa_whose_owner_left_and_keys_a_leaver_created():
    got = findings(gcp_records(), "gcp.key")
    assert sorted((f.rule, f.object_id.rsplit("/", 1)[1], f.identity) for f in got) == [
        ("gcp.key_created_by_leaver", "k1", "alice@example.com"),
        ("gcp.key_created_by_leaver", "k4", "carol@example.com"),  # bob's SA, but carol made the key
        ("gcp.key_of_sa_owner_left", "k1", "alice@example.com")]  # k2 is disabled, k3 bob's
    assert all(f.layer == "cloud" for f in got)


def test_gcp_bindings_naming_a_leaver_their_sa_or_a_deleted_principal():
    got = findings(gcp_records(), "gcp.binding")
    assert sorted((f.rule, f.evidence["member"], f.identity, f.severity) for f in got) == [
        ("gcp.binding_names_deleted_principal", "deleted:serviceAccount:old@p.iam.gserviceaccount.com?uid=8",
         None, "medium"),
        ("gcp.binding_names_leaver", "deleted:user:carol@example.com?uid=9", "carol@example.com", "high"),
        ("gcp.binding_names_leaver", "serviceAccount:svc-deploy@p.iam.gserviceaccount.com",
         "alice@example.com", "medium"),
        ("gcp.binding_names_leaver", "user:alice@example.com", "alice@example.com", "high")]


def test_a_key_of_unknown_use_is_not_called_never_used():
    recs = gcp_records()
    ctx = context_from_records(recs, NOW + timedelta(days=400))
    got, _ = run_rules(ctx, {"credential.unused": all_rules()["credential.unused"]})
    assert got == []  # the source cannot tell when a key was used: silence is not "never used"
    rot, _ = run_rules(ctx, {"credential.unrotated": all_rules()["credential.unrotated"]})
    assert {f.object_id.rsplit("/", 1)[1] for f in rot} == {"k1", "k3", "k4"}  # k2 is disabled
