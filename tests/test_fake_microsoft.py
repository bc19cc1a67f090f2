"""The fake Entra ID / Graph / ARM server (fixtures/fake_microsoft) against the real
clients: azure-identity's credentials over TLS for tokens, requests for Graph and ARM.

What the entra and azure collectors will be tested against has to be right first: the
token flows MSAL really runs, the sample payloads and error bodies, paging to the end,
permissions and licence refusals, throttling, the read-only rule with its one opt-in
write, ``$batch``, ARM's filters and the synthetic tenant's page counts.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import requests
from azure.core.exceptions import ClientAuthenticationError
from azure.identity import CertificateCredential, ClientSecretCredential

from fixtures.fake_microsoft import (ALICE, CAROL, DAVE, DEMO_CLIENT, DEMO_SECRET, DEMO_SUBSCRIPTION,
                                     DEMO_TENANT, READ_ROLES, Client, FakeMicrosoft, demo_tenant,
                                     synthetic_tenant)
from fixtures.fake_microsoft.identity import ARM_AUDIENCE, GRAPH_AUDIENCE
from fixtures import SAMPLES as SAMPLES_ROOT

SAMPLES = SAMPLES_ROOT / "microsoft-graph"
GRAPH = "https://graph.microsoft.com/.default"
ARM = "https://management.azure.com/.default"
RESTRICTED = "0be5e1f0-0000-4000-8000-000000000002"  # User.Read.All only
REVOKER = "0be5e1f0-0000-4000-8000-000000000003"  # the read set plus User.RevokeSessions.All


def sample(name: str) -> dict:
    return json.loads((SAMPLES / name).read_text())


def shape(body):
    """The keys of a JSON body, recursively (values differ: ids, dates)."""
    if isinstance(body, dict):
        return {k: shape(v) for k, v in body.items()}
    return type(body).__name__


def tenant_with_clients():
    t = demo_tenant()
    t.add_client(Client(RESTRICTED, secret="restricted-secret-not-real", roles=frozenset({"User.Read.All"}),
                        subscriptions=set(), object_id="5c000000-0000-4000-8000-000000000002"))
    t.add_client(Client(REVOKER, secret="revoker-secret-not-real",
                        roles=READ_ROLES | {"User.RevokeSessions.All"}))
    return t


@pytest.fixture(scope="module")
def server():
    s = FakeMicrosoft(tenant_with_clients()).start()
    yield s
    s.stop()


@pytest.fixture(autouse=True)
def _no_faults(request):
    yield
    if "server" in request.fixturenames:
        request.getfixturevalue("server").clear_faults()


def get(s: FakeMicrosoft, url: str, token: str | None, **params) -> requests.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    full = url if url.startswith("http") else f"{s.url}{url}"
    return requests.get(full, params=params or None, headers=headers, verify=s.ca_file, timeout=10)


def pages(s: FakeMicrosoft, url: str, token: str, link: str = "@odata.nextLink", **params) -> list[dict]:
    """Follow nextLinks to the end, as a collector does; one list per page."""
    out, r = [], get(s, url, token, **params)
    while True:
        assert r.status_code == 200, r.text
        body = r.json()
        out.append(body)
        if not body.get(link):
            return out
        r = get(s, body[link], token)


# --- tokens: the real azure-identity credentials over TLS ----------------------------------------

def test_client_secret_credential_gets_a_token_and_requests_pages_users_to_the_end(server):
    cred = ClientSecretCredential(DEMO_TENANT, DEMO_CLIENT, DEMO_SECRET, authority=server.url,
                                  disable_instance_discovery=True, connection_verify=server.ca_file)
    before = server.count()
    token = cred.get_token(GRAPH).token
    assert server.count(f"/{DEMO_TENANT}/oauth2/v2.0/token") == 1
    assert server.count() - before == 2  # the OpenID metadata, then the token: nothing else
    assert server.tokens[token]["roles"] == sorted(READ_ROLES)
    assert server.tokens[token]["aud"] == GRAPH_AUDIENCE and server.tokens[token]["idtyp"] == "app"

    got = pages(server, "/v1.0/users", token, **{"$top": "2", "$select": "id,userPrincipalName"})
    assert [len(p["value"]) for p in got] == [2, 2, 2]
    upns = [u["userPrincipalName"] for p in got for u in p["value"]]
    assert upns == [u["userPrincipalName"] for u in server.tenant.users]  # each once, in order
    assert all("$select=id,userPrincipalName" in p["@odata.nextLink"] for p in got[:-1])
    assert got[0]["@odata.context"].endswith("$metadata#users(id,userPrincipalName)")
    assert cred.get_token(GRAPH).token == token  # MSAL's cache: no second token request
    assert server.count(f"/{DEMO_TENANT}/oauth2/v2.0/token") == 1 and server.writes == []


def test_client_secret_credential_with_a_wrong_secret_gets_no_token(server):
    cred = ClientSecretCredential(DEMO_TENANT, DEMO_CLIENT, "not-the-secret", authority=server.url,
                                  disable_instance_discovery=True, connection_verify=server.ca_file)
    issued = len(server.tokens)
    with pytest.raises(ClientAuthenticationError, match="AADSTS7000215"):
        cred.get_token(GRAPH)
    assert len(server.tokens) == issued


def _certificate(name: str) -> tuple[bytes, bytes]:
    """(private key + certificate PEM for the credential, certificate PEM for the app)."""
    import datetime as dt

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=30))
            .sign(key, hashes.SHA256()))
    cert_pem = cert.public_bytes(serialization.Encoding.PEM)
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    return key_pem + cert_pem, cert_pem


def test_certificate_credential_signs_an_assertion_the_fake_verifies(server):
    both, cert_pem = _certificate("residual-cert-client")
    other, _ = _certificate("someone-else")
    client_id = "ce271f1c-0000-4000-8000-000000000004"
    server.tenant.add_client(Client(client_id, certificate_pem=cert_pem))
    ok = CertificateCredential(DEMO_TENANT, client_id, certificate_data=both, authority=server.url,
                               disable_instance_discovery=True, connection_verify=server.ca_file)
    token = ok.get_token(GRAPH).token
    assert server.tokens[token]["appid"] == client_id and server.tokens[token]["appidacr"] == "2"
    assert get(server, "/v1.0/users/alice@example.com", token).status_code == 200
    wrong = CertificateCredential(DEMO_TENANT, client_id, certificate_data=other, authority=server.url,
                                  disable_instance_discovery=True, connection_verify=server.ca_file)
    with pytest.raises(ClientAuthenticationError, match="AADSTS700027"):
        wrong.get_token(GRAPH)


# --- Graph: tokens, permissions, licence -----------------------------------------------------------

def test_graph_refuses_a_missing_or_foreign_token_with_the_sample_401(server):
    sample401 = sample("error_401_InvalidAuthenticationToken.json")
    none = get(server, "/v1.0/users", None)
    arm_token = server.issue_token(DEMO_CLIENT, ARM_AUDIENCE)
    foreign = get(server, "/v1.0/users", arm_token)
    forged = get(server, "/v1.0/users", "eyJ0eXAiOiJKV1QifQ.e30.forged")
    for r in (none, foreign, forged):
        assert r.status_code == 401 and shape(r.json()) == shape(sample401)
        assert r.json()["error"]["code"] == "InvalidAuthenticationToken"
    assert foreign.json()["error"]["message"] == sample401["error"]["message"]  # Invalid audience.
    server.expire_tokens()
    graph_token = server.issue_token(DEMO_CLIENT)
    assert get(server, "/v1.0/users", graph_token).status_code == 200  # a fresh token works


def test_a_missing_permission_gives_the_samples_403_and_only_where_it_is_missing(server):
    token = server.issue_token(RESTRICTED)  # User.Read.All only
    denied = get(server, "/v1.0/applications", token)
    assert denied.status_code == 403
    expected = sample("error_403_Authorization_RequestDenied.json")
    assert shape(denied.json()) == shape(expected)
    assert {k: v for k, v in denied.json()["error"].items() if k != "innerError"} == \
        {k: v for k, v in expected["error"].items() if k != "innerError"}
    assert get(server, f"/v1.0/users/{ALICE}/oauth2PermissionGrants", token).status_code == 403
    assert get(server, "/v1.0/users", token).status_code == 200  # the near miss: it may read users
    # employeeLeaveDateTime needs User-LifeCycleInfo.Read.All: without it, null, quietly
    quiet = get(server, f"/v1.0/users/{ALICE}", token, **{"$select": "id,employeeLeaveDateTime"}).json()
    full = get(server, f"/v1.0/users/{ALICE}", server.issue_token(DEMO_CLIENT),
               **{"$select": "id,employeeLeaveDateTime"}).json()
    assert quiet["employeeLeaveDateTime"] is None and full["employeeLeaveDateTime"] == "2026-11-01T17:00:00Z"


def test_sign_ins_need_audit_permission_and_a_premium_licence(server):
    restricted = get(server, "/v1.0/auditLogs/signIns", server.issue_token(RESTRICTED))
    assert restricted.status_code == 403
    assert restricted.json()["error"]["code"] == "Authentication_MSGraphPermissionMissing"
    assert "AuditLog.Read.All" in restricted.json()["error"]["message"]
    token = server.issue_token(DEMO_CLIENT)
    flt = f"userId eq '{ALICE}' and createdDateTime ge 2026-11-01T17:00:00Z"
    after = get(server, "/v1.0/auditLogs/signIns", token, **{"$filter": flt}).json()
    assert [s["createdDateTime"] for s in after["value"]] == ["2026-11-10T08:15:00.1234567Z"]
    assert shape(after["value"][0]) == shape(sample("auditLogs_signIns.json")["value"][0])
    carol = get(server, "/v1.0/auditLogs/signIns", token,
                **{"$filter": "userPrincipalName eq 'carol@example.com' and createdDateTime ge 2026-10-15T17:00:00Z"})
    assert [s["status"]["errorCode"] for s in carol.json()["value"]] == [50057]  # failed: not a use
    server.tenant.premium = False
    try:
        unlicensed = get(server, "/v1.0/auditLogs/signIns", token)
        activity = get(server, "/v1.0/users", token, **{"$select": "id,signInActivity"})
    finally:
        server.tenant.premium = True
    for r in (unlicensed, activity):
        assert r.status_code == 403
        assert r.json()["error"] == {**r.json()["error"],
                                     "code": "Authentication_RequestFromNonPremiumTenantOrB2CTenant",
                                     "message": "Neither tenant is B2C or tenant doesn't have premium license"}


def test_throttling_is_a_429_with_retry_after_and_the_samples_body(server):
    token = server.issue_token(DEMO_CLIENT)
    server.throttle(r"^/v1\.0/users$", times=1, retry_after=2.128)
    r = get(server, "/v1.0/users", token)
    assert r.status_code == 429 and r.headers["Retry-After"] == "2.128"
    assert shape(r.json()) == shape(sample("error_429_TooManyRequests.json"))
    assert r.json()["error"]["code"] == "TooManyRequests"
    assert get(server, "/v1.0/users", token).status_code == 200  # once only
    arm = server.issue_token(DEMO_CLIENT, ARM_AUDIENCE)
    server.throttle(r"(?i)^/subscriptions$", times=1, retry_after=7)
    r = get(server, "/subscriptions", arm, **{"api-version": "2022-12-01"})
    assert r.status_code == 429 and r.headers["Retry-After"] == "7"
    assert r.json()["error"]["code"] == "TooManyRequests" and "innerError" not in r.json()["error"]


# --- the read-only rule and its one exception --------------------------------------------------------

def test_writes_are_refused_405_and_recorded(server):
    token = server.issue_token(REVOKER)
    before = len(server.writes)
    headers = {"Authorization": f"Bearer {token}"}
    patch = requests.patch(f"{server.graph_url}/users/{ALICE}", json={"accountEnabled": False},
                           headers=headers, verify=server.ca_file, timeout=10)
    revoke = requests.post(f"{server.graph_url}/users/{ALICE}/revokeSignInSessions", headers=headers,
                           verify=server.ca_file, timeout=10)
    delete = requests.delete(f"{server.url}/subscriptions/{DEMO_SUBSCRIPTION}/providers/Microsoft."
                             "Authorization/roleAssignments/da7e0a55-0000-4000-8000-000000000001",
                             headers=headers, verify=server.ca_file, timeout=10)
    assert [r.status_code for r in (patch, revoke, delete)] == [405, 405, 405]
    assert patch.json()["error"]["code"] == "Request_BadRequest"
    assert [(w.method, w.path.rsplit("/", 1)[-1]) for w in server.writes[before:]] == [
        ("PATCH", ALICE), ("POST", "revokeSignInSessions"), ("DELETE", "da7e0a55-0000-4000-8000-000000000001")]
    assert server.revocations == []
    assert server.tenant.user(ALICE)["signInSessionsValidFromDateTime"] == "2023-02-01T09:00:00Z"


def test_revoke_sign_in_sessions_only_when_allowed_and_permitted():
    from datetime import UTC, datetime
    s = FakeMicrosoft(tenant_with_clients(), allow_revoke=True, tls=False).start()
    s.clock = lambda: datetime(2026, 11, 21, 12, 30, tzinfo=UTC)
    try:
        url = f"{s.graph_url}/users/alice@example.com/revokeSignInSessions"
        readonly = requests.post(url, headers={"Authorization": f"Bearer {s.issue_token(DEMO_CLIENT)}"}, timeout=10)
        assert readonly.status_code == 403  # the scanner's read-only app may not
        ok = requests.post(url, headers={"Authorization": f"Bearer {s.issue_token(REVOKER)}"}, timeout=10)
        assert ok.status_code == 200 and ok.json() == {**sample("users_ID_revokeSignInSessions.json"),
                                                       "@odata.context": f"{s.graph_url}/$metadata#Edm.Boolean"}
        assert s.revocations == [{"user_id": ALICE, "userPrincipalName": "alice@example.com",
                                  "at": "2026-11-21T12:30:00Z", "client_id": REVOKER}]
        assert s.tenant.user(ALICE)["signInSessionsValidFromDateTime"] == "2026-11-21T12:30:00Z"
        assert s.writes == []
    finally:
        s.stop()


# --- JSON batching --------------------------------------------------------------------------------

def test_batch_answers_each_request_per_its_own_route(server):
    token = server.issue_token(DEMO_CLIENT)
    server.throttle(rf"^/v1\.0/users/{CAROL}/ownedDevices$", times=1, retry_after=3)
    items = [
        {"id": "1", "method": "GET", "url": f"/users/{ALICE}?$select=id,signInSessionsValidFromDateTime"},
        {"id": "2", "method": "GET", "url": f"/users/{ALICE}/registeredDevices"},
        {"id": "3", "method": "GET", "url": "/users/nobody@example.com"},
        {"id": "4", "method": "GET", "url": "/users/nobody@example.com/ownedDevices", "dependsOn": ["3"]},
        {"id": "5", "method": "DELETE", "url": f"/applications/{server.tenant.applications[0]['id']}"},
        {"id": "6", "method": "GET", "url": f"/users/{CAROL}/ownedDevices"},
        {"id": "7", "method": "GET", "url": "/auditLogs/signIns?$top=1"},
    ]
    before = (server.count("/v1.0/users"), len(server.writes), server.count_batched())
    r = requests.post(f"{server.graph_url}/$batch", json={"requests": items},
                      headers={"Authorization": f"Bearer {token}"}, verify=server.ca_file, timeout=10)
    assert r.status_code == 200
    got = {i["id"]: i for i in r.json()["responses"]}
    assert {k: v["status"] for k, v in got.items()} == {"1": 200, "2": 200, "3": 404, "4": 424,
                                                        "5": 405, "6": 429, "7": 200}
    assert got["1"]["body"]["signInSessionsValidFromDateTime"] == "2023-02-01T09:00:00Z"
    assert [d["displayName"] for d in got["2"]["body"]["value"]] == ["ALICE-MBP"]
    assert got["3"]["body"]["error"]["code"] == "Request_ResourceNotFound"
    assert got["6"]["headers"]["Retry-After"] == "3"
    assert len(got["7"]["body"]["value"]) == 1 and "@odata.nextLink" in got["7"]["body"]
    # one HTTP request for the budget; the inner ones apart (6: item 4 never ran, its
    # dependency failed); the write inside the batch recorded
    assert server.count("/v1.0/users") == before[0] and server.count_batched() == before[2] + 6
    assert [(w.method, w.path) for w in server.writes[before[1]:]] == [("DELETE", "/v1.0" + items[4]["url"])]
    too_many = requests.post(f"{server.graph_url}/$batch", json={"requests": [
        {"id": str(i), "method": "GET", "url": "/users"} for i in range(21)]},
        headers={"Authorization": f"Bearer {token}"}, verify=server.ca_file, timeout=10)
    assert too_many.status_code == 400


# --- applications, service principals, the demo's residue and near misses --------------------------

def test_demo_apps_owners_credentials_and_expand(server):
    token = server.issue_token(DEMO_CLIENT)
    apps = get(server, "/v1.0/applications", token,
               **{"$select": "id,displayName,passwordCredentials,keyCredentials", "$expand": "owners"}).json()
    by_name = {a["displayName"]: a for a in apps["value"]}
    assert [o["userPrincipalName"] for o in by_name["svc-deploy"]["owners"]] == ["alice@example.com"]
    assert by_name["legacy-sync"]["owners"] == []  # no owner at all
    assert by_name["legacy-sync"]["keyCredentials"][0]["key"]  # $select names it: the key is served
    assert [c["endDateTime"] for c in by_name["payroll-export"]["passwordCredentials"]] == ["2299-12-31T23:59:59Z"]
    assert all(c["secretText"] is None for a in apps["value"] for c in a["passwordCredentials"])
    full = get(server, "/v1.0/applications", token).json()["value"]
    assert shape(full[0]) == shape(sample("applications.json")["value"][0])
    assert all(k["key"] is None for a in full for k in a["keyCredentials"])  # not selected: null
    sp = get(server, "/v1.0/servicePrincipals", token).json()["value"][0]
    assert shape(sp) == shape(sample("servicePrincipals.json")["value"][0])
    owners = get(server, f"/v1.0/servicePrincipals/{sp['id']}/owners", token).json()
    assert shape(owners) == shape(sample("servicePrincipals_ID_owners.json"))
    owned = get(server, f"/v1.0/users/{ALICE}/ownedObjects", token).json()["value"]
    assert sorted(o["@odata.type"] for o in owned) == ["#microsoft.graph.application",
                                                       "#microsoft.graph.servicePrincipal"]
    assert get(server, f"/v1.0/users/{CAROL}/ownedObjects", token).json()["value"] == []


def test_demo_users_alice_left_residue_and_carol_none(server):
    token = server.issue_token(DEMO_CLIENT)
    sel = "id,displayName,userPrincipalName,mail,accountEnabled,signInSessionsValidFromDateTime,employeeLeaveDateTime"
    leavers = get(server, "/v1.0/users", token, **{"$select": sel, "$filter": "accountEnabled eq false"}).json()
    by = {u["userPrincipalName"]: u for u in leavers["value"]}
    assert sorted(by) == ["alice@example.com", "carol@example.com", "dave@example.com", "erin@example.com"]
    assert by["alice@example.com"]["signInSessionsValidFromDateTime"] < by["alice@example.com"]["employeeLeaveDateTime"]
    assert by["carol@example.com"]["signInSessionsValidFromDateTime"] > by["carol@example.com"]["employeeLeaveDateTime"]
    lifecycle = sample("users_select_lifecycle_fields.json")
    assert list(leavers["value"][0]) == list(lifecycle["value"][0])  # the sample's fields, in order
    assert leavers["@odata.context"].split("#")[1] == lifecycle["@odata.context"].split("#")[1]
    one = get(server, "/v1.0/users", token, **{"$filter": "mail eq 'ALICE@example.com'"}).json()["value"]
    assert [u["id"] for u in one] == [ALICE] and set(one[0]) == set(sample("users.json")["value"][0])
    left = get(server, "/v1.0/users", token,
               **{"$filter": "employeeLeaveDateTime ge 2026-10-01T00:00:00Z", "$select": "userPrincipalName"})
    assert [u["userPrincipalName"] for u in left.json()["value"]] == ["alice@example.com", "carol@example.com"]
    for rel, alice_n in (("oauth2PermissionGrants", 1), ("appRoleAssignments", 1),
                         ("registeredDevices", 1), ("ownedDevices", 1)):
        assert len(get(server, f"/v1.0/users/{ALICE}/{rel}", token).json()["value"]) == alice_n, rel
        assert get(server, f"/v1.0/users/{CAROL}/{rel}", token).json()["value"] == [], rel
    grants = get(server, "/v1.0/oauth2PermissionGrants", token, **{"$filter": f"principalId eq '{ALICE}'"})
    assert shape(grants.json()) == shape(sample("oauth2PermissionGrants.json"))
    assert grants.json()["value"][0]["consentType"] == "Principal"
    methods = get(server, f"/v1.0/users/{ALICE}/authentication/methods", token).json()
    assert "@odata.context" not in methods and len(methods["value"]) == 3
    bad = get(server, "/v1.0/users", token, **{"$filter": "favouriteColour eq 'blue'"})
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "Request_UnsupportedQuery"
    audits = get(server, "/v1.0/auditLogs/directoryAudits", token,
                 **{"$filter": f"targetResources/any(t: t/id eq '{CAROL}')"}).json()["value"]
    assert sorted(a["activityDisplayName"] for a in audits) == ["Disable account", "Remove member from group"]


# --- ARM ---------------------------------------------------------------------------------------------

def test_arm_role_assignments_filtered_by_principal_and_paged(server):
    cred = ClientSecretCredential(DEMO_TENANT, DEMO_CLIENT, DEMO_SECRET, authority=server.url,
                                  disable_instance_discovery=True, connection_verify=server.ca_file)
    token = cred.get_token(ARM).token
    assert server.tokens[token]["aud"] == ARM_AUDIENCE and "roles" not in server.tokens[token]
    base = f"/subscriptions/{DEMO_SUBSCRIPTION}/providers/Microsoft.Authorization"
    subs = get(server, "/subscriptions", token, **{"api-version": "2022-12-01"}).json()["value"]
    assert [s["subscriptionId"] for s in subs] == [DEMO_SUBSCRIPTION]
    dave = get(server, f"{base}/roleAssignments", token,
               **{"api-version": "2022-04-01", "$filter": f"principalId eq '{DAVE}'"}).json()
    assert [a["properties"]["roleDefinitionId"].rsplit("/", 1)[-1] for a in dave["value"]] == \
        ["b24988ac-6180-42a0-ab88-20f7382dd24c"]  # Contributor
    assert "nextLink" not in dave
    assert get(server, f"{base}/roleAssignments", token, **{"api-version": "2022-04-01",
               "$filter": f"principalId eq '{CAROL}'"}).json()["value"] == []
    role = get(server, dave["value"][0]["properties"]["roleDefinitionId"], token, **{"api-version": "2022-04-01"})
    assert role.json()["properties"]["roleName"] == "Contributor"
    server.arm_page_size = 2
    try:
        got = pages(server, f"{base}/roleAssignments", token, "nextLink", **{"api-version": "2022-04-01"})
    finally:
        server.arm_page_size = 1000
    assert [len(p["value"]) for p in got] == [2, 2, 1]
    assert len({a["id"] for p in got for a in p["value"]}) == 5
    at_scope = get(server, f"{base}/roleAssignments", token, **{"api-version": "2022-04-01",
                   "$filter": f"atScope() and principalId eq '{ALICE}'"}).json()
    assert at_scope["value"] == []  # her Owner is on a resource group, below the subscription
    assert get(server, f"{base}/roleAssignments", token).json()["error"]["code"] == "MissingApiVersionParameter"
    graph_token = server.issue_token(DEMO_CLIENT)
    wrong = get(server, f"{base}/roleAssignments", graph_token, **{"api-version": "2022-04-01"})
    assert wrong.status_code == 401 and wrong.json()["error"]["code"] == "InvalidAuthenticationTokenAudience"


def test_arm_pim_eligibility_and_what_rbac_refuses(server):
    base = f"/subscriptions/{DEMO_SUBSCRIPTION}/providers/Microsoft.Authorization"
    token = server.issue_token(DEMO_CLIENT, ARM_AUDIENCE)
    pim = get(server, f"{base}/roleEligibilityScheduleInstances", token,
              **{"api-version": "2020-10-01", "$filter": f"assignedTo('{DAVE}')"}).json()["value"]
    assert [(e["properties"]["principalId"], e["properties"]["expandedProperties"]["roleDefinition"]["displayName"])
            for e in pim] == [(DAVE, "User Access Administrator")]
    client = server.tenant.clients[DEMO_CLIENT]
    client.denied_actions.add("Microsoft.Authorization/roleEligibilityScheduleInstances/read")
    try:
        refused = get(server, f"{base}/roleEligibilityScheduleInstances", token, **{"api-version": "2020-10-01"})
        still = get(server, f"{base}/roleAssignments", token, **{"api-version": "2022-04-01"})
    finally:
        client.denied_actions.clear()
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "AuthorizationFailed"
    assert "roleEligibilityScheduleInstances/read" in refused.json()["error"]["message"]
    assert still.status_code == 200  # only PIM is refused
    restricted = server.issue_token(RESTRICTED, ARM_AUDIENCE)  # Reader nowhere
    assert get(server, "/subscriptions", restricted, **{"api-version": "2022-12-01"}).json()["value"] == []
    assert get(server, f"{base}/roleAssignments", restricted,
               **{"api-version": "2022-04-01"}).json()["error"]["code"] == "AuthorizationFailed"


# --- faults of the base, in this fake's own shapes --------------------------------------------------

def test_base_faults_speak_graph_and_endless_pages_never_end(server):
    token = server.issue_token(DEMO_CLIENT)
    server.fault(r"^/v1\.0/applications$", status=503, times=1)
    r = get(server, "/v1.0/applications", token)
    assert r.status_code == 503 and r.json()["error"]["code"] == "serviceNotAvailable"
    assert "innerError" in r.json()["error"]
    server.fault(r"^/v1\.0/users$", endless_pages=True, times=5)
    links = [p["@odata.nextLink"] for p in pages(server, "/v1.0/users", token)[:5]]
    assert len(set(links)) == 5  # a new cursor each time, so only a page bound stops a client
    server.fault(r"^/v1\.0/servicePrincipals$", truncate=True, times=1)
    with pytest.raises(ValueError):
        get(server, "/v1.0/servicePrincipals", token).json()


# --- the synthetic benchmark tenant ------------------------------------------------------------------

def test_synthetic_tenant_serves_realistic_page_counts():
    s = FakeMicrosoft(synthetic_tenant(), tls=False).start()
    try:
        token = s.issue_token(DEMO_CLIENT)
        users = pages(s, "/v1.0/users", token, **{"$top": "999", "$select": "id,accountEnabled"})
        assert len(users) == 21 and sum(len(p["value"]) for p in users) == 20_000
        assert [len(p["value"]) for p in pages(s, "/v1.0/applications", token, **{"$top": "999"})] == \
            [999, 999, 999, 3]
        assert len(pages(s, "/v1.0/servicePrincipals", token, **{"$top": "999", "$select": "id"})) == 6
        assert len(get(s, "/v1.0/users", token).json()["value"]) == 100  # the default page
        assert get(s, "/v1.0/users", token, **{"$top": "1000"}).status_code == 400  # over the max
        leavers = get(s, "/v1.0/users", token, **{"$filter": "accountEnabled eq false",
                                                  "$select": "id,signInSessionsValidFromDateTime,employeeLeaveDateTime"})
        found = leavers.json()["value"]
        assert len(found) == 20 and "@odata.nextLink" not in leavers.json()
        never_revoked = [u for u in found if u["signInSessionsValidFromDateTime"] < u["employeeLeaveDateTime"]]
        assert len(never_revoked) == 10
        owned = get(s, f"/v1.0/users/{found[0]['id']}/ownedObjects", token).json()["value"]
        assert any(o["@odata.type"] == "#microsoft.graph.application" for o in owned)
        assert s.count("/v1.0/users") == 21 + 4
    finally:
        s.stop()
