"""The fault matrix: every collector with a fake x every fault a real API can throw at it.

Each case drives the real collector (its real client library: PyGithub, python-gitlab,
kubernetes, requests, boto3) against its fake on 127.0.0.1 with one fault injected
(fixtures/httpfake.py ``server.fault``), and checks the four promises of issue 7:

- the scan completes in bounded time: asserted on the fake's request counts (never on
  wall time): retries are bounded by ``max_retries``, pagination by ``max_pages``;
- it retries where retrying is right (429, 5xx, dropped connections, timeouts), with the
  backoff asked of ``scanner.core.http.sleep`` (recorded here, not slept), honouring
  Retry-After; and not where it is wrong (401, 403, 404, a malformed answer);
- the coverage row says what happened (status and an error naming the fault);
- a verdict that depended on it is ``incomplete`` (exit 3 through the real CLI), never
  clean: see the CLI tests at the end.

AWS goes through a FakeServer proxy in front of moto's server (``AwsProxy``): AWS speaks
POST with ``Action=`` (or X-Amz-Target), so the proxy names each request by its
operation, which lets the same fault mechanism target one operation.
"""

from __future__ import annotations

import re
import socket
import urllib.parse
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Callable

import pytest
import requests

from collectors.base import CollectorContext
from fixtures import fake_github, fake_gitlab, fake_kubernetes, fake_okta, fake_saas, fake_scim, fake_vault
from fixtures.aws_estate import FAKE_ENV, READ_PREFIXES, AwsServer, plant_demo
from fixtures.httpfake import FakeServer, Request, Response
from scanner.config import check_block
from scanner.core import http
from scanner.core.model import Coverage
from scanner.core.secrets import Fingerprinter
from scanner.core.store import Inventory, Sink
from tests.conftest import ROOT, run_cli, write_config

NOW = datetime(2026, 11, 21, 12, tzinfo=UTC)
RETRIES = 2          # max_retries for the matrix: a persistent fault costs 1 + 2 requests
MAX_PAGES = 5        # max_pages for the matrix
LIE = 40             # an "endless" listing stops lying after this many pages (no test can hang)
TIMEOUT = 10.0       # the client timeout of every case but the timeout one (a loaded machine
                     # must not turn a slow answer into a retry)
SHORT = 0.5          # the timeout of the read-timeout case (github: 1 s, PyGithub takes an int)
SLOW = 0.3           # how much longer than the timeout the fault's answer takes


# --- the AWS proxy ---------------------------------------------------------------------------


def aws_operation(req: Request) -> str:
    """The AWS operation of a request: X-Amz-Target (JSON protocol), Action= (query
    protocol, in the form body or the query string) or the EKS REST path."""
    target = req.headers.get("x-amz-target")
    if target:
        return target.rsplit(".", 1)[-1]
    params = dict(req.query)
    if req.body and "x-www-form-urlencoded" in req.headers.get("content-type", ""):
        params.update(urllib.parse.parse_qs(req.body.decode("utf-8", "replace")))
    if "Action" in params:
        return params["Action"][0]
    path = req.path.rstrip("/")
    if path == "/clusters":
        return "ListClusters"
    if path.endswith("/access-entries"):
        return "ListAccessEntries"
    if "/access-entries/" in path:
        return "DescribeAccessEntry"
    if path.startswith("/clusters/"):
        return "DescribeCluster"
    return ""


class AwsProxy(FakeServer):
    """Forwards every request to moto's server; faults match on ``/<Operation>``.
    Operations that are not List/Get/Describe/Generate are recorded in ``writes``."""

    allowed_posts = (r"/.*",)

    def __init__(self, upstream: str) -> None:
        super().__init__()
        self.upstream = upstream
        self.truncate_marker = 0  # > 0: GetAccountAuthorizationDetails lies "IsTruncated"

    def _respond(self, req: Request, h: Any) -> Response | None:
        req.real_path = req.path  # type: ignore[attr-defined]
        op = aws_operation(req)
        req.path = f"/{op}"
        if op and not op.startswith(READ_PREFIXES):
            with self._lock:
                self.writes.append(req)
            return Response(403, b"<ErrorResponse><Error><Code>AccessDenied</Code>"
                            b"<Message>read-only proxy</Message></Error></ErrorResponse>",
                            {"Content-Type": "text/xml"})
        return super()._respond(req, h)

    def _dispatch(self, req: Request) -> Response:
        query = urllib.parse.urlencode(req.query, doseq=True)
        headers = {k: v for k, v in req.headers.items() if k not in ("host", "content-length")}
        r = requests.request(req.method, f"{self.upstream}{req.real_path}"  # type: ignore[attr-defined]
                             + (f"?{query}" if query else ""), headers=headers, data=req.body,
                             timeout=30)
        body = r.content
        if self.truncate_marker and req.path == "/GetAccountAuthorizationDetails":
            self.truncate_marker -= 1
            n = int((req.query.get("Marker") or [""])[0].lstrip("m") or 0) + 1
            if b"<Marker>" not in body:  # an endless listing: every page says "more"
                body = body.replace(b"<IsTruncated>false</IsTruncated>",
                                    f"<IsTruncated>true</IsTruncated><Marker>m{n}</Marker>".encode())
        return Response(r.status_code, body, {"Content-Type": r.headers.get("Content-Type", "text/xml")})


