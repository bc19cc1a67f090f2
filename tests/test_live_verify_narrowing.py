"""Scope narrowing of the AWS and GitHub collectors (``verify --live``), each against its
real client library and a real endpoint on 127.0.0.1 (moto in-process for AWS, the fake
GitHub): only her records are emitted, only her objects are asked about (request paths
and operation names from the servers' own logs), the objects the last scan tied to her
are re-checked, and what cannot be checked is said in the coverage row."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import boto3
import pytest
from botocore.handlers import BUILTIN_HANDLERS
from moto import mock_aws

from collectors.aws.collector import AwsCollector
from collectors.aws.transform import names_principal, scoped_principals
from collectors.base import CollectorContext, Scope
from collectors.github.collector import GitHubCollector
from fixtures.aws_estate import FAKE_ENV, SERVICE_CREDENTIALS, install_moto_extensions, plant_demo
from fixtures.fake_github import DEMO_TOKEN, demo_org
from scanner.core.model import Account, Coverage, Credential, Grant, Resource
from scanner.core.secrets import Fingerprinter
from scanner.core.store import Inventory, Sink

NOW = datetime(2026, 11, 21, 12, tzinfo=UTC)
FP = Fingerprinter(b"test-key-0123456789abcdef")
ACCOUNT = "123456789012"


class Run:
    def __init__(self, collector, scope: Scope, deepen: bool = True):
        self.inv = Inventory(":memory:")
        self.scan = self.inv.begin_scan("test")
        sink = Sink(self.inv, self.scan)
        collector.collect(sink, scope)
        if deepen:
            collector.deepen(sink, scope)
        sink.flush()

    def load(self, cls):
        return self.inv.load(cls, self.scan)


# --- GitHub ------------------------------------------------------------------------------

@pytest.fixture
def gh():
    s = demo_org().start()
    yield s
    s.stop()


def gh_collector(server, tmp_path: Path) -> GitHubCollector:
    ctx = CollectorContext(fingerprinter=FP, cache_dir=tmp_path, now=NOW)
    return GitHubCollector({"org": "acme", "token": DEMO_TOKEN, "base_url": server.url,
                            "secrets": "scoped"}, ctx)


def alice_scope() -> Scope:
    """What targeted_scope gives after a full scan of the demo: her account, the repos
    she was granted directly, the deploy keys she added."""
    return Scope(accounts={"github:acme|alice-gh"}, logins={"github": {"alice-gh"}},
                 identities={"alice@example.com"}, emails={"alice@example.com"},
                 known_resources={"github:acme|acme", "github:acme|acme/teams/platform",
                                  "github:acme|acme/payments"},
                 known_credentials={"github:acme|acme/payments/keys/SHA256:x",
                                    "github:acme|acme/infra/keys/SHA256:y"})


def gql_ops(server) -> list[str]:
    return [re.match(r"\s*query\s+(\w+)", r.json()["query"]).group(1)
            for r in server.requests if r.path.endswith("graphql")]


def test_github_asks_only_about_her(gh, tmp_path):
    run = Run(gh_collector(gh, tmp_path), alice_scope())
    paths = [r.path for r in gh.requests]
    # nothing org-wide that lists people, repositories or teams
    assert not set(gql_ops(gh)) & {"OrgMembers", "OrgRepos", "OrgTeams", "SamlIdentities"}, gql_ops(gh)
    assert set(gql_ops(gh)) == {"UserInOrg", "RepoAccess"}
    assert "/orgs/acme/memberships/alice-gh" in paths
    keys = {p for p in paths if re.fullmatch(r"/repos/acme/[^/]+/keys", p)}
    assert keys == {"/repos/acme/payments/keys", "/repos/acme/infra/keys"}  # the known ones only
    assert not any(p.startswith("/repos/acme/website") for p in paths)  # not hers
    assert not any(p in paths for p in ("/orgs/acme/installations", "/orgs/acme/hooks",
                                        "/orgs/acme/actions/runners", "/orgs/acme/actions/secrets"))
    ca = [r for r in gh.requests if r.path == "/orgs/acme/credential-authorizations"]
    assert [r.arg("login") for r in ca] == ["alice-gh"]
    assert not any(p.endswith("/hooks") for p in paths)  # no rule reads them: not asked
    assert len(gh.requests) <= 14, paths  # budget: a constant, whatever the org's size
    assert gh.writes == []
    # her records, and only hers
    accounts = run.load(Account)
    assert [a.login for a in accounts] == ["alice-gh"]
    assert accounts[0].attributes["linked_emails"] == ["alice@example.com"]  # SAML, by login
    grants = {(g.resource.split("|")[1], g.permission, g.via) for g in run.load(Grant)}
    assert {("acme", "member", "direct"), ("acme/payments", "admin", "direct"),
            ("acme/infra", "write", "team"), ("acme/teams/platform", "member", "direct")} <= grants
    assert all(g.principal == "github:acme|alice-gh" for g in run.load(Grant))
    creds = run.load(Credential)
    assert {c.kind for c in creds} == {"deploy_key", "pat", "ssh_key"}
    assert all(c.holder == "github:acme|alice-gh" for c in creds)
    assert {c.attributes.get("repo") for c in creds if c.kind == "deploy_key"} == {"acme/payments", "acme/infra"}
    secrets = {r.native_id for r in run.load(Resource) if r.kind == "ci_secret"}
    assert "PROD_DB_PASSWORD" in " ".join(secrets) and not any("NETLIFY" in s for s in secrets)
    cov = {c.target: c for c in run.load(Coverage)}
    assert cov["acme"].status == "ok" and "since the last full scan" in cov["acme"].attributes["scoped"]["not_checked"]
    assert cov["acme:actions"].status == "ok" and cov["acme"].api_calls <= len(gh.requests)


def test_github_leaver_removed_everywhere_gives_nothing(gh, tmp_path):
    scope = Scope(logins={"github": {"carol-gh"}}, emails={"carol@example.com"},
                  identities={"carol@example.com"})
    run = Run(gh_collector(gh, tmp_path), scope)
    assert run.load(Account) == [] and run.load(Credential) == []
    assert {c.status for c in run.load(Coverage)} <= {"ok", "skipped"}  # skipped: fine-grained PATs need an app token


def test_github_pending_invitation_and_outside_collaborator(gh, tmp_path):
    scope = Scope(logins={"github": {"dave-gh"}}, emails={"dave@example.com"},
                  known_resources={"github:acme|acme/website"})
    run = Run(gh_collector(gh, tmp_path), scope)
    accounts = {(a.login or a.email, a.status, bool(a.attributes.get("outside_collaborator")))
                for a in run.load(Account)}
    assert ("dave-gh", "active", True) in accounts
    assert ("dave@example.com", "pending", False) in accounts  # the invitation, by e-mail
    assert ("acme/website", "write") in {(g.resource.split("|")[1], g.permission) for g in run.load(Grant)}


def test_github_a_repo_deleted_since_is_no_error(gh, tmp_path):
    scope = alice_scope()
    scope.known_resources.add("github:acme|acme/gone-since")
    run = Run(gh_collector(gh, tmp_path), scope)
    assert {c.status for c in run.load(Coverage)} <= {"ok", "skipped"}  # skipped: fine-grained PATs need an app token


def test_github_org_owner_in_scope_reads_the_org_whole(gh, tmp_path):
    """An owner can read every repository's secrets: only the whole org says which."""
    scope = Scope(logins={"github": {"bob-gh"}}, emails={"bob@example.com"})
    run = Run(gh_collector(gh, tmp_path), scope, deepen=False)
    assert "OrgRepos" in gql_ops(gh)
    (cov,) = [c for c in run.load(Coverage) if c.target == "acme"]
    assert "org owner" in cov.attributes["scoped"]["fallback"]


