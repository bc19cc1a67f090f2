"""verify_live (opt-in): only identity endpoints are asked, and only when enabled."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from collectors.base import CollectorContext
from collectors.iac.collector import IacCollector
from fixtures.httpfake import FakeServer, Request, Response, route
from scanner.core.model import Coverage, Exposure
from scanner.core.secrets import Fingerprinter
from scanner.core.store import Inventory, Sink

GOOD_GH = "ghp_" + "G" * 32 + "good"  # fake
BAD_GH = "ghp_" + "B" * 32 + "badd"  # fake
GOOD_GL = "glpat-" + "L" * 16 + "good"  # fake
KEY_ID = "AKIAQYLPMN5HHHFPZAM2"  # fake
SECRET = "Zq8vN3xT7pL2wK9m/R4sT6uV8wX0yZ2aB+c1d3e5"  # fake, 40 chars


class IdentityEndpoints(FakeServer):
    """GitHub GET /user and GitLab GET /api/v4/personal_access_tokens/self."""

    @route("GET", r"/user")
    def user(self, req: Request) -> Response:
        if req.headers.get("authorization") == f"token {GOOD_GH}":
            return Response(200, {"login": "alice-gh", "id": 1, "type": "User"})
        return Response(401, {"message": "Bad credentials", "documentation_url": "https://docs.github.com/rest"})

    @route("GET", r"/api/v4/personal_access_tokens/self")
    def pat_self(self, req: Request) -> Response:
        if req.headers.get("private-token") == GOOD_GL:
            return Response(200, {"id": 4, "name": "ci", "revoked": False, "active": True,
                                  "scopes": ["api"], "user_id": 3})
        return Response(401, {"message": "401 Unauthorized"})


@pytest.fixture
def endpoints():
    with IdentityEndpoints() as srv:
        yield srv


@pytest.fixture(scope="module")
def sts_url():
    from moto.server import ThreadedMotoServer
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


def scan(tmp_path, endpoints, sts_url, verify: bool):
    root = tmp_path / "t"
    root.mkdir(exist_ok=True)
    (root / "ci.env").write_text(f"GH_TOKEN={GOOD_GH}\nOLD_TOKEN={BAD_GH}\nGL_TOKEN={GOOD_GL}\n")
    (root / "aws.tf").write_text(f'provider "aws" {{\n  access_key = "{KEY_ID}"\n'
                                 f'  secret_key = "{SECRET}"\n}}\n')
    inv = Inventory(":memory:")
    sid = inv.begin_scan("t")
    sink = Sink(inv, sid)
    ctx = CollectorContext(fingerprinter=Fingerprinter(b"test-key-" * 4), cache_dir=tmp_path / "c",
                           now=datetime.now(UTC), base_dir=tmp_path)
    cfg = {"path": str(root), "history": False, "repos": [], "include": [], "exclude": [],
           "max_file_bytes": 2_000_000, "workers": 1, "verify_live": verify,
           "verify_endpoints": {"github_api": endpoints.url, "gitlab_url": endpoints.url,
                                "aws_endpoint": sts_url}}
    IacCollector(cfg, ctx).collect(sink)
    sink.flush()
    return ({(e.location, e.line): e.verified for e in inv.load(Exposure, sid)},
            inv.load(Coverage, sid)[0])


def test_verify_live_asks_identity_endpoints_only(tmp_path, endpoints, sts_url, monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "ignored")  # the exposed pair is used, not the env
    got, cov = scan(tmp_path, endpoints, sts_url, verify=True)
    assert got[("ci.env", 1)] == "valid"
    assert got[("ci.env", 2)] == "invalid"
    assert got[("ci.env", 3)] == "valid"
    assert got[("aws.tf", 2)] == "valid"  # key id paired with the secret on the next line
    assert endpoints.writes == []
    assert {r.path for r in endpoints.requests} == {"/user", "/api/v4/personal_access_tokens/self"}
    assert endpoints.count("/user") == 2 and cov.attributes["verify_calls"] == 4
    assert cov.api_calls == 4


def test_verify_live_off_by_default_asks_nobody(tmp_path, endpoints, sts_url):
    got, cov = scan(tmp_path, endpoints, sts_url, verify=False)
    assert set(got.values()) == {"unverified"}
    assert endpoints.requests == [] and "verify_calls" not in cov.attributes


# -- `residual scan --verify-live` / `residual verify --verify-live` (the CLI opt-in) --------


def _history_repo(root):
    """A repository whose .env held a (fake) GitHub token, deleted since: history only."""
    import subprocess
    env = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t.invalid", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@t.invalid", "HOME": str(root), "PATH": "/usr/bin:/bin:/usr/local/bin"}

    def git(*args):
        subprocess.run(["git", *args], cwd=root, env=env, check=True, capture_output=True)
    root.mkdir()
    git("init", "-q", "-b", "main")
    (root / ".env").write_text(f"GH_TOKEN={GOOD_GH}\n")
    git("add", "-A")
    git("commit", "-q", "-m", "one")
    (root / ".env").unlink()
    (root / "README").write_text("nothing here\n")
    git("add", "-A")
    git("commit", "-q", "-m", "two")


def test_cli_verify_live_flag_turns_the_check_on_for_one_run(tmp_path, endpoints):
    import json

    from tests.conftest import run_cli, write_config
    _history_repo(tmp_path / "infra")
    roster = ["bob@example.com,Bob,bob@example.com,human,active,,,github:bob-gh"]
    cfg = write_config(tmp_path, {"collectors": {"iac": [{
        "path": "infra", "history": True, "verify_endpoints": {"github_api": endpoints.url}}]}}, roster)

    def rules_found() -> set[tuple[str, str]]:
        rep = json.loads(run_cli("report", "-c", str(cfg), "--format", "json").stdout)
        return {(f["rule"], f["evidence"]["verified"]) for f in rep["findings"]}

    off = run_cli("scan", "-c", str(cfg))  # off by default: nobody is asked
    assert off.returncode == 0, off.stderr
    assert endpoints.requests == []
    assert rules_found() == {("exposure.history_unverified", "unverified")}

    on = run_cli("scan", "-c", str(cfg), "--verify-live")
    assert on.returncode == 1, on.stderr  # the history secret still works: high
    assert endpoints.count("/user") == 1 and endpoints.writes == []
    assert {r.path for r in endpoints.requests} == {"/user"}
    assert rules_found() == {("exposure.history_live", "valid")}
    import yaml
    written = yaml.safe_load((tmp_path / "residual.yaml").read_text())
    assert "verify_live" not in written["collectors"]["iac"][0]  # the file is untouched

    ver = run_cli("verify", "-c", str(cfg), "bob@example.com", "--verify-live", "--format", "json")
    assert ver.returncode == 0, ver.stderr
    assert endpoints.count("/user") == 2
    assert GOOD_GH not in off.stdout + off.stderr + on.stdout + on.stderr + ver.stdout + ver.stderr
    assert GOOD_GH.encode() not in (tmp_path / "residual.duckdb").read_bytes()


def test_cli_verify_live_without_an_iac_collector_is_a_usage_error(tmp_path):
    from tests.conftest import run_cli, write_config
    cfg = write_config(tmp_path, {"collectors": {}}, ["bob@example.com,Bob,bob@example.com,human,active,,,"])
    res = run_cli("scan", "-c", str(cfg), "--verify-live")
    assert res.returncode == 2 and "--verify-live: no iac collector" in res.stderr
    assert not (tmp_path / "residual.duckdb").exists()
