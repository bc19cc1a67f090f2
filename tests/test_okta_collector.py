"""The Okta collector against the fake Okta server, over real HTTP."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from collectors.base import CollectorContext, Scope
from collectors.okta.collector import (
    OktaClient, OktaCollector, duration, transform_token, transform_user, transform_users,
)
from fixtures.fake_okta import (
    ALICE, BOB, CAROL, DEMO_TOKEN, ERIN, FakeOkta, demo_okta, okta_user,
)
from scanner.config import check_block
from scanner.core import http
from scanner.core.model import Account, Coverage, Credential, Grant, Resource
from scanner.core.secrets import Fingerprinter
from scanner.core.store import Inventory, Sink
from fixtures import SAMPLES as SAMPLES_ROOT

SAMPLES = (SAMPLES_ROOT / "okta")
NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
SRC = "okta:acme.okta.com"


def sample(name: str):
    p = SAMPLES / name
    if not p.exists():
        pytest.skip(f"reference sample {p} not available")
    return json.loads(p.read_text())


def run(server: FakeOkta, tmp_path: Path, scope: Scope | None = None, **cfg):
    block = check_block({"domain": "acme.okta.com", "base_url": server.url, "token": server.token,
                         **cfg}, OktaCollector.options, "collectors.okta[0]", Path("t.yaml"))
    inv = Inventory(":memory:")
    scan = inv.begin_scan("test")
    sink = Sink(inv, scan)
    ctx = CollectorContext(fingerprinter=Fingerprinter(b"k" * 32), cache_dir=tmp_path, now=NOW)
    c = OktaCollector(block, ctx)
    c.collect(sink, None)
    if scope is not None:
        c.deepen(sink, scope)
    sink.flush()
    return c, inv, scan


@pytest.fixture(scope="module")
def _server():
    with FakeOkta(token=DEMO_TOKEN) as s:
        yield s


@pytest.fixture
def okta(_server):
    """One server for the module (starting and stopping one costs ~0.5 s), reset to the
    demo org before each test."""
    s = demo_okta(_server)
    s.token, s.rate_limit = DEMO_TOKEN, 600
    s.forbidden.clear()
    s.clear_faults()
    s.reset_counts()
    return s


# --- transforms, on the Okta samples -------------------------------------------------------


def test_transform_users_sample():
    accounts, bad = transform_users(sample("users_list.json"), SRC)
    assert bad == 0
    by_status = {a.attributes["okta_status"]: a for a in accounts}
    assert by_status["ACTIVE"].status == "active"
    assert by_status["SUSPENDED"].status == "suspended"
    assert by_status["DEPROVISIONED"].status == "disabled"
    a = by_status["ACTIVE"]
    assert (a.native_id, a.login, a.email) == ("00u118oQYT4TBTemp0g4", "alice.smith@example.com",
                                                "alice.smith@example.com")
    assert a.last_seen_at == datetime(2022, 5, 4, 19, 50, 52, tzinfo=UTC)


def test_transform_tokens_sample():
    first, second = sample("api_tokens_list.json")
    t = transform_token(first, SRC, {"00uabcdefg1234567890": "ACTIVE"},
                        now=datetime(2021, 11, 20, tzinfo=UTC))
    assert (t.kind, t.native_id, t.holder, t.status) == (
        "api_key", "00Tabcdefg1234567890", f"{SRC}|00uabcdefg1234567890", "active")
    # expiresAt moves by tokenWindow at each use: last use = expiresAt - P30D
    assert t.last_used_at == datetime(2021, 11, 11, 20, 38, 10, tzinfo=UTC)
    assert t.attributes["last_used_derived"] is True
    # the second one expired (PT5M after its last use)
    assert transform_token(second, SRC, {}, now=datetime(2021, 11, 20, tzinfo=UTC)).status == "expired"
    # a token whose creator is deactivated is rejected by Okta: inactive
    dormant = transform_token(first, SRC, {"00uabcdefg1234567890": "DEPROVISIONED"},
                              now=datetime(2021, 11, 20, tzinfo=UTC))
    assert dormant.status == "inactive"


def test_duration():
    assert duration("P30D") == timedelta(days=30)
    assert duration("PT5M") == timedelta(minutes=5)
    assert duration("P1DT2H") == timedelta(days=1, hours=2)
    assert duration("soon") is None and duration(None) is None and duration("P") is None


def test_malformed_users_are_counted():
    good = okta_user("00u1", "a@example.com", "A", "B")
    accounts, bad = transform_users([good, {"id": "00u2"}, {"profile": {}}, 7], SRC)
    assert [a.native_id for a in accounts] == ["00u1"] and bad == 3
    with pytest.raises(ValueError):
        transform_user({"id": "x", "profile": {"login": None}}, SRC)


# --- over HTTP ----------------------------------------------------------------------------


def test_demo_records(okta, tmp_path):
    c, inv, scan = run(okta, tmp_path)
    accounts = {a.native_id: a for a in inv.load(Account, scan)}
    # DEPROVISIONED users are asked for explicitly: Okta's default list hides them
    assert set(accounts) == {ALICE, BOB, CAROL, "00udave0000000000d04", ERIN}
    assert accounts[CAROL].status == "disabled" and accounts[ERIN].status == "suspended"
    filters = [r.arg("filter") for r in okta.requests if r.path == "/api/v1/users"]
    assert filters == [None, 'status eq "DEPROVISIONED"']
    grants = inv.load(Grant, scan)
    assert all(g.via == "assignment" for g in grants)
    alice_apps = {g.attributes["app"]: g.attributes["scope"] for g in grants
                  if g.principal == f"{SRC}|{ALICE}"}
    assert alice_apps == {"Slack": "USER", "GitHub Enterprise Cloud": "GROUP"}
    assert not [g for g in grants if g.principal == f"{SRC}|{CAROL}"]
    apps = [r for r in inv.load(Resource, scan) if r.kind == "app"]
    assert {r.name for r in apps} == {"Slack", "GitHub Enterprise Cloud"}
    token, = inv.load(Credential, scan)
    assert (token.kind, token.holder, token.status) == ("api_key", f"{SRC}|{ALICE}", "active")
    cov, = inv.load(Coverage, scan)
    assert (cov.status, cov.layer) == ("ok", "directory")
    # users (2 listings) + apps + 2 app assignment lists + api tokens
    assert okta.count() == 6 == cov.api_calls
    assert okta.writes == []


def test_link_header_paging_counts(okta, tmp_path):
    okta.users = [okta_user(f"00u{i:05d}", f"u{i}@example.com", "U", str(i)) for i in range(7)]
    okta.users += [okta_user(f"00v{i:05d}", f"gone{i}@example.com", "G", str(i), "DEPROVISIONED")
                   for i in range(3)]
    c, inv, scan = run(okta, tmp_path, page_size=3)
    assert len(inv.load(Account, scan)) == 10
    # 7 visible users at 3 a page = 3 calls; 3 deprovisioned = 1 call
    assert okta.count("/api/v1/users") == 4
    afters = [r.arg("after") for r in okta.requests if r.path == "/api/v1/users"]
    assert afters == [None, "00u00002", "00u00005", None]


def test_factors_only_in_the_deep_pass_and_only_in_scope(okta, tmp_path):
    c, inv, scan = run(okta, tmp_path, scope=Scope(accounts={f"{SRC}|{ALICE}", "github:acme|alice-gh"}))
    factors = [cr for cr in inv.load(Credential, scan) if cr.kind == "mfa_device"]
    assert [(f.holder, f.status) for f in factors] == [(f"{SRC}|{ALICE}", "active")]
    assert okta.count("/api/v1/users/") == 1  # one per-user call: alice only
    rows = {r.target: r for r in inv.load(Coverage, scan)}
    assert rows["acme.okta.com/factors"].status == "ok"
    assert rows["acme.okta.com/factors"].api_calls == 1


def test_no_deep_calls_without_okta_accounts_in_scope(okta, tmp_path):
    c, inv, scan = run(okta, tmp_path, scope=Scope(accounts={"github:acme|alice-gh"}))
    assert okta.count("/api/v1/users/") == 0
    assert {r.target for r in inv.load(Coverage, scan)} == {"acme.okta.com"}


def test_invalid_token_fails_with_okta_error_code(okta, tmp_path):
    c, inv, scan = run(okta, tmp_path, token="wrong-token-not-real")
    cov, = inv.load(Coverage, scan)
    assert cov.status == "failed" and "E0000011" in cov.error and "401" in cov.error
    assert "wrong-token" not in cov.error
    assert okta.count() == 1


def test_api_tokens_forbidden_is_skipped(okta, tmp_path):
    okta.forbidden.add("/api/v1/api-tokens")
    c, inv, scan = run(okta, tmp_path)
    rows = {r.target: r for r in inv.load(Coverage, scan)}
    assert rows["acme.okta.com"].status == "ok"
    skipped = rows["acme.okta.com/api-tokens"]
    assert skipped.status == "skipped" and "E0000006" in skipped.error
    assert inv.load(Credential, scan) == []


def test_app_assignments_forbidden_make_the_target_partial(okta, tmp_path):
    okta.forbidden.add("/api/v1/apps/0oaslack")
    c, inv, scan = run(okta, tmp_path)
    cov, = [r for r in inv.load(Coverage, scan) if r.target == "acme.okta.com"]
    assert cov.status == "partial" and "Slack" in cov.error


def test_429_waits_until_the_rate_limit_resets(okta, tmp_path, monkeypatch):
    waits: list[float] = []
    monkeypatch.setattr(http, "sleep", waits.append)
    reset = int(time.time()) + 30
    okta.fault(r"^/api/v1/apps$", status=429, times=2,
               body={"errorCode": "E0000047", "errorSummary": "API call exceeded rate limit due to too many requests.",
                     "errorLink": "E0000047", "errorId": "x", "errorCauses": []},
               headers={"X-Rate-Limit-Remaining": "0", "X-Rate-Limit-Reset": str(reset)})
    c, inv, scan = run(okta, tmp_path)
    cov, = inv.load(Coverage, scan)
    assert cov.status == "ok"
    assert len(waits) == 2 and all(25 <= w <= 30 for w in waits)
    assert okta.count("/api/v1/apps") == 3 + 2  # 2 refused + 1 list + 2 assignment lists


def test_429_retries_are_bounded(okta, tmp_path):
    okta.fault(r"^/api/v1/users$", status=429, headers={"X-Rate-Limit-Reset": "0"})
    c, inv, scan = run(okta, tmp_path)
    cov, = inv.load(Coverage, scan)
    assert cov.status == "failed" and "429" in cov.error
    assert okta.count("/api/v1/users") == 1 + c.ctx.max_retries


def test_remaining_zero_pauses_before_the_next_call(okta, monkeypatch):
    waits: list[float] = []
    monkeypatch.setattr(http, "sleep", waits.append)
    okta.rate_limit = 1
    client = OktaClient(okta.url, DEMO_TOKEN)
    client.json("/api/v1/users/" + ALICE)
    assert waits == []  # the pause is taken before the next call, not after the last
    client.json("/api/v1/users/" + BOB)
    assert len(waits) == 1 and 0 < waits[0] <= 60


def test_next_link_that_repeats_is_an_error(okta, tmp_path):
    okta.fault(r"^/api/v1/api-tokens$", endless_pages=True)
    c, inv, scan = run(okta, tmp_path)
    cov, = inv.load(Coverage, scan)
    assert cov.status == "failed" and "repeats" in cov.error


def test_the_fake_records_writes_so_the_read_only_check_can_fail(okta):
    import requests

    r = requests.post(f"{okta.url}/api/v1/users/{ALICE}/lifecycle/deactivate",
                      headers={"Authorization": f"SSWS {DEMO_TOKEN}"}, timeout=5)
    assert r.status_code == 405 and r.json()["errorCode"] == "E0000022"
    assert len(okta.writes) == 1


def test_fake_payloads_have_the_shape_of_the_reference_samples():
    from fixtures.fake_okta import okta_api_token

    ref_user = sample("users_list.json")[2]
    fake_user = okta_user("00u1", "a@example.com", "A", "B", "DEPROVISIONED",
                          status_changed="2026-01-01T00:00:00.000Z")
    assert set(fake_user) == set(ref_user)
    assert set(fake_user["profile"]) == set(ref_user["profile"])
    assert set(fake_user["credentials"]) == set(ref_user["credentials"])
    ref_token = sample("api_tokens_list.json")[0]
    fake_token = okta_api_token("00T1", "n", "00u1", "2026-01-01T00:00:00.000Z", "2026-02-01T00:00:00.000Z")
    assert set(fake_token) == set(ref_token)
    assert set(fake_token["_links"]) == set(ref_token["_links"])
    ref_error = sample("error_E0000011_invalid_token.json")
    from fixtures.fake_okta import okta_error
    assert set(okta_error(401, "E0000011", "Invalid token provided").body) == set(ref_error)


def test_oauth_bearer_token(okta, tmp_path):
    c, inv, scan = run(okta, tmp_path, token_type="Bearer")
    assert [r.status for r in inv.load(Coverage, scan)] == ["ok"]
    assert {r.headers["authorization"].split()[0] for r in okta.requests} == {"Bearer"}
