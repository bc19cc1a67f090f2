"""The fake Google itself (fixtures/fake_google), driven by the real google-auth and
google-api-python-client: domain-wide-delegated service-account credentials against its
token endpoint, Application Default Credentials from a key file, paging to the last page,
the error bodies of the samples, throttling, SERVICE_DISABLED, read-only enforcement, the
signOut exception and the synthetic estate's page counts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import requests

from google.auth.exceptions import RefreshError  # noqa: E402
from google.oauth2 import service_account  # noqa: E402
from googleapiclient.discovery import build  # noqa: E402
from googleapiclient.errors import HttpError  # noqa: E402

from fixtures import SAMPLES as SAMPLES_ROOT  # noqa: E402
from fixtures.fake_google import (  # noqa: E402
    ADMIN, ALICE_KEY, AUTH, GCP_SCOPES, SCANNER, WORKSPACE_SCOPES, FakeGoogle, demo_google, path_of,
    start_demo, synthetic_google,
)

SAMPLES = SAMPLES_ROOT
DEPLOY = "svc-deploy@acme-prod.iam.gserviceaccount.com"


def sample(name: str):
    p = SAMPLES / name
    if not p.exists():
        pytest.skip(f"reference sample {p} not available")
    return json.loads(p.read_text())


@pytest.fixture(scope="module")
def demo():
    s = start_demo()
    yield s
    s.stop()


@pytest.fixture
def fresh():
    """A demo server of its own, for tests that change its switches or count requests."""
    s = start_demo()
    yield s
    s.stop()


def ws_creds(server, scopes=WORKSPACE_SCOPES, subject=ADMIN):
    creds = service_account.Credentials.from_service_account_info(server.key_info(), scopes=scopes)
    return creds.with_subject(subject) if subject else creds


def gcp_creds(server, scopes=GCP_SCOPES):
    return service_account.Credentials.from_service_account_info(server.key_info(), scopes=scopes)


def client(server, api: str, version: str, creds):
    """Exactly how a collector points google-api-python-client at the fake."""
    return build(api, version, credentials=creds, static_discovery=True, cache_discovery=False,
                 client_options={"api_endpoint": server.url})


def no_sleep(request):
    request._sleep = lambda seconds: None  # the library's own backoff, not slept in tests
    return request


def error_body(e: HttpError) -> dict:
    return json.loads(e.content)


# --- Workspace --------------------------------------------------------------------------------


def test_users_list_with_delegated_credentials_pages_to_the_end(fresh):
    d = client(fresh, "admin", "directory_v1", ws_creds(fresh))
    req, pages, emails = d.users().list(customer="my_customer", maxResults=2), 0, []
    while req is not None:
        resp = req.execute()
        pages += 1
        assert resp["kind"] == "admin#directory#users" and resp["etag"].startswith('"')
        emails += [u["primaryEmail"] for u in resp["users"]]
        req = d.users().list_next(req, resp)
    assert pages == 2 and emails == ["alice@example.com", "bob@example.com", "carol@example.com",
                                     "dave@example.com"]  # erin is deleted: not in the default list
    assert fresh.calls()["directory.users.list"] == 2 and fresh.calls()["oauth2.token"] == 1
    deleted = d.users().list(customer="my_customer", showDeleted="true").execute()["users"]
    assert [u["primaryEmail"] for u in deleted] == ["erin@example.com"] and "deletionTime" in deleted[0]
    alice = d.users().get(userKey="a.archer@example.com").execute()  # an alias finds her
    assert alice["suspended"] is True and alice["aliases"] == ["a.archer@example.com"]
    assert alice["lastLoginTime"] == "2026-11-03T07:12:40.000Z"


def test_user_payload_follows_the_sample(demo):
    ref = sample("google-workspace/admin_directory_v1_users.json")
    suspended = ref["users"][1]
    d = client(demo, "admin", "directory_v1", ws_creds(demo))
    got = d.users().get(userKey="alice@example.com").execute()
    assert set(suspended) - {"languages"} <= set(got) <= set(suspended) | {"aliases"}
    assert set(ref) == set(d.users().list(customer="my_customer", maxResults=1).execute())


def test_users_query_and_page_size_limits(demo):
    d = client(demo, "admin", "directory_v1", ws_creds(demo))
    got = d.users().list(customer="my_customer", query="isSuspended=true email:carol@example.com").execute()
    assert [u["primaryEmail"] for u in got["users"]] == ["carol@example.com"]
    assert "users" not in d.users().list(customer="my_customer", query="email:nobody@example.com").execute()
    with pytest.raises(HttpError) as e:  # Google's range check: maxResults 1..500
        d.users().list(customer="my_customer", maxResults=501).execute()
    assert e.value.resp.status == 400 and "[1, 500]" in error_body(e.value)["error"]["message"]
    with pytest.raises(HttpError) as e:  # a query the fake does not understand is not "nothing found"
        d.users().list(customer="my_customer", query="favouriteColour:blue").execute()
    assert e.value.resp.status == 400


def test_tokens_asps_and_devices_of_a_leaver_and_the_clean_near_miss(demo):
    d = client(demo, "admin", "directory_v1", ws_creds(demo))
    grants = d.tokens().list(userKey="alice@example.com").execute()
    assert grants["kind"] == "admin#directory#tokenList"
    assert [(t["displayText"], t["nativeApp"]) for t in grants["items"]] == [("NoteSync for Google Drive", False)]
    assert set(grants["items"][0]) == set(sample("google-workspace/admin_directory_v1_users_USERKEY_tokens.json")
                                          ["items"][0])
    asps = d.asps().list(userKey="alice@example.com").execute()["items"]
    assert asps[0]["name"] == "Thunderbird on laptop" and asps[0]["creationTime"].isdigit()
    phones = d.mobiledevices().list(customerId="my_customer", query="email:alice@example.com").execute()
    assert [m["model"] for m in phones["mobiledevices"]] == ["Pixel 8"]
    books = d.chromeosdevices().list(customerId="my_customer", query="user:alice@example.com").execute()
    assert books["chromeosdevices"][0]["annotatedUser"] == "alice@example.com"
    # carol, suspended cleanly: the lists come back without items, as Google leaves empty lists out
    assert "items" not in d.tokens().list(userKey="carol@example.com").execute()
    assert "items" not in d.asps().list(userKey="carol@example.com").execute()
    assert "mobiledevices" not in d.mobiledevices().list(customerId="my_customer",
                                                         query="email:carol@example.com").execute()
    with pytest.raises(HttpError) as e:
        d.tokens().list(userKey="nobody@example.com").execute()
    assert e.value.resp.status == 404 and error_body(e.value)["error"]["errors"][0]["reason"] == "notFound"


def test_reports_login_and_token_events_after_termination(demo):
    r = client(demo, "admin", "reports_v1", ws_creds(demo))
    after = r.activities().list(userKey="alice@example.com", applicationName="login",
                                startTime="2026-11-01T00:00:00.000Z").execute()
    assert [a["id"]["time"] for a in after["items"]] == ["2026-11-03T07:12:40.418Z"]
    grants = r.activities().list(userKey="all", applicationName="token", eventName="authorize",
                                 startTime="2026-11-01T00:00:00.000Z").execute()["items"]
    assert [(a["actor"]["email"], a["id"]["time"][:10]) for a in grants] == [
        ("bob@example.com", "2026-11-19"), ("alice@example.com", "2026-11-04")]  # newest first
    carol = r.activities().list(userKey="carol@example.com", applicationName="login",
                                startTime="2026-10-15T00:00:00.000Z").execute()
    assert "items" not in carol  # her last login was the day before
    assert set(sample("google-workspace/admin_reports_v1_activity_users_all_applications_login.json")
               ["items"][0]) == set(after["items"][0])
    pages, req = 0, r.activities().list(userKey="all", applicationName="admin", maxResults=1)
    while req is not None:
        resp = req.execute()
        pages += 1
        req = r.activities().list_next(req, resp)
    assert pages == 4  # the four suspensions and deletions, one per page


def test_missing_scope_is_403_naming_the_scope(demo):
    only_users = [AUTH + "admin.directory.user.readonly"]
    d = client(demo, "admin", "directory_v1", ws_creds(demo, scopes=only_users))
    assert d.users().list(customer="my_customer", maxResults=1).execute()["users"]
    with pytest.raises(HttpError) as e:
        d.tokens().list(userKey="alice@example.com").execute()
    err = error_body(e.value)["error"]
    assert e.value.resp.status == 403 and err["status"] == "PERMISSION_DENIED"
    assert err["message"] == "Request had insufficient authentication scopes."
    assert err["errors"][0]["reason"] == "insufficientPermissions"  # not a rate limit: not retried
    assert 'scope="https://www.googleapis.com/auth/admin.directory.user.security"' in \
        e.value.resp["www-authenticate"]


def test_not_an_admin_is_the_sample_403(demo):
    """No domain-wide delegation (GCP credentials, no subject) and an admin without the
    privilege both get the Directory's own 403, the body of error_403_not_authorized.json."""
    ref = sample("google-workspace/error_403_not_authorized.json")
    d = client(demo, "admin", "directory_v1", gcp_creds(demo, scopes=WORKSPACE_SCOPES))
    with pytest.raises(HttpError) as e:
        d.users().list(customer="my_customer").execute()
    assert e.value.resp.status == 403 and error_body(e.value) == ref
    demo.deny("reports.activities.list")
    try:
        r = client(demo, "admin", "reports_v1", ws_creds(demo))
        with pytest.raises(HttpError) as e:
            r.activities().list(userKey="all", applicationName="login").execute()
        assert error_body(e.value) == ref
    finally:
        demo.denied.clear()


