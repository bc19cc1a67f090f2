"""The SaaS admin-API fakes (fixtures/fake_saas) driven with requests, as the atlassian,
openai and anthropic collectors will: every listing paged to its end the provider's way,
the planted residue present and the near misses with it, the 401/429 bodies and headers
of the samples, writes refused and recorded.
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
import requests

from fixtures.fake_saas import anthropic, atlassian, openai
from fixtures.fake_saas.common import NOW
from fixtures import SAMPLES as SAMPLES_ROOT

SAMPLES = (SAMPLES_ROOT / "saas-tokens")
STALE = NOW - timedelta(days=200)


def sample(name: str):
    path = SAMPLES / name
    if not path.exists():
        pytest.skip(f"reference sample {name} not present")
    return json.loads(path.read_text())


@pytest.fixture
def served(request):
    servers = []

    def start(module, **kw):
        servers.append(module.start_demo(**kw))
        return servers[-1]
    yield start
    for s in servers:
        s.stop()


# --- Atlassian ------------------------------------------------------------------------------

ATL = {"Authorization": f"Bearer {atlassian.DEMO_ADMIN_KEY}", "Accept": "application/json"}


def atl_all(url: str) -> tuple[list[dict], int]:
    """Follow ``links.next`` to the end: (items, pages)."""
    items, pages = [], 0
    while url:
        r = requests.get(url, headers=ATL, timeout=10)
        r.raise_for_status()
        body = r.json()
        items += body["data"]
        pages += 1
        url = body["links"]["next"]
    return items, pages


def test_atlassian_tokens_page_to_the_end(served):
    server = served(atlassian, page_size=1)
    tokens, pages = atl_all(f"{server.url}/admin/api-access/v1/orgs/{atlassian.ORG_ID}/api-tokens")
    assert pages == len(tokens) == 4
    doc = sample("atlassian_admin_orgs_ORGID_api-tokens.json")
    assert all(set(t) == set(doc["data"][0]) and set(t["user"]) == set(doc["data"][0]["user"]) for t in tokens)
    by_label = {t["label"]: t for t in tokens}
    alice = by_label["jira-sync script"]
    assert alice["user"]["email"] == "alice@example.com" and alice["status"] == "ALLOWED"
    assert alice["lastActiveAt"] > "2026-11-01"  # used after she left
    stale = [t for t in tokens if t["lastActiveAt"] and t["lastActiveAt"] < STALE.isoformat()]
    assert [t["label"] for t in stale] == ["old laptop"]
    assert by_label["confluence export"]["lastActiveAt"] is None  # new, never used: a near miss
    assert not [t for t in tokens if t["user"]["email"] == "carol@example.com"]  # revoked: deleted
    users, _ = atl_all(f"{server.url}/admin/v1/orgs/{atlassian.ORG_ID}/users")
    status = {u["email"]: u["account_status"] for u in users}
    assert status["alice@example.com"] == "active" and status["carol@example.com"] == "inactive"
    filtered = requests.get(f"{server.url}/admin/api-access/v1/orgs/{atlassian.ORG_ID}/api-tokens",
                            params={"q": "ALICE"}, headers=ATL).json()
    assert [t["label"] for t in filtered["data"]] == ["jira-sync script"]


def test_atlassian_user_tokens_carry_last_access(served):
    server = served(atlassian)
    mine = requests.get(f"{server.url}/users/{atlassian.ALICE}/manage/api-tokens", headers=ATL).json()
    assert isinstance(mine, list) and set(mine[0]) == set(sample("atlassian_users_ACCOUNTID_manage_api-tokens.json")[0])
    assert mine[0]["id"] == atlassian.TOKEN_IDS["alice-jira-sync"] and mine[0]["lastAccess"] > "2026-11-01"
    erin = requests.get(f"{server.url}/users/{atlassian.ERIN}/manage/api-tokens", headers=ATL).json()
    assert "lastAccess" not in erin[0]  # never used: the optional field is left out
    assert requests.get(f"{server.url}/users/{atlassian.CAROL}/manage/api-tokens", headers=ATL).json() == []


def test_atlassian_errors_and_throttling(served):
    server = served(atlassian)
    url = f"{server.url}/admin/api-access/v1/orgs/{atlassian.ORG_ID}/api-tokens"
    bad = requests.get(url, headers={"Authorization": "Bearer nope"})
    assert bad.status_code == 401 and bad.json()["errors"][0]["status"] == "401"
    server.throttle(r"/api-tokens$", times=1, retry_after=4)
    r = requests.get(url, headers=ATL)
    assert r.status_code == 429 and r.headers["Retry-After"] == "4" and r.headers["X-RateLimit-Remaining"] == "0"
    assert r.json()["errors"][0]["status"] == "429"
    ok = requests.get(url, headers=ATL)
    assert ok.status_code == 200 and int(ok.headers["X-RateLimit-Remaining"]) > 0
    assert requests.delete(f"{url}/{atlassian.TOKEN_IDS['alice-jira-sync']}", headers=ATL).status_code == 405
    assert [(w.method, w.path.rsplit("/", 1)[1]) for w in server.writes] == [
        ("DELETE", atlassian.TOKEN_IDS["alice-jira-sync"])]


# --- OpenAI ---------------------------------------------------------------------------------

OAI = {"Authorization": f"Bearer {openai.DEMO_ADMIN_KEY}"}


def oai_all(server, path: str, **params) -> tuple[list[dict], int]:
    """``limit`` + ``after`` = the previous ``last_id`` until ``has_more`` is false."""
    items, pages, after = [], 0, None
    while True:
        r = requests.get(f"{server.url}{path}", headers=OAI, timeout=10,
                         params={**params, "limit": 1, **({"after": after} if after else {})})
        r.raise_for_status()
        body = r.json()
        assert body["object"] == "list" and set(body) == {"object", "data", "first_id", "last_id", "has_more"}
        items += body["data"]
        pages += 1
        if not body["has_more"]:
            return items, pages
        after = body["last_id"]


def test_openai_keys_projects_and_service_accounts_page_to_the_end(served):
    server = served(openai)
    admin, pages = oai_all(server, "/v1/organization/admin_api_keys")
    assert pages == len(admin) == 2
    assert set(admin[0]) == set(sample("openai_organization_admin_api_keys.json")["data"][0])
    leaver = [k for k in admin if k["owner"]["id"] == openai.ALICE]
    assert leaver and leaver[0]["last_used_at"] > openai.unix(NOW - timedelta(days=20))
    # the redacted form ties back to the full value a repo may leak
    value = openai.KEYS["alice-admin"]
    assert leaver[0]["redacted_value"] == f"sk-admin...{value[-3:]}" and value.startswith("sk-admin-")
    projects, _ = oai_all(server, "/v1/organization/projects")
    everything, _ = oai_all(server, "/v1/organization/projects", include_archived="true")
    assert len(projects) == 2 and {p["status"] for p in everything} == {"active", "archived"}
    keys, pages = oai_all(server, f"/v1/organization/projects/{openai.PAYMENTS}/api_keys")
    assert pages == len(keys) == 4
    doc = sample("openai_organization_projects_ID_api_keys.json")["data"]
    assert {k["owner"]["type"] for k in keys} == {"user", "service_account"}
    assert all(set(k) == set(doc[0]) for k in keys)
    sa_key = next(k for k in keys if k["owner"]["type"] == "service_account")
    assert set(sa_key["owner"]["service_account"]) == set(doc[1]["owner"]["service_account"])
    assert sa_key["redacted_value"].startswith("sk-svcacct-")
    stale = [k for k in keys if k["last_used_at"] and k["last_used_at"] < openai.unix(STALE)]
    assert [k["name"] for k in stale] == ["old-batch"]
    accounts, _ = oai_all(server, f"/v1/organization/projects/{openai.PAYMENTS}/service_accounts")
    deploy = next(a for a in accounts if a["name"] == "svc-deploy")
    created, _ = oai_all(server, "/v1/organization/audit_logs", **{"event_types[]": "service_account.created"})
    creator = {e["service_account.created"]["id"]: e["actor"]["session"]["user"]["email"] for e in created}
    assert creator[deploy["id"]] == "alice@example.com"  # the service account whose owner left
    assert creator[openai.SVC_METRICS] == "bob@example.com"  # near miss
    users, _ = oai_all(server, "/v1/organization/users")
    assert "carol@example.com" not in {u["email"] for u in users}
    carol_key = openai.KEY_IDS["carol-deleted"]
    assert carol_key not in {k["id"] for k in keys}  # deleted, only its audit event remains
    deleted, _ = oai_all(server, "/v1/organization/audit_logs", **{"event_types[]": "api_key.deleted"})
    assert [e["api_key.deleted"]["id"] for e in deleted] == [carol_key]


def test_openai_401_and_429(served):
    server = served(openai)
    url = f"{server.url}/v1/organization/users"
    for key in ("sk-wrong", openai.KEYS["alice-laptop"]):  # a project key is no admin key
        bad = requests.get(url, headers={"Authorization": f"Bearer {key}"})
        assert bad.status_code == 401 and bad.json() == sample("openai_error_401_invalid_api_key.json")
    server.throttle(r"^/v1/organization/users$", times=1, retry_after=5)
    r = requests.get(url, headers=OAI)
    assert r.status_code == 429 and r.json()["error"]["code"] == "rate_limit_exceeded"
    assert r.headers["retry-after"] == "5" and r.headers["x-ratelimit-remaining-requests"] == "0"
    assert requests.get(url, headers=OAI).status_code == 200
    missing = requests.get(f"{server.url}/v1/organization/projects/proj_nope/api_keys", headers=OAI)
    assert missing.status_code == 404 and missing.json()["error"]["type"] == "invalid_request_error"
    assert requests.post(f"{server.url}/v1/organization/admin_api_keys", headers=OAI,
                         json={"name": "x"}).status_code == 405
    assert [w.path for w in server.writes] == ["/v1/organization/admin_api_keys"]


# --- Anthropic ------------------------------------------------------------------------------

ANT = {"x-api-key": anthropic.DEMO_ADMIN_KEY, "anthropic-version": anthropic.VERSION}


def ant_all(server, path: str, **params) -> tuple[list[dict], int]:
    """``limit`` + ``after_id`` = the previous ``last_id`` until ``has_more`` is false."""
    items, pages, after = [], 0, None
    while True:
        r = requests.get(f"{server.url}{path}", headers=ANT, timeout=10,
                         params={**params, "limit": 1, **({"after_id": after} if after else {})})
        r.raise_for_status()
        body = r.json()
        assert set(body) == {"data", "first_id", "last_id", "has_more"}
        items += body["data"]
        pages += 1
        if not body["has_more"]:
            return items, pages
        after = body["last_id"]


def last_used(server, key_id: str, since_days: int = 400) -> str | None:
    """The last daily bucket with usage of ``key_id``, paging the usage report to its end."""
    params = {"starting_at": (NOW - timedelta(days=since_days)).strftime("%Y-%m-%dT00:00:00Z"),
              "group_by[]": "api_key_id", "api_key_ids[]": key_id, "limit": 31}
    seen, pages = None, 0
    while True:
        body = requests.get(f"{server.url}/v1/organizations/usage_report/messages", headers=ANT,
                            params=params, timeout=10).json()
        pages += 1
        seen = max([b["starting_at"] for b in body["data"] if b["results"]] + ([seen] if seen else []),
                   default=None)
        if not body["has_more"]:
            assert pages >= since_days // 31
            return seen
        params = {**params, "page": body["next_page"]}


def test_anthropic_keys_users_workspaces_page_to_the_end(served):
    server = served(anthropic)
    keys, pages = ant_all(server, "/v1/organizations/api_keys")
    assert pages == len(keys) == 6
    assert all(set(k) == set(sample("anthropic_organizations_api_keys.json")["data"][0]) for k in keys)
    alice = [k for k in keys if (k["created_by"] or {}).get("id") == anthropic.ALICE and k["status"] == "active"]
    assert [k["name"] for k in alice] == ["alice-prod"]
    value = anthropic.KEYS["alice-prod"]
    assert alice[0]["partial_key_hint"] == f"sk-ant-api03-{value[13:16]}...{value[-4:]}" and value.endswith("AA")
    carol = next(k for k in keys if k["created_by"]["id"] == anthropic.CAROL)
    assert carol["status"] == "archived"
    active, _ = ant_all(server, "/v1/organizations/api_keys", status="active")
    assert carol["id"] not in {k["id"] for k in active} and len(active) == 4
    assert any(k["workspace_id"] is None for k in active)  # the default workspace
    users, _ = ant_all(server, "/v1/organizations/users")
    assert set(users[0]) == set(sample("anthropic_organizations_users.json")["data"][0])
    assert "carol@example.com" not in {u["email"] for u in users}
    spaces, _ = ant_all(server, "/v1/organizations/workspaces")
    members, _ = ant_all(server, f"/v1/organizations/workspaces/{anthropic.PROD}/members")
    assert {m["user_id"] for m in members} == {anthropic.ALICE, anthropic.BOB} and len(spaces) == 2
    assert last_used(server, anthropic.KEY_IDS["bob-batch-nightly"]) < STALE.isoformat()  # unused 200 days
    assert last_used(server, anthropic.KEY_IDS["alice-prod"]) > "2026-11-01"  # used after she left


def test_anthropic_401_429_and_version_header(served):
    server = served(anthropic)
    url = f"{server.url}/v1/organizations/api_keys"
    bad = requests.get(url, headers={**ANT, "x-api-key": anthropic.KEYS["alice-prod"]})
    assert bad.status_code == 401 and bad.json() == sample("anthropic_error_401_authentication_error.json")
    no_version = requests.get(url, headers={"x-api-key": anthropic.DEMO_ADMIN_KEY})
    assert no_version.status_code == 400 and no_version.json()["error"]["type"] == "invalid_request_error"
    server.throttle(r"^/v1/organizations/api_keys$", times=1, retry_after=6)
    r = requests.get(url, headers=ANT)
    assert r.status_code == 429 and r.json() == sample("anthropic_error_429_rate_limit_error.json")
    assert r.headers["retry-after"] == "6" and r.headers["anthropic-ratelimit-requests-remaining"] == "0"
    assert "anthropic-ratelimit-requests-reset" in r.headers and "request-id" in r.headers
    assert requests.get(url, headers=ANT).status_code == 200
    assert requests.post(f"{url}/{anthropic.KEY_IDS['alice-prod']}", headers=ANT,
                         json={"status": "inactive"}).status_code == 405
    assert [w.method for w in server.writes] == ["POST"]


# --- the fault matrix's endless listing works on body cursors --------------------------------


@pytest.mark.parametrize("module", [atlassian, openai, anthropic])
def test_endless_pages_fault_keeps_promising_new_pages(served, module):
    """``server.fault(listing, endless_pages=True, times=N)``: N pages each point at a new,
    different cursor and none is empty; page N+1 is the truth again (the lied-about cursor
    is unknown: an empty last page)."""
    server = served(module)
    path, headers, cursor = {
        atlassian: (f"/admin/api-access/v1/orgs/{atlassian.ORG_ID}/api-tokens", ATL, None),
        openai: ("/v1/organization/users", OAI, "after"),
        anthropic: ("/v1/organizations/users", ANT, "after_id")}[module]
    server.fault(f"^{path}$", endless_pages=True, times=3)
    url, seen, params = f"{server.url}{path}", [], {}
    for i in range(4):
        body = requests.get(url, headers=headers, params=params, timeout=10).json()
        assert bool(body["data"]) == (i < 3)
        if module is atlassian:
            url, params = body["links"]["next"], {}
            more = url is not None
        else:
            more, params = body["has_more"], {cursor: body["last_id"]}
        seen.append(url if module is atlassian else body["last_id"])
        if not more:
            break
    assert len(seen) == 4 and len(set(seen[:3])) == 3 and not more
