"""The atlassian, openai and anthropic collectors: transforms of the reference samples,
read-only enforcement against their fakes, the origin rule of the shared client, and the
redacted-form handles that correlate exposures."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from collectors.anthropic import transform as atf
from collectors.anthropic.collector import AnthropicCollector
from collectors.atlassian import transform as ltf
from collectors.atlassian.collector import AtlassianCollector
from collectors.base import CollectorContext
from collectors.openai import transform as otf
from collectors.openai.collector import OpenAICollector
from fixtures import SAMPLES as ROOT_SAMPLES
from fixtures.fake_saas import anthropic, atlassian, openai
from fixtures.httpfake import FakeServer, Request, Response, route
from scanner.config import check_block
from scanner.core.jsonapi import HttpError, JsonApi
from scanner.core.model import Account, Coverage, Credential
from scanner.core.secrets import Fingerprinter, SecretScanner, provider_redaction
from scanner.core.store import Inventory, Sink

SAMPLES = ROOT_SAMPLES / "saas-tokens"
NOW = datetime(2026, 11, 21, 12, tzinfo=UTC)
FP = Fingerprinter(b"k" * 32)


def sample(name: str):
    path = SAMPLES / name
    if not path.exists():
        raise AssertionError(f"reference sample {name} missing from fixtures/samples")
    return json.loads(path.read_text())


def test_transforms_of_the_samples():
    keys = [otf.transform_admin_key(k, "openai:x", FP) for k in sample("openai_organization_admin_api_keys.json")["data"]]
    assert keys and all(k.holder and k.fingerprint.startswith("redacted:") for k in keys)
    proj = otf.transform_project(sample("openai_organization_projects_ID_api_keys.json")["data"][0] | {"id": "proj_1"},
                                 "openai:x")
    pkeys = [otf.transform_project_key(k, "openai:x", FP, proj)
             for k in sample("openai_organization_projects_ID_api_keys.json")["data"]]
    assert pkeys and all(k.holder for k in pkeys)
    akeys = [atf.transform_key(k, "anthropic:x", FP, None, 90) for k in sample("anthropic_organizations_api_keys.json")["data"]]
    assert akeys and all(k.hint and k.hint.startswith("sk-ant-") for k in akeys)
    body = sample("atlassian_admin_orgs_ORGID_api-tokens.json")
    toks = [ltf.transform_token(t, "atlassian:x") for t in body["data"]]
    assert toks and all(t.holder and t.fingerprint is None for t in toks)  # no value hint at all
    for bad in (None, "x", {}, {"id": None}):
        with pytest.raises(ValueError):
            ltf.transform_token(bad, "atlassian:x")


def test_exposed_keys_get_the_handle_of_their_listing():
    """The identifier of an exposed key = the handle the collector stores from the API's
    redacted form (a different key: a different handle)."""
    sc = SecretScanner(FP)
    for key, shown in ((openai.KEYS["alice-laptop"], openai.redact(openai.KEYS["alice-laptop"])),
                       (openai.KEYS["alice-admin"], openai.redact(openai.KEYS["alice-admin"])),
                       (anthropic.KEYS["alice-prod"], anthropic.hint(anthropic.KEYS["alice-prod"]))):
        assert provider_redaction(key) == shown
        hit, = sc.scan_text(f'API_KEY="{key}"\n', "x.env")
        assert hit.identifier == FP.redacted(shown) and key not in hit.hint
    other = sc.scan_text(f'K="{openai.KEYS["bob-reporting"]}"\n', "x.env")[0]
    assert other.identifier != FP.redacted(openai.redact(openai.KEYS["alice-laptop"]))


def test_new_detectors_find_the_providers_tokens():
    from fixtures import fake_vault as fv
    sc = SecretScanner(FP)
    text = (f"a: {anthropic.KEYS['scanner-admin']}\nb: {atlassian.KEYS['bob-old-laptop']}\n"
            f"c: {fv.ALICE_TOKEN}\nd: hvs.short\n")
    hits = {h.line: h for h in sc.scan_text(text, "x.yaml")}
    assert set(hits) == {1, 2, 3}  # hvs.short: too short to be a token (near miss)
    assert hits[1].hint.startswith("sk-ant-admin01-") and hits[3].hint.startswith("hvs.")


def run(cls, cfg: dict, tmp: Path):
    block = check_block(cfg, cls.options, f"collectors.{cls.name}[0]", tmp / "residual.yaml")
    inv = Inventory(":memory:")
    scan = inv.begin_scan("t")
    sink = Sink(inv, scan)
    col = cls(block, CollectorContext(fingerprinter=FP, cache_dir=tmp / "c", now=NOW, base_dir=tmp))
    col.collect(sink)
    sink.flush()
    return inv, scan, col


CASES = {
    "openai": (OpenAICollector, openai.start_demo, lambda s: {"admin_key": openai.DEMO_ADMIN_KEY, "base_url": s.url}),
    "anthropic": (AnthropicCollector, anthropic.start_demo,
                  lambda s: {"admin_key": anthropic.DEMO_ADMIN_KEY, "base_url": s.url}),
    "atlassian": (AtlassianCollector, lambda: atlassian.start_demo(page_size=2),
                  lambda s: {"org_id": atlassian.ORG_ID, "api_key": atlassian.DEMO_ADMIN_KEY, "base_url": s.url}),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_read_only_and_every_request_counted(name, tmp_path):
    cls, start, cfg = CASES[name]
    server = start()
    try:
        inv, scan, col = run(cls, cfg(server), tmp_path)
    finally:
        server.stop()
    assert server.writes == [] and {r.method for r in server.requests} == {"GET"}
    rows = inv.load(Coverage, scan)
    assert [c.status for c in rows if "/" not in c.target] == ["ok"]
    assert col.calls == len(server.requests)
    assert inv.load(Account, scan) and inv.load(Credential, scan)


class Elsewhere(FakeServer):
    """A listing whose next page points at another origin, and a redirect."""

    def __init__(self, other: str):
        super().__init__()
        self.other = other

    @route("GET", r"/list")
    def listing(self, req: Request):
        return {"data": [{"id": 1}], "links": {"next": f"{self.other}/steal"}}

    @route("GET", r"/moved")
    def moved(self, req: Request):
        return Response(302, b"", {"Location": f"{self.other}/steal"})


def test_the_credential_never_reaches_another_origin():
    other = FakeServer().start()
    server = Elsewhere(other.url).start()
    try:
        api = JsonApi(server.url, {"Authorization": "Bearer secret"}, timeout=5, max_retries=0,
                      on_call=lambda: None, max_pages=10)
        with pytest.raises(HttpError, match="another origin"):
            list(api.pages("/list", None, lambda b, p: (b["links"]["next"], None)))
        with pytest.raises(HttpError, match="redirect refused"):
            api.get("/moved")
    finally:
        server.stop()
        other.stop()
    assert other.requests == []


def test_a_ci_variable_or_secret_value_gets_the_same_handle():
    """CI variables and Kubernetes Secret data go through scan_value: same handle."""
    sc = SecretScanner(FP)
    hit = sc.scan_value(anthropic.KEYS["bob-default"], "ANTHROPIC_API_KEY")
    assert hit.identifier == FP.redacted(anthropic.hint(anthropic.KEYS["bob-default"]))
    assert sc.scan_value("not-a-provider-key-1234567890").identifier is None