def aws_error(code: str, status: int = 400) -> dict[str, Any]:
    body = (f"<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code><Message>fault {code}"
            f"</Message></Error><RequestId>0</RequestId></ErrorResponse>").encode()
    return {"status": status, "body": body, "headers": {"Content-Type": "text/xml"}}


# --- one spec per collector ------------------------------------------------------------------


@dataclass
class Spec:
    name: str
    start: Callable[[Path], tuple[Any, dict[str, Any]]]  # -> (server, config block)
    cls: Callable[[], type]
    core: str        # a path every run needs: a fault there fails (or cuts) the target
    optional: str | None  # an endpoint whose absence is a "skipped" sub-row (None: the bulk pass has none)
    optional_fault: dict[str, Any]
    listing: str     # a paginated listing, for the endless-pagination fault
    main: Callable[[Coverage], bool]  # the target's own coverage row
    env: dict[str, str] | None = None
    timeout: float = SHORT


def _gh(tmp: Path):
    s = fake_github.start_demo()
    return s, {"org": "acme", "token": fake_github.DEMO_TOKEN, "base_url": s.url}


def _gl(tmp: Path):
    s = fake_gitlab.start_demo()
    return s, {"url": s.url, "token": fake_gitlab.ADMIN_TOKEN}


def _k8s(tmp: Path):
    s = fake_kubernetes.start_demo()
    kc = fake_kubernetes.write_kubeconfig(tmp / "kubeconfig", s, context="prod")
    return s, {"kubeconfig": str(kc), "context": "prod"}


def _okta(tmp: Path):
    s = fake_okta.start_demo()
    return s, {"domain": "acme.okta.com", "base_url": s.url, "token": fake_okta.DEMO_TOKEN}


def _scim(tmp: Path):
    s = fake_scim.start_demo()
    return s, {"name": "slack", "url": s.url, "token": fake_scim.DEMO_TOKEN}


def _vault(tmp: Path):
    s = fake_vault.start_demo()
    return s, {"url": s.url, "token": fake_vault.DEMO_TOKEN, "lease_prefixes": ["database/"],
               "concurrency": 2}


def _openai(tmp: Path):
    s = fake_saas.openai.start_demo()
    return s, {"admin_key": fake_saas.openai.DEMO_ADMIN_KEY, "base_url": s.url}


def _anthropic(tmp: Path):
    s = fake_saas.anthropic.start_demo()
    return s, {"admin_key": fake_saas.anthropic.DEMO_ADMIN_KEY, "base_url": s.url}


def _atlassian(tmp: Path):
    s = fake_saas.atlassian.start_demo(page_size=2)
    return s, {"org_id": fake_saas.atlassian.ORG_ID, "api_key": fake_saas.atlassian.DEMO_ADMIN_KEY,
               "base_url": s.url, "name": "acme"}


def _entra_auth(s: Any) -> dict[str, Any]:
    from fixtures.fake_microsoft import DEMO_CLIENT, DEMO_SECRET, DEMO_TENANT
    return {"tenant_id": DEMO_TENANT, "client_id": DEMO_CLIENT, "client_secret": DEMO_SECRET,
            "authority_host": s.url, "ca_bundle": s.ca_file}


def _entra(tmp: Path):
    from fixtures.fake_microsoft import start_demo
    s = start_demo()
    return s, {**_entra_auth(s), "base_url": s.graph_url}


def _azure(tmp: Path):
    from fixtures.fake_microsoft import start_demo
    s = start_demo()
    return s, {**_entra_auth(s), "arm_url": s.arm_url}