def test_delegation_refuses_a_scope_the_admin_did_not_authorise(demo):
    writer = [AUTH + "admin.directory.user"]  # a write scope: not delegated to the scanner
    creds = ws_creds(demo, scopes=writer)
    d = client(demo, "admin", "directory_v1", creds)
    with pytest.raises(RefreshError) as e:
        d.users().list(customer="my_customer").execute()
    assert "unauthorized_client" in str(e.value)
    with pytest.raises(RefreshError, match="Invalid email or User ID"):  # a suspended subject
        client(demo, "admin", "directory_v1", ws_creds(demo, subject="carol@example.com")) \
            .users().list(customer="my_customer").execute()


def test_bad_credentials(demo):
    info = dict(demo.key_info(), client_email="stranger@evil.iam.gserviceaccount.com")
    creds = service_account.Credentials.from_service_account_info(info, scopes=GCP_SCOPES)
    with pytest.raises(RefreshError, match="Invalid JWT Signature"):
        client(demo, "iam", "v1", creds).projects().serviceAccounts().list(name="projects/acme-prod").execute()
    r = requests.get(f"{demo.url}/admin/directory/v1/users", params={"customer": "my_customer"},
                     headers={"Authorization": "Bearer ya29.not-a-token"}, timeout=5)
    assert r.status_code == 401 and r.json() == sample("google-workspace/error_401_invalid_credentials.json")
    r = requests.get(f"{demo.url}/v1/projects/acme-prod/serviceAccounts", timeout=5)
    assert r.status_code == 401 and r.json() == sample("gcp/error_401_UNAUTHENTICATED.json")


