"""Repositories of a GitHub org / GitLab group, listed through the fakes, cloned from real
bare repositories (over dumb HTTP behind the token, on the code host's own origin; file://
only where the operator configured it), scanned, and fetched incrementally on rescans."""

from __future__ import annotations

import base64
import json
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest

from collectors.base import CollectorContext
from collectors.iac import remotes
from collectors.iac.collector import IacCollector
from fixtures.fake_github import DEMO_TOKEN, FakeGitHub
from fixtures.fake_gitlab import FakeGitLab, GitLabData
from fixtures.httpfake import FakeServer, Request, Response, route
from scanner.core.model import Coverage, Exposure
from scanner.core.secrets import Fingerprinter
from scanner.core.store import Inventory, Sink
from tests.conftest import run_cli, write_config

SECRET_LINE = "DB_PASSWORD=Zq8vN3xT7pL2wK9mREMOTE\n"  # fake
GL_TOKEN = "fake-gitlab-reader-token"  # fake


def git(cwd: Path, *args: str) -> str:
    env = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t.invalid", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@t.invalid", "HOME": str(cwd), "PATH": "/usr/bin:/bin:/usr/local/bin"}
    return subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True,
                          text=True).stdout


def make_remote(tmp: Path, name: str, secret_in_history: bool) -> tuple[Path, Path, str | None]:
    """A work repo and its bare 'remote' (what a code host stores). With
    ``secret_in_history``, a .env was committed and then deleted."""
    work = tmp / f"{name}-work"
    work.mkdir()
    git(work, "init", "-q", "-b", "main")
    (work / "main.tf").write_text(f'resource "aws_s3_bucket" "b" {{\n  bucket = "{name}"\n}}\n')
    first = None
    if secret_in_history:
        (work / ".env").write_text("# local\n" + SECRET_LINE)
    git(work, "add", "-A")
    git(work, "commit", "-q", "-m", "one")
    if secret_in_history:
        first = git(work, "rev-parse", "HEAD").strip()
        (work / ".env").unlink()
        git(work, "commit", "-q", "-am", "remove env")
    bare = tmp / "remotes" / f"{name}.git"
    bare.parent.mkdir(exist_ok=True)
    git(tmp, "clone", "-q", "--bare", str(work), str(bare))
    git(bare, "update-server-info")  # for the dumb-HTTP server below
    return work, bare, first


def push(work: Path, bare: Path, rel: str, text: str) -> None:
    (work / rel).write_text(text)
    git(work, "add", "-A")
    git(work, "commit", "-q", "-m", f"add {rel}")
    git(work, "push", "-q", str(bare), "main")
    git(bare, "update-server-info")


def scan(tmp: Path, config: dict):
    inv = Inventory(":memory:")
    sid = inv.begin_scan("test")
    sink = Sink(inv, sid)
    ctx = CollectorContext(fingerprinter=Fingerprinter(b"test-key-" * 4), cache_dir=tmp / "cache",
                           now=datetime.now(UTC), base_dir=tmp)
    cfg = {"history": True, "repos": [], "include": [], "exclude": [], "max_file_bytes": 2_000_000,
           "workers": 1, "verify_live": False, "github_base_url": "https://api.github.com",
           "gitlab_url": "https://gitlab.com", **config}
    c = IacCollector(cfg, ctx)
    c.collect(sink)
    sink.flush()
    cov = {row.target: row for row in inv.load(Coverage, sid)}
    return inv.load(Exposure, sid), cov


class DumbGit:
    """git's dumb HTTP protocol for bare repositories under the fake API's own origin (as
    on a real code host), demanding the reader token as HTTP basic auth."""

    git_user = "x-access-token"
    git_token = DEMO_TOKEN

    def serve_git(self, repos: dict[str, Path]) -> None:
        self.git_repos = repos  # "acme/infra" -> bare repository
        self.git_auth: list[tuple[str, str]] = []  # (path, Authorization header)

    def authorize(self, req: Request) -> Response | None:
        if ".git/" in req.path:
            auth = req.headers.get("authorization", "")
            self.git_auth.append((req.path, auth))
            if auth != "Basic " + base64.b64encode(f"{self.git_user}:{self.git_token}".encode()).decode():
                return Response(401, b"", {"WWW-Authenticate": 'Basic realm="git"'})
            return None
        return super().authorize(req)

    @route("GET", r"/(?P<project>.+)\.git/(?P<rel>.+)")
    def dumb_git(self, req: Request, project: str, rel: str) -> Response:
        root = self.git_repos.get(project)
        f = (root / rel).resolve() if root else None
        if f is None or not f.is_file() or root.resolve() not in f.parents:
            return Response(404, b"")
        return Response(200, f.read_bytes(), {"Content-Type": "application/octet-stream"})


