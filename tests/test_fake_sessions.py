"""The session-layer fakes (issue 20) driven by the real client libraries: Okta's OAuth
clients, refresh tokens, grants, devices and System Log (requests), Slack's Web API
(slack_sdk), CloudTrail LookupEvents (boto3) and GitHub's audit log (requests), with their
paging, rate-limit answers and the revoker's writes: refused and recorded unless the fake
was made with ``allow_revoke=True``."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace

import boto3
import botocore.endpoint
import pytest
import requests
from botocore.config import Config
from botocore.exceptions import ClientError

from fixtures import fake_cloudtrail as ct
from fixtures import fake_github as gh
from fixtures import fake_okta as okta
from fixtures import fake_slack as slack
from fixtures.aws_estate import FAKE_ENV, AwsServer, plant_demo
from fixtures import SAMPLES as SAMPLES_ROOT

try:  # Slack's official client; until pyproject.toml lists it, its tests skip rather than break
    from slack_sdk import WebClient
    from slack_sdk.errors import SlackApiError
    from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler
except ImportError:  # pragma: no cover
    WebClient = RateLimitErrorRetryHandler = None  # type: ignore[assignment,misc]
    SlackApiError = Exception  # type: ignore[assignment,misc]
needs_slack_sdk = pytest.mark.skipif(WebClient is None, reason="slack_sdk is not installed")

SAMPLES = SAMPLES_ROOT
TERMINATED = datetime(2026, 11, 1, tzinfo=UTC)


def sample(name: str):
    p = SAMPLES / name
    if not p.exists():
        pytest.skip(f"reference sample {p} not available")
    return json.loads(p.read_text())


def keys_of(items) -> set[str]:
    return set().union(*(set(i) for i in items))


# --- Okta ----------------------------------------------------------------------------------


def okta_server(allow_revoke: bool = False) -> okta.FakeOkta:
    s = okta.demo_okta(okta.FakeOkta(okta.DEMO_TOKEN, allow_revoke=allow_revoke))
    okta.plant_sessions(s)
    return s


@pytest.fixture
def ok_server():
    with okta_server() as s:
        yield s


def oget(server, path: str, **params) -> requests.Response:
    return requests.get(server.url + path, params=params, timeout=5,
                        headers={"Authorization": f"SSWS {okta.DEMO_TOKEN}"})


def follow(server, path: str, **params) -> tuple[list, int]:
    """Every item of a Link-paged Okta listing, and how many pages it took."""
    r, items, pages = oget(server, path, **params), [], 0
    while True:
        assert r.status_code == 200, r.text
        items += r.json()
        pages += 1
        if "next" not in r.links:
            return items, pages
        r = requests.get(r.links["next"]["url"], headers={"Authorization": f"SSWS {okta.DEMO_TOKEN}"},
                         timeout=5)


@pytest.mark.parametrize("path,params,sample_name", [
    (f"/api/v1/users/{okta.ALICE}/clients", {}, "users_ID_clients.json"),
    (f"/api/v1/users/{okta.ALICE}/clients/{okta.AWS_CLI_CLIENT}/tokens", {},
     "users_ID_clients_CLIENTID_tokens.json"),
    (f"/api/v1/users/{okta.ALICE}/grants", {}, "users_ID_grants.json"),
    (f"/api/v1/users/{okta.ALICE}/devices", {}, "users_ID_devices.json"),
    ("/api/v1/devices", {"expand": "user"}, "devices_expand_user.json"),
    ("/api/v1/devices", {"expand": "userSummary"}, "devices_expand_userSummary.json"),
    ("/api/v1/logs", {"filter": 'eventType eq "user.session.start" or eventType eq "user.authentication.sso"'},
     "logs.json"),
])
def test_okta_payloads_follow_the_samples(ok_server, path, params, sample_name):
    ref = sample(f"okta-sessions/{sample_name}")
    got = oget(ok_server, path, **params).json()
    assert got and isinstance(got, list)
    assert keys_of(got) == keys_of(ref)
    if "devices" in path and "expand" in params:
        user_keys = keys_of(u["user"] for d in ref for u in d["_embedded"]["users"])
        assert keys_of(u["user"] for d in got for u in d["_embedded"]["users"]) == user_keys
    if sample_name == "logs.json":
        assert {e["eventType"] for e in got} == {"user.session.start", "user.authentication.sso"}
        assert all(e["actor"]["type"] == "User" for e in got)


def test_okta_expand_scope_embeds_the_scopes(ok_server):
    ref = sample("okta-sessions/apps_ID_tokens_expand_scope.json")
    plain = oget(ok_server, f"/api/v1/users/{okta.ALICE}/clients/{okta.AWS_CLI_CLIENT}/tokens").json()
    expanded = oget(ok_server, f"/api/v1/users/{okta.ALICE}/clients/{okta.AWS_CLI_CLIENT}/tokens",
                    expand="scope").json()
    assert "_embedded" not in plain[0]
    assert [s["name"] for s in expanded[0]["_embedded"]["scopes"]] == expanded[0]["scopes"]
    assert keys_of(expanded[0]["_embedded"]["scopes"]) == keys_of(ref[0]["_embedded"]["scopes"])


def test_okta_clients_tokens_grants_devices_page_with_link_headers(ok_server):
    clients, pages = follow(ok_server, f"/api/v1/users/{okta.ALICE}/clients", limit=1)
    assert [c["client_id"] for c in clients] == [okta.AWS_CLI_CLIENT, okta.WIKI_CLIENT] and pages == 2
    grants, pages = follow(ok_server, f"/api/v1/users/{okta.ALICE}/grants", limit=1)
    assert len(grants) == 2 and pages == 2 and {g["userId"] for g in grants} == {okta.ALICE}
    devices, pages = follow(ok_server, "/api/v1/devices", limit=1, expand="user")
    assert pages == 2 and all("_embedded" in d for d in devices)
    owners = {d["id"]: [u["user"]["id"] for u in d["_embedded"]["users"]] for d in devices}
    assert owners[okta.ALICE_LAPTOP] == [okta.ALICE]
    # the near misses: carol (deprovisioned) holds nothing; bob's token is his own
    assert oget(ok_server, f"/api/v1/users/{okta.CAROL}/clients").json() == []
    assert oget(ok_server, f"/api/v1/users/{okta.CAROL}/devices").json() == []
    bob_tokens = oget(ok_server, f"/api/v1/users/{okta.BOB}/clients/{okta.AWS_CLI_CLIENT}/tokens").json()
    assert [t["userId"] for t in bob_tokens] == [okta.BOB]
    assert oget(ok_server, "/api/v1/users/00unobody/grants").json()["errorCode"] == "E0000007"


def test_okta_system_log_finds_use_after_termination(ok_server):
    flt = f'actor.id eq "{okta.ALICE}" and (eventType sw "user." or eventType sw "app.oauth2.token.grant")'
    after, _ = follow(ok_server, "/api/v1/logs", since="2026-11-01T00:00:00.000Z",
                      until="2026-11-21T12:00:00.000Z", filter=flt, limit=1)
    assert [e["eventType"] for e in after] == ["user.session.start", "user.authentication.sso",
                                              "app.oauth2.token.grant.refresh_token"]
    assert after[0]["authenticationContext"]["externalSessionId"] == okta.ALICE_SESSION
    assert after[2]["client"]["id"] == okta.WIKI_CLIENT
    # her 2026-10-31 sign-in is before the termination: not in the window
    before = oget(ok_server, "/api/v1/logs", until="2026-11-01T00:00:00.000Z",
                  filter=f'actor.id eq "{okta.ALICE}"').json()
    assert [e["published"] for e in before] == ["2026-10-31T16:40:00.000Z"]
    gone = oget(ok_server, "/api/v1/logs", filter='eventType eq "user.lifecycle.deactivate"').json()
    assert [e["target"][0]["id"] for e in gone] == [okta.DAVE, okta.CAROL]
    removed = oget(ok_server, "/api/v1/logs", filter='eventType eq "application.user_membership.remove"').json()
    assert {t["type"] for t in removed[0]["target"]} == {"AppUser", "AppInstance", "User"}
    assert oget(ok_server, "/api/v1/logs", filter='actor.id gt "x"').json()["errorCode"] == "E0000031"


def test_okta_rate_limit_and_missing_permission_answers(ok_server):
    ref429 = sample("okta-sessions/error_E0000047_rate_limit.json")
    ref403 = sample("okta-sessions/error_E0000006_access_denied.json")
    ok_server.rate_limit_fault(r"/clients/.*/tokens$")
    path = f"/api/v1/users/{okta.ALICE}/clients/{okta.AWS_CLI_CLIENT}/tokens"
    r = oget(ok_server, path)
    assert r.status_code == 429 and set(r.json()) == set(ref429)
    assert (r.json()["errorCode"], r.json()["errorSummary"]) == (ref429["errorCode"], ref429["errorSummary"])
    assert r.headers["X-Rate-Limit-Remaining"] == "0" and int(r.headers["X-Rate-Limit-Reset"]) > 0
    assert oget(ok_server, path).status_code == 200  # one answer only
    ok_server.forbidden.add("/api/v1/devices")
    r = oget(ok_server, "/api/v1/devices")
    assert r.status_code == 403 and r.json()["errorCode"] == ref403["errorCode"]
    assert r.json()["errorSummary"] == ref403["errorSummary"]


def revoke(server, uid: str, oauth: bool = True) -> requests.Response:
    return requests.delete(f"{server.url}/api/v1/users/{uid}/sessions", timeout=5,
                           params={"oauthTokens": "true" if oauth else "false"},
                           headers={"Authorization": f"SSWS {okta.DEMO_TOKEN}"})


def gtr(server, uid: str) -> requests.Response:
    return requests.post(f"{server.url}/oauth2/v1/global-token-revocation", timeout=5,
                         json={"sub_id": {"format": "opaque", "id": uid}},
                         headers={"Authorization": f"Bearer {okta.DEMO_TOKEN}"})


def test_okta_revocation_is_refused_and_recorded_without_allow_revoke(ok_server):
    r, u = revoke(ok_server, okta.ALICE), gtr(ok_server, okta.ALICE)
    assert r.status_code == 405 and r.json()["errorCode"] == "E0000022" and u.status_code == 405
    assert [(w.method, w.path) for w in ok_server.writes] == [
        ("DELETE", f"/api/v1/users/{okta.ALICE}/sessions"), ("POST", "/oauth2/v1/global-token-revocation")]
    assert ok_server.revocations == []
    assert oget(ok_server, f"/api/v1/sessions/{okta.ALICE_SESSION}").status_code == 200
    assert len(oget(ok_server, f"/api/v1/users/{okta.ALICE}/clients/{okta.WIKI_CLIENT}/tokens").json()) == 1


def test_okta_revocation_is_answered_with_allow_revoke():
    with okta_server(allow_revoke=True) as s:
        r = revoke(s, okta.ALICE)
        assert r.status_code == 204 and r.content == b"" and s.writes == []
        assert s.revocations == [{"action": "clear_sessions", "method": "DELETE",
                                  "path": f"/api/v1/users/{okta.ALICE}/sessions", "user_id": okta.ALICE,
                                  "oauth_tokens": True, "forget_devices": True,
                                  "sessions_cleared": 1, "tokens_revoked": 2}]
        assert oget(s, f"/api/v1/sessions/{okta.ALICE_SESSION}").status_code == 404
        assert oget(s, f"/api/v1/users/{okta.ALICE}/clients/{okta.WIKI_CLIENT}/tokens").json() == []
        assert len(oget(s, f"/api/v1/users/{okta.ALICE}/grants").json()) == 2  # grants stay, as in Okta
        assert oget(s, f"/api/v1/sessions/{okta.BOB_SESSION}").status_code == 200  # only hers
        cleared = oget(s, "/api/v1/logs", filter='eventType eq "user.session.clear"').json()
        assert [e["target"][0]["id"] for e in cleared] == [okta.ALICE]
        # without oauthTokens the refresh tokens survive
        assert revoke(s, okta.BOB, oauth=False).status_code == 204
        assert len(oget(s, f"/api/v1/users/{okta.BOB}/clients/{okta.AWS_CLI_CLIENT}/tokens").json()) == 1
        # Universal Logout: everything of bob's; refused on an org without it
        assert gtr(s, okta.BOB).status_code == 204 and s.revocations[-1]["tokens_revoked"] == 1
        assert gtr(s, "00unobody").status_code == 400
        s.universal_logout = False
        assert gtr(s, okta.ALICE).json()["errorCode"] == "E0000006"
        # a token without the permission: 403, nothing revoked
        s.forbidden.add(f"/api/v1/users/{okta.ERIN}/sessions")
        n = len(s.revocations)
        assert revoke(s, okta.ERIN).json()["errorCode"] == "E0000006" and len(s.revocations) == n
        # every other write is still refused and recorded
        bad = requests.delete(f"{s.url}/api/v1/users/{okta.ALICE}", timeout=5,
                              headers={"Authorization": f"SSWS {okta.DEMO_TOKEN}"})
        assert bad.status_code == 405 and [w.path for w in s.writes] == [f"/api/v1/users/{okta.ALICE}"]


# --- Slack ---------------------------------------------------------------------------------


@pytest.fixture
def sl_server():
    with slack.demo_slack() as s:
        yield s


def client(server, token: str = slack.ORG_READ_TOKEN, **kw) -> WebClient:
    return WebClient(token=token, base_url=server.url + "/api/", **kw)


@needs_slack_sdk
def test_slack_auth_test_and_users_list_with_deleted_users(sl_server):
    me = client(sl_server).auth_test()
    assert set(sample("slack/auth.test.json")) <= set(me.data) and me["enterprise_id"] == slack.ENTERPRISE
    pages = [p.data for p in client(sl_server).users_list(team_id=slack.GRID_TEAM, limit=2)]
    assert len(pages) == 3 and pages[-1]["response_metadata"]["next_cursor"] == ""
    members = [m for p in pages for m in p["members"]]
    assert {m["id"]: m["deleted"] for m in members if m["deleted"]} == {slack.ALICE: True, slack.CAROL: True}
    ref = sample("slack/users.list_with_deleted.json")["members"]
    assert keys_of(members) <= keys_of(ref) | {"is_app_user"} and set(ref[1]) <= keys_of(members)
    with pytest.raises(SlackApiError) as e:  # an org-level token must say which workspace
        client(sl_server).users_list()
    assert e.value.response["error"] == "missing_argument"


@needs_slack_sdk
def test_slack_admin_users_and_sessions(sl_server):
    c = client(sl_server)
    active = [u["id"] for u in c.admin_users_list()["users"]]
    deactivated = c.admin_users_list(is_active=False)["users"]
    assert slack.ALICE not in active and slack.BOB in active
    assert [u["id"] for u in deactivated] == [slack.ALICE, slack.CAROL]
    assert set(sample("slack/admin.users.list.json")["users"][0]) <= set(deactivated[0])
    alice = c.admin_users_session_list(user_id=slack.ALICE, team_id=slack.GRID_TEAM)["active_sessions"]
    assert [x["session_id"] for x in alice] == [8273648801, 8273648802]
    assert "recent" in alice[0] and "recent" not in alice[1]
    assert keys_of(alice) == keys_of(sample("slack/admin.users.session.list.json")["active_sessions"])
    assert c.admin_users_session_list(user_id=slack.CAROL, team_id=slack.GRID_TEAM)["active_sessions"] == []
    every = [x["session_id"] for p in c.admin_users_session_list(limit=1) for x in p["active_sessions"]]
    assert len(every) == 4 and len(set(every)) == 4
    with pytest.raises(SlackApiError) as e:
        c.admin_users_session_list(user_id=slack.ALICE)
    assert e.value.response["error"] == "invalid_arguments"


@needs_slack_sdk
def test_slack_access_logs_page_by_number(sl_server):
    c = client(sl_server)
    first = c.team_accessLogs(team_id=slack.GRID_TEAM, count=2)
    assert first["paging"] == {"count": 2, "page": 1, "pages": 2, "total": 3}
    second = c.team_accessLogs(team_id=slack.GRID_TEAM, count=2, page=2)
    users = [x["user_id"] for x in first["logins"] + second["logins"]]
    assert users == [slack.BOB, slack.ALICE, slack.CAROL]  # most recent first
    assert set(first["logins"][0]) == set(sample("slack/team.accessLogs.json")["logins"][0])
    older = c.team_accessLogs(team_id=slack.GRID_TEAM, before=int(datetime(2026, 11, 1, tzinfo=UTC).timestamp()))
    assert [x["user_id"] for x in older["logins"]] == [slack.CAROL]
    with pytest.raises(SlackApiError) as e:
        c.team_accessLogs(team_id=slack.GRID_TEAM, count=5000)
    assert e.value.response["error"] == "over_pagination_limit"


@needs_slack_sdk
@pytest.mark.parametrize("token,call,error", [
    (slack.FREE_TOKEN, "team_accessLogs", "paid_only"),
    (slack.FREE_TOKEN, "admin_users_session_list", "missing_scope"),
    (slack.BOT_TOKEN, "admin_users_list", "not_allowed_token_type"),
    (slack.BOT_TOKEN, "team_accessLogs", "missing_scope"),
    ("xoxp-not-a-known-token", "auth_test", "invalid_auth"),
])
def test_slack_token_types_and_plans(sl_server, token, call, error):
    with pytest.raises(SlackApiError) as e:
        getattr(client(sl_server, token), call)()
    assert e.value.response.status_code == 200 and e.value.response["error"] == error
    if error == "paid_only":
        assert e.value.response.data == sample("slack/error_paid_only.json")
    if error == "missing_scope":
        assert e.value.response["needed"] in ("admin.users:read", "admin")
    # the same workspace still answers what its token may ask
    if token == slack.FREE_TOKEN:
        assert [m["id"] for m in client(sl_server, token).users_list()["members"]] == ["U0FREE0001"]


@needs_slack_sdk
def test_slack_ratelimited_is_a_429_with_retry_after(sl_server, monkeypatch):
    sl_server.ratelimit("admin.users.session.list", retry_after=3)
    with pytest.raises(SlackApiError) as e:
        client(sl_server).admin_users_session_list()
    assert e.value.response.status_code == 429 and e.value.response.data == sample("slack/error_ratelimited.json")
    assert e.value.response.headers["Retry-After"] in ("3", ["3"])
    slept = []
    monkeypatch.setattr("slack_sdk.http_retry.builtin_handlers.time.sleep", slept.append)
    sl_server.ratelimit("admin.users.session.list", retry_after=3)
    sl_server.reset_counts()
    r = client(sl_server, retry_handlers=[RateLimitErrorRetryHandler(max_retry_count=1)]).admin_users_session_list()
    assert r["ok"] and len(r["active_sessions"]) == 4
    assert sl_server.count("/api/admin.users.session.list") == 2 and slept and slept[0] >= 3


def test_slack_accepts_form_json_and_get_arguments(sl_server):
    url = sl_server.url + "/api/admin.users.session.list"
    as_json = requests.post(url, json={"user_id": slack.ALICE, "team_id": slack.GRID_TEAM}, timeout=5,
                            headers={"Authorization": f"Bearer {slack.ORG_READ_TOKEN}"}).json()
    as_get = requests.get(url, params={"token": slack.ORG_READ_TOKEN, "user_id": slack.ALICE,
                                       "team_id": slack.GRID_TEAM}, timeout=5).json()
    as_form = requests.post(url, data={"token": slack.ORG_READ_TOKEN, "user_id": slack.ALICE,
                                       "team_id": slack.GRID_TEAM}, timeout=5).json()
    assert as_json == as_get == as_form and len(as_json["active_sessions"]) == 2
    assert requests.post(url, timeout=5).json() == {"ok": False, "error": "not_authed"}
    assert sl_server.writes == []


@needs_slack_sdk
def test_slack_session_reset_is_refused_and_recorded_without_allow_revoke(sl_server):
    with pytest.raises(SlackApiError) as e:
        client(sl_server, slack.ORG_REVOKE_TOKEN).admin_users_session_reset(user_id=slack.ALICE)
    assert e.value.response["error"] == "restricted_action"
    # a GET carries a write just as well, and is recorded just the same
    requests.get(sl_server.url + "/api/admin.users.session.reset", timeout=5,
                 params={"token": slack.ORG_REVOKE_TOKEN, "user_id": slack.ALICE})
    requests.post(sl_server.url + "/api/admin.users.remove", timeout=5,
                  data={"token": slack.ORG_READ_TOKEN, "user_id": slack.ALICE, "team_id": slack.GRID_TEAM})
    assert [w.path for w in sl_server.writes] == ["/api/admin.users.session.reset"] * 2 + ["/api/admin.users.remove"]
    assert sl_server.revocations == [] and len(sl_server.sessions) == 4


@needs_slack_sdk
def test_slack_session_reset_with_allow_revoke():
    with slack.demo_slack(slack.FakeSlack(allow_revoke=True)) as s:
        with pytest.raises(SlackApiError) as e:  # the read token lacks the write scope
            client(s).admin_users_session_reset(user_id=slack.ALICE)
        assert e.value.response["error"] == "missing_scope" and e.value.response["needed"] == "admin.users:write"
        revoker = client(s, slack.ORG_REVOKE_TOKEN)
        assert revoker.admin_users_session_reset(user_id=slack.ALICE, mobile_only=True)["ok"]
        assert s.revocations[-1]["sessions"] == [8273648802]
        assert revoker.admin_users_session_reset(user_id=slack.ALICE)["ok"]
        assert s.revocations[-1]["sessions"] == [8273648801]
        left = client(s).admin_users_session_list(user_id=slack.ALICE, team_id=slack.GRID_TEAM)
        assert left["active_sessions"] == [] and s.writes == []
        assert len(client(s).admin_users_session_list()["active_sessions"]) == 2  # bob's and erin's
        with pytest.raises(SlackApiError) as e:
            revoker.admin_users_session_reset(user_id="W0NOBODY00")
        assert e.value.response["error"] == "user_not_found"


# --- AWS: CloudTrail and IAM -----------------------------------------------------------------


@pytest.fixture
def trail():
    with ct.demo_cloudtrail() as s:
        yield s


def cloudtrail(server, region: str = "us-east-1", key: str = "testing", attempts: int = 1):
    return boto3.client("cloudtrail", endpoint_url=server.url, region_name=region,
                        aws_access_key_id=key, aws_secret_access_key="testing",
                        config=Config(retries={"mode": "standard", "total_max_attempts": attempts}))


def by(key: str, value: str) -> list[dict[str, str]]:
    return [{"AttributeKey": key, "AttributeValue": value}]


def test_moto_has_no_lookup_events(monkeypatch):
    """Why fixtures/fake_cloudtrail.py exists: moto's server does not implement
    LookupEvents (if a moto upgrade adds it, this fails and the fake can be reconsidered)."""
    for k, v in FAKE_ENV.items():
        monkeypatch.setenv(k, v)
    with AwsServer() as srv:
        client_ = boto3.client("cloudtrail", endpoint_url=srv.url)
        with pytest.raises(ClientError) as e:
            client_.lookup_events(LookupAttributes=by("Username", "alice"))
        assert e.value.response["Error"]["Code"] == "UnknownOperationException"
        assert "lookup_events" in e.value.response["Error"]["Message"]


def test_lookup_events_by_user_and_time_newest_first(trail):
    ref = sample("aws-cloudtrail/LookupEvents.json")["Events"]
    r = cloudtrail(trail).lookup_events(LookupAttributes=by("Username", "alice"), StartTime=TERMINATED)
    names = [e["EventName"] for e in r["Events"]]
    assert names == ["DescribeInstances", "ListBuckets", "AssumeRole", "ConsoleLogin"] and "NextToken" not in r
    assert all(e["EventTime"] >= TERMINATED for e in r["Events"])
    login, assume = r["Events"][3], r["Events"][2]
    assert set(login) == set(ref[0]) and set(assume) == set(ref[1])  # no AccessKeyId on a sign-in
    record = json.loads(assume["CloudTrailEvent"])
    assert record["requestParameters"]["roleArn"] == ct.DEPLOY_ROLE and assume["ReadOnly"] == "true"
    assert record["userIdentity"]["accessKeyId"] == assume["AccessKeyId"] == ct.ALICE_KEYS[0]
    # before the termination (near misses) and within a window
    early = cloudtrail(trail).lookup_events(LookupAttributes=by("Username", "alice"), EndTime=TERMINATED)
    assert [e["EventName"] for e in early["Events"]] == ["ConsoleLogin", "DescribeInstances"]
    window = cloudtrail(trail).lookup_events(LookupAttributes=by("EventName", "ConsoleLogin"),
                                             StartTime=datetime(2026, 11, 3, 9, 15, tzinfo=UTC),
                                             EndTime=datetime(2026, 11, 3, 9, 15, tzinfo=UTC))
    assert [e["Username"] for e in window["Events"]] == ["alice"]  # both ends inclusive


def test_lookup_events_by_access_key_pages_with_next_token(trail):
    pages = list(cloudtrail(trail).get_paginator("lookup_events").paginate(
        LookupAttributes=by("AccessKeyId", ct.ALICE_KEYS[0]), PaginationConfig={"PageSize": 2}))
    assert [len(p["Events"]) for p in pages] == [2, 1] and "NextToken" in pages[0]
    assert [e["EventName"] for p in pages for e in p["Events"]] == ["DescribeInstances", "ListBuckets", "AssumeRole"]
    other = cloudtrail(trail).lookup_events(LookupAttributes=by("AccessKeyId", ct.ALICE_KEYS[1]))["Events"]
    assert [e["EventTime"].date().isoformat() for e in other] == ["2026-10-20"]
    with pytest.raises(ClientError) as e:  # a token is only good with the parameters it came from
        cloudtrail(trail).lookup_events(LookupAttributes=by("Username", "alice"), MaxResults=2,
                                        NextToken=pages[0]["NextToken"])
    assert e.value.response["Error"]["Code"] == "InvalidNextTokenException"


def test_identity_center_and_key_removal_evidence(trail):
    sso = cloudtrail(trail).lookup_events(LookupAttributes=by("EventName", "GetRoleCredentials"))["Events"]
    assert [e["Username"] for e in sso] == ["alice@example.com"] and "AccessKeyId" not in sso[0]
    assert json.loads(sso[0]["CloudTrailEvent"])["eventSource"] == "sso.amazonaws.com"
    assert cloudtrail(trail, "eu-west-1").lookup_events()["Events"] == []  # events live in a region
    removal = cloudtrail(trail).lookup_events(LookupAttributes=by("ResourceName", ct.CAROL_KEY))["Events"]
    assert [e["EventName"] for e in removal] == ["DeleteAccessKey", "UpdateAccessKey"]
    actor = json.loads(removal[0]["CloudTrailEvent"])["userIdentity"]
    assert (actor["userName"], removal[0]["Username"]) == ("bob", "bob")
    assert json.loads(removal[0]["CloudTrailEvent"])["requestParameters"]["accessKeyId"] == ct.CAROL_KEY


def test_lookup_events_validation_throttling_auth_and_writes(trail, monkeypatch):
    c = cloudtrail(trail)
    with pytest.raises(ClientError) as e:
        c.lookup_events(LookupAttributes=by("Username", "alice") + by("EventName", "AssumeRole"))
    assert e.value.response["Error"]["Code"] == "InvalidLookupAttributesException"
    with pytest.raises(ClientError) as e:
        c.lookup_events(StartTime=datetime(2026, 11, 2, tzinfo=UTC), EndTime=TERMINATED)
    assert e.value.response["Error"]["Code"] == "InvalidTimeRangeException"
    with pytest.raises(ClientError) as e:
        c.lookup_events(MaxResults=51)
    assert e.value.response["Error"]["Code"] == "InvalidMaxResultsException"
    ref = sample("aws-cloudtrail/error_400_ThrottlingException.json")
    trail.throttle()
    with pytest.raises(ClientError) as e:
        c.lookup_events()
    assert e.value.response["Error"] == {"Code": ref["__type"], "Message": ref["message"]}
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    slept = []  # boto3's standard retry mode retries throttling; record its backoff
    monkeypatch.setattr(botocore.endpoint, "time", SimpleNamespace(sleep=slept.append))
    trail.throttle()
    trail.reset_counts()
    assert len(cloudtrail(trail, attempts=3).lookup_events()["Events"]) == 11
    assert trail.count("/") == 2 and len(slept) == 1
    with pytest.raises(ClientError) as e:
        cloudtrail(trail, key="AKIAUNKNOWN000000000").lookup_events()
    assert e.value.response["Error"]["Code"] == "UnrecognizedClientException"
    with pytest.raises(ClientError) as e:
        c.stop_logging(Name="management-events")
    assert e.value.response["Error"]["Code"] == "AccessDeniedException"
    with pytest.raises(ClientError) as e:
        c.describe_trails()
    assert e.value.response["Error"]["Code"] == "UnknownOperationException"
    assert [ct.FakeCloudTrail.operation(w) for w in trail.writes] == ["StopLogging"]


def test_demo_events_use_motos_key_ids_and_roles_show_revocation(monkeypatch):
    for k, v in FAKE_ENV.items():
        monkeypatch.setenv(k, v)
    with AwsServer() as srv, ct.FakeCloudTrail() as trail:
        out = plant_demo(srv.url)
        ct.demo_cloudtrail(trail, alice_keys=tuple(out["keys"]["alice"]))
        used = cloudtrail(trail).lookup_events(LookupAttributes=by("AccessKeyId", out["alice_key_used_after_termination"]),
                                               StartTime=TERMINATED)["Events"]
        assert {e["EventName"] for e in used} == {"AssumeRole", "ListBuckets", "DescribeInstances"}

        roles = ct.plant_session_roles(srv.url, out["users"]["alice"])
        iam = boto3.client("iam", endpoint_url=srv.url)

        def revoked_at(role: str) -> str | None:
            if "AWSRevokeOlderSessions" not in iam.list_role_policies(RoleName=role)["PolicyNames"]:
                return None
            doc = iam.get_role_policy(RoleName=role, PolicyName="AWSRevokeOlderSessions")["PolicyDocument"]
            stmts = doc["Statement"] if isinstance(doc["Statement"], list) else [doc["Statement"]]
            return next(s["Condition"]["DateLessThan"]["aws:TokenIssueTime"] for s in stmts if s["Effect"] == "Deny")

        assert set(roles) == {"ops-admin", "legacy-admin", "data-reader"}
        assert revoked_at("ops-admin") == "2026-11-01T18:00:00Z"
        assert revoked_at("legacy-admin") == "2026-09-01T00:00:00.000Z"  # too early for her
        assert revoked_at("data-reader") is None
        trust = iam.get_role(RoleName="data-reader")["Role"]["AssumeRolePolicyDocument"]
        assert trust["Statement"][0]["Principal"]["AWS"] == out["users"]["alice"]
        # the revoker's action: moto accepts the deny, and the request log sees a write
        srv.clear()
        iam.put_role_policy(RoleName="data-reader", PolicyName="AWSRevokeOlderSessions",
                            PolicyDocument=ct.revoke_older_sessions_policy(datetime(2026, 11, 21, 12, tzinfo=UTC)))
        assert revoked_at("data-reader") == "2026-11-21T12:00:00Z"
        assert [w.operation for w in srv.writes()] == ["PutRolePolicy"]


# --- GitHub audit log ------------------------------------------------------------------------


@pytest.fixture
def gh_server():
    s = gh.demo_org()
    gh.plant_audit_log(s)
    with s:
        yield s


def gget(server, path: str, token: str = gh.DEMO_TOKEN, **params) -> requests.Response:
    return requests.get(server.url + path, params=params, timeout=5,
                        headers={"Authorization": f"token {token}", "Accept": "application/vnd.github+json"})


def test_github_enterprise_audit_log_pages_with_cursors(gh_server):
    r = gget(gh_server, "/enterprises/acme-corp/audit-log", include="all", per_page=3)
    seen, pages = [], []
    while True:
        assert r.status_code == 200
        pages.append(r.json())
        seen += r.json()
        if "next" not in r.links:
            break
        assert "after=" in r.links["next"]["url"]
        r = requests.get(r.links["next"]["url"], headers={"Authorization": f"token {gh.DEMO_TOKEN}"}, timeout=5)
    assert [len(p) for p in pages] == [3, 3, 2]
    stamps = [e["@timestamp"] for e in seen]
    assert stamps == sorted(stamps, reverse=True) and len({e["_document_id"] for e in seen}) == 8
    prev = requests.get(r.links["prev"]["url"], headers={"Authorization": f"token {gh.DEMO_TOKEN}"}, timeout=5)
    assert prev.json() == pages[1]
    oldest_first = gget(gh_server, "/enterprises/acme-corp/audit-log", include="all", order="asc").json()
    assert oldest_first == list(reversed(seen))
    docs_example_keys = {"@timestamp", "action", "actor", "created_at", "_document_id", "org"}
    assert all(docs_example_keys <= set(e) for e in seen)


def test_github_audit_log_phrase_and_include(gh_server):
    after = gget(gh_server, "/orgs/acme/audit-log", phrase="actor:alice-gh created:>=2026-11-01",
                 include="git").json()
    assert [(e["action"], e["repo"]) for e in after] == [
        ("git.fetch", "acme/infra"), ("git.push", "acme/payments"), ("git.clone", "acme/payments")]
    assert after[2]["transport_protocol_name"] == "http" and after[2]["hashed_token"]
    assert after[0]["transport_protocol_name"] == "ssh" and "hashed_token" not in after[0]
    assert {e["external_identity_nameid"] for e in after} == {"alice@example.com"}
    web = gget(gh_server, "/orgs/acme/audit-log", phrase="actor:alice-gh").json()  # include=web
    assert [e["action"] for e in web] == ["protected_branch.policy_override"]
    removed = gget(gh_server, "/orgs/acme/audit-log", phrase="action:org.remove_member").json()
    assert [(e["actor"], e["user"]) for e in removed] == [("bob-gh", "carol-gh")]
    category = gget(gh_server, "/orgs/acme/audit-log", phrase="action:protected_branch -actor:bob-gh").json()
    assert [e["actor"] for e in category] == ["alice-gh"]
    day = gget(gh_server, "/orgs/acme/audit-log", phrase="created:2026-11-10", include="all").json()
    assert [e["action"] for e in day] == ["git.push", "git.clone"]
    assert gget(gh_server, "/orgs/acme/audit-log", phrase="alice").status_code == 422


def test_github_audit_log_access_answers(gh_server):
    doc = "documentation_url"
    assert gget(gh_server, "/enterprises/other-corp/audit-log").status_code == 404
    gh_server.audit_log_tokens = {gh.DEMO_RUN_TOKEN}  # only that owner's token reads it
    r = gget(gh_server, "/orgs/acme/audit-log")
    assert r.status_code == 404 and r.json()["message"] == "Not Found" and "audit-log" in r.json()[doc]
    assert gget(gh_server, "/orgs/acme/audit-log", token=gh.DEMO_RUN_TOKEN).status_code == 200
    gh_server.audit_log_tokens = None
    gh_server.tokens["app-token-for-tests"] = "app"
    r = gget(gh_server, "/orgs/acme/audit-log", token="app-token-for-tests")
    assert r.status_code == 403 and r.json()["message"] == "Resource not accessible by integration"
    gh_server.audit_log = None  # an org that is not on Enterprise Cloud
    assert gget(gh_server, "/orgs/acme/audit-log").status_code == 404
    assert gget(gh_server, "/enterprises/acme-corp/audit-log").status_code == 404
    assert gget(gh_server, "/orgs/acme/members").status_code == 200  # the rest of the org is there
    assert gh_server.writes == []


def test_fakes_started_without_allow_revoke_default_to_refusing():
    assert okta.FakeOkta().allow_revoke is False and slack.FakeSlack().allow_revoke is False