# --- quotas ---------------------------------------------------------------------------------------


def test_429_resource_exhausted_is_served_and_the_library_retries_it(fresh):
    iam = client(fresh, "iam", "v1", gcp_creds(fresh))
    fresh.throttle("iam.serviceAccounts.list", times=1)
    with pytest.raises(HttpError) as e:
        iam.projects().serviceAccounts().list(name="projects/acme-prod").execute()
    err = error_body(e.value)["error"]
    assert e.value.resp.status == 429 and err["status"] == "RESOURCE_EXHAUSTED"
    assert set(err) == set(sample("gcp/error_429_RESOURCE_EXHAUSTED.json")["error"])
    assert "iam.googleapis.com" in err["message"]
    fresh.throttle("iam.serviceAccounts.list", times=1)
    got = no_sleep(iam.projects().serviceAccounts().list(name="projects/acme-prod")).execute(num_retries=2)
    assert len(got["accounts"]) == 3 and fresh.calls()["iam.serviceAccounts.list"] == 3


def test_403_rate_limit_exceeded_is_retried_by_the_library(fresh):
    d = client(fresh, "admin", "directory_v1", ws_creds(fresh))
    fresh.throttle("directory.users.list", status=403, times=1)
    got = no_sleep(d.users().list(customer="my_customer")).execute(num_retries=1)
    assert len(got["users"]) == 4 and fresh.calls()["directory.users.list"] == 2
    fresh.throttle("directory.users.list", status=403, times=1)
    with pytest.raises(HttpError) as e:
        d.users().list(customer="my_customer").execute()
    assert error_body(e.value)["error"]["errors"][0] == {
        "message": "Rate Limit Exceeded", "domain": "usageLimits", "reason": "rateLimitExceeded"}