class GitHubWithGit(DumbGit, FakeGitHub):
    def _dispatch(self, req: Request) -> Response:
        if ".git/" in req.path:  # raw bytes: no JSON ETag
            return FakeServer._dispatch(self, req)
        return super()._dispatch(req)


@pytest.fixture
def github(tmp_path):
    infra_work, infra_bare, first = make_remote(tmp_path, "infra", secret_in_history=True)
    _app_work, app_bare, _ = make_remote(tmp_path, "app", secret_in_history=False)
    fake = GitHubWithGit("acme")
    fake.serve_git({"acme/infra": infra_bare, "acme/app": app_bare})
    infra = fake.add_repo("infra")
    app = fake.add_repo("app", archived=True)
    with fake:
        infra.clone_url = f"{fake.url}/acme/infra.git"
        app.clone_url = f"{fake.url}/acme/app.git"
        yield fake, infra_work, infra_bare, first


def api_requests(fake) -> set[tuple[str, str]]:
    return {(r.method, r.path) for r in fake.requests if ".git/" not in r.path}


def gh_config(fake: FakeGitHub) -> dict:
    return {"github_org": "acme", "github_base_url": fake.url, "github_token": DEMO_TOKEN}


def test_github_org_repos_cloned_scanned_then_fetched_incrementally(tmp_path, github):
    fake, work, bare, first = github
    exposures, cov = scan(tmp_path, gh_config(fake))
    listing = cov["github:acme"]
    assert listing.status == "ok" and listing.attributes["repos"] == 2 and listing.api_calls == 1
    assert listing.attributes["archived"] == 1  # archived repositories are scanned too
    url = f"{fake.url}/acme/infra.git"
    infra = cov[url]
    assert infra.status == "ok" and infra.attributes["sync"] == "cloned"
    assert infra.attributes["repo"] == "acme/infra"
    cached = sorted(p.name for p in (tmp_path / "cache" / "iac-repos").iterdir())
    assert [n.rsplit("-", 1)[0] for n in cached] == ["app.git", "infra.git"]
    clone = next((tmp_path / "cache" / "iac-repos").glob("infra.git-*"))
    assert (clone / "HEAD").exists() and not (clone / ".git").exists()  # bare
    hit = [e for e in exposures if e.location == "acme/infra:.env"]
    assert len(hit) == 1 and hit[0].commit == first and hit[0].in_head is False and hit[0].line == 2
    assert hit[0].source == f"iac:{url}"
    assert not [e for e in exposures if e.location.startswith("acme/app:")]
    assert fake.writes == [] and api_requests(fake) == {("GET", "/orgs/acme/repos")}

    # rescan, nothing changed upstream: fetched (not cloned again), nothing analysed again
    (clone / "residual-test-marker").write_text("kept unless re-cloned")
    exposures2, cov2 = scan(tmp_path, gh_config(fake))
    infra2 = cov2[url]
    assert infra2.attributes["sync"] == "fetched" and infra2.attributes["analysed"] == 0
    assert infra2.attributes["cached"] == infra.attributes["analysed"] > 0
    assert (clone / "residual-test-marker").exists()
    assert {(e.location, e.fingerprint) for e in exposures2} == {(e.location, e.fingerprint) for e in exposures}

    # a new commit upstream: the fetch brings it, and only the new blob is analysed
    push(work, bare, "later.env", "API_TOKEN=Zq8vN3xT7pL2wK9mLATER\n")  # fake
    new_head = git(bare, "rev-parse", "main").strip()
    refs_before = git(bare, "for-each-ref")
    exposures3, cov3 = scan(tmp_path, gh_config(fake))
    infra3 = cov3[url]
    assert infra3.attributes["sync"] == "fetched" and infra3.attributes["analysed"] == 1
    assert any(e.location == "acme/infra:later.env" and e.commit == new_head for e in exposures3)
    assert git(clone, "rev-parse", "main").strip() == new_head
    assert (clone / "residual-test-marker").exists()  # the same clone, fetched into
    assert git(bare, "for-each-ref") == refs_before  # the remote was only read


def test_github_listing_refused_is_a_failed_target_not_clean(tmp_path, github):
    fake, *_ = github
    (tmp_path / "infra").mkdir()
    (tmp_path / "infra" / "ok.tf").write_text("# nothing\n")
    _e, cov = scan(tmp_path, {**gh_config(fake), "github_token": "wrong", "path": str(tmp_path / "infra")})
    assert cov["github:acme"].status == "failed" and "401" in cov["github:acme"].error
    assert "wrong" not in cov["github:acme"].error
    assert cov[str(tmp_path / "infra")].status == "ok"  # the rest of the block still ran
    assert not (tmp_path / "cache" / "iac-repos").exists()


