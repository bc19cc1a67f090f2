"""The generic rules: for each, the exact residual planted and asserted, and the
near-miss planted and asserted absent."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from rules.base import all_rules
from scanner.core.model import Account, Credential, Grant, Identity, Resource
from scanner.core.options import Policy
from scanner.engine import context_from_records, run_rules

NOW = datetime(2026, 11, 21, 12, tzinfo=UTC)
LEFT = datetime(2026, 11, 1, tzinfo=UTC)
SRC = "aws:111111111111"


def arn(name: str) -> str:
    return f"arn:aws:iam::111111111111:user/{name}"


def people():
    return [
        Identity("alice@example.com", "Alice", status="terminated", terminated_at=LEFT,
                 emails=["alice@example.com"], aliases=["aws:alice"]),
        Identity("bob@example.com", "Bob", emails=["bob@example.com"], aliases=["aws:bob"]),
        Identity("erin@example.com", "Erin", status="suspended", terminated_at=LEFT,
                 emails=["erin@example.com"], aliases=["aws:erin"]),
        Identity("svc-deploy", "CI deployer", kind="service", owner="alice@example.com",
                 aliases=["aws:svc-deploy"]),
        Identity("svc-reports", "Reports", kind="bot", owner="bob@example.com",
                 aliases=["aws:svc-reports"]),
    ]


def user(name: str, status: str = "active", **attrs) -> Account:
    return Account("aws", SRC, arn(name), name, None, "user", status,
                   NOW - timedelta(days=400), None, attrs)


def key(holder: str, n: int = 1, *, status="active", created_days=10, used=None, **kw) -> Credential:
    return Credential("aws", SRC, f"{arn(holder)}#access_key_{n}", "access_key",
                      holder=f"{SRC}|{arn(holder)}", name=f"AKIATEST{holder.upper()[:4]}{n:04d}",
                      status=status, created_at=NOW - timedelta(days=created_days),
                      last_used_at=used, **kw)


def findings(records, policy=None):
    ctx = context_from_records(people() + records, NOW, policy)
    out, errors = run_rules(ctx)
    assert errors == []
    return out


def by_rule(fs, rule):
    return [f for f in fs if f.rule == rule]


def test_catalog_has_metadata_for_every_rule():
    for r in all_rules().values():
        assert r.meta.title and r.meta.remediation and r.meta.frameworks, r.meta.id
        assert r.meta.severity in ("info", "low", "medium", "high", "critical")


def test_active_account_of_terminated_identity():
    fs = findings([user("alice"), user("bob")])
    hits = by_rule(fs, "account.active_after_termination")
    assert [f.identity for f in hits] == ["alice@example.com"]
    assert hits[0].path == ["identity:alice@example.com", f"account:{SRC}|{arn('alice')}"]
    assert hits[0].layer == "cloud"
    assert "OWASP-NHI:NHI1" in hits[0].frameworks


def test_disabled_account_of_terminated_identity_is_not_active():
    assert by_rule(findings([user("alice", status="disabled")]), "account.active_after_termination") == []


def test_live_key_of_leaver_and_its_absence_when_inactive():
    fs = findings([user("alice"), key("alice", used=LEFT - timedelta(days=3))])
    hit = by_rule(fs, "credential.live_of_leaver")
    assert len(hit) == 1 and hit[0].object_kind == "access_key"
    assert hit[0].path[-1].startswith("credential:")
    near = findings([user("alice"), key("alice", status="inactive", used=LEFT - timedelta(days=3))])
    assert by_rule(near, "credential.live_of_leaver") == []


def test_expired_credential_is_not_live():
    expired = key("alice", expires_at=NOW - timedelta(days=1))
    assert by_rule(findings([user("alice"), expired]), "credential.live_of_leaver") == []


def test_key_used_after_termination_is_critical():
    fs = findings([user("alice"), key("alice", used=LEFT + timedelta(days=5))])
    hit = by_rule(fs, "credential.used_after_termination")
    assert len(hit) == 1 and hit[0].severity == "critical"
    assert hit[0].evidence["days_used_after"] == 5.0
    # the same key is not also reported as merely "live"
    assert by_rule(fs, "credential.live_of_leaver") == []
    near = findings([user("alice"), key("alice", used=LEFT - timedelta(hours=1))])
    assert by_rule(near, "credential.used_after_termination") == []


def test_orphaned_credential_on_unowned_account():
    fs = findings([user("legacy-ci"), key("legacy-ci")])
    hit = by_rule(fs, "credential.orphaned")
    assert len(hit) == 1 and hit[0].identity is None
    assert by_rule(findings([user("bob"), key("bob")]), "credential.orphaned") == []


def test_nhi_whose_owner_left():
    fs = findings([user("svc-deploy"), key("svc-deploy"), user("svc-reports"), key("svc-reports")])
    hits = by_rule(fs, "nhi.owner_terminated")
    assert [h.object_name for h in hits] == ["svc-deploy"]
    assert hits[0].identity == "alice@example.com"
    assert hits[0].path == ["identity:alice@example.com", "identity:svc-deploy",
                            f"account:{SRC}|{arn('svc-deploy')}"]


def test_nhi_owner_by_tag():
    tagged = user("ci-bot", tags={"owner": "alice@example.com"})
    hits = by_rule(findings([tagged]), "nhi.owner_terminated")
    assert len(hits) == 1 and hits[0].evidence["link"] == "tag:owner"
    fine = user("ci-bot2", tags={"owner": "bob@example.com"})
    assert by_rule(findings([fine]), "nhi.owner_terminated") == []


def test_unused_credential_never_used_is_aged_from_creation():
    fs = findings([user("bob"), key("bob", created_days=60, used=None)])
    hit = by_rule(fs, "credential.unused")
    assert len(hit) == 1 and hit[0].evidence["never_used"] is True
    assert hit[0].evidence["unused_days"] == 60
    near = findings([user("bob"), key("bob", created_days=60, used=NOW - timedelta(days=44))])
    assert by_rule(near, "credential.unused") == []


def test_unused_follows_policy():
    recs = [user("bob"), key("bob", created_days=60, used=NOW - timedelta(days=20))]
    assert by_rule(findings(recs), "credential.unused") == []
    assert len(by_rule(findings(recs, Policy(unused_after_days=10)), "credential.unused")) == 1


def test_unrotated_key():
    fs = findings([user("bob"), key("bob", created_days=120, used=NOW)])
    hit = by_rule(fs, "credential.unrotated")
    assert len(hit) == 1 and "CIS-AWS:1.14" in hit[0].frameworks
    assert by_rule(findings([user("bob"), key("bob", created_days=89, used=NOW)]), "credential.unrotated") == []


def test_no_expiry_only_when_the_source_says_so():
    pat = Credential("github", "github:acme", "pat-1", "pat", holder=None, status="active",
                     created_at=NOW, last_used_at=NOW, attributes={"never_expires": True})
    unknown = Credential("github", "github:acme", "pat-2", "pat", holder=None, status="active",
                         created_at=NOW, last_used_at=NOW)
    hits = by_rule(findings([pat, unknown]), "credential.no_expiry")
    assert [h.object_id for h in hits] == ["pat-1"]


def test_suspended_identity_active_downstream():
    fs = findings([user("erin"), user("bob")])
    hits = by_rule(fs, "account.active_while_suspended")
    assert [h.identity for h in hits] == ["erin@example.com"]
    assert by_rule(findings([user("erin", status="disabled")]), "account.active_while_suspended") == []


def test_unowned_account():
    hits = by_rule(findings([user("legacy-ci"), user("bob")]), "account.unowned")
    assert [h.object_name for h in hits] == ["legacy-ci"]


def test_trust_policy_naming_a_leaver_even_after_her_user_is_gone():
    role = Resource("aws", SRC, "arn:aws:iam::111111111111:role/deploy-role", "role", "deploy-role")
    trust_alice = Grant("aws", SRC, arn("alice"), role.uid, "sts:AssumeRole", "trust")
    trust_bob = Grant("aws", SRC, arn("bob"), role.uid, "sts:AssumeRole", "trust")
    # alice's user exists: the path goes through it
    fs = by_rule(findings([user("alice"), user("bob"), role, trust_alice, trust_bob]), "grant.trust_names_leaver")
    assert len(fs) == 1 and fs[0].identity == "alice@example.com"
    assert fs[0].path == ["identity:alice@example.com", f"account:{SRC}|{arn('alice')}", role.node]
    # alice's user deleted, the policy still names her ARN: still a finding
    fs = by_rule(findings([role, trust_alice]), "grant.trust_names_leaver")
    assert len(fs) == 1 and fs[0].evidence["principal_exists"] is False
    # bob is active: nothing
    assert by_rule(findings([user("bob"), role, trust_bob]), "grant.trust_names_leaver") == []


def test_fingerprints_are_stable_and_distinct():
    recs = [user("alice"), key("alice", 1), key("alice", 2)]
    a = {f.fingerprint for f in findings(recs)}
    b = {f.fingerprint for f in findings(recs)}
    assert a == b and len(a) == len(findings(recs))


@pytest.mark.parametrize("broken", [True])
def test_a_crashing_rule_is_reported_not_fatal(broken):
    from rules.base import Rule, RuleMeta

    def boom(ctx):
        raise RuntimeError("x")
        yield  # pragma: no cover

    rules = dict(all_rules())
    rules["zz.boom"] = Rule(RuleMeta("zz.boom", "t", "low", (), "r"), boom)
    ctx = context_from_records(people() + [user("alice")], NOW)
    out, errors = run_rules(ctx, rules)
    assert errors == ["zz.boom: RuntimeError"]
    assert any(f.rule == "account.active_after_termination" for f in out)


def test_credential_of_a_blocked_holder_is_not_live():
    blocked = Account("gitlab", "gitlab:g", "aarcher", "aarcher", None, "user", "blocked")
    pat = Credential("gitlab", "gitlab:g", "pat-9", "pat", holder=blocked.uid, status="active",
                     created_at=NOW - timedelta(days=5))
    alice_gl = Identity("alice@example.com", status="terminated", terminated_at=LEFT,
                        emails=["alice@example.com"], aliases=["gitlab:aarcher"])
    ctx = context_from_records([alice_gl, blocked, pat], NOW)
    out, _ = run_rules(ctx)
    assert by_rule(out, "credential.live_of_leaver") == []
    blocked.status = "active"
    out, _ = run_rules(context_from_records([alice_gl, blocked, pat], NOW))
    assert len(by_rule(out, "credential.live_of_leaver")) == 1