# --- Google Cloud -----------------------------------------------------------------------------------


def test_iam_service_accounts_and_user_managed_keys(demo):
    iam = client(demo, "iam", "v1", gcp_creds(demo))
    accounts, req = [], iam.projects().serviceAccounts().list(name="projects/acme-prod", pageSize=2)
    while req is not None:
        resp = req.execute()
        accounts += resp["accounts"]
        req = iam.projects().serviceAccounts().list_next(req, resp)
    assert len(accounts) == 3 and set(accounts[0]) <= set(
        sample("gcp/iam_v1_projects_PROJECT_serviceAccounts.json")["accounts"][1])
    keys = iam.projects().serviceAccounts().keys().list(
        name=f"projects/acme-prod/serviceAccounts/{DEPLOY}", keyTypes="USER_MANAGED").execute()["keys"]
    assert [(k["name"].rsplit("/", 1)[1], k.get("disabled", False)) for k in keys] == [
        (ALICE_KEY, False), ("a1ce0000000000000000000000000000000000a2", True)]
    assert keys[0]["validBeforeTime"] == "9999-12-31T23:59:59Z" and keys[0]["keyType"] == "USER_MANAGED"
    ref = sample("gcp/iam_v1_projects_PROJECT_serviceAccounts_SA_keys.json")["keys"]
    assert set(keys[0]) == set(ref[0]) and set(keys[1]) == set(ref[1])
    every = iam.projects().serviceAccounts().keys().list(name=f"projects/-/serviceAccounts/{DEPLOY}").execute()
    assert [k["keyType"] for k in every["keys"]].count("SYSTEM_MANAGED") == 1
    policy = iam.projects().serviceAccounts().getIamPolicy(
        resource=f"projects/acme-prod/serviceAccounts/{DEPLOY}").execute()  # a read-only POST
    assert policy["bindings"] == [{"role": "roles/iam.serviceAccountTokenCreator",
                                   "members": ["user:alice@example.com"]}]
    with pytest.raises(HttpError) as e:
        iam.projects().serviceAccounts().keys().list(
            name="projects/acme-prod/serviceAccounts/gone@acme-prod.iam.gserviceaccount.com").execute()
    assert e.value.resp.status == 404 and error_body(e.value)["error"]["status"] == "NOT_FOUND"
    assert demo.writes == []


def test_resource_manager_policies_name_the_leavers_and_not_carol(demo):
    crm = client(demo, "cloudresourcemanager", "v3", gcp_creds(demo))
    prod = crm.projects().search(query="parent:folders/220000000001").execute()["projects"]
    assert [p["projectId"] for p in prod] == ["acme-prod"]
    assert set(prod[0]) == set(sample("gcp/cloudresourcemanager_v3_projects_search.json")["projects"][0])
    members = [m for b in crm.projects().getIamPolicy(resource="projects/acme-prod", body={}).execute()["bindings"]
               for m in b["members"]]
    assert "user:dave@example.com" in members
    assert "deleted:user:erin@example.com?uid=113000000000000000005" in members
    org = crm.organizations().getIamPolicy(resource="organizations/445566778899", body={}).execute()
    assert org["bindings"][0]["role"] == "roles/resourcemanager.organizationAdmin"
    every = [m for p in crm.projects().search().execute()["projects"]
             for b in crm.projects().getIamPolicy(resource=p["name"], body={}).execute().get("bindings", [])
             for m in b["members"]]
    assert not [m for m in every if "carol" in m]