def test_github_listing_retries_429_honouring_retry_after(tmp_path, github, monkeypatch):
    fake, *_ = github
    waits: list[float] = []
    from scanner.core import http
    monkeypatch.setattr(http, "sleep", waits.append)
    fake.fault(r"^/orgs/acme/repos$", status=429, times=2, retry_after=7)
    _e, cov = scan(tmp_path, gh_config(fake))
    assert cov["github:acme"].status == "ok" and cov["github:acme"].api_calls == 3
    assert waits == [7.0, 7.0] and fake.count("/orgs/acme/repos") == 3


def test_github_malformed_repo_entries_skipped_and_counted(tmp_path, github):
    fake, _w, bare, _f = github
    good = {"full_name": "acme/infra", "clone_url": f"{fake.url}/acme/infra.git"}
    fake.fault(r"^/orgs/acme/repos$", body=[{"full_name": 3}, good,
                                             {"full_name": "acme/x", "clone_url": "ext::sh -c id"}])
    _e, cov = scan(tmp_path, gh_config(fake))
    row = cov["github:acme"]
    assert row.status == "partial" and row.attributes["malformed"] == 2 and row.attributes["repos"] == 1
    assert cov[f"{fake.url}/acme/infra.git"].status == "ok"


def test_github_listing_pages_with_link_headers(github):
    fake, *_ = github
    for i in range(150):
        fake.add_repo(f"r{i:03}")
    lister = remotes.Lister(lambda: None, max_pages=10, max_retries=2, timeout=5)
    repos, bad = remotes.list_github(lister, fake.url, "acme", DEMO_TOKEN)
    assert len(repos) == 152 and bad == 0 and fake.count("/orgs/acme/repos") == 2
    assert repos[2].clone_url == "https://github.com/acme/r000.git"


def test_clone_credential_only_for_the_code_hosts_own_origin():
    origin = remotes.git_origin("https://api.github.com", "github")
    assert origin == "https://github.com/"
    assert remotes.git_origin("https://ghe.example.com/api/v3", "github") == "https://ghe.example.com/"
    env = remotes.auth_env("https://github.com/acme/infra.git", "tok-fake", origin, "x-access-token")
    assert env["GIT_CONFIG_KEY_0"] == "http.https://github.com/.extraHeader"
    assert env["GIT_CONFIG_VALUE_0"] == "Authorization: Basic " + \
        base64.b64encode(b"x-access-token:tok-fake").decode()
    assert remotes.auth_env("https://evil.example/acme/infra.git", "tok-fake", origin, "u") == {}
    assert remotes.auth_env("file:///srv/infra.git", "tok-fake", origin, "u") == {}
    assert remotes.auth_env("https://github.com/acme/infra.git", None, origin, "u") == {}


# -- GitLab: the group's projects (subgroups included), cloned over HTTP with the token --


class GitLabWithGit(DumbGit, FakeGitLab):
    git_user = "oauth2"
    git_token = GL_TOKEN

    def __init__(self, data: GitLabData, repos: dict[str, Path]) -> None:
        super().__init__(data)
        self.serve_git(repos)


@pytest.fixture
def gitlab(tmp_path):
    work, bare, first = make_remote(tmp_path, "tf", secret_in_history=True)
    _w2, bare2, _ = make_remote(tmp_path, "web", secret_in_history=False)
    data = GitLabData()
    data.add_user("reader", token=GL_TOKEN, is_admin=True)
    top = data.add_group("platform")
    sub = data.add_group("infra", parent=top)
    other = data.add_group("other")
    p1 = data.add_project("tf", sub)
    p2 = data.add_project("web", top)
    data.add_project("elsewhere", other)
    srv = GitLabWithGit(data, {"platform/infra/tf": bare, "platform/web": bare2})
    with srv:
        p1["http_url_to_repo"] = f"{srv.url}/platform/infra/tf.git"
        p2["http_url_to_repo"] = f"{srv.url}/platform/web.git"
        yield srv, work, bare, first


def test_gitlab_group_projects_cloned_over_http_with_the_token(tmp_path, gitlab):
    srv, _work, _bare, first = gitlab
    cfg = {"gitlab_group": "platform", "gitlab_url": srv.url, "gitlab_token": GL_TOKEN}
    exposures, cov = scan(tmp_path, cfg)
    host = srv.url.split("://", 1)[1]
    listing = cov[f"gitlab:{host}/platform"]
    assert listing.status == "ok" and listing.attributes["repos"] == 2 and listing.api_calls == 1
    tf = cov[f"{srv.url}/platform/infra/tf.git"]
    assert tf.status == "ok" and tf.attributes["sync"] == "cloned", tf.error
    hit = [e for e in exposures if e.location == "platform/infra/tf:.env"]
    assert len(hit) == 1 and hit[0].commit == first and hit[0].in_head is False
    assert srv.writes == []
    assert any(p.startswith("/platform/infra/tf.git/") and a.startswith("Basic ")
               for p, a in srv.git_auth)
    # the token is in no file of the cache (not in the clone's config, not in a URL)
    for f in (tmp_path / "cache").rglob("*"):
        if f.is_file():
            assert GL_TOKEN.encode() not in f.read_bytes(), f