# --- AWS ---------------------------------------------------------------------------------

@pytest.fixture
def moto_env(monkeypatch):
    for k, v in FAKE_ENV.items():
        monkeypatch.setenv(k, v)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    install_moto_extensions()
    SERVICE_CREDENTIALS.clear()
    with mock_aws():
        yield
    SERVICE_CREDENTIALS.clear()


@pytest.fixture
def aws_ops():
    """Every AWS operation our clients make (user agent residual-scanner), with parameters."""
    seen: list[tuple[str, dict]] = []

    def hook(params=None, model=None, context=None, **_):
        cfg = (context or {}).get("client_config")
        if cfg is not None and "residual-scanner" in (cfg.user_agent_extra or "") and model is not None:
            seen.append((model.name, dict(params or {})))
    entry = ("before-parameter-build", hook)
    BUILTIN_HANDLERS.append(entry)
    yield seen
    BUILTIN_HANDLERS.remove(entry)


def aws_collector(tmp_path: Path) -> AwsCollector:
    cfg = {k: (list(o.default) if isinstance(o.default, list) else o.default)
           for k, o in AwsCollector.options.items()}
    ctx = CollectorContext(fingerprinter=FP, cache_dir=tmp_path, now=NOW)
    return AwsCollector(cfg, ctx)