def test_cloud_asset_searches_and_service_disabled(fresh):
    asset = client(fresh, "cloudasset", "v1", gcp_creds(fresh))
    deleted = asset.v1().searchAllIamPolicies(scope="organizations/445566778899", query="policy:deleted:").execute()
    assert [r["policy"]["bindings"] for r in deleted["results"]] == [
        [{"role": "roles/viewer", "members": ["deleted:user:erin@example.com?uid=113000000000000000005"]}]]
    assert set(deleted["results"][0]) == set(sample("gcp/cloudasset_v1_SCOPE_searchAllIamPolicies.json")["results"][0])
    alice = asset.v1().searchAllIamPolicies(scope="projects/acme-prod", query="policy:alice@example.com").execute()
    assert [r["assetType"] for r in alice["results"]] == ["iam.googleapis.com/ServiceAccount"]
    assert asset.v1().searchAllIamPolicies(scope="organizations/445566778899",
                                           query="policy:carol@example.com").execute() == {}
    pages, emails = 0, []
    req = asset.v1().searchAllResources(scope="organizations/445566778899", pageSize=2,
                                        assetTypes=["iam.googleapis.com/ServiceAccount"])
    while req is not None:
        resp = req.execute()
        pages += 1
        emails += [r["additionalAttributes"]["email"] for r in resp["results"]]
        req = asset.v1().searchAllResources_next(req, resp)
    assert len(emails) == 5 and pages == 3 and DEPLOY in emails

    fresh.disable_service("cloudasset")
    with pytest.raises(HttpError) as e:
        asset.v1().searchAllIamPolicies(scope="organizations/445566778899").execute()
    err = error_body(e.value)["error"]
    assert e.value.resp.status == 403 and err["status"] == "PERMISSION_DENIED"
    assert err["message"].startswith(
        "Cloud Asset API has not been used in project 400000000009 before or it is disabled")
    assert [d["reason"] for d in err["details"] if "reason" in d] == ["SERVICE_DISABLED"]
    assert fresh.calls()["cloudasset.searchAllIamPolicies"] == 4  # asked once: not retried
    iam = client(fresh, "iam", "v1", gcp_creds(fresh))  # the fallback still answers
    assert iam.projects().serviceAccounts().list(name="projects/acme-prod").execute()["accounts"]


def test_audit_log_names_who_created_each_key(demo):
    logging = client(demo, "logging", "v2", gcp_creds(demo))
    body = {"resourceNames": ["projects/acme-prod"], "orderBy": "timestamp desc",
            "filter": 'protoPayload.methodName="google.iam.admin.v1.CreateServiceAccountKey"\n'
                      'resource.type="service_account"'}
    entries = logging.entries().list(body=body).execute()["entries"]  # a read-only POST
    got = [(e["protoPayload"]["authenticationInfo"]["principalEmail"],
            e["protoPayload"]["response"]["name"].rsplit("/", 1)[1]) for e in entries]
    assert got == [("bob@example.com", "b0b00000000000000000000000000000000000b1"),
                   ("alice@example.com", ALICE_KEY),
                   ("alice@example.com", "a1ce0000000000000000000000000000000000a2")]
    # the 2024 key's entry is past the 400-day retention: its creator is unknown, not "nobody"
    old = dict(body, filter='protoPayload.response.name:"0d000000000000000000000000000000000000d1"')
    assert logging.entries().list(body=old).execute() == {}
    alice = dict(body, filter='protoPayload.authenticationInfo.principalEmail="alice@example.com" AND '
                              'timestamp>="2026-02-01T00:00:00Z"', pageSize=1)
    assert len(logging.entries().list(body=alice).execute()["entries"]) == 1
    with pytest.raises(HttpError) as e:
        logging.entries().list(body=dict(body, filter='protoPayload.methodName="x" AND (')).execute()
    assert e.value.resp.status == 400
    assert demo.writes == []