def test_gitlab_clone_url_on_another_origin_is_refused(tmp_path, gitlab):
    srv, *_ = gitlab
    tf = next(p for p in srv.data.projects if p["path"] == "tf")
    tf["http_url_to_repo"] = tf["http_url_to_repo"].replace("127.0.0.1", "localhost")
    cfg = {"gitlab_group": "platform", "gitlab_url": srv.url, "gitlab_token": GL_TOKEN}
    _e, cov = scan(tmp_path, cfg)
    assert tf["http_url_to_repo"] not in cov  # never cloned
    listing = cov[f"gitlab:{srv.url.split('://', 1)[1]}/platform"]
    assert listing.status == "partial" and "origin refused" in listing.error  # not clean
    assert not [p for p, _a in srv.git_auth if p.startswith("/platform/infra/tf.git/")]
    assert cov[f"{srv.url}/platform/web.git"].status == "ok"


def test_nothing_configured_is_a_failed_target(tmp_path):
    _e, cov = scan(tmp_path, {})
    assert cov["iac"].status == "failed" and "nothing to scan" in cov["iac"].error


# -- end to end: `residual scan` with an iac block naming a GitHub org ----------------------


def test_scan_cli_github_org(tmp_path, github):
    fake, _work, _bare, _first = github
    cfg = write_config(tmp_path, {"collectors": {"iac": [{
        "github_org": "acme", "github_base_url": fake.url, "github_token": "${GH_READ_TOKEN}",
        "history": True}]}}, ["bob@example.com,Bob,bob@example.com,human,active,,,github:bob-gh"])
    res = run_cli("scan", "-c", str(cfg), env={"GH_READ_TOKEN": DEMO_TOKEN})
    assert res.returncode == 0, res.stderr  # only a low finding: below fail_on high
    rep = json.loads(run_cli("report", "-c", str(cfg), "--format", "json",
                             env={"GH_READ_TOKEN": DEMO_TOKEN}).stdout)
    got = {(f["rule"], f["location"]["path"]) for f in rep["findings"]}
    assert ("exposure.history_unverified", "acme/infra:.env") in got
    rows = {c["target"]: c for c in rep["coverage"] if c["collector"] == "iac"}
    assert rows["github:acme"]["status"] == "ok" and rows["github:acme"]["api_calls"] == 1
    assert all(c["status"] == "ok" for c in rows.values()) and len(rows) == 3
    db = (tmp_path / "residual.duckdb").read_bytes()
    assert DEMO_TOKEN.encode() not in db and b"Zq8vN3xT7pL2wK9mREMOTE" not in db
    assert fake.writes == []


def test_listing_that_drops_connections_retries_then_fails(tmp_path, github, monkeypatch):
    fake, *_ = github
    from scanner.core import http
    waits: list[float] = []
    monkeypatch.setattr(http, "sleep", waits.append)
    fake.fault(r"^/orgs/acme/repos$", close=True)
    lister = remotes.Lister(lambda: None, max_pages=10, max_retries=2, timeout=5)
    with pytest.raises(remotes.CollectorError, match="after 2 retries"):
        remotes.list_github(lister, fake.url, "acme", DEMO_TOKEN)
    assert fake.count("/orgs/acme/repos") == 3 and waits == [0.5, 1.0]


def test_head_only_clones_are_shallow_and_empty_repos_rescan_cleanly(tmp_path):
    work, bare, _first = make_remote(tmp_path, "infra", secret_in_history=True)
    push(work, bare, "app.env", "API_TOKEN=Zq8vN3xT7pL2wK9mHEAD\n")  # fake, in HEAD
    empty = tmp_path / "remotes" / "empty.git"
    git(tmp_path, "init", "-q", "--bare", str(empty))
    # configured by the operator (a listing may not name file://); dumb HTTP has no --depth
    for sync in ("cloned", "fetched"):
        exposures, cov = scan(tmp_path, {"repos": [f"file://{bare}", f"file://{empty}"], "history": False})
        if True:
            assert {e.location for e in exposures} == {"infra:app.env"}  # .env: history only
            assert cov[f"file://{bare}"].attributes["sync"] == sync
            assert cov[f"file://{empty}"].status == "ok"
            assert cov[f"file://{empty}"].attributes["sync"].startswith(sync)
    clone = next((tmp_path / "cache" / "iac-repos").glob("infra.git-*"))
    assert (clone / "shallow").exists()  # partial: only the tip was fetched
