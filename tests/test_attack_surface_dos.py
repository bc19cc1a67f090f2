"""Attack surface: denial of service (issue 15).

- a small gzip answer that decompresses to more than the per-answer cap is refused
  (the target failed, with the reason), not held in memory whole;
- rate-limit headers a day ahead fail the target once its wait budget would pass,
  instead of stalling the scan for hours (counted waits, not wall time: sleep is patched);
- the Okta event hook answers 401 to a wrong secret and 413 to an oversized body without
  reading the body;
- the GraphQL guard refuses a mutation anywhere in the document.
"""

from __future__ import annotations

import gzip
import http.client
import time
from urllib.parse import urlsplit

import pytest

from collectors.github.client import is_read_only_graphql
from fixtures.fake_okta import DEMO_TOKEN as OKTA_TOKEN, demo_okta
from scanner.core import http as core_http
from scanner.core.errors import WaitBudgetExceeded
from scanner.core.model import Coverage
from scanner.core.store import Inventory
from tests.conftest import ROOT, run_cli, write_config

ROSTER = (ROOT / "fixtures/demo/roster.csv").read_text().strip().splitlines()[1:]


def okta_rows(tmp_path):
    inv = Inventory(tmp_path / "residual.duckdb", read_only=True)
    rows = [c for c in inv.load(Coverage, inv.latest_scan_id()) if c.collector.startswith("okta")]
    inv.close()
    return rows


def test_decompression_bomb_is_refused(tmp_path):
    bomb = gzip.compress(b"[" + b" " * (80 << 20) + b"]", compresslevel=9)
    assert len(bomb) < 200_000  # 80 MB behind about 80 kB
    with demo_okta() as okta:
        okta.fault(r"^/api/v1/users$", status=200, body=bomb,
                   headers={"Content-Encoding": "gzip", "Content-Type": "application/json"})
        cfg = write_config(tmp_path, {"collectors": {"okta": [
            {"domain": "acme.okta.com", "base_url": okta.url, "token": "${OKTA_TOKEN}"}]}}, ROSTER)
        res = run_cli("scan", "-c", str(cfg), env={"OKTA_TOKEN": OKTA_TOKEN})
    assert res.returncode == 3, res.stderr[-2000:]
    (row,) = okta_rows(tmp_path)
    assert row.status == "failed" and "larger than 64 MB (decompressed)" in row.error


def test_rate_limit_reset_a_day_ahead_fails_the_target_within_its_budget(tmp_path, monkeypatch):
    from collectors.base import CollectorContext
    from collectors.okta.collector import OktaClient

    waits: list[float] = []
    monkeypatch.setattr(core_http, "sleep", waits.append)
    with demo_okta() as okta:
        reset = str(int(time.time()) + 86_400)
        okta.fault(r"^/api/v1/users$", status=429, headers={"X-Rate-Limit-Reset": reset,
                                                           "X-Rate-Limit-Remaining": "0"})
        client = OktaClient(okta.url, OKTA_TOKEN, max_retries=20)
        client.max_wait_s = 900.0  # below the default (CollectorContext.max_wait_s, an hour)
        assert CollectorContext.max_wait_s >= client.max_wait_s
        with pytest.raises(WaitBudgetExceeded, match="wait budget of 900 s"):
            client.json("/api/v1/users")
    assert sum(waits) <= 900  # never waited past the budget


def test_rate_limit_through_the_cli_is_incomplete_with_the_reason(tmp_path):
    with demo_okta() as okta:
        okta.fault(r"^/api/v1/users$", status=429,
                   headers={"X-Rate-Limit-Reset": str(int(time.time()) + 86_400)})
        cfg = write_config(tmp_path, {"network": {"max_wait_s": 0.001, "max_retries": 20}, "collectors": {
            "okta": [{"domain": "acme.okta.com", "base_url": okta.url, "token": "${OKTA_TOKEN}"}]}}, ROSTER)
        res = run_cli("scan", "-c", str(cfg), env={"OKTA_TOKEN": OKTA_TOKEN})
    assert res.returncode == 3, res.stderr[-2000:]
    (row,) = okta_rows(tmp_path)
    assert row.status == "failed" and "wait budget" in row.error


def _post(url: str, headers: dict[str, str], send_body: bytes) -> int:
    u = urlsplit(url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=10)
    conn.putrequest("POST", "/okta-hook")
    for k, v in headers.items():
        conn.putheader(k, v)
    conn.endheaders()
    if send_body:
        conn.send(send_body)
    status = conn.getresponse().status
    conn.close()
    return status