def test_application_default_credentials_from_a_key_file(demo, tmp_path, monkeypatch):
    import google.auth
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(demo.write_key_file(tmp_path / "key.json")))
    creds, project = google.auth.default(scopes=GCP_SCOPES)
    assert project == "acme-security" and creds.service_account_email == SCANNER
    crm = client(demo, "cloudresourcemanager", "v3", creds)
    assert {p["projectId"] for p in crm.projects().search().execute()["projects"]} == {
        "acme-prod", "acme-staging", "acme-legacy", "acme-security"}


# --- read-only, and the one write -----------------------------------------------------------------


def test_writes_are_405_and_recorded(fresh):
    d = client(fresh, "admin", "directory_v1", ws_creds(fresh))
    with pytest.raises(HttpError) as e:
        d.tokens().delete(userKey="alice@example.com", clientId="x").execute()
    assert e.value.resp.status == 405
    iam = client(fresh, "iam", "v1", gcp_creds(fresh))
    with pytest.raises(HttpError) as e:  # a POST that is not one of the read-only ones
        iam.projects().serviceAccounts().keys().disable(
            name=f"projects/acme-prod/serviceAccounts/{DEPLOY}/keys/{ALICE_KEY}", body={}).execute()
    assert e.value.resp.status == 405
    assert [(w.method, w.path.rsplit("/", 1)[1]) for w in fresh.writes] == [
        ("DELETE", "x"), ("POST", f"{ALICE_KEY}:disable")]
    assert d.tokens().list(userKey="alice@example.com").execute()["items"]  # nothing changed


def test_sign_out_only_with_allow_revoke(fresh):
    d = client(fresh, "admin", "directory_v1", ws_creds(fresh))
    with pytest.raises(HttpError) as e:
        d.users().signOut(userKey="alice@example.com").execute()
    assert e.value.resp.status == 405 and len(fresh.writes) == 1 and fresh.revocations == []
    revoker = demo_google(FakeGoogle(allow_revoke=True)).start()
    try:
        r = client(revoker, "admin", "directory_v1", ws_creds(revoker))
        assert not r.users().signOut(userKey="alice@example.com").execute()  # 204, no body
        assert revoker.revocations == [{"method": "users.signOut", "userKey": "alice@example.com",
                                        "user": "alice@example.com", "by": ADMIN}]
        assert revoker.writes == []
        with pytest.raises(HttpError) as e:  # the scope still matters
            client(revoker, "admin", "directory_v1",
                   ws_creds(revoker, scopes=[AUTH + "admin.directory.user.readonly"])) \
                .users().signOut(userKey="alice@example.com").execute()
        assert e.value.resp.status == 403 and len(revoker.revocations) == 1
    finally:
        revoker.stop()


# --- the fault matrix's faults in Google's form ------------------------------------------------------


def test_endless_pages_hand_out_a_new_page_token_each_time(fresh):
    d = client(fresh, "admin", "directory_v1", ws_creds(fresh))
    fresh.fault(path_of("directory.users.list"), endless_pages=True, times=3)
    tokens, req = [], d.users().list(customer="my_customer")
    while req is not None:
        resp = req.execute()
        tokens.append(resp.get("nextPageToken"))
        req = d.users().list_next(req, resp)
    assert len(tokens) == 4 and len(set(tokens[:3])) == 3 and tokens[3] is None  # then it stops lying