def test_aws_scoped_principals_from_accounts_and_aliases():
    src = f"aws:{ACCOUNT}"
    scope = Scope(accounts={f"{src}|arn:aws:iam::{ACCOUNT}:user/eng/alice",
                            f"{src}|arn:aws:iam::{ACCOUNT}:role/alice-tools"},
                  logins={"aws": {"alice", "alice-tools", "alice@example.com"}})
    names, arns, roles = scoped_principals(scope, src, ACCOUNT)
    assert names == {"alice"} and roles == {f"{src}|arn:aws:iam::{ACCOUNT}:role/alice-tools"}
    assert arns == {f"arn:aws:iam::{ACCOUNT}:user/eng/alice", f"arn:aws:iam::{ACCOUNT}:user/alice"}
    assert names_principal(f"arn:aws:iam::{ACCOUNT}:user/other/ALICE", set(), {"alice"})
    assert not names_principal(f"arn:aws:iam::{ACCOUNT}:role/alice", set(), {"alice"})
    assert not names_principal(f"arn:aws:iam::{ACCOUNT}:user/alicea", set(), {"alice"})


def test_aws_keeps_only_hers_and_asks_per_user_only_for_her(moto_env, aws_ops, tmp_path):
    plant_demo(None)
    scope = Scope(logins={"aws": {"alice"}}, emails={"alice@example.com"},
                  identities={"alice@example.com"})
    run = Run(aws_collector(tmp_path), scope)
    ops = [n for n, _ in aws_ops]
    assert not any(op.startswith(("Create", "Put", "Update", "Delete", "Attach", "Upload")) for op in ops)
    per_user = {p.get("UserName") for n, p in aws_ops if p.get("UserName")}
    assert per_user == {"alice"}  # the deep pass: her users in scope only
    details = [p for n, p in aws_ops if n == "GetAccountAuthorizationDetails"]
    assert details and all(p["Filter"] == ["User", "Group", "Role"] for p in details)
    (ls,) = [p for n, p in aws_ops if n == "ListSecrets"]
    assert ls["Filters"] == [{"Key": "tag-value", "Values": ["alice@example.com"]}]
    assert len(ops) <= 15, ops
    accounts = {a.login for a in run.load(Account)}
    assert accounts == {"alice", "svc-deploy"}  # bob, svc-reports, legacy-ci: not asked about, not emitted
    kinds = {(c.holder.rsplit("/", 1)[-1], c.kind) for c in run.load(Credential) if c.status == "active"}
    assert {("alice", "access_key"), ("alice", "password"), ("alice", "ssh_key"),  # deep
            ("svc-deploy", "access_key")} <= kinds
    trust = [g for g in run.load(Grant) if g.via == "trust"]
    assert [g.principal.rsplit("/", 1)[-1] for g in trust] == ["alice"]  # deploy-role trusts her
    assert {r.name for r in run.load(Resource) if r.kind == "secret_store"} == {"prod/db-password"}
    assert not any(a.login == "deploy-role" for a in run.load(Account))  # bob's role: not emitted
    assert [r.name for r in run.load(Resource) if r.kind == "group"] == ["developers"]  # hers
    (cov,) = [c for c in run.load(Coverage) if c.target == ACCOUNT and not c.attributes.get("pass")]
    # svc-deploy: tagged owner=alice, kept (an NHI she answers for)
    assert cov.status == "ok" and cov.attributes["scoped"]["users"] == ["alice", "svc-deploy"]
    assert "resource policies" in cov.attributes["scoped"]["not_checked"]


