"""Read-only enforcement for the entra and azure collectors: every HTTP request they send
(bulk, deep and targeted passes) is a GET, a ``$batch`` whose every inner request is a
GET, or the sign-in itself (the token endpoint). Recorded at the requests layer, under
the collectors and under azure-identity, and again by the fake (which refuses and
records any write)."""

from __future__ import annotations

import re

import pytest
import requests

from fixtures.fake_microsoft import ALICE, CAROL, FakeMicrosoft
from tests.entra_helpers import (SRC, AzureCollector, EntraCollector, Scope, azure_block, entra_block,
                                 run, tenant_with_clients)

TOKEN = re.compile(r"/oauth2/v2\.0/token$")


@pytest.fixture
def sent(monkeypatch):
    """Every request sent through requests, as (method, path, inner batch methods)."""
    out: list[tuple[str, str, list[str]]] = []
    real = requests.Session.request

    def spy(self, method, url, *a, **kw):
        body = kw.get("json")
        inner = [str(r.get("method")) for r in body.get("requests", [])] if isinstance(body, dict) else []
        out.append((method.upper(), requests.utils.urlparse(url).path, inner))
        return real(self, method, url, *a, **kw)

    monkeypatch.setattr(requests.Session, "request", spy)
    return out


def writes(sent: list[tuple[str, str, list[str]]]) -> list[tuple[str, str]]:
    bad = []
    for method, path, inner in sent:
        if method == "GET" or (method == "POST" and TOKEN.search(path)):
            continue
        if method == "POST" and path.endswith("/$batch") and inner and set(inner) == {"GET"}:
            continue
        bad.append((method, path))
    return bad


@pytest.fixture(scope="module")
def server():
    s = FakeMicrosoft(tenant_with_clients()).start()
    yield s
    s.stop()


def test_entra_bulk_deep_and_targeted_only_read(server, sent, tmp_path):
    scope = Scope(accounts={f"{SRC}|{ALICE}", f"{SRC}|{CAROL}"}, emails={"alice@example.com"})
    run(EntraCollector, entra_block(server), deep=scope, tmp=tmp_path)
    run(EntraCollector, entra_block(server), scope=scope, deep=scope, tmp=tmp_path)
    assert any(p.endswith("/$batch") for _, p, _ in sent) and any(m == "GET" for m, _, _ in sent)
    assert writes(sent) == []
    assert server.writes == []


def test_azure_bulk_and_targeted_only_read(server, sent, tmp_path):
    run(AzureCollector, azure_block(server), tmp=tmp_path)
    run(AzureCollector, azure_block(server), scope=Scope(accounts={f"{SRC}|{ALICE}"}), tmp=tmp_path)
    assert len([m for m, p, _ in sent if p.startswith("/subscriptions")]) >= 6
    assert writes(sent) == []
    assert server.writes == []


def test_the_client_refuses_writes_and_the_guard_sees_one(server, sent, tmp_path):
    """The near miss: the collectors' client refuses to send a write at all (nothing leaves
    the process), and the spy above does see a write sent through requests."""
    r = run(EntraCollector, entra_block(server), tmp=tmp_path)
    client = r.collector.client()
    before = len(sent)
    for method, path, body in (("PATCH", f"/users/{ALICE}", {"accountEnabled": True}),
                               ("POST", f"/users/{ALICE}/revokeSignInSessions", None),
                               ("POST", "/$batch", {"requests": [{"id": "1", "method": "DELETE",
                                                                  "url": "/devices/x"}]})):
        with pytest.raises(Exception, match="only reads"):
            client.send(method, path, body=body)
    assert len(sent) == before and server.writes == []
    requests.Session().patch(f"{server.graph_url}/users/{ALICE}", json={}, verify=server.ca_file, timeout=10)
    assert writes(sent) == [("PATCH", f"/v1.0/users/{ALICE}")] and len(server.writes) == 1
    server.reset_counts()