def test_truncated_and_dropped_answers(fresh):
    iam = client(fresh, "iam", "v1", gcp_creds(fresh))
    fresh.fault(path_of("iam.serviceAccounts.list"), truncate=True, times=1)
    # the library does not raise on a cut-off body: it hands back the raw text, so a
    # collector must check that it got a dict before reading it as a listing
    cut = iam.projects().serviceAccounts().list(name="projects/acme-prod").execute()
    assert isinstance(cut, str) and cut.startswith('{"items": [')
    fresh.fault(path_of("iam.serviceAccounts.list"), status=503, times=1)
    got = no_sleep(iam.projects().serviceAccounts().list(name="projects/acme-prod")).execute(num_retries=1)
    assert len(got["accounts"]) == 3 and fresh.calls()["iam.serviceAccounts.list"] == 3


# --- the synthetic estate -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def synth():
    est = synthetic_google()
    est.server.start()
    yield est
    est.server.stop()


def test_synthetic_estate_page_counts(synth):
    s = synth.server
    assert (synth.users, synth.service_accounts, synth.projects, len(synth.leavers)) == (20_000, 2_000, 200, 20)
    token = s.token_for(WORKSPACE_SCOPES, subject="user000000@example.com")
    pages, users, page_token = 0, 0, None
    while True:  # raw HTTP: 20,000 users through the library's JSON model would be slow for a unit test
        params = {"customer": "my_customer", "maxResults": 500, **({"pageToken": page_token} if page_token else {})}
        body = requests.get(f"{s.url}/admin/directory/v1/users", params=params,
                            headers={"Authorization": f"Bearer {token}"}, timeout=30).json()
        pages, users = pages + 1, users + len(body["users"])
        page_token = body.get("nextPageToken")
        if not page_token:
            break
    assert (pages, users) == (40, 20_000)
    suspended = [u for u in s.users if u["suspended"]]
    assert {u["primaryEmail"] for u in suspended} == {e for e, _ in synth.leavers}
    gcp = s.token_for(GCP_SCOPES)
    headers = {"Authorization": f"Bearer {gcp}"}
    asset_pages, accounts, page_token = 0, 0, None
    while True:
        params = {"assetTypes": "iam.googleapis.com/ServiceAccount", "pageSize": 1000,
                  **({"pageToken": page_token} if page_token else {})}
        body = requests.get(f"{s.url}/v1/organizations/445566778899:searchAllResources", params=params,
                            headers=headers, timeout=30).json()
        asset_pages, accounts = asset_pages + 1, accounts + len(body["results"])
        page_token = body.get("nextPageToken")
        if not page_token:
            break
    assert (asset_pages, accounts) == (4, 2_000)  # 1000 asked, capped at 500
    one = requests.get(f"{s.url}/v1/projects/proj-007/serviceAccounts", params={"pageSize": 500},
                       headers=headers, timeout=10).json()
    assert len(one["accounts"]) == 10 and "nextPageToken" not in one  # 10 per project, cap 100


def test_synthetic_leavers_have_the_residue_the_deep_pass_must_find(synth):
    s, (email, gone) = synth.server, synth.leavers[3]
    d = client(s, "admin", "directory_v1", ws_creds(s, subject="user000000@example.com"))
    assert d.tokens().list(userKey=email).execute()["items"][0]["displayText"] == "NoteSync for Google Drive"
    assert d.asps().list(userKey=email).execute()["items"]
    r = client(s, "admin", "reports_v1", ws_creds(s, subject="user000000@example.com"))
    assert r.activities().list(userKey=email, applicationName="login", startTime=gone).execute()["items"]
    logging = client(s, "logging", "v2", gcp_creds(s))
    projects = {e["resource"]["labels"]["project_id"] for e in s.log_entries
                if e["protoPayload"]["authenticationInfo"]["principalEmail"] == email}
    got = logging.entries().list(body={"resourceNames": [f"projects/{p}" for p in projects],
                                       "filter": f'protoPayload.authenticationInfo.principalEmail="{email}"'}).execute()
    assert len(got["entries"]) == 1
    bystander = "user000050@example.com"  # a grant, but not a leaver: the bulk pass must not need it
    assert d.users().get(userKey=bystander).execute()["suspended"] is False