def test_aws_a_deleted_user_still_matches_the_trust_policy_naming_her(moto_env, tmp_path):
    """carol has no IAM user; a role still trusting her ARN is found by her alias."""
    plant_demo(None)
    iam = boto3.client("iam", region_name="us-east-1")
    doc = ('{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":'
           '{"AWS":"arn:aws:iam::%s:user/carol"},"Action":"sts:AssumeRole"}]}' % ACCOUNT)
    iam.create_role(RoleName="old-carol-role", AssumeRolePolicyDocument=doc)
    run = Run(aws_collector(tmp_path), Scope(logins={"aws": {"carol"}}, emails={"carol@example.com"}))
    assert run.load(Account) == []
    (g,) = [g for g in run.load(Grant) if g.via == "trust"]
    assert g.principal.endswith(":user/carol") and g.resource.endswith("role/old-carol-role")


# --- GitLab ------------------------------------------------------------------------------

def gitlab_run(server, tmp_path: Path, scope: Scope | None) -> Run:
    from collectors.gitlab.collector import GitLabCollector
    from fixtures.fake_gitlab import ADMIN_TOKEN
    from scanner.config import check_block
    block = check_block({"url": server.url, "token": ADMIN_TOKEN}, GitLabCollector.options,
                        "collectors.gitlab[0]", Path("t.yaml"))
    ctx = CollectorContext(fingerprinter=FP, cache_dir=tmp_path, now=NOW)
    return Run(GitLabCollector(block, ctx), scope, deepen=scope is not None)


def test_gitlab_asks_for_her_user_and_tokens_only(tmp_path):
    from fixtures.fake_gitlab import FakeGitLab, demo_instance
    with FakeGitLab(demo_instance()) as gl:
        scope = Scope(logins={"gitlab": {"aarcher"}}, emails={"alice@example.com"})
        run = gitlab_run(gl, tmp_path, scope)
        users = [r for r in gl.requests if r.path == "/api/v4/users"]
        pats = [r for r in gl.requests if r.path == "/api/v4/personal_access_tokens"]
        assert users and all(r.arg("username") == "aarcher" for r in users)
        assert pats and all(r.arg("user_id") for r in pats)
        assert gl.writes == []
        assert len(users) == 1 and len(pats) == 1  # one page each, whatever the instance's size
        pats_of = {c.holder.rsplit("|", 1)[-1] for c in run.load(Credential)
                   if c.kind == "pat" and not c.attributes.get("parent")}
        assert pats_of == {"aarcher"}, pats_of  # bob's PAT: not asked for, not emitted
        her = [a for a in run.load(Account) if a.login == "aarcher"]
        assert her and her[0].attributes.get("linked_emails") == ["alice@example.com"]
        (cov,) = [c for c in run.load(Coverage) if c.attributes.get("scoped")]
        assert cov.attributes["scoped"]["users"] == ["aarcher"] and cov.status == "ok"
        assert "per place" in cov.attributes["scoped"]["not_narrowed"]
        gl.reset_counts()
        full = gitlab_run(gl, tmp_path, None)  # a full collect lists them all
        assert not any(r.arg("username") for r in gl.requests if r.path == "/api/v4/users")
        assert len({c.holder for c in full.load(Credential) if c.kind == "pat"
                    and not c.attributes.get("parent")}) > 1
