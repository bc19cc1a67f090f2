"""rules/gitlab.py: each residual planted and found, each near miss planted and not."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from rules.base import all_rules
from scanner.core.model import Account, Credential, Grant, Identity, Resource
from scanner.engine import context_from_records, run_rules

NOW = datetime(2026, 11, 21, 12, tzinfo=UTC)
LEFT = datetime(2026, 11, 1, tzinfo=UTC)
SRC = "gitlab:gitlab.example.com"
PROJECT = f"{SRC}|project:acme/deploy"


def people():
    return [
        Identity("alice@example.com", "Alice", status="terminated", terminated_at=LEFT,
                 emails=["alice@example.com"], aliases=["gitlab:aarcher"]),
        Identity("bob@example.com", "Bob", emails=["bob@example.com"], aliases=["gitlab:bbaker"]),
    ]


def user(login: str, status: str = "active", state: str | None = None) -> Account:
    return Account("gitlab", SRC, login, login, None, "user", status, NOW - timedelta(days=400),
                   None, {"state": state or status})


def schedule(n: int, owner: str, active: bool = True) -> Resource:
    return Resource("gitlab", SRC, f"acme/deploy:schedule:{n}", "pipeline_schedule", f"nightly {n}",
                    attributes={"parent": PROJECT, "owner": owner, "active": active, "cron": "0 3 * * *"})


def token(n: int, holder: str | None, **kw) -> Credential:
    attrs = kw.pop("attributes", {})
    return Credential("gitlab", SRC, f"pat:{n}", kw.pop("kind", "pat"),
                      holder=f"{SRC}|{holder}" if holder else None, name=f"t{n}",
                      created_at=NOW - timedelta(days=30), attributes=attrs, **kw)


def findings(records, rule_id):
    ctx = context_from_records(people() + records, NOW)
    rules = {k: v for k, v in all_rules().items() if k == rule_id}
    assert rules, f"rule {rule_id} not registered"
    out, errors = run_rules(ctx, rules)
    assert errors == []
    return out


def test_schedule_of_leaver_found_and_near_misses_not():
    recs = [user("aarcher"), user("bbaker"), schedule(1, "aarcher"), schedule(2, "bbaker"),
            schedule(3, "aarcher", active=False)]
    fs = findings(recs, "gitlab.pipeline_schedule_of_leaver")
    assert [(f.object_id, f.identity, f.severity, f.layer) for f in fs] == [
        ("acme/deploy:schedule:1", "alice@example.com", "high", "ci-cd")]
    assert fs[0].path == ["identity:alice@example.com", f"account:{SRC}|aarcher",
                          f"resource:{SRC}|acme/deploy:schedule:1"]


def test_schedule_of_blocked_leaver_is_medium():
    fs = findings([user("aarcher", "blocked"), schedule(1, "aarcher")], "gitlab.pipeline_schedule_of_leaver")
    assert [f.severity for f in fs] == ["medium"]


def test_membership_of_leaver_direct_only_and_inert_when_blocked():
    group = Resource("gitlab", SRC, "group:acme", "group", "acme")
    project = Resource("gitlab", SRC, "project:acme/deploy", "project", "acme/deploy")
    recs = [user("aarcher"), user("bbaker"), group, project,
            Grant("gitlab", SRC, f"{SRC}|aarcher", group.uid, "maintainer", "direct"),
            Grant("gitlab", SRC, f"{SRC}|aarcher", project.uid, "maintainer", "inherited"),
            Grant("gitlab", SRC, f"{SRC}|bbaker", group.uid, "owner", "direct"),
            Grant("gitlab", SRC, f"{SRC}|aarcher", f"{SRC}|acme/deploy:schedule:1", "owner", "direct")]
    fs = findings(recs, "gitlab.membership_of_leaver")
    assert [(f.object_id, f.identity, f.severity) for f in fs] == [
        ("group:acme", "alice@example.com", "high")]
    assert fs[0].title == "Leaver still maintainer of GitLab group acme"
    blocked = findings([user("aarcher", "blocked")] + recs[2:], "gitlab.membership_of_leaver")
    assert [f.severity for f in blocked] == ["info"]


def test_impersonation_token_of_leaver():
    recs = [user("aarcher"), user("bbaker"),
            token(1, "aarcher", attributes={"impersonation": True}),
            token(2, "aarcher", attributes={"impersonation": True}, status="revoked"),
            token(3, "aarcher", attributes={"impersonation": True}, expires_at=NOW - timedelta(days=1)),
            token(4, "bbaker", attributes={"impersonation": True}),
            token(5, "aarcher")]  # a plain PAT: the generic rules' business
    fs = findings(recs, "gitlab.impersonation_token_of_leaver")
    assert [(f.object_id, f.identity) for f in fs] == [("pat:1", "alice@example.com")]


def test_token_created_by_leaver():
    recs = [user("aarcher"), user("bbaker"), user("project_1_bot_x"),
            token(1, "project_1_bot_x", attributes={"token_type": "project_access_token", "added_by": "aarcher"}),
            token(2, None, kind="deploy_token", attributes={"added_by": "aarcher"}),
            token(3, "project_1_bot_x", attributes={"token_type": "project_access_token", "added_by": "bbaker"}),
            token(4, "project_1_bot_x", status="revoked",
                  attributes={"token_type": "group_access_token", "added_by": "aarcher"}),
            token(5, None, kind="deploy_token", attributes={}),  # creator unknown
            token(6, "aarcher", attributes={"token_type": "personal_access_token", "added_by": "aarcher"})]
    fs = findings(recs, "gitlab.token_created_by_leaver")
    assert sorted((f.object_id, f.identity) for f in fs) == [
        ("pat:1", "alice@example.com"), ("pat:2", "alice@example.com")]
    assert all(f.evidence["created_by"] == "aarcher" for f in fs)


def test_deactivated_account_of_leaver():
    recs = [user("aarcher", "disabled", "deactivated"), user("bbaker", "disabled", "deactivated")]
    fs = findings(recs, "gitlab.deactivated_account_of_leaver")
    assert [(f.object_id, f.identity) for f in fs] == [("aarcher", "alice@example.com")]
    assert findings([user("aarcher", "blocked")], "gitlab.deactivated_account_of_leaver") == []


def test_codehost_rules_fire_on_gitlab_shaped_records():
    """The code-host rules (rules/codehost.py) read GitLab records as the collector
    emits them: a variable of a project the leaver maintained, unrotated since."""
    var = Resource("gitlab", SRC, "acme/deploy:variable:DB:*", "ci_variable", "DB",
                   updated_at=LEFT - timedelta(days=100), attributes={"parent": PROJECT})
    fresh = Resource("gitlab", SRC, "acme/deploy:variable:NEW:*", "ci_variable", "NEW",
                     updated_at=LEFT + timedelta(days=2), attributes={"parent": PROJECT})
    grant = Grant("gitlab", SRC, f"{SRC}|aarcher", PROJECT, "maintainer", "inherited")
    fs = findings([user("aarcher"), var, fresh, grant], "codehost.ci_secret_not_rotated")
    assert [f.object_name for f in fs] == ["DB"]
    dev = Grant("gitlab", SRC, f"{SRC}|aarcher", PROJECT, "developer", "direct")
    assert findings([user("aarcher"), var, dev], "codehost.ci_secret_not_rotated") == []