def _google(tmp: Path, workspace: bool):
    from fixtures import fake_google
    s = fake_google.start_demo()
    key = s.write_key_file(tmp / f"google-key-{'workspace' if workspace else 'gcp'}.json")
    if workspace:
        return s, {"customer": "C0acme123", "subject": fake_google.ADMIN, "credentials_file": str(key),
                   "api_endpoint": s.url}
    # keys: iam, so that keys.list (the core below) is asked whether Cloud Asset answers or not
    return s, {"organization": "445566778899", "credentials_file": str(key), "api_endpoint": s.url,
               "keys": "iam"}


_AWS: dict[str, Any] = {}


def _aws(tmp: Path):
    if "server" not in _AWS:  # moto's server is process-global: one per worker, planted
        _AWS["server"] = AwsServer().start()  # once (a scan only reads it)
        plant_demo(_AWS["server"].url)
    s = AwsProxy(_AWS["server"].url).start()
    return s, {"endpoint_url": s.url, "regions": ["us-east-1"]}


def _cls(module: str, name: str) -> Callable[[], type]:
    def get() -> type:
        import importlib
        return getattr(importlib.import_module(module), name)
    return get


NOT_FOUND = {"status": 404}
SPECS = {
    "github": Spec("github", _gh, _cls("collectors.github.collector", "GitHubCollector"),
                   core=r"^/graphql$", optional=r"^/orgs/acme/hooks$", optional_fault=NOT_FOUND,
                   listing=r"^/orgs/acme/outside_collaborators$",
                   main=lambda c: c.target == "acme", timeout=1.0),
    "gitlab": Spec("gitlab", _gl, _cls("collectors.gitlab.collector", "GitLabCollector"),
                   core=r"^/api/v4/users$", optional=r"^/api/v4/audit_events$",
                   optional_fault=NOT_FOUND, listing=r"^/api/v4/users$",
                   main=lambda c: c.layer == "code-hosting" and c.target.count(":") == 1),
    "kubernetes": Spec("kubernetes", _k8s, _cls("collectors.kubernetes.collector", "KubernetesCollector"),
                       core=r"^/api/v1/serviceaccounts$", optional=r"certificatesigningrequests$",
                       optional_fault=NOT_FOUND, listing=r"^/api/v1/serviceaccounts$",
                       main=lambda c: c.target == "prod"),
    "okta": Spec("okta", _okta, _cls("collectors.okta.collector", "OktaCollector"),
                 core=r"^/api/v1/users$", optional=r"^/api/v1/api-tokens$",
                 optional_fault=NOT_FOUND, listing=r"^/api/v1/users$",
                 main=lambda c: c.target == "acme.okta.com"),
    "scim": Spec("scim", _scim, _cls("collectors.scim.collector", "ScimCollector"),
                 core=r"^/Users$", optional=r"^/Groups$", optional_fault=NOT_FOUND,
                 listing=r"^/Users$", main=lambda c: c.target == "slack"),
    "vault": Spec("vault", _vault, _cls("collectors.vault.collector", "VaultCollector"),
                  core=r"^/v1/auth/token/accessors/?$", optional=r"^/v1/secret/metadata/?$",
                  optional_fault={"status": 404, "body": {"errors": [
                      'no handler for route "secret/metadata". route entry not found.']}},
                  listing=r"^/v1/sys/leases/lookup/", main=lambda c: c.target == "vault"),
    "openai": Spec("openai", _openai, _cls("collectors.openai.collector", "OpenAICollector"),
                   core=r"^/v1/organization/users$", optional=r"^/v1/organization/audit_logs$",
                   optional_fault=NOT_FOUND, listing=r"^/v1/organization/users$",
                   main=lambda c: c.target == "openai"),
    "anthropic": Spec("anthropic", _anthropic, _cls("collectors.anthropic.collector", "AnthropicCollector"),
                      core=r"^/v1/organizations/users$", optional=r"^/v1/organizations/usage_report/",
                      optional_fault=NOT_FOUND, listing=r"^/v1/organizations/users$",
                      main=lambda c: c.target == "anthropic"),
    "atlassian": Spec("atlassian", _atlassian, _cls("collectors.atlassian.collector", "AtlassianCollector"),
                      core=r"^/admin/v1/orgs/[^/]+/users$", optional=r"/api-tokens$",
                      optional_fault=NOT_FOUND, listing=r"^/admin/v1/orgs/[^/]+/users$",
                      main=lambda c: c.target == "acme"),
    "google_workspace": Spec("google_workspace", lambda tmp: _google(tmp, True),
                             _cls("collectors.google_workspace.collector", "GoogleWorkspaceCollector"),
                             core=r"^/admin/directory/v1/users$", optional=None, optional_fault=NOT_FOUND,
                             listing=r"^/admin/directory/v1/users$", main=lambda c: c.target == "C0acme123"),
    # the core is keys.list; Cloud Asset is optional: without it the IAM API reads the same
    "gcp": Spec("gcp", lambda tmp: _google(tmp, False), _cls("collectors.gcp.collector", "GcpCollector"),
                core=r"/keys$", optional=r":searchAllResources$", optional_fault=NOT_FOUND,
                listing=r":searchAllIamPolicies$", main=lambda c: c.target == "organizations/445566778899"),
    "aws": Spec("aws", _aws, _cls("collectors.aws.collector", "AwsCollector"),
                core=r"^/GetAccountAuthorizationDetails$",
                optional=r"^/ListServiceSpecificCredentials$",
                optional_fault=aws_error("AccessDenied", 403),
                listing=r"^/GetAccountAuthorizationDetails$",
                main=lambda c: c.target == "123456789012", env=FAKE_ENV),
    # Graph: users is the core listing; a refused optional listing (403, the app lacks
    # Application.Read.All) is a skipped row
    "entra": Spec("entra", _entra, _cls("collectors.entra.collector", "EntraCollector"),
                  core=r"^/v1\.0/users$", optional=r"^/v1\.0/servicePrincipals$",
                  optional_fault={"status": 403}, listing=r"^/v1\.0/users$",
                  main=lambda c: c.target == "8a7b5c3e-2f14-4d6a-9b1e-0c5d7e9f1a24"),
    # ARM: role assignments are the core listing; PIM refused by RBAC is a skipped row
    "azure": Spec("azure", _azure, _cls("collectors.azure.collector", "AzureCollector"),
                  core=r"/roleAssignments$", optional=r"/roleEligibilityScheduleInstances$",
                  optional_fault={"status": 403}, listing=r"/roleAssignments$",
                  main=lambda c: c.target == "3c1d2e4f-5a6b-4c7d-8e9f-0a1b2c3d4e5f"),
}


