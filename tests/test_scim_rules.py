"""The generic account rules cover SaaS residue on SCIM records (no SaaS-specific copy)."""

from __future__ import annotations

from datetime import UTC, datetime

from collectors.scim.collector import transform_users
from fixtures.fake_scim import demo_slack
from rules.base import all_rules
from rules.context import RuleContext
from scanner.core.model import Identity
from scanner.core.options import Policy
from scanner.engine import run_rules
from scanner.resolve import resolve

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)

ROSTER = [
    Identity(id="alice@example.com", status="terminated", terminated_at=datetime(2026, 11, 1, tzinfo=UTC),
             emails=["alice@example.com"]),
    Identity(id="bob@example.com", emails=["bob@example.com"]),
    Identity(id="carol@example.com", status="terminated", terminated_at=datetime(2026, 10, 15, tzinfo=UTC),
             emails=["carol@example.com"]),
    Identity(id="erin@example.com", status="suspended", terminated_at=datetime(2026, 11, 15, tzinfo=UTC),
             emails=["erin@example.com"]),
]


def slack_context(extra_users=()) -> RuleContext:
    server = demo_slack()
    accounts, bad = transform_users(server.users + list(extra_users), "scim:slack")
    assert bad == 0
    links = resolve(ROSTER, accounts)
    return RuleContext(scan_id="t", now=NOW, policy=Policy(), identities={i.id: i for i in ROSTER},
                       accounts={a.uid: a for a in accounts}, credentials=[], grants=[],
                       resources={}, links={l.account: l for l in links}, exposures=[],
                       references=[], coverage=[])


def fired(ctx: RuleContext, rule_id: str):
    return run_rules(ctx, {rule_id: all_rules()[rule_id]})[0]


def test_leaver_active_in_saas_app():
    fs = fired(slack_context(), "account.active_after_termination")
    # alice is still active in Slack; carol was deactivated there (near miss)
    assert [(f.identity, f.object_name, f.layer) for f in fs] == [
        ("alice@example.com", "alice@example.com", "saas")]
    assert fs[0].severity == "high" and fs[0].system == "scim:slack"


def test_suspended_in_directory_active_downstream():
    fs = fired(slack_context(), "account.active_while_suspended")
    assert [(f.identity, f.layer) for f in fs] == [("erin@example.com", "saas")]


def test_unowned_saas_account():
    from fixtures.fake_scim import scim_user
    gone = scim_user("x1", "old-intern@vendor.example", active=False)  # near miss: deactivated
    fs = fired(slack_context([gone]), "account.unowned")
    assert [f.object_name for f in fs] == ["old-contractor@vendor.example"]
    assert fs[0].identity is None and fs[0].layer == "saas"


def test_linked_by_secondary_email():
    """A SaaS account whose primary e-mail is a personal one still links, through the
    other e-mails SCIM lists (attributes.linked_emails)."""
    from fixtures.fake_scim import scim_user
    u = scim_user("x2", "alice.personal@home.example",
                  emails=["alice.personal@home.example", "alice@example.com"])
    ctx = slack_context([u])
    assert ctx.links["scim:slack|x2"].identity == "alice@example.com"
    assert ctx.links["scim:slack|x2"].evidence == "external_email"
    assert {f.object_id for f in fired(ctx, "account.active_after_termination")} >= {"x2"}
