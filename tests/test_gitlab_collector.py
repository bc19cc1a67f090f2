"""The GitLab collector: real python-gitlab against the fake GitLab on 127.0.0.1."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from pathlib import Path

import pytest

from collectors.base import CollectorContext, Scope
from collectors.gitlab.collector import GitLabCollector
from collectors.gitlab.transform import (
    check_record, transform_deploy_key, transform_deploy_token, transform_ssh_key, transform_token, transform_user, transform_variable,
)
from fixtures import SAMPLES as SAMPLES_ROOT
from fixtures.fake_gitlab import (
    ADMIN_TOKEN, FAKE_DB_PASSWORD, FAKE_GLPAT, FakeGitLab, GitLabData, demo_instance,
    ssh_fingerprint_sha256,
)
from scanner.config import check_block
from scanner.core import http
from scanner.core.errors import ConfigError
from scanner.core.fingerprints import ssh_fingerprint
from scanner.core.model import Account, Coverage, Credential, Exposure, Grant, Resource
from scanner.core.secrets import Fingerprinter, SecretScanner
from scanner.core.store import Inventory, Sink
from scanner.core.timeparse import parse_time

SAMPLES = (SAMPLES_ROOT / "gitlab")
NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
SRC = "gitlab:gitlab.example.com"
BOB_TOKEN = "fake-gitlab-bob-token"


def sample(name: str):
    p = SAMPLES / name
    if not p.exists():
        pytest.skip(f"reference sample {p} not available")
    return json.loads(p.read_text())


class Run:
    """One collection into an in-memory inventory, with handy readers."""

    def __init__(self, server: FakeGitLab, tmp_path: Path, scope: Scope | None = None,
                 max_pages: int | None = None, **cfg):
        block = check_block({"url": server.url, "token": ADMIN_TOKEN, **cfg},
                            GitLabCollector.options, "collectors.gitlab[0]", Path("t.yaml"))
        self.inv = Inventory(":memory:")
        self.scan = self.inv.begin_scan("test")
        sink = Sink(self.inv, self.scan)
        ctx = CollectorContext(fingerprinter=Fingerprinter(b"k" * 32), cache_dir=tmp_path, now=NOW)
        self.c = GitLabCollector(block, ctx)
        if max_pages:
            self.c.max_pages = max_pages
        self.c.collect(sink, None)
        if scope is not None:
            self.c.deepen(sink, scope)
        sink.flush()

    def load(self, cls):
        return self.inv.load(cls, self.scan)

    def coverage(self, target_suffix: str = "") -> list[Coverage]:
        return [c for c in self.load(Coverage) if c.target.endswith(target_suffix)]

    def main(self) -> Coverage:
        return next(c for c in self.load(Coverage) if c.layer == "code-hosting" and ":" in c.target
                    and c.target.count(":") == 1 and "/" not in c.target)

    def ci(self) -> Coverage:
        return next(c for c in self.load(Coverage) if c.target.endswith("/ci"))


@pytest.fixture
def demo():
    with FakeGitLab(demo_instance()) as s:
        yield s


def alice_scope(server) -> Scope:
    return Scope(accounts={f"gitlab:127.0.0.1:{server.port}|aarcher"},
                 logins={"gitlab": {"aarcher"}})


# --- transforms, on the reference samples ---------------------------------------------


def test_transform_users_sample_states_and_identities():
    john, jack, jane = (transform_user(u, SRC) for u in sample("users.json"))
    assert (john.uid, john.email, john.status) == (f"{SRC}|john_smith", "john@example.com", "active")
    assert "linked_emails" not in john.attributes  # github/bitbucket/google uids are not e-mails
    assert john.attributes["identities"][0] == {"provider": "github", "extern_uid": "2435223452345"}
    assert john.last_seen_at == datetime(2012, 6, 2, 6, 36, 55, tzinfo=UTC)
    assert jack.status == "blocked"
    assert jane.status == "disabled" and jane.attributes["state"] == "deactivated"


def test_transform_user_saml_email_becomes_linked_email():
    u = dict(sample("users.json")[2], identities=[{"provider": "saml", "extern_uid": "Jane.Doe@corp.example"}])
    assert transform_user(u, SRC).attributes["linked_emails"] == ["Jane.Doe@corp.example"]


def test_transform_tokens_sample_statuses():
    active, revoked, expired = (transform_token(t, SRC, f"{SRC}|x", NOW)
                                for t in sample("personal_access_tokens.json"))
    assert active.native_id == "pat:4" and active.status == "active"
    assert active.attributes["never_expires"] is True and active.expires_at is None
    assert active.last_used_at == datetime(2021, 10, 6, 17, 58, 37, 550000, tzinfo=UTC)
    assert revoked.status == "revoked" and "never_expires" not in revoked.attributes
    assert expired.status == "expired" and expired.expires_at == datetime(2022, 3, 20, tzinfo=UTC)


def test_transform_project_access_tokens_sample():
    t = transform_token(sample("projects_ID_access_tokens.json")[0], SRC, None, NOW,
                        "project_access_token", f"{SRC}|project:a/b", "someone")
    assert t.attributes["access_level"] == "maintainer" and t.attributes["parent"] == f"{SRC}|project:a/b"
    assert t.attributes["added_by"] == "someone" and t.status == "expired"


def test_transform_deploy_keys_and_tokens_samples():
    k = transform_deploy_key(sample("projects_ID_deploy_keys.json")[0], f"{SRC}|project:a/b", "a/b", SRC, NOW)
    assert k.kind == "deploy_key" and k.attributes["read_only"] is True and k.holder is None
    assert k.fingerprint == "SHA256:Jrs3LD1Ji30xNLtTVf9NDCj7kkBgPBb2pjvTZ3HfIgU"
    # the sample's key hashes to the sample's fingerprint: our own computation agrees
    assert ssh_fingerprint(sample("projects_ID_deploy_keys.json")[0]["key"]) == k.fingerprint
    t = transform_deploy_token(sample("projects_ID_deploy_tokens.json")[0], f"{SRC}|project:a/b", SRC, NOW)
    assert t.kind == "deploy_token" and t.status == "expired" and t.attributes["username"] == "gitlab+deploy-token-1"


def test_transform_ssh_keys_sample():
    forever, old = (transform_ssh_key(k, SRC, f"{SRC}|u", NOW) for k in sample("users_ID_keys.json"))
    assert forever.status == "active" and forever.attributes["never_expires"] is True
    assert forever.fingerprint.startswith("SHA256:") and forever.fingerprint == old.fingerprint
    assert old.status == "expired"


def test_transform_variable_keeps_only_fingerprints():
    scanner = SecretScanner(Fingerprinter(b"k" * 32))
    v = {"variable_type": "env_var", "key": "TOKEN", "value": FAKE_GLPAT, "protected": False,
         "masked": True, "hidden": False, "raw": False, "environment_scope": "*", "description": None}
    res, exposures = transform_variable(v, f"{SRC}|project:a/b", "a/b", SRC, scanner, None)
    assert res.kind == "ci_variable" and res.updated_at is None and res.attributes["rotation"] == "unknown"
    assert res.attributes["value_fingerprint"] == scanner.fp.fingerprint(FAKE_GLPAT)
    assert [e.detector for e in exposures] == ["GitLab Token"]
    assert FAKE_GLPAT not in repr(res) + repr(exposures)
    plain, none = transform_variable(dict(v, value="staging"), f"{SRC}|project:a/b", "a/b", SRC, scanner,
                                     datetime(2026, 1, 1, tzinfo=UTC))
    assert none == [] and plain.attributes["rotation"] == "audit_events"
    hidden, _ = transform_variable(dict(v, value=None, hidden=True), f"{SRC}|project:a/b", "a/b", SRC,
                                   scanner, None)
    assert "value_fingerprint" not in hidden.attributes


def test_parse_time_dates_and_garbage():
    assert parse_time("2021-01-31") == datetime(2021, 1, 31, tzinfo=UTC)
    assert parse_time("2021-03-09T21:11:47.271Z").tzinfo is not None
    assert parse_time("yesterday") is None and parse_time(None) is None


def test_options_validated():
    with pytest.raises(ConfigError, match="url: required"):
        check_block({"token": "t"}, GitLabCollector.options, "collectors.gitlab[0]", Path("t.yaml"))
    with pytest.raises(ConfigError, match="admin"):
        check_block({"url": "u", "token": "t", "admin": "yes"}, GitLabCollector.options,
                    "collectors.gitlab[0]", Path("t.yaml"))


# --- the demo estate, end to end through python-gitlab ------------------------------------


def test_demo_collection_records(demo, tmp_path):
    r = Run(demo, tmp_path, scope=alice_scope(demo))
    src = f"gitlab:127.0.0.1:{demo.port}"
    accounts = {a.login: a for a in r.load(Account)}
    assert accounts["aarcher"].status == "active"
    assert accounts["aarcher"].attributes["linked_emails"] == ["alice@example.com"]
    assert accounts["cchen"].status == "blocked" and accounts["ddiaz"].status == "blocked"
    invite = accounts["alice@example.com"]
    assert invite.status == "pending" and invite.email == "alice@example.com"
    assert invite.native_id == "invitation:acme/website:alice@example.com"
    assert invite.attributes["inviter"] == "Bob Baker"
    bot = next(a for n, a in accounts.items() if n.startswith("project_10_bot_"))
    assert bot.kind == "bot" and accounts["aarcher"].kind == "user"

    grants = {(g.principal.split("|")[1], g.resource.split("|")[1]): g for g in r.load(Grant)}
    assert grants[("aarcher", "group:acme/platform")].via == "direct"
    assert grants[("aarcher", "group:acme/platform")].permission == "maintainer"
    assert grants[("aarcher", "project:acme/platform/deploy")].via == "inherited"
    assert grants[("bbaker", "project:acme/website")].permission == "maintainer"
    assert grants[("aarcher", "acme/platform/deploy:schedule:1")].permission == "owner"

    creds = {c.native_id: c for c in r.load(Credential)}
    laptop = next(c for c in creds.values() if c.name == "laptop" and c.holder == f"{src}|aarcher")
    assert laptop.kind == "pat" and laptop.status == "active" and laptop.attributes["never_expires"]
    assert laptop.last_used_at == datetime(2026, 11, 12, 8, 30, tzinfo=UTC)
    imp = next(c for c in creds.values() if c.attributes.get("impersonation"))
    assert imp.holder == f"{src}|aarcher" and imp.attributes["deep"] is True
    ssh = next(c for c in creds.values() if c.kind == "ssh_key")
    assert ssh.holder == f"{src}|aarcher" and ssh.fingerprint == ssh_fingerprint_sha256(
        demo.data.ssh_keys[2][0]["key"])
    dk = next(c for c in creds.values() if c.kind == "deploy_key")
    assert dk.attributes["read_only"] is False and dk.attributes["added_by"] == "aarcher"
    assert dk.holder == f"{src}|aarcher"  # the adder holds the private half
    dt = next(c for c in creds.values() if c.kind == "deploy_token")
    assert dt.attributes["added_by"] == "ddiaz" and dt.attributes["never_expires"]
    pat = next(c for c in creds.values() if c.attributes.get("token_type") == "project_access_token")
    assert pat.attributes["added_by"] == "ddiaz" and pat.holder.split("|")[1].startswith("project_10_bot")
    # a project access token is also in the admin PAT listing: one record, not two
    assert sum(1 for c in r.load(Credential) if c.native_id == pat.native_id) == 1

    res = {x.native_id: x for x in r.load(Resource)}
    v = res["acme/platform/deploy:variable:PROD_DB_PASSWORD:*"]
    assert v.updated_at == datetime(2026, 6, 2, 9, tzinfo=UTC) and v.attributes["parent"] == f"{src}|project:acme/platform/deploy"
    assert res["acme/platform/deploy:variable:GITLAB_API_TOKEN:*"].updated_at is None
    assert res["group:acme/platform"].kind == "group"
    assert res["acme/platform:variable:REGISTRY_PASSWORD:*"].updated_at == datetime(2026, 11, 5, 9, tzinfo=UTC)
    sched = res["acme/platform/deploy:schedule:1"]
    assert sched.kind == "pipeline_schedule" and sched.attributes["owner"] == "aarcher"
    runner = next(x for x in res.values() if x.kind == "runner")
    assert runner.updated_at == datetime(2026, 11, 21, 11, tzinfo=UTC)
    (exp,) = r.load(Exposure)
    assert exp.detector == "GitLab Token" and "GITLAB_API_TOKEN" in exp.location

    assert {c.status for c in r.load(Coverage)} == {"ok"}
    assert demo.writes == []


def test_no_raw_secret_anywhere_in_the_inventory(demo, tmp_path):
    r = Run(demo, tmp_path, scope=alice_scope(demo))
    dump = ""
    for cls in (Account, Credential, Resource, Exposure, Grant, Coverage):
        dump += repr(r.load(cls))
    assert FAKE_GLPAT not in dump and FAKE_DB_PASSWORD not in dump and ADMIN_TOKEN not in dump


def test_api_budget_matches_the_fake_and_the_formula(tmp_path):
    data = GitLabData()
    data.add_user("root", is_admin=True, token=ADMIN_TOKEN)
    top = data.add_group("acme")
    groups = [top] + [data.add_group(f"team{i}", parent=top) for i in range(4)]
    users = [data.add_user(f"user{i:03d}") for i in range(249)]
    projects = [data.add_project(f"p{i}", groups[i % 5]) for i in range(20)]
    for i, u in enumerate(users):
        data.add_member(groups[i % 5], u, "developer")
    for r_ in range(3):
        data.add_runner(f"r{r_}", contacted_at="2026-11-20T00:00:00.000Z")
    with FakeGitLab(data) as s:
        r = Run(s, tmp_path)
        G, P, U, R = len(groups), len(projects), len(data.users), 3
        expected = (1 + 1 + math.ceil(U / 100) + 1 + 1 + 1          # user, service accounts, users, audit, groups, projects
                    + G * 4 + P * 5 + 1                             # members/all, invitations, tokens, keys; PATs
                    + G * 1 + P * 2 + 1 + R)                       # variables, schedules, runners
        assert s.count("/api/v4") == expected
        assert sum(c.api_calls for c in r.load(Coverage)) == expected == r.c.calls
        # every listing asked for 100 a page
        single = ("/api/v4/user",) + tuple(f"/api/v4/runners/{x['id']}" for x in data.runners)
        listed = [q for q in s.requests if q.path not in single]
        assert all(q.arg("per_page") == "100" for q in listed)
        assert s.writes == []


def test_groups_option_limits_the_crawl(demo, tmp_path):
    r = Run(demo, tmp_path, groups=["acme/platform"])
    kinds = {(x.kind, x.name) for x in r.load(Resource) if x.kind in ("group", "project")}
    assert kinds == {("group", "acme/platform"), ("project", "acme/platform/deploy")}
    assert demo.count("/api/v4/projects/11") == 0  # acme/website untouched


def test_missing_group_makes_target_partial(demo, tmp_path):
    r = Run(demo, tmp_path, groups=["acme/nope"])
    assert r.main().status == "partial" and "acme/nope" in r.main().error


def test_deep_pass_asks_only_about_accounts_in_scope(demo, tmp_path):
    Run(demo, tmp_path, scope=alice_scope(demo))
    assert demo.count("/api/v4/users/2/keys") == 1
    assert demo.count("/api/v4/users/2/impersonation_tokens") == 1
    assert demo.count("/api/v4/users/3/") == 0  # bob is not in scope


def test_non_admin_token_collects_what_it_can_and_says_what_not(demo, tmp_path):
    r = Run(demo, tmp_path, scope=alice_scope(demo), token=BOB_TOKEN)
    main, ci = r.main(), r.ci()
    assert main.status == "partial" and "administrator token" in main.error
    assert ci.status == "partial" and "CI/CD variables of acme/platform/deploy: 403" in ci.error
    skipped = {c.target.rsplit(":", 1)[1]: c for c in r.load(Coverage) if c.status == "skipped"}
    assert {"personal access tokens", "audit events", "runners", "CI/CD variables"} <= set(skipped)
    deep = next(c for c in r.load(Coverage) if c.target.endswith("/users-in-scope"))
    assert deep.status == "partial" and "impersonation" in deep.error
    # what bob can see is still collected: alice's membership, her schedule, her SSH key
    accounts = {a.login: a for a in r.load(Account)}
    assert "aarcher" in accounts and "email" not in accounts["aarcher"].attributes
    assert any(x.kind == "pipeline_schedule" for x in r.load(Resource))
    assert any(c.kind == "ssh_key" for c in r.load(Credential))
    assert not [q for q in demo.requests if q.path == "/api/v4/personal_access_tokens"]
    assert demo.writes == []


def test_admin_forced_with_a_non_admin_token_is_partial(demo, tmp_path):
    r = Run(demo, tmp_path, token=BOB_TOKEN, admin=True)
    assert r.main().status == "partial" and "not an administrator" in r.main().error


def test_unauthorized_token_fails_both_layers(demo, tmp_path):
    r = Run(demo, tmp_path, token="wrong")
    assert r.main().status == "failed" and "401" in r.main().error
    assert r.ci().status == "failed"
    assert "wrong" not in repr(r.load(Coverage))
    assert demo.count() == 1  # no point asking more with a rejected token


def test_429_retried_honouring_retry_after(demo, tmp_path, monkeypatch):
    slept: list[float] = []
    monkeypatch.setattr(http, "sleep", slept.append)
    demo.fault(r"^/api/v4/users$", status=429, times=2, retry_after=7)
    r = Run(demo, tmp_path)
    assert slept == [7.0, 7.0] and r.main().status == "ok"
    assert demo.count("/api/v4/users") - demo.count("/api/v4/users/") == 3


def test_persistent_5xx_bounded_then_failed(demo, tmp_path, monkeypatch):
    slept: list[float] = []
    monkeypatch.setattr(http, "sleep", slept.append)
    demo.fault(r"^/api/v4/users$", status=503)
    r = Run(demo, tmp_path)
    assert r.main().status == "failed" and "503" in r.main().error
    assert len(slept) == 4 and demo.count("/api/v4/users") - demo.count("/api/v4/users/") == 5


def test_forbidden_project_part_is_skipped_and_partial(demo, tmp_path):
    demo.fault(r"^/api/v4/projects/10/pipeline_schedules$", status=403, body={"message": "403 Forbidden"})
    r = Run(demo, tmp_path)
    assert r.ci().status == "partial" and "pipeline schedules of acme/platform/deploy" in r.ci().error
    assert any(c.status == "skipped" and c.target.endswith(":pipeline schedules") for c in r.load(Coverage))
    assert any(x.kind == "ci_variable" for x in r.load(Resource))  # the rest was read


def test_malformed_items_skipped_counted_and_scan_goes_on(demo, tmp_path):
    demo.fault(r"^/api/v4/projects/10/deploy_keys$", body=[{"title": "no id"}, "junk"])
    r = Run(demo, tmp_path)
    main = r.main()
    assert main.status == "partial" and main.attributes["malformed"] == 2
    assert any(c.kind == "pat" for c in r.load(Credential))


def test_truncated_page_is_partial_not_a_crash(demo, tmp_path):
    demo.fault(r"^/api/v4/projects/10/members/all$", truncate=True)
    r = Run(demo, tmp_path)
    assert r.main().status == "partial" and "members of acme/platform/deploy" in r.main().error


def test_endless_pagination_is_cut(demo, tmp_path):
    demo.fault(r"^/api/v4/groups$", endless_pages=True)
    r = Run(demo, tmp_path, max_pages=5)
    assert r.main().status == "failed" and "more than 5 pages" in r.main().error
    assert demo.count("/api/v4/groups") - demo.count("/api/v4/groups/") == 5


def test_dropped_connection_retried_then_partial_when_it_persists(demo, tmp_path, monkeypatch):
    monkeypatch.setattr(http, "sleep", lambda s: None)
    demo.fault(r"^/api/v4/groups$", close=True, times=1)
    demo.fault(r"^/api/v4/projects/11/pipeline_schedules$", close=True)
    r = Run(demo, tmp_path)
    assert r.main().status == "ok"  # the one dropped /groups was retried
    assert r.ci().status == "partial" and "pipeline schedules of acme/website" in r.ci().error
    assert any(x.name == "nightly deploy" for x in r.load(Resource))  # other projects still read


def test_malformed_project_in_listing_is_skipped(demo, tmp_path):
    good = demo.data.projects
    demo.fault(r"^/api/v4/projects$", body=[{"name": "no id"}] + good)
    r = Run(demo, tmp_path)
    assert r.main().status == "partial" and r.main().attributes["malformed"] == 1
    assert {x.name for x in r.load(Resource) if x.kind == "project"} == {
        "acme/platform/deploy", "acme/website"}


from hypothesis import given, settings, strategies as st  # noqa: E402

_json = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=12),
                     lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=8), c, max_size=4),
                     max_leaves=10)
_payload = st.dictionaries(st.sampled_from(
    ["id", "username", "state", "email", "identities", "created_at", "expires_at", "key",
     "last_used_at", "revoked", "active", "scopes", "user_id", "access_level", "owner",
     "invite_email", "value", "can_push", "fingerprint_sha256", "group_saml_identity"]),
    _json, max_size=12)


def _fuzz_inventory():
    held: list = []

    def get():
        if not held:
            inv = Inventory(":memory:")
            held.append((inv, inv.begin_scan("fuzz")))
        return held[0]
    return get


_FUZZ_INV = _fuzz_inventory()


@settings(max_examples=100, deadline=None)
@given(_payload)
def test_transforms_fail_only_in_the_ways_the_collector_catches(payload):
    """Whatever the payload, a transform returns records or raises one of the errors
    ``GitLabCollector._transform`` turns into a skipped, counted record."""
    from collectors.gitlab.transform import transform_invitation, transform_schedule
    scanner = SecretScanner(Fingerprinter(b"k" * 32))
    calls = [lambda: transform_user(payload, SRC), lambda: transform_token(payload, SRC, None, NOW),
             lambda: transform_ssh_key(payload, SRC, "h", NOW),
             lambda: transform_deploy_key(payload, "p", "a/b", SRC, NOW),
             lambda: transform_deploy_token(payload, "p", SRC, NOW),
             lambda: transform_variable(payload, "p", "a/b", SRC, scanner, None),
             lambda: transform_schedule(payload, "p", "a/b", SRC),
             lambda: transform_invitation(payload, "p", "a/b", SRC)]
    for call in calls:
        try:
            out = call()
        except (KeyError, TypeError, ValueError, AttributeError):
            continue
        records = [x for part in (out if isinstance(out, tuple) else (out,))
                   for x in (part if isinstance(part, list) else [part]) if x is not None]
        for rec in records:
            try:
                check_record(rec)
            except ValueError:
                continue
            # what passes the check, the inventory stores
            inv, scan = _FUZZ_INV()
            inv.insert(scan, [rec])


def test_deep_pass_refusal_is_reported(demo, tmp_path):
    demo.fault(r"^/api/v4/users/2/keys$", status=404, body={"message": "404 User Not Found"})
    r = Run(demo, tmp_path, scope=alice_scope(demo))
    deep = next(c for c in r.load(Coverage) if c.target.endswith("/users-in-scope"))
    assert deep.status == "partial" and "SSH keys of aarcher: 404" in deep.error
    rows = [c for c in r.load(Coverage) if c.target.endswith(":SSH keys")]
    assert len(rows) == 1 and rows[0].status == "skipped"
    assert not any(c.kind == "ssh_key" for c in r.load(Credential))


def test_ci_layer_is_failed_not_empty_when_projects_cannot_be_listed(demo, tmp_path):
    demo.fault(r"^/api/v4/projects$", status=500)
    r = Run(demo, tmp_path)
    assert r.main().status == "failed" and r.ci().status == "failed"
    assert not any(x.kind == "ci_variable" for x in r.load(Resource))


def test_inherited_membership_recognised_whatever_the_listing_order(tmp_path):
    data = GitLabData()
    root = data.add_user("root", is_admin=True, token=ADMIN_TOKEN)
    u = data.add_user("someone")
    parent = data.add_group("zeta")
    child = data.add_group("alpha", parent=parent)
    data.groups.reverse()  # the child is listed before its parent
    data.add_member(parent, u, "maintainer")
    data.add_member(child, root, "owner")
    with FakeGitLab(data) as s:
        r = Run(s, tmp_path)
    via = {(g.principal.split("|")[1], g.resource.split("|")[1]): g.via for g in r.load(Grant)}
    assert via[("someone", "group:zeta")] == "direct"
    assert via[("someone", "group:zeta/alpha")] == "inherited"
    assert via[("root", "group:zeta/alpha")] == "direct"


@pytest.mark.parametrize("state,status", [("banned", "blocked"), ("ldap_blocked", "blocked"),
                                          ("blocked_pending_approval", "pending"),
                                          ("deactivated", "disabled"), ("some_new_state", "active")])
def test_user_states_map_to_account_statuses(state, status):
    u = dict(sample("users.json")[0], state=state)
    acc = transform_user(u, SRC)
    assert acc.status == status and acc.attributes["state"] == state


def test_unlicensed_audit_events_and_old_instance_are_skipped_not_partial(tmp_path):
    data = demo_instance()
    data.audit_events = None  # Free tier: 404
    data.service_accounts = False  # before 16.1: 404
    data.add_user("service_account_ci")
    with FakeGitLab(data) as s:
        r = Run(s, tmp_path)
    assert r.main().status == "ok"
    skipped = {c.target.rsplit(":", 1)[1] for c in r.load(Coverage) if c.status == "skipped"}
    assert {"audit events", "service accounts"} <= skipped
    res = {x.name: x for x in r.load(Resource) if x.kind == "ci_variable"}
    assert res["PROD_DB_PASSWORD"].updated_at is None and res["PROD_DB_PASSWORD"].attributes["rotation"] == "unknown"
    creds = r.load(Credential)
    assert all(not c.attributes.get("added_by") for c in creds)
    assert {a.login: a.kind for a in r.load(Account)}["service_account_ci"] == "service_account"


def test_service_accounts_listing_marks_them(tmp_path):
    data = demo_instance()
    data.add_user("ci-robot")  # a service account whose name says nothing
    data.users[-1]["username"] = "ci-robot"
    with FakeGitLab(data) as s:
        s.fault(r"^/api/v4/service_accounts$", body=[{"id": data.users[-1]["id"], "username": "ci-robot",
                                                      "name": "ci-robot"}])
        r = Run(s, tmp_path)
    assert {a.login: a.kind for a in r.load(Account)}["ci-robot"] == "service_account"


def test_projects_listed_with_keyset_pagination(tmp_path):
    data = GitLabData()
    data.add_user("root", is_admin=True, token=ADMIN_TOKEN)
    g = data.add_group("big")
    for i in range(230):
        data.add_project(f"p{i:03d}", g)
    with FakeGitLab(data) as s:
        r = Run(s, tmp_path)
        listing = [q for q in s.requests if q.path == "/api/v4/projects"]
    assert len([x for x in r.load(Resource) if x.kind == "project"]) == 230
    assert len(listing) == 3 and all(q.arg("pagination") == "keyset" for q in listing)
    assert [q.arg("id_after") for q in listing][1:] and listing[0].arg("id_after") is None


def test_next_link_to_another_host_is_not_followed(demo, tmp_path):
    demo.fault(r"^/api/v4/projects/10/members/all$", body=[],
               headers={"Link": '<http://evil.example/api/v4/x?page=2>; rel="next"'})
    # httpfake sends fault headers only with a status: answer 200 with the bad link
    demo.faults[-1].status = 200
    r = Run(demo, tmp_path)
    assert r.main().status == "partial" and "another host" in r.main().error