# --- running one case --------------------------------------------------------------------------


@dataclass
class Outcome:
    coverage: list[Coverage]
    paths: Counter
    sleeps: list[float]
    calls: int
    writes: list[Any]

    def main(self, spec: Spec) -> Coverage:
        rows = [c for c in self.coverage if spec.main(c)]
        assert len(rows) == 1, [(c.target, c.status) for c in self.coverage]
        return rows[0]

    def hits(self, pattern: str) -> int:
        return sum(n for p, n in self.paths.items() if re.search(pattern, p))


def dead_url() -> str:
    """A loopback port nobody listens on (connection refused)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def endless(spec: Spec, server: Any) -> None:
    """Make ``spec.listing`` a listing whose every page points to a new next page (new
    cursors each time: loop detection cannot save the client, only a page bound can).
    The fake stops lying after LIE pages, so a client without a bound ends the test
    with LIE+ requests instead of hanging it."""
    if spec.name in ("github", "gitlab", "openai", "anthropic", "atlassian", "entra", "azure",
                     "google_workspace", "gcp"):  # next page, new cursor
        server.fault(spec.listing, endless_pages=True, times=LIE)
        return
    if spec.name == "aws":
        server.truncate_marker = LIE
        return
    orig = server._dispatch
    left = {"n": LIE}
    first: dict[str, Any] = {}

    def lying(req: Request) -> Response:
        resp = orig(req)
        if spec.name == "vault" and resp.status == 404:  # an empty prefix, made to lie too
            resp = Response(200, {"data": {"keys": []}})
        if not re.search(spec.listing, req.path) or left["n"] <= 0 or resp.status != 200:
            return resp
        left["n"] -= 1
        n = LIE - left["n"]
        if spec.name == "okta":  # a new `after` cursor each page, and never an empty page
            first.setdefault("items", resp.body)
            resp.body = resp.body or first["items"]
            resp.headers["Link"] = (f'<{server.url}{req.path}?limit=200&after=cursor{n}>; '
                                    'rel="next"')
        elif spec.name == "kubernetes":  # a new, valid continue token each page
            import base64
            import json
            token = base64.urlsafe_b64encode(json.dumps({"start": 0, "n": n}).encode()).decode()
            resp.body = {**resp.body, "metadata": {**resp.body.get("metadata", {}), "continue": token}}
        elif spec.name == "vault":  # LIST has no pages: a sub-prefix under every sub-prefix
            resp.body = {**resp.body, "data": {"keys": [f"deeper{n}/"]}}
        elif spec.name == "scim":  # more results promised, and never an empty page
            first.setdefault("items", resp.body.get("Resources"))
            resp.body = {**resp.body, "totalResults": 10 ** 9,
                         "Resources": resp.body.get("Resources") or first["items"]}
        return resp

    server._dispatch = lying


def run_case(spec: Spec, tmp: Path, monkeypatch, faults: list[tuple[str, dict[str, Any]]] = (),
             prepare: Callable[[Any, dict[str, Any]], None] | None = None,
             retries: int = RETRIES, timeout: float | None = None) -> Outcome:
    for k, v in (spec.env or {}).items():
        monkeypatch.setenv(k, v)
    sleeps: list[float] = []
    monkeypatch.setattr(http, "sleep", sleeps.append)
    tmp.mkdir(parents=True, exist_ok=True)
    server, cfg = spec.start(tmp)
    try:
        for pattern, kw in faults:
            server.fault(pattern, **kw)
        if prepare:
            prepare(server, cfg)
        cls = spec.cls()
        block = check_block(cfg, cls.options, f"collectors.{spec.name}[0]", tmp / "t.yaml")
        inv = Inventory(":memory:")
        scan = inv.begin_scan("fault")
        sink = Sink(inv, scan)
        ctx = CollectorContext(fingerprinter=Fingerprinter(b"k" * 32), cache_dir=tmp / "cache",
                               now=NOW, base_dir=tmp, timeout_s=timeout or TIMEOUT, max_retries=retries,
                               max_pages=MAX_PAGES)
        collector = cls(block, ctx)
        if hasattr(collector, "max_pages"):  # gitlab's own bound, for the same budget
            collector.max_pages = MAX_PAGES
        collector.collect(sink, None)  # must not raise: the target guards it
        sink.flush()
        assert server.writes == [], server.writes  # read-only, under every fault too
        return Outcome(inv.load(Coverage, scan), Counter(r.path for r in server.requests),
                       list(sleeps), collector.calls, list(server.writes))
    finally:
        server.stop()


_BASELINE: dict[str, Outcome] = {}


def baseline(spec: Spec, tmp: Path, monkeypatch) -> Outcome:
    """The fault-free run of a collector (once per worker): what a fault is compared to."""
    if spec.name not in _BASELINE:
        _BASELINE[spec.name] = run_case(spec, tmp, monkeypatch)
    return _BASELINE[spec.name]


def not_ok(row: Coverage) -> bool:
    return row.status in ("failed", "partial")


# --- the matrix ----------------------------------------------------------------------------------

ALL = list(SPECS)


def xfail(cases: dict[str, str], name: str):
    """A known, collector-specific bug: strict, so that its fix is noticed."""
    if name in cases:
        return [pytest.mark.xfail(strict=True, reason=cases[name])]
    return []


def params(known_bugs: dict[str, str] | None = None):
    return [pytest.param(n, marks=xfail(known_bugs or {}, n)) for n in ALL]


@pytest.mark.parametrize("name", params())
def test_401_fails_without_retrying(name, tmp_path, monkeypatch):
    spec = SPECS[name]
    fault = aws_error("InvalidClientTokenId", 403) if name == "aws" else {"status": 401}
    out = run_case(spec, tmp_path, monkeypatch, [(".", fault)])
    failed = [c for c in out.coverage if c.status == "failed"]
    assert failed, [(c.target, c.status) for c in out.coverage]
    assert not [c for c in out.coverage if c.status == "ok"]
    assert re.search(r"401|credential|InvalidClientTokenId|unauthori", failed[0].error or "", re.I)
    assert sum(out.paths.values()) <= 2 and out.sleeps == []  # no retry on bad credentials
    assert out.writes == []


@pytest.mark.parametrize("name", params())
def test_403_on_a_core_listing_is_not_clean_and_not_retried(name, tmp_path, monkeypatch):
    spec = SPECS[name]
    fault = aws_error("AccessDenied", 403) if name == "aws" else {"status": 403}
    out = run_case(spec, tmp_path, monkeypatch, [(spec.core, fault)])
    row = out.main(spec)
    assert not_ok(row), row
    assert re.search(r"403|forbidden|AccessDenied", row.error or "", re.I), row.error
    assert out.sleeps == [] and out.hits(spec.core) <= 2  # github: two distinct queries


@pytest.mark.parametrize("name", [n for n in params() if SPECS[n.values[0]].optional])
def test_404_on_an_optional_endpoint_is_a_skipped_row(name, tmp_path, monkeypatch):
    spec = SPECS[name]
    out = run_case(spec, tmp_path, monkeypatch, [(spec.optional, spec.optional_fault)])
    assert out.main(spec).status == "ok"
    skipped = [c for c in out.coverage if c.status == "skipped" and c.error]
    assert skipped and any(re.search(r"404|not found|not served|AccessDenied|forbidden", c.error, re.I)
                           for c in skipped), [(c.target, c.error) for c in skipped]
    assert out.hits(spec.optional) == 1 and out.sleeps == []


@pytest.mark.parametrize("name", params())
def test_429_with_retry_after_is_waited_out(name, tmp_path, monkeypatch):
    spec = SPECS[name]
    fault = ({**aws_error("Throttling", 400), "retry_after": 7, "times": 1} if name == "aws"
             else {"status": 429, "retry_after": 7, "times": 1})
    out = run_case(spec, tmp_path, monkeypatch, [(spec.core, fault)])
    assert out.main(spec).status == "ok", out.main(spec)
    assert out.hits(spec.core) >= 2  # the refused call, then the same call again
    if name == "okta":  # Okta's own rule: wait for X-Rate-Limit-Reset (bounded)
        assert len(out.sleeps) == 1 and 0 < out.sleeps[0] <= 60
    else:
        assert out.sleeps == [7.0]


@pytest.mark.parametrize("name", params())
def test_transient_5xx_recovers_after_retries(name, tmp_path, monkeypatch):
    """500, then 502, then 503 on the same call, then an answer: three retries with
    exponential backoff, and the target is ok (max_retries=3 here)."""
    spec = SPECS[name]
    faults = [(spec.core, {**aws_error("InternalFailure", st), "times": 1} if name == "aws"
               else {"status": st, "times": 1}) for st in (500, 502, 503)]
    clean = baseline(spec, tmp_path / "a", monkeypatch)
    out = run_case(spec, tmp_path / "b", monkeypatch, faults, retries=3)
    assert out.main(spec).status == "ok", out.main(spec)
    assert out.hits(spec.core) == clean.hits(spec.core) + 3
    assert out.sleeps == [0.5, 1.0, 2.0]  # the backoff steps
    assert out.main(spec).api_calls == clean.main(spec).api_calls + 3  # retries are counted


@pytest.mark.parametrize("name", params())
def test_persistent_5xx_fails_after_bounded_retries(name, tmp_path, monkeypatch):
    spec = SPECS[name]
    fault = aws_error("ServiceUnavailable", 503) if name == "aws" else {"status": 503}
    out = run_case(spec, tmp_path, monkeypatch, [(spec.core, fault)])
    row = out.main(spec)
    assert not_ok(row) and re.search(r"503|ServiceUnavailable", row.error or ""), row
    assert out.hits(spec.core) == 1 + RETRIES
    assert out.sleeps == [0.5, 1.0]  # exponential backoff, bounded


@pytest.mark.parametrize("name", params())
def test_dropped_connection_is_retried_then_fails(name, tmp_path, monkeypatch):
    spec = SPECS[name]
    out = run_case(spec, tmp_path, monkeypatch, [(spec.core, {"close": True})])
    row = out.main(spec)
    assert not_ok(row), row
    assert re.search(r"connect|closed|aborted|reach", row.error or "", re.I), row.error
    # httplib2 (google-api-python-client's transport) re-sends once on a connection closed
    # without a status line, taking it for a stale keep-alive: twice per try, still bounded
    per_try = 2 if name in ("google_workspace", "gcp") else 1
    assert 2 <= out.hits(spec.core) <= (1 + RETRIES) * per_try


def _refused(spec: Spec):
    def prepare(server: Any, cfg: dict[str, Any]) -> None:
        url = dead_url()
        if spec.name in ("entra", "azure"):  # MSAL takes only an https authority
            url = url.replace("http://", "https://")
        for key in ("base_url", "url", "endpoint_url", "authority_host", "arm_url"):
            if key in cfg:
                cfg[key] = url
        if "credentials_file" in cfg:  # the key file names the token endpoint: dead too
            import json
            key = Path(cfg["credentials_file"])
            key.write_text(json.dumps({**json.loads(key.read_text()), "token_uri": f"{url}/token"}))
        if spec.name == "kubernetes":
            fake_kubernetes.write_kubeconfig(Path(cfg["kubeconfig"]), _Dead(url), context="prod")
    return prepare


class _Dead:
    def __init__(self, url: str):
        self.url = url
        self.token = fake_kubernetes.DEFAULT_TOKEN


@pytest.mark.parametrize("name", params())
def test_connection_refused_fails_the_target(name, tmp_path, monkeypatch):
    spec = SPECS[name]
    out = run_case(spec, tmp_path, monkeypatch, prepare=_refused(spec))
    assert sum(out.paths.values()) == 0  # nothing reached the (real) fake
    failed = [c for c in out.coverage if c.status == "failed"]
    assert failed and not [c for c in out.coverage if c.status == "ok"]
    assert re.search(r"connect|refused|reach", failed[0].error or "", re.I), failed[0].error
    assert out.calls <= 1 + RETRIES and len(out.sleeps) <= RETRIES


@pytest.mark.parametrize("name", params())
def test_read_timeout_is_retried_then_fails(name, tmp_path, monkeypatch):
    spec = SPECS[name]
    out = run_case(spec, tmp_path, monkeypatch, [(spec.core, {"delay": spec.timeout + SLOW})],
                   retries=1, timeout=spec.timeout)
    row = out.main(spec)
    assert not_ok(row), row
    assert re.search(r"time ?out|timed out", row.error or "", re.I), row.error
    assert out.hits(spec.core) == 2  # one try, one retry (max_retries=1), then it gives up


@pytest.mark.parametrize("name", params())
def test_truncated_json_is_not_retried_and_not_clean(name, tmp_path, monkeypatch):
    spec = SPECS[name]
    fault = ({"status": 200, "body": b"<GetAccountAuthorizationDetailsResponse><GetAccountAu",
              "headers": {"Content-Type": "text/xml"}} if name == "aws" else {"truncate": True})
    out = run_case(spec, tmp_path, monkeypatch, [(spec.core, fault)])
    row = out.main(spec)
    assert not_ok(row), row
    assert re.search(r"malformed|not JSON|not valid|parse|unexpected|expected", row.error or "", re.I), row.error
    assert out.hits(spec.core) == 1


@pytest.mark.parametrize("name", [n for n in ALL if n != "aws"])
def test_json_of_the_wrong_shape_is_not_clean(name, tmp_path, monkeypatch):
    spec = SPECS[name]
    out = run_case(spec, tmp_path, monkeypatch, [(spec.core, {"body": '"just a string"'})])
    row = out.main(spec)
    assert not_ok(row), row
    assert out.hits(spec.core) == 1


@pytest.mark.parametrize("name", params())
def test_pagination_that_never_ends_is_cut_and_not_clean(name, tmp_path, monkeypatch):
    spec = SPECS[name]
    out = run_case(spec, tmp_path, monkeypatch, prepare=lambda s, c: endless(spec, s))
    row = out.main(spec)
    assert out.hits(spec.listing) <= MAX_PAGES + 2, out.hits(spec.listing)  # bounded, not LIE
    assert not_ok(row), row
    assert re.search(r"page|listing", row.error or "", re.I), row.error


def test_aws_malformed_credential_report_makes_the_account_partial(tmp_path, monkeypatch):
    import base64
    spec = SPECS["aws"]
    content = base64.b64encode(b"user,arn\nalice,arn:aws:iam::123456789012:user/al\rice\n").decode()
    body = ('<GetCredentialReportResponse xmlns="https://iam.amazonaws.com/doc/2010-05-08/">'
            f"<GetCredentialReportResult><Content>{content}</Content><ReportFormat>text/csv"
            "</ReportFormat><GeneratedTime>2026-11-21T10:00:00Z</GeneratedTime>"
            "</GetCredentialReportResult><ResponseMetadata><RequestId>0</RequestId>"
            "</ResponseMetadata></GetCredentialReportResponse>")
    out = run_case(spec, tmp_path, monkeypatch, [(r"^/GetCredentialReport$", {
        "status": 200, "body": body, "headers": {"Content-Type": "text/xml"}})])
    row = out.main(spec)
    assert row.status == "partial" and "credential report" in (row.error or ""), row
    assert out.hits(spec.core) == 1  # the rest of the account was still read


# --- through the CLI: a failed layer makes the verdict incomplete (exit 3), never clean --------

ROSTER = (ROOT / "fixtures" / "demo" / "roster.csv").read_text().splitlines()[1:]


@pytest.fixture(scope="module")
def estate(tmp_path_factory):
    """Every collector's fake, running, and one config naming all of them."""
    tmp = tmp_path_factory.mktemp("estate")
    servers, blocks = {}, {}
    for name, spec in SPECS.items():
        servers[name], blocks[name] = spec.start(tmp)
    yield tmp, servers, blocks
    for s in servers.values():
        s.stop()


