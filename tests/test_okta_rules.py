"""rules/saas.py: planted residue is found, the near miss beside it is not."""

from __future__ import annotations

from datetime import UTC, datetime

from collectors.okta.collector import (
    transform_app, transform_assignment, transform_token, transform_user,
)
from fixtures.fake_okta import okta_api_token, okta_app, okta_app_user, okta_user
from rules.base import all_rules
from rules.context import RuleContext
from scanner.core.model import Identity
from scanner.core.options import Policy
from scanner.engine import run_rules
from scanner.resolve import resolve

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
SRC = "okta:acme.okta.com"


def person(email: str, status: str = "active", when: datetime | None = None) -> Identity:
    return Identity(id=email, status=status, terminated_at=when, emails=[email])


def context(identities, accounts, credentials=(), grants=(), resources=()) -> RuleContext:
    links = resolve(identities, accounts, credentials)
    return RuleContext(scan_id="t", now=NOW, policy=Policy(),
                       identities={i.id: i for i in identities},
                       accounts={a.uid: a for a in accounts}, credentials=list(credentials),
                       grants=list(grants), resources={r.uid: r for r in resources},
                       links={l.account: l for l in links}, exposures=[], references=[],
                       coverage=[])


def findings(ctx: RuleContext, rule_id: str):
    rules = {rule_id: all_rules()[rule_id]}
    return run_rules(ctx, rules)[0]


def estate(okta_statuses: dict[str, str]):
    """Okta users (by login -> Okta status), each assigned to Slack, each with a token."""
    users = {login: okta_user(f"00u{login[:4]}", login, login[:4], "X", st)
             for login, st in okta_statuses.items()}
    accounts = [transform_user(u, SRC) for u in users.values()]
    app = transform_app(okta_app("0oaslack", "slack", "Slack"), SRC)
    grants = [transform_assignment(okta_app_user(u, "0oaslack"), SRC, app) for u in users.values()]
    status_by_id = {u["id"]: u["status"] for u in users.values()}
    tokens = [transform_token(okta_api_token(f"00T{u['id']}", "tf", u["id"], "2025-01-01T00:00:00.000Z",
                                             "2026-12-15T00:00:00.000Z"), SRC, status_by_id, NOW)
              for u in users.values()]
    return accounts, grants, tokens, app


TERMINATED = datetime(2026, 11, 1, tzinfo=UTC)


def test_leaver_still_assigned_to_an_okta_app():
    accounts, grants, tokens, app = estate({"alice@example.com": "ACTIVE", "bob@example.com": "ACTIVE",
                                            "erin@example.com": "SUSPENDED"})
    ids = [person("alice@example.com", "terminated", TERMINATED), person("bob@example.com"),
           person("erin@example.com", "suspended", TERMINATED)]
    fs = {f.identity: f for f in findings(context(ids, accounts, grants=grants, resources=[app]),
                                          "okta.app_assignment_of_leaver")}
    assert set(fs) == {"alice@example.com", "erin@example.com"}  # bob is active: near miss
    alice = fs["alice@example.com"]
    assert alice.severity == "high" and alice.layer == "directory"
    assert alice.evidence["app"] == "Slack" and alice.evidence["can_sign_in"] is True
    assert "Slack" in alice.title
    assert alice.path[0] == "identity:alice@example.com" and alice.path[-1] == app.node
    assert fs["erin@example.com"].severity == "medium"  # suspended: dormant


def test_deactivated_leaver_assignment_is_medium_and_no_assignment_is_clean():
    accounts, grants, tokens, app = estate({"carol@example.com": "DEPROVISIONED",
                                            "dave@example.com": "DEPROVISIONED"})
    ids = [person("carol@example.com", "terminated", TERMINATED),
           person("dave@example.com", "terminated", TERMINATED)]
    grants = [g for g in grants if "00ucaro" not in g.principal]  # carol was unassigned
    fs = findings(context(ids, accounts, grants=grants, resources=[app]), "okta.app_assignment_of_leaver")
    assert [(f.identity, f.severity) for f in fs] == [("dave@example.com", "medium")]


def test_api_token_created_by_a_leaver():
    accounts, grants, tokens, app = estate({"alice@example.com": "ACTIVE", "bob@example.com": "ACTIVE",
                                            "dave@example.com": "DEPROVISIONED"})
    ids = [person("alice@example.com", "terminated", TERMINATED), person("bob@example.com"),
           person("dave@example.com", "terminated", TERMINATED)]
    fs = {f.identity: f for f in findings(context(ids, accounts, tokens), "okta.api_token_of_leaver")}
    assert set(fs) == {"alice@example.com", "dave@example.com"}  # bob's token: near miss
    alice = fs["alice@example.com"]
    assert alice.severity == "critical" and alice.evidence["valid"] is True
    assert "while the admin who created it is active" in alice.evidence["why"]
    assert alice.object_kind == "api_key" and alice.path[-1].startswith("credential:")
    dave = fs["dave@example.com"]  # creator deactivated: Okta rejects it until reactivation
    assert dave.severity == "medium" and dave.evidence["valid"] is False
    assert "reactivated" in dave.evidence["why"]


def test_expired_token_of_a_leaver_is_not_residue():
    accounts, grants, tokens, app = estate({"alice@example.com": "ACTIVE"})
    tokens[0].status = "expired"
    ids = [person("alice@example.com", "terminated", TERMINATED)]
    assert findings(context(ids, accounts, tokens), "okta.api_token_of_leaver") == []


def test_generic_rules_fire_on_okta_records():
    """The directory layer's own residue: alice ACTIVE in Okta after HR terminated her;
    her token, last used (derived) after the termination, is critical."""
    accounts, grants, tokens, app = estate({"alice@example.com": "ACTIVE",
                                            "carol@example.com": "DEPROVISIONED"})
    ids = [person("alice@example.com", "terminated", TERMINATED),
           person("carol@example.com", "terminated", datetime(2026, 10, 15, tzinfo=UTC))]
    ctx = context(ids, accounts, [t for t in tokens if "00ualic" in t.holder])
    active = findings(ctx, "account.active_after_termination")
    assert [(f.identity, f.system) for f in active] == [("alice@example.com", "okta")]
    used = findings(ctx, "credential.used_after_termination")
    # expiresAt 2026-12-15 - P30D = last used 2026-11-15, after 2026-11-01
    assert [f.identity for f in used] == ["alice@example.com"]
