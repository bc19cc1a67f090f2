"""Attack surface: credentials sent to another origin (issue 15), through the real CLI.

Every HTTP client residual has carries a credential for one origin (scheme, host, port).
A compromised or hostile endpoint answers with a ``Link: rel="next"`` or a 30x pointing at
a second loopback server (another port is another origin) that records whatever reaches
it. The rule (``collectors.base.OriginBoundSession`` / ``require_same_origin``): nothing is
sent there, not even without its Authorization, PRIVATE-TOKEN or SSWS header, and the
target is not clean.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import fixtures.fake_github as fgh
import fixtures.fake_gitlab as fgl
import fixtures.fake_kubernetes as fk
from fixtures.fake_okta import DEMO_TOKEN as OKTA_TOKEN, demo_okta
from fixtures.fake_scim import DEMO_TOKEN as SCIM_TOKEN, demo_slack
from fixtures.httpfake import FakeServer, Request, Response
from scanner.core.model import Coverage
from scanner.core.store import Inventory
from tests.conftest import ROOT, run_cli, write_config

CRED_HEADERS = ("authorization", "private-token", "x-api-key", "cookie")


class Recorder(FakeServer):
    """The other origin: answers anything, records everything."""

    def _respond(self, req: Request, h) -> Response:
        return Response(200, [], {"Content-Type": "application/json"})


def leaked(rec: Recorder) -> list[tuple[str, dict]]:
    return [(r.path, {k: v for k, v in r.headers.items() if k in CRED_HEADERS}) for r in rec.requests]


def roster(tmp: Path) -> list[str]:
    return (ROOT / "fixtures/demo/roster.csv").read_text().strip().splitlines()[1:]


def coverage(tmp: Path, collector_prefix: str) -> list[Coverage]:
    inv = Inventory(tmp / "residual.duckdb", read_only=True)
    rows = [c for c in inv.load(Coverage, inv.latest_scan_id()) if c.collector.startswith(collector_prefix)]
    inv.close()
    return rows


def not_clean(rows: list[Coverage]) -> bool:
    return any(c.status in ("failed", "partial") and "another origin" in (c.error or "") for c in rows)


def link_to(rec: Recorder, path: str) -> dict[str, str]:
    return {"Link": f'<{rec.url}{path}?page=2>; rel="next"'}


def test_okta_next_link_to_another_origin(tmp_path):
    with demo_okta() as okta, Recorder() as rec:
        okta.fault(r"^/api/v1/users$", status=200, body=[okta.users[0]], headers=link_to(rec, "/api/v1/users"))
        cfg = write_config(tmp_path, {"collectors": {"okta": [
            {"domain": "acme.okta.com", "base_url": okta.url, "token": "${OKTA_TOKEN}"}]}}, roster(tmp_path))
        res = run_cli("scan", "-c", str(cfg), env={"OKTA_TOKEN": OKTA_TOKEN})
        assert leaked(rec) == [], res.stderr
    assert not_clean(coverage(tmp_path, "okta")), res.stderr


def test_scim_redirect_to_another_origin(tmp_path):
    with demo_slack() as slack, Recorder() as rec:
        slack.fault(r"/Users$", status=302, headers={"Location": f"{rec.url}/scim/v2/Users"})
        cfg = write_config(tmp_path, {"collectors": {"scim": [
            {"name": "slack", "url": slack.base_url, "token": "${SCIM_TOKEN}"}]}}, roster(tmp_path))
        res = run_cli("scan", "-c", str(cfg), env={"SCIM_TOKEN": SCIM_TOKEN})
        assert leaked(rec) == [], res.stderr
    assert not_clean(coverage(tmp_path, "scim")), res.stderr


def test_gitlab_redirect_to_another_origin(tmp_path):
    """python-gitlab's session follows a GET redirect, PRIVATE-TOKEN and all."""
    srv = fgl.start_demo()
    try:
        with Recorder() as rec:
            srv.fault(r"^/api/v4/", status=302, headers={"Location": f"{rec.url}/api/v4/user"})
            cfg = write_config(tmp_path, {"collectors": {"gitlab": [
                {"url": srv.url, "token": "${GITLAB_TOKEN}"}]}}, roster(tmp_path))
            res = run_cli("scan", "-c", str(cfg), env={"GITLAB_TOKEN": fgl.ADMIN_TOKEN})
            assert leaked(rec) == [], res.stderr
    finally:
        srv.stop()
    assert res.returncode == 3 and not_clean(coverage(tmp_path, "gitlab")), res.stderr