def _verify_carol(tmp: Path, blocks: dict[str, Any], sub: str) -> Any:
    d = tmp / sub
    d.mkdir()
    cfg = write_config(d, {"collectors": {n: [dict(b)] for n, b in blocks.items()}}, ROSTER)
    return run_cli("verify", "-c", str(cfg), "--format", "json", "carol@example.com", env=FAKE_ENV)


def test_cli_baseline_carol_is_clean_everywhere(estate):
    """The near miss: with every source answering, carol (cleanly offboarded) is clean."""
    tmp, servers, blocks = estate
    for s in servers.values():
        s.clear_faults()
    r = _verify_carol(tmp, blocks, "baseline")
    assert r.returncode == 0, r.stdout + r.stderr
    assert '"verdict": "clean"' in r.stdout
    # read-only across every collector, bulk and deep pass (verify puts the leavers'
    # accounts in scope): the fakes and the AWS proxy record any non-read request
    assert all(s.count() > 0 for s in servers.values())
    assert servers["aws"].count("/ListAccessKeys") > 0  # the deep pass ran (alice's user)
    assert {n: s.writes for n, s in servers.items() if s.writes} == {}


@pytest.mark.parametrize("name", ALL)
def test_cli_one_failed_source_makes_the_verdict_incomplete(estate, name):
    """That source alone, refusing the credential: exit 3, the layer it covers is
    incomplete, never clean."""
    tmp, servers, blocks = estate
    for s in servers.values():
        s.clear_faults()
    fault = aws_error("InvalidClientTokenId", 403) if name == "aws" else {"status": 401}
    servers[name].fault(".", **fault)
    try:
        r = _verify_carol(tmp, {name: blocks[name]}, f"fault-{name}")
    finally:
        servers[name].clear_faults()
    assert r.returncode == 3, r.stdout + r.stderr
    assert '"verdict": "incomplete"' in r.stdout and '"verdict": "clean"' not in r.stdout
    assert all(s.writes == [] for s in servers.values())


