"""The github collector, driven through the real PyGithub client against the fake GitHub
on 127.0.0.1: records, API budgets (from the fake's own counts), no writes, conditional
requests, pagination, and the hardening matrix (401/403/404/429/5xx, secondary and
primary rate limits, SAML enforcement, malformed payloads)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from collectors.base import CollectorContext, Scope
from collectors.github.client import GitHubApi
from collectors.github.collector import GitHubCollector
from fixtures.fake_github import DEMO_TOKEN, SAML_MESSAGE, SECONDARY_MESSAGE, demo_org, generate_org
from scanner.core import http
from scanner.core.model import Account, Coverage, Credential, Grant, Resource
from scanner.core.secrets import Fingerprinter
from scanner.core.store import Inventory, Sink
from fixtures import SAMPLES as SAMPLES_ROOT

NOW = datetime(2026, 11, 21, 12, tzinfo=UTC)
FP = Fingerprinter(b"test-key-0123456789abcdef")
ALICE = "github:acme|alice-gh"


@pytest.fixture
def demo():
    s = demo_org().start()
    yield s
    s.stop()


@pytest.fixture
def sleeps(monkeypatch):
    waited: list[float] = []
    monkeypatch.setattr(http, "sleep", lambda s: waited.append(s))
    return waited


class Run:
    """One collector run into a real in-memory inventory."""

    def __init__(self, server, cache: Path, scope: Scope | None = None, **config):
        self.inv = Inventory(":memory:")
        self.scan = self.inv.begin_scan("test")
        self.sink = Sink(self.inv, self.scan)
        ctx = CollectorContext(fingerprinter=FP, cache_dir=cache, now=NOW)
        cfg = {"org": "acme", "token": DEMO_TOKEN, "base_url": server.url, "secrets": "scoped",
               **config}
        self.collector = GitHubCollector(cfg, ctx)
        self.collector.collect(self.sink)
        if scope is not None:
            self.collector.deepen(self.sink, scope)
        self.sink.flush()

    def all(self, cls):
        return self.inv.load(cls, self.scan)

    def by_id(self, cls):
        return {r.native_id: r for r in self.all(cls)}

    def coverage(self):
        return {c.target: c for c in self.all(Coverage)}


def test_demo_org_records(demo, tmp_path):
    run = Run(demo, tmp_path, Scope(accounts={ALICE}))
    accounts = run.by_id(Account)
    alice = accounts["alice-gh"]
    assert alice.status == "active" and alice.attributes["linked_emails"] == ["alice@example.com"]
    assert accounts["dave-gh"].attributes == {"outside_collaborator": True}
    assert "carol-gh" not in accounts
    pending = [a for a in accounts.values() if a.status == "pending"]
    assert [(a.email, a.login) for a in pending] == [("dave@example.com", "")]
    failed = [a for a in accounts.values() if a.status == "deleted"]
    assert failed[0].attributes["failed_reason"] == "Invitation expired"

    grants = {(g.principal, g.resource, g.permission, g.via) for g in run.all(Grant)}
    assert (ALICE, "github:acme|acme", "member", "direct") in grants
    assert ("github:acme|bob-gh", "github:acme|acme", "admin", "direct") in grants
    assert (ALICE, "github:acme|acme/payments", "admin", "direct") in grants
    assert (ALICE, "github:acme|acme/infra", "write", "team") in grants
    assert ("github:acme|dave-gh", "github:acme|acme/website", "write", "direct") in grants

    creds = run.by_id(Credential)
    key = next(c for c in creds.values() if c.kind == "deploy_key" and c.name == "prod-deployer")
    assert key.attributes["read_only"] is False and key.attributes["added_by"] == "alice-gh"
    assert key.holder == ALICE and key.fingerprint.startswith("SHA256:")
    assert key.last_used_at == datetime(2026, 11, 18, 3, tzinfo=UTC)
    pat = creds["credential-authorization:161195"]
    assert pat.kind == "pat" and pat.holder == ALICE
    assert pat.fingerprint == FP.last8("a11ce0b1")
    # ... which is the handle an exposure of the whole token carries (scanner.core.secrets)
    from scanner.core.secrets import identifier_for
    assert identifier_for("GitHub Token", "ghp_" + "FAKE" * 8 + "a11ce0b1", FP) == pat.fingerprint
    assert pat.last_used_at == datetime(2026, 11, 10, 8, 30, tzinfo=UTC)
    assert pat.hint == "…e0b1"  # at most the last four (DESIGN), never the last eight
    assert pat.attributes["never_expires"] is True
    assert creds["credential-authorization:161197"].attributes.get("never_expires") is None
    ssh = [c for c in creds.values() if c.kind == "ssh_key" and c.native_id.startswith("alice-gh/keys/")]
    assert len(ssh) == 1 and ssh[0].fingerprint.startswith("SHA256:")

    resources = run.by_id(Resource)
    secret = resources["acme/payments/actions/secrets/PROD_DB_PASSWORD"]
    assert secret.kind == "ci_secret" and secret.attributes["parent"] == "github:acme|acme/payments"
    assert secret.updated_at == datetime(2026, 6, 1, 10, tzinfo=UTC)
    assert resources["acme/actions/secrets/NPM_TOKEN"].attributes["parent"] == "github:acme|acme"
    assert resources["acme/runners/23"].kind == "runner"
    assert resources["installation:25381"].kind == "app"
    assert "acme/payments/hooks/" in " ".join(resources)
    # the deep pass asked only about repos alice can write: not website, not handbook
    assert "acme/website/actions/secrets/NETLIFY_TOKEN" not in resources

    cov = run.coverage()
    assert cov["acme"].status == "ok" and cov["acme"].layer == "code-hosting"
    assert cov["acme:actions"].layer == "ci-cd" and cov["acme:repo-secrets"].layer == "ci-cd"
    assert cov["acme/personal-access-tokens"].status == "skipped"
    assert "personal access token" in cov["acme/personal-access-tokens"].error
    # the raw last eight never reach the inventory
    dump = json.dumps([repr(r) for cls in (Account, Credential, Resource) for r in run.all(cls)])
    assert "a11ce0b1" not in dump


def test_read_only_and_budget(demo, tmp_path):
    run = Run(demo, tmp_path, Scope(accounts={ALICE}))
    assert demo.writes == []
    assert all(r.method == "GET" or r.path == "/graphql" for r in demo.requests)
    assert demo.count("/graphql") == 4  # repos, members, teams, SAML: one page each
    assert demo.count("/repos/acme/website/actions") == 0
    # the counted calls are exactly the requests the server saw
    assert run.collector.calls == len(demo.requests) == sum(c.api_calls for c in run.all(Coverage)
                                                           if "/" not in c.target)
    assert len(demo.requests) <= 22


def test_rescan_is_mostly_not_modified(demo, tmp_path):
    first = Run(demo, tmp_path, Scope(accounts={ALICE}))
    rest = sum(1 for r in demo.requests if r.method == "GET")
    demo.reset_counts()
    demo.not_modified = 0
    second = Run(demo, tmp_path, Scope(accounts={ALICE}))
    ok_gets = sum(1 for r in demo.requests if r.method == "GET" and r.path != "/orgs/acme/personal-access-tokens")
    assert demo.not_modified == ok_gets == rest - 1  # every successful REST GET answered 304
    assert second.collector.api.stats.not_modified == demo.not_modified
    key = lambda run: sorted(repr((type(r).__name__, getattr(r, "native_id", None), getattr(r, "principal", None),
                                   getattr(r, "resource", None), getattr(r, "permission", None)))
                             for cls in (Account, Credential, Resource, Grant) for r in run.all(cls))
    assert key(first) == key(second)  # same records from the cache
    cache = next(tmp_path.glob("github-*.json")).read_text()
    assert DEMO_TOKEN not in cache
    assert "a11ce0b1" not in cache and FP.last8("a11ce0b1") in cache  # keyed digest only
    assert second.by_id(Credential)["credential-authorization:161195"].fingerprint == FP.last8("a11ce0b1")


def test_304_does_not_spend_rate_limit(demo, tmp_path):
    Run(demo, tmp_path)
    before = demo.remaining["core"]
    Run(demo, tmp_path)
    spent = before - demo.remaining["core"]
    assert spent == 1  # only the 403 on personal-access-tokens (no ETag on errors)


def test_secrets_all_lists_every_repository(demo, tmp_path):
    run = Run(demo, tmp_path, secrets="all")
    for repo in ("payments", "website", "infra", "handbook"):
        assert demo.count(f"/repos/acme/{repo}/actions/secrets") == 1
    assert "acme/website/actions/secrets/NETLIFY_TOKEN" in run.by_id(Resource)


def test_pagination_rest_and_graphql(tmp_path):
    s = generate_org(n_repos=230, n_members=260, n_teams=3, org="acme", deploy_key_ratio=0)
    big = s.repos["repo-00007"]
    for i in range(130):
        big.collaborators[f"user{i:04d}"] = "push"
    s.teams["team-000"].members = {f"user{i:04d}": "member" for i in range(120)}
    s.teams["team-001"].repos = {f"repo-{i:05d}": "pull" for i in range(105)}
    for i in range(130):
        s.add_invitation(f"new{i}@example.com", created_at="2026-11-01T00:00:00Z")
    s.tokens[DEMO_TOKEN] = "user"
    with s:
        run = Run(s, tmp_path)
        gql = [r.json()["query"].split("(")[0] for r in s.requests if r.path == "/graphql"]
        assert gql.count("query OrgRepos") == 3 and gql.count("query OrgMembers") == 3
        assert gql.count("query RepoCollaborators") == 1
        assert gql.count("query TeamMembers") == 1 and gql.count("query TeamRepos") == 1
        assert s.count("/orgs/acme/invitations") == 2  # 130 at per_page=100
        assert all(r.arg("per_page") == "100" for r in s.requests if r.path == "/orgs/acme/invitations"
                   and not r.arg("page"))
    accounts = run.by_id(Account)
    assert sum(1 for a in accounts.values() if a.status == "pending") == 130
    assert sum(1 for a in accounts.values() if a.status == "active") == 260
    grants = run.all(Grant)
    assert sum(1 for g in grants if g.resource == "github:acme|acme/repo-00007" and g.via == "direct") >= 130
    assert sum(1 for g in grants if g.resource == "github:acme|acme/teams/team-000") == 120
    assert len({g.resource for g in grants if g.attributes.get("team") == "team-001"}) == 105
    assert len([r for r in run.all(Resource) if r.kind == "repo"]) == 230


def test_plan_and_saml_403_404_are_skipped_not_failed(demo, tmp_path):
    demo.credential_authorizations = None  # not Enterprise Cloud: 404
    demo.fault(r"^/orgs/acme/invitations$", status=403, body={
        "message": SAML_MESSAGE, "documentation_url": "https://docs.github.com/articles/x", "status": "403"},
        headers={"X-GitHub-SSO": "required; url=https://github.com/orgs/acme/sso?authorization_request=x"})
    run = Run(demo, tmp_path)
    cov = run.coverage()
    assert cov["acme"].status == "ok"
    assert cov["acme/credential-authorizations"].status == "skipped"
    assert "not found" in cov["acme/credential-authorizations"].error
    assert cov["acme/invitations"].status == "skipped" and "SAML" in cov["acme/invitations"].error
    assert "alice-gh" in run.by_id(Account)  # the rest went on


def test_graphql_saml_failure_on_identities_is_skipped(demo, tmp_path):
    sample = json.loads((SAMPLES_ROOT / "github/graphql_error_saml_failure.json")
                        .read_text()) if SAMPLES_ROOT.exists() else None
    body = {"data": {"organization": {"samlIdentityProvider": None}},
            "errors": (sample or {}).get("errors") or [{"type": "FORBIDDEN", "extensions": {"saml_failure": True},
                                                        "message": SAML_MESSAGE}]}
    demo.gql_SamlIdentities = lambda v: body  # type: ignore[method-assign]
    run = Run(demo, tmp_path)
    cov = run.coverage()
    assert cov["acme/saml-identities"].status == "skipped" and "SAML" in cov["acme/saml-identities"].error
    assert cov["acme"].status == "ok"
    assert "linked_emails" not in run.by_id(Account)["alice-gh"].attributes


def test_bad_credentials_fail_the_target(demo, tmp_path):
    run = Run(demo, tmp_path, token="wrong-token")
    cov = run.coverage()
    assert cov["acme"].status == "failed" and "bad credentials" in cov["acme"].error
    assert "wrong-token" not in cov["acme"].error
    assert run.all(Account) == []
    assert len(demo.requests) == 1  # no point asking further


def test_secondary_rate_limit_honours_retry_after(demo, tmp_path, sleeps):
    demo.fault(r"^/orgs/acme/outside_collaborators$", status=403, times=1, retry_after=7,
               body={"message": SECONDARY_MESSAGE, "documentation_url": "https://docs.github.com"})
    run = Run(demo, tmp_path)
    assert sleeps == [7.0]
    assert run.coverage()["acme"].status == "ok"
    assert "dave-gh" in run.by_id(Account)
    assert run.collector.api.stats.retries == 1


@pytest.fixture
def window_sleeps(demo, monkeypatch):
    """Waiting is when the rate-limit window passes: the fake refuses until then."""
    sleeps: list[float] = []
    monkeypatch.setattr(http, "sleep", lambda s: (sleeps.append(s), demo.reset_window()))
    return sleeps


def test_exhausted_budget_waits_for_reset_before_the_next_call(demo, tmp_path, window_sleeps):
    demo.set_remaining("graphql", 1)  # the first answer says remaining 0
    run = Run(demo, tmp_path)
    assert len(window_sleeps) == 1 and 3000 < window_sleeps[0] <= 3601
    assert run.collector.api.stats.retries == 0  # waited instead of being refused
    assert run.coverage()["acme"].status == "ok"


def test_primary_rate_limit_403_waits_for_reset_and_retries(demo, tmp_path, window_sleeps):
    demo.set_remaining("core", 0)  # the first REST call is refused 403 until the reset
    run = Run(demo, tmp_path)
    assert len(window_sleeps) == 1 and 3000 < window_sleeps[0] <= 3601
    assert run.collector.api.stats.retries == 1
    assert run.coverage()["acme"].status == "ok"
    assert "dave-gh" in run.by_id(Account)


def test_rate_limit_without_waiting_is_refused(demo, tmp_path, sleeps):
    demo.set_remaining("core", 0)  # sleeps do not pass the window: every retry is refused
    run = Run(demo, tmp_path)
    assert run.coverage()["acme"].status == "failed"
    assert "rate limit" in run.coverage()["acme"].error


def test_429_and_5xx_are_retried_with_a_bound(demo, tmp_path, sleeps):
    demo.fault(r"^/orgs/acme/installations$", status=502, times=2)
    demo.fault(r"^/orgs/acme/hooks$", status=429, times=1)
    demo.fault(r"^/orgs/acme/actions/runners$", status=500)  # forever
    run = Run(demo, tmp_path)
    cov = run.coverage()
    assert "installation:25381" in run.by_id(Resource)
    assert cov["acme"].status == "ok"
    assert cov["acme:actions"].status == "failed" and "500" in cov["acme:actions"].error
    assert demo.count("/orgs/acme/actions/runners") == 1 + 4  # max_retries
    assert len(sleeps) == 2 + 1 + 4


def test_malformed_entries_are_skipped_and_counted(demo, tmp_path):
    good = demo.invitations[0]
    demo.fault(r"^/orgs/acme/invitations$", body=[{"login": None}, "junk", good])
    run = Run(demo, tmp_path)
    cov = run.coverage()["acme"]
    assert cov.status == "partial" and "2 malformed" in cov.error
    assert any(a.status == "pending" for a in run.all(Account))


def test_truncated_answer_fails_only_its_target(demo, tmp_path):
    demo.fault(r"^/orgs/acme/actions/secrets$", truncate=True)
    run = Run(demo, tmp_path)
    cov = run.coverage()
    assert cov["acme"].status == "ok"
    assert cov["acme:actions"].status == "failed"


def test_graphql_mutations_are_refused(demo, tmp_path):
    import requests
    r = requests.post(demo.url + "/graphql", json={"query": "mutation { addStar(input: {}) { clientMutationId } }"},
                      headers={"Authorization": f"token {DEMO_TOKEN}"}, timeout=5)
    assert r.json()["errors"] and len(demo.writes) == 1
    run = Run(demo, tmp_path)
    with pytest.raises(ValueError):
        run.collector.client().graphql("mutation { x }", {})


def test_github_app_auth(demo, tmp_path):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()).decode()
    (tmp_path / "app.pem").write_text(pem)
    demo.app_ids.add(4242)
    demo.installation_ids.add(777)
    run = Run(demo, tmp_path, token=None, app_id=4242, private_key=str(tmp_path / "app.pem"),
              installation_id=777)
    pats = [c for c in run.all(Credential) if c.attributes.get("fine_grained")]
    assert len(pats) == 1 and pats[0].holder == "github:acme|deploy-bot"
    assert pats[0].attributes["never_expires"] is True and pats[0].name == "release pipeline"
    assert "acme/personal-access-tokens" not in run.coverage()
    assert demo.writes == []  # the token exchange is authentication, not a write


def test_scoped_ssh_keys_only_for_scoped_accounts(demo, tmp_path):
    Run(demo, tmp_path, Scope(accounts={ALICE, "github:acme|nobody", "aws:1|alice"}))
    assert [r.path for r in demo.requests if r.path.startswith("/users/")] == ["/users/alice-gh/keys"]


def test_org_owner_in_scope_reaches_every_repo(demo, tmp_path):
    Run(demo, tmp_path, Scope(logins={"github": {"bob-gh"}}))
    for repo in ("payments", "website", "infra", "handbook"):
        assert demo.count(f"/repos/acme/{repo}/actions/secrets") == 1


def test_api_counts_calls_and_not_modified(demo, tmp_path):
    run = Run(demo, tmp_path)
    stats = run.collector.api.stats
    assert stats.rest + stats.graphql == run.collector.calls == len(demo.requests)
    assert isinstance(run.collector.api, GitHubApi)
    assert run.coverage()["acme"].attributes["calls"]["graphql"] == 4


def test_hidden_collaborators_make_the_org_partial(demo, tmp_path):
    original = demo.gql_OrgRepos

    def hide(v):
        out = original(v)
        out["data"]["organization"]["repositories"]["nodes"][0]["collaborators"] = None
        out["errors"] = [{"type": "FORBIDDEN", "path": ["organization", "repositories", "nodes", 0,
                                                        "collaborators"],
                          "message": "Must have push access to view repository collaborators."}]
        return out
    demo.gql_OrgRepos = hide  # type: ignore[method-assign]
    run = Run(demo, tmp_path)
    cov = run.coverage()["acme"]
    assert cov.status == "partial" and "collaborators not visible on 1 repositories" in cov.error
    assert "acme/website" in run.by_id(Resource)  # the rest is there


def test_deploy_keys_without_rest_access_fall_back_to_graphql(demo, tmp_path):
    demo.fault(r"^/repos/acme/[^/]+/keys$", status=404, body={"message": "Not Found",
                                                              "documentation_url": "https://docs.github.com"})
    run = Run(demo, tmp_path)
    keys = [c for c in run.all(Credential) if c.kind == "deploy_key"]
    assert len(keys) == 3 and all(k.attributes.get("added_by_unknown") for k in keys)
    assert {k.attributes["read_only"] for k in keys} == {True, False}
    row = run.coverage()["acme/deploy-key-details"]
    assert row.status == "skipped" and "3 repositories" in row.error
    # the same key has the same id whichever API described it
    demo.clear_faults()
    rest = Run(demo, tmp_path / "b")
    assert {k.native_id for k in keys} == {k.native_id for k in rest.all(Credential) if k.kind == "deploy_key"}


def test_a_listing_that_never_ends_is_cut_and_fails(demo, tmp_path):
    demo.fault(r"^/orgs/acme/invitations$", endless_pages=True, times=50)
    inv = Inventory(":memory:")
    scan = inv.begin_scan("test")
    sink = Sink(inv, scan)
    ctx = CollectorContext(fingerprinter=FP, cache_dir=tmp_path, now=NOW, max_pages=5)
    GitHubCollector({"org": "acme", "token": DEMO_TOKEN, "base_url": demo.url, "secrets": "scoped"},
                    ctx).collect(sink)
    sink.flush()
    row = {c.target: c for c in inv.load(Coverage, scan)}["acme"]
    assert row.status == "failed" and "more than 5 pages" in row.error
    assert demo.count("/orgs/acme/invitations") == 5


def test_http_403_on_graphql_fails_at_once(demo, tmp_path):
    demo.fault(r"^/graphql$", status=403)
    run = Run(demo, tmp_path)
    assert run.coverage()["acme"].status == "failed"
    assert "acme/saml-identities" not in run.coverage()
    assert demo.count("/graphql") == 1