def test_github_next_link_to_another_origin(tmp_path):
    """PyGithub sends its token to any host of the API's domain; our pager allows one origin."""
    srv = fgh.start_demo()
    try:
        with Recorder() as rec:
            srv.fault(r"^/orgs/acme/outside_collaborators$", status=200, body=[],
                      headers=link_to(rec, "/orgs/acme/outside_collaborators"))
            cfg = write_config(tmp_path, {"collectors": {"github": [
                {"org": "acme", "token": "${GH_TOKEN}", "base_url": srv.url}]}}, roster(tmp_path))
            res = run_cli("scan", "-c", str(cfg), env={"GH_TOKEN": fgh.DEMO_TOKEN})
            assert leaked(rec) == [], res.stderr
    finally:
        srv.stop()
    assert not_clean(coverage(tmp_path, "github")), res.stderr


def test_kubernetes_redirect_to_another_origin(tmp_path):
    """urllib3 follows a redirect to any host (dropping only Authorization: a client
    certificate would still be presented)."""
    srv = fk.start_demo()
    try:
        with Recorder() as rec:
            srv.fault(r"^/api", status=302, headers={"Location": f"{rec.url}/api/v1/namespaces"})
            kubeconfig = fk.write_kubeconfig(tmp_path / "kubeconfig", srv, context="prod")
            cfg = write_config(tmp_path, {"collectors": {"kubernetes": [
                {"kubeconfig": str(kubeconfig), "context": "prod"}]}}, roster(tmp_path))
            res = run_cli("scan", "-c", str(cfg))
            assert rec.requests == [], res.stderr
    finally:
        srv.stop()
    assert res.returncode == 3, res.stderr
    assert any(c.status in ("failed", "partial") and "302" in c.error for c in coverage(tmp_path, "kubernetes"))


@pytest.mark.parametrize("kind", ["github", "gitlab"])
def test_iac_remote_listing_next_link_to_another_origin(tmp_path, kind):
    if kind == "github":
        srv = fgh.FakeGitHub("acme").start()
        srv.fault(r"^/orgs/acme/repos$", status=200, body=[], headers=None)
        block = {"github_org": "acme", "github_base_url": srv.url, "github_token": "${TOKEN}"}
        path, token = r"^/orgs/acme/repos$", fgh.DEMO_TOKEN
    else:
        srv = fgl.start_demo()
        block = {"gitlab_group": "platform", "gitlab_url": srv.url, "gitlab_token": "${TOKEN}"}
        path, token = r"^/api/v4/groups/platform/projects$", fgl.ADMIN_TOKEN
    try:
        with Recorder() as rec:
            srv.clear_faults()
            srv.fault(path, status=200, body=[], headers=link_to(rec, "/next"))
            cfg = write_config(tmp_path, {"collectors": {"iac": [block]}})
            res = run_cli("scan", "-c", str(cfg), env={"TOKEN": token})
            assert leaked(rec) == [], res.stderr
    finally:
        srv.stop()
    assert res.returncode == 3 and not_clean(coverage(tmp_path, "iac")), res.stderr


def test_watch_webhook_307_to_another_origin(tmp_path):
    from tests.test_watch_sources import Hook

    rows = ["alice@example.com,Alice,alice@example.com,human,active,,,"]
    cfg = write_config(tmp_path, {}, rows)
    with Hook() as hook, Recorder() as rec:
        hook.fault(r"^/hook$", status=307, headers={"Location": f"{rec.url}/hook"})
        args = ("watch", "-c", str(cfg), "--once", "--webhook", f"{hook.url}/hook")
        assert run_cli(*args).returncode == 0  # the baseline
        (tmp_path / "roster.csv").write_text("id,name,email,kind,status,terminated_at,owner,aliases\n"
                                             "alice@example.com,Alice,alice@example.com,human,terminated,"
                                             "2026-11-20,,\n")
        res = run_cli(*args)
        assert rec.requests == [], res.stderr  # the verdict did not follow the redirect
        assert hook.count("/hook") >= 1 and "1 failed" in res.stderr  # kept for the next poll


def test_verify_live_asks_the_blocks_own_code_host(tmp_path):
    """A GitHub Enterprise block: a found token is presented to that GHE's API, not to
    api.github.com."""
    (tmp_path / "infra").mkdir()
    token = "ghp_" + "Zq8vN3xT7pL2wK9mA1b2C3d4E5f6G7h8I9j0"  # fake, GitHub's shape
    (tmp_path / "infra" / "ci.env").write_text(f"GH_TOKEN={token}\n")
    with Recorder() as ghe:
        cfg = write_config(tmp_path, {"collectors": {"iac": [{
            "path": str(tmp_path / "infra"), "github_base_url": f"{ghe.url}/api/v3"}]}})
        run_cli("scan", "-c", str(cfg), "--verify-live")
        asked = [(r.path, r.headers.get("authorization")) for r in ghe.requests]
    assert asked == [("/api/v3/user", f"token {token}")]
