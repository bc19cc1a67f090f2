"""The entra and azure pure transforms on Microsoft's own sample payloads
(fixtures/samples/microsoft-graph/) and on malformed input."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from collectors.azure import transform as az
from collectors.entra import transform as t
from fixtures import SAMPLES as SAMPLES_ROOT
from fixtures.fake_microsoft import payloads as p

SAMPLES = SAMPLES_ROOT / "microsoft-graph"
NOW = datetime(2026, 11, 21, 12, tzinfo=UTC)
SRC = "entra:contoso"


def sample(name: str) -> list:
    return json.loads((SAMPLES / name).read_text())["value"]


def test_users_sample_with_lifecycle_fields():
    accounts, bad = t.transform_users(sample("users_select_lifecycle_fields.json"), SRC)
    assert bad == 0 and accounts
    a = accounts[0]
    assert a.system == "entra" and a.uid == f"{SRC}|{a.native_id}" and "@" in a.login
    assert "sessions_valid_from" in a.attributes and "employee_leave_at" in a.attributes
    assert a.status in ("active", "disabled")


def test_user_disabled_with_leave_date_is_a_terminated_identity_and_enabled_one_is_not():
    gone = p.user("u1", "alice@example.com", "Alice", "A", "A", mail="Alice@Example.com", enabled=False,
                  leave="2026-11-01T17:00:00Z", other_mails=["alice@gmail.example"])
    ident = t.user_to_identity(gone, "contoso", NOW)
    assert ident.status == "terminated" and ident.terminated_at == datetime(2026, 11, 1, 17, tzinfo=UTC)
    assert ident.id == "alice@example.com" and "alice@gmail.example" in ident.emails
    assert ident.aliases == ["entra:alice@example.com"]
    future = p.user("u2", "bob@example.com", "Bob", "B", "B", mail="bob@example.com", leave="2027-01-01T00:00:00Z")
    assert t.user_to_identity(future, "contoso", NOW).status == "active"  # not gone yet
    disabled = p.user("u3", "erin@example.com", "Erin", "E", "E", enabled=False)
    assert t.user_to_identity(disabled, "contoso", NOW).status == "suspended"


def test_sessions_valid_from_with_seven_fractional_digits():
    u = p.user("u1", "a@example.com", "A", None, None, sessions_valid_from="2026-11-10T08:15:00.1234567Z")
    assert t.transform_user(u, SRC).attributes["sessions_valid_from"].startswith("2026-11-10T08:15:00.123456")


@pytest.mark.parametrize("bad", [None, "x", {}, {"id": ""}, {"id": "u1"}, {"id": "u1", "userPrincipalName": 5}])
def test_malformed_users_are_counted_not_raised(bad):
    accounts, n = t.transform_users([bad], SRC)
    assert accounts == [] and n == 1


def test_application_sample_secrets_and_certificates_never_carry_secret_text():
    for app in sample("applications.json"):
        acc, creds = t.transform_app(app, SRC, NOW, "tenant")
        assert acc.kind == "app" and acc.attributes["owners"] == []
        assert len(creds) == len(app["passwordCredentials"]) + len(app["keyCredentials"])
        for c in creds:
            assert c.holder == acc.uid and c.kind in ("client_secret", "client_cert")
            assert "secretText" not in json.dumps(c.attributes) and "key" not in c.attributes


def test_secret_lifetime_never_expiring_and_expired():
    app = p.application("o1", "a1", "payroll", passwords=[
        p.password_credential("k1", "forever", "2024-04-01T10:00:00Z", "2299-12-31T23:59:59Z", "Zp7"),
        p.password_credential("k2", "old", "2025-01-01T00:00:00Z", "2026-01-01T00:00:00Z", "k9P")])
    acc, (forever, old) = t.transform_app(app, SRC, NOW, "tenant")
    assert forever.attributes["never_expires"] and forever.status == "active" and forever.hint == "Zp7"
    assert forever.native_id == "o1:secret:k1" and forever.attributes["last_used_unknown"]
    assert old.status == "expired" and not old.attributes["never_expires"] and old.attributes["lifetime_days"] == 365


def test_owners_from_expand_and_the_owner_tag_resolve_reads():
    app = {**p.application("o1", "a1", "svc"), "owners": sample("servicePrincipals_ID_owners.json")}
    acc, _ = t.transform_app(app, SRC, NOW, "tenant")
    owner = acc.attributes["owners"][0]
    assert owner["type"] == "user" and owner["id"] and acc.attributes["tags"]["owner"]


def test_foreign_service_principal_is_marked():
    sp = p.service_principal("s1", "a1", "Salesforce", owner_org="other-tenant")
    acc, _ = t.transform_app(sp, SRC, NOW, "tenant", "servicePrincipal")
    assert acc.kind == "service_account" and acc.attributes["foreign"]
    own = p.service_principal("s2", "a2", "mine", owner_org="tenant")
    assert not t.transform_app(own, SRC, NOW, "tenant", "servicePrincipal")[0].attributes["foreign"]


def test_grant_device_app_role_and_sign_in_samples():
    holder = f"{SRC}|u1"
    g = t.transform_grant(sample("oauth2PermissionGrants.json")[0], SRC, holder, {})
    assert g.kind == "oauth_grant" and g.holder == holder and g.scopes
    d = t.transform_device(sample("users_ID_registeredDevices.json")[0], SRC, holder, ["registered"])
    assert d.kind == "device" and d.native_id.startswith("device:")
    r = t.transform_app_role(sample("users_ID_appRoleAssignments.json")[0], SRC, holder)
    assert r.via == "app_role" and r.principal == holder
    signins = [t.transform_sign_in(s, SRC) for s in sample("auditLogs_signIns.json")]
    assert all(s.category == "session" and s.subject_account.startswith(SRC + "|") for s in signins)
    assert {s.outcome for s in signins} <= {"success", "failure"}


def test_audit_of_a_secret_added_names_the_credential():
    ev = p.directory_audit("A1", t.SECRET_AUDIT, "2026-11-05T22:10:00Z", category="ApplicationManagement",
                           operation="Update", actor_id="u1", actor_upn="alice@example.com",
                           targets=[{"id": "o1", "type": "Application", "displayName": "svc"}],
                           modified=[{"displayName": "KeyDescription", "oldValue": None,
                                      "newValue": "\"[KeyIdentifier=7d1a0c55-0000-4000-8000-000000000002,"
                                                  "KeyType=Password,KeyUsage=Verify,DisplayName=hotfix]\""}])
    a = t.transform_audit(ev, SRC)
    assert a.subject_credential == f"{SRC}|o1:secret:7d1a0c55-0000-4000-8000-000000000002"
    assert a.subject_account == f"{SRC}|u1" and a.category == "use"


def test_arm_assignment_and_eligibility():
    ra = p.role_assignment("n1", "sub", "A11CE000-0000-4000-8000-000000000001", "User",
                           "8e3af657-a8ff-443c-a75c-2fe8c4bcb635")
    g = az.transform_assignment(ra, "azure:sub", {"8e3af657-a8ff-443c-a75c-2fe8c4bcb635": "Owner"})
    assert g.principal == "a11ce000-0000-4000-8000-000000000001" and g.permission == "Owner"
    assert g.resource == "azure:sub|/subscriptions/sub" and g.via == "role_assignment"
    el = p.eligibility_instance("e1", "sub", {"id": "d1", "displayName": "Dave"}, "User",
                                "18d7d88d-d35e-4fb5-a5c3-7773c20a72d9", start="2025-01-01T00:00:00Z",
                                end="2026-12-31T00:00:00Z")
    e = az.transform_assignment(el, "azure:sub", {}, "pim_eligible")
    assert e.permission == "User Access Administrator" and e.attributes["end_at"].startswith("2026-12-31")
    with pytest.raises(ValueError):
        az.transform_assignment({"id": "x", "properties": {}}, "azure:sub", {})