def test_okta_event_hook_checks_secret_and_size_before_reading(tmp_path):
    from scanner.watch import OktaEventHookSource

    hook = OktaEventHookSource(tmp_path / "spool.jsonl", "s3cret-hook")
    url = hook.serve()
    try:
        # a 400 MB body is announced but never sent: the answer comes without reading it
        assert _post(url, {"Authorization": "wrong", "Content-Length": str(400 << 20)}, b"") == 401
        assert _post(url, {"Authorization": "s3cret-hook", "Content-Length": str(400 << 20)}, b"") == 413
        assert _post(url, {"Authorization": "s3cret-hook", "Transfer-Encoding": "chunked"}, b"") == 411
        body = b'{"data": {"events": []}}'
        assert _post(url, {"Authorization": "s3cret-hook", "Content-Length": str(len(body))}, body) == 200
    finally:
        hook.stop()
    assert not (tmp_path / "spool.jsonl").exists() or (tmp_path / "spool.jsonl").read_bytes() == b""


@pytest.mark.parametrize("doc, ok", [
    ("query { viewer { login } }", True),
    ("{ a(b: \"mutation { x }\") }", True),
    ("# mutation { x }\nquery { a }", True),
    ("query A { a } mutation B { deleteRepository(input: {}) { clientMutationId } }", False),
    ("query A { a }\n\"\"\"a description\"\"\"\nmutation { x }", False),
    ("fragment F on User { login } mutation { x }", False),
    ("subscription { s }", False),
    ("  mutation{x}", False),
])
def test_graphql_guard_parses_the_document(doc, ok):
    assert is_read_only_graphql(doc) is ok


class _Bomb:
    """A loopback server answering every GET with a small gzip that decompresses to 80 MB."""

    def __enter__(self):
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        body = gzip.compress(b"[" + b" " * (80 << 20) + b"]", compresslevel=9)

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                self.send_response(200)
                for k, v in (("Content-Type", "application/json"), ("Content-Encoding", "gzip"),
                             ("Content-Length", str(len(body)))):
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.srv.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.srv.server_port}"
        return self

    def __exit__(self, *exc):
        self.srv.shutdown()


def test_graph_and_saas_admin_clients_cap_an_answer_too():
    """The Microsoft Graph/ARM client and the SaaS admin clients (OpenAI, Anthropic,
    Atlassian: scanner.core.jsonapi) read answers through the shared capped session."""
    from collectors.entra.http import MicrosoftClient
    from scanner.core.jsonapi import JsonApi

    class Token:
        def get_token(self, *scopes):
            return type("T", (), {"token": "t"})()

    with _Bomb() as bomb:
        graph = MicrosoftClient(bomb.url, Token(), "https://graph.microsoft.com/.default", max_retries=0)
        with pytest.raises(core_http.ResponseTooLarge):
            graph.json("/v1.0/users")
        api = JsonApi(bomb.url, {"Authorization": "Bearer t"}, timeout=10, max_retries=0,
                      on_call=lambda: None, max_pages=10)
        with pytest.raises(core_http.ResponseTooLarge):
            api.get("/v1/organization/users")


BOMB_HEADERS = {"Content-Encoding": "gzip", "Content-Type": "application/json"}


def _bombed_scan(tmp_path, srv, collectors: dict) -> list[Coverage]:
    """Scan with every answer of ``srv`` a gzip of 80 MB: the coverage rows of the scan."""
    srv.fault(r"^/", status=200, body=gzip.compress(b"[" + b" " * (80 << 20) + b"]", compresslevel=9),
              headers=BOMB_HEADERS)
    try:
        res = run_cli("scan", "-c", str(write_config(tmp_path, {"collectors": collectors}, ROSTER)))
    finally:
        srv.stop()
    assert res.returncode == 3, res.stderr[-2000:]
    inv = Inventory(tmp_path / "residual.duckdb", read_only=True)
    rows = inv.load(Coverage, inv.latest_scan_id())
    inv.close()
    return rows


def test_kubernetes_decompression_bomb_is_refused(tmp_path):
    """The kubernetes client reads a whole answer into memory: ours is read capped."""
    from fixtures import fake_kubernetes as fk

    srv = fk.start_demo()
    kubeconfig = fk.write_kubeconfig(tmp_path / "kubeconfig", srv, context="prod")
    rows = _bombed_scan(tmp_path, srv, {"kubernetes": [{"kubeconfig": str(kubeconfig), "context": "prod"}]})
    assert any(c.collector.startswith("kubernetes") and c.status == "failed"
               and "larger than 64 MB (decompressed)" in c.error for c in rows)


def test_github_decompression_bomb_is_refused(tmp_path):
    """PyGithub reads a whole answer into memory: ours goes through a capped session."""
    from fixtures import fake_github as fgh

    srv = fgh.start_demo()
    rows = _bombed_scan(tmp_path, srv, {"github": [{"org": "acme", "token": fgh.DEMO_TOKEN, "base_url": srv.url}]})
    assert any(c.collector.startswith("github") and c.status in ("failed", "partial")
               and "larger than 64 MB (decompressed)" in (c.error or "") for c in rows)
