"""verify_live (opt-in): only identity endpoints are asked, and only when enabled."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from collectors.base import CollectorContext
from collectors.iac import IacCollector
from fixtures.httpfake import FakeServer, Request, Response, route
from scanner.inventory import Inventory, Sink
from scanner.model import Coverage, Exposure
from scanner.secrets import Fingerprinter

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