def test_cli_iac_path_that_cannot_be_read_makes_the_verdict_incomplete(tmp_path):
    """The IaC collector has no API to fault: its fault is a tree that is not there."""
    infra = tmp_path / "infra"
    infra.mkdir()
    (infra / "ok.tf").write_text('resource "aws_s3_bucket" "b" {\n  bucket = "b"\n}\n')
    cfg = write_config(tmp_path, {"collectors": {"iac": [{"path": "infra"}]}}, ROSTER)
    ok = run_cli("verify", "-c", str(cfg), "--format", "json", "carol@example.com")
    assert ok.returncode == 0, ok.stdout + ok.stderr
    infra.rename(tmp_path / "gone")
    r = run_cli("verify", "-c", str(cfg), "--format", "json", "carol@example.com")
    assert r.returncode == 3 and '"iac": "incomplete"' in r.stdout, r.stdout + r.stderr


@pytest.mark.parametrize("source", ["okta", "scim"])
def test_cli_roster_source_that_fails_makes_the_verdict_incomplete(source, tmp_path):
    """A directory used as a roster source (Okta, a SCIM system of record) that refuses
    the token: the directory layer is failed, the verdict incomplete (exit 3)."""
    server = (fake_okta if source == "okta" else fake_scim).start_demo()
    try:
        block = ({"domain": "acme.okta.com", "base_url": server.url, "token": fake_okta.DEMO_TOKEN}
                 if source == "okta" else
                 {"name": "slack", "url": server.url, "token": fake_scim.DEMO_TOKEN})
        (tmp_path / "infra").mkdir()  # one collector: a roster alone checks nothing (clean needs one)
        cfg = write_config(tmp_path, {"collectors": {"iac": [{"path": str(tmp_path / "infra")}]}}, ROSTER)
        import yaml
        body = yaml.safe_load(cfg.read_text())
        body["roster"].append({source: block})
        cfg.write_text(yaml.safe_dump(body))
        ok = run_cli("verify", "-c", str(cfg), "--format", "json", "carol@example.com")
        server.fault(".", status=401)
        r = run_cli("verify", "-c", str(cfg), "--format", "json", "carol@example.com")
    finally:
        server.stop()
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert r.returncode == 3 and '"directory": "incomplete"' in r.stdout, r.stdout + r.stderr
    assert server.writes == []
