"""rules/codehost.py: each rule with its residual planted (finding asserted) and its
near-miss planted (absence asserted), on GitHub-shaped and GitLab-shaped records."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from rules.base import all_rules
from scanner.core.model import Account, Credential, Grant, Identity, Resource
from scanner.engine import context_from_records, run_rules

NOW = datetime(2026, 11, 21, 12, tzinfo=UTC)
LEFT = datetime(2026, 11, 1, tzinfo=UTC)
BEFORE = datetime(2026, 6, 1, tzinfo=UTC)
AFTER = datetime(2026, 11, 5, tzinfo=UTC)
GH = "github:acme"
GL = "gitlab:gitlab.example.com"


def people():
    return [
        Identity("alice@example.com", "Alice", status="terminated", terminated_at=LEFT,
                 emails=["alice@example.com"], aliases=["github:alice-gh", "gitlab:aarcher"]),
        Identity("bob@example.com", "Bob", emails=["bob@example.com"],
                 aliases=["github:bob-gh", "gitlab:bbaker"]),
        Identity("erin@example.com", "Erin", status="suspended", terminated_at=LEFT,
                 emails=["erin@example.com"], aliases=["github:erin-gh"]),
    ]


def findings(records, rule_id):
    ctx = context_from_records(people() + records, NOW)
    out, errors = run_rules(ctx, {rule_id: all_rules()[rule_id]})
    assert errors == []
    return out


def acc(source, login, **kw):
    system = source.split(":")[0]
    return Account(system, source, kw.pop("native_id", login), login=login, **kw)


def test_rules_registered():
    ids = set(all_rules())
    assert {"codehost.invitation_to_leaver", "codehost.ci_secret_not_rotated",
            "codehost.deploy_key_write_by_leaver"} <= ids


# --- pending invitations -------------------------------------------------------------------

@pytest.mark.parametrize("source", [GH, GL])
def test_invitation_to_leaver(source):
    recs = [acc(source, "", native_id="invitation:1", email="Alice@Example.com", status="pending"),
            acc(source, "", native_id="invitation:2", email="bob@example.com", status="pending"),
            acc(source, "", native_id="invitation:3", email="alice@example.com", status="deleted")]
    out = findings(recs, "codehost.invitation_to_leaver")
    assert [(f.identity, f.object_id, f.severity) for f in out] == [
        ("alice@example.com", "invitation:1", "high")]
    assert out[0].layer == "code-hosting"


def test_invitation_found_by_email_even_if_linked_elsewhere():
    # an invitation addressed by login to an account resolve links to the leaver
    recs = [acc(GH, "alice-gh", native_id="invitation:9", status="pending")]
    out = findings(recs, "codehost.invitation_to_leaver")
    assert [f.identity for f in out] == ["alice@example.com"]


def test_active_account_is_not_an_invitation():
    out = findings([acc(GH, "alice-gh", email="alice@example.com")], "codehost.invitation_to_leaver")
    assert out == []


# --- CI secrets a leaver could read -------------------------------------------------------------

def gh_repo(name):
    return Resource("github", GH, f"acme/{name}", "repo", name=name)


def gh_secret(repo, name, updated):
    return Resource("github", GH, f"acme/{repo}/actions/secrets/{name}", "ci_secret", name=name,
                    updated_at=updated, attributes={"parent": f"{GH}|acme/{repo}"})


def test_actions_secret_not_rotated_since_termination():
    recs = [acc(GH, "alice-gh"), acc(GH, "bob-gh"), gh_repo("payments"), gh_repo("docs"),
            gh_repo("infra"), gh_repo("site"),
            Grant("github", GH, f"{GH}|alice-gh", f"{GH}|acme/payments", "admin", "direct"),
            Grant("github", GH, f"{GH}|alice-gh", f"{GH}|acme/docs", "read", "direct"),
            Grant("github", GH, f"{GH}|alice-gh", f"{GH}|acme/infra", "write", "team",
                  attributes={"team": "platform"}),
            Grant("github", GH, f"{GH}|bob-gh", f"{GH}|acme/site", "admin", "direct"),
            gh_secret("payments", "PROD_DB_PASSWORD", BEFORE),   # residual
            gh_secret("payments", "ROTATED", AFTER),             # near-miss: rotated since
            gh_secret("docs", "READ_ONLY", BEFORE),              # near-miss: read access only
            gh_secret("infra", "TF_TOKEN", BEFORE),              # residual, via a team
            gh_secret("site", "BOB_ONLY", BEFORE)]               # near-miss: nobody left
    out = findings(recs, "codehost.ci_secret_not_rotated")
    got = sorted((f.identity, f.object_name, f.severity, f.layer) for f in out)
    assert got == [("alice@example.com", "PROD_DB_PASSWORD", "high", "ci-cd"),
                   ("alice@example.com", "TF_TOKEN", "high", "ci-cd")]
    tf = next(f for f in out if f.object_name == "TF_TOKEN")
    assert tf.evidence["via"] == "team" and tf.evidence["team"] == "platform"
    assert tf.path[0] == "identity:alice@example.com" and tf.path[-1].startswith("resource:")


def test_suspended_identity_does_not_trigger_rotation():
    recs = [acc(GH, "erin-gh"), gh_repo("payments"),
            Grant("github", GH, f"{GH}|erin-gh", f"{GH}|acme/payments", "admin", "direct"),
            gh_secret("payments", "PROD_DB_PASSWORD", BEFORE)]
    assert findings(recs, "codehost.ci_secret_not_rotated") == []


def test_org_secret_needs_org_admin():
    org_secret = Resource("github", GH, "acme/actions/secrets/NPM_TOKEN", "ci_secret", name="NPM_TOKEN",
                          updated_at=BEFORE, attributes={"parent": f"{GH}|acme"})
    member = [acc(GH, "alice-gh"), Resource("github", GH, "acme", "org"), org_secret,
              Grant("github", GH, f"{GH}|alice-gh", f"{GH}|acme", "member", "direct")]
    assert findings(member, "codehost.ci_secret_not_rotated") == []
    member[-1] = Grant("github", GH, f"{GH}|alice-gh", f"{GH}|acme", "admin", "direct")
    assert [f.object_name for f in findings(member, "codehost.ci_secret_not_rotated")] == ["NPM_TOKEN"]


def test_gitlab_variable_maintainer_and_unknown_update_time():
    grp = Resource("gitlab", GL, "group:platform", "group", name="platform")
    proj = Resource("gitlab", GL, "project:platform/api", "project", name="api")
    recs = [acc(GL, "aarcher", native_id="aarcher"), grp, proj,
            Grant("gitlab", GL, f"{GL}|aarcher", grp.uid, "maintainer", "direct"),
            Grant("gitlab", GL, f"{GL}|aarcher", proj.uid, "developer", "inherited"),
            Resource("gitlab", GL, "group:platform/variables/DEPLOY_KEY", "ci_variable",
                     name="DEPLOY_KEY", updated_at=None, attributes={"parent": grp.uid}),
            Resource("gitlab", GL, "group:platform/variables/OLD", "ci_variable",
                     name="OLD", updated_at=BEFORE, attributes={"parent": grp.uid}),
            Resource("gitlab", GL, "project:platform/api/variables/DEV", "ci_variable",
                     name="DEV", updated_at=BEFORE, attributes={"parent": proj.uid})]  # developer: no
    out = findings(recs, "codehost.ci_secret_not_rotated")
    got = sorted((f.object_name, f.severity) for f in out)
    assert got == [("DEPLOY_KEY", "medium"), ("OLD", "high")]
    assert next(f for f in out if f.object_name == "DEPLOY_KEY").evidence["rotation"] == "unknown"


# --- deploy keys with write access -----------------------------------------------------------

def deploy_key(source, n, added_by, read_only, holder=True, **kw):
    system = source.split(":")[0]
    return Credential(system, source, f"repo/keys/{n}", "deploy_key",
                      holder=f"{source}|{added_by}" if holder else None, name=f"key{n}",
                      attributes={"read_only": read_only, "added_by": added_by, "repo": "acme/payments"},
                      **kw)


@pytest.mark.parametrize("source,login", [(GH, "alice-gh"), (GL, "aarcher")])
def test_write_deploy_key_added_by_leaver(source, login):
    bob = "bob-gh" if source == GH else "bbaker"
    recs = [acc(source, login), acc(source, bob),
            deploy_key(source, 1, login, False),                       # residual
            deploy_key(source, 2, login, True),                        # near-miss: read-only
            deploy_key(source, 3, bob, False),                         # near-miss: bob is active
            deploy_key(source, 4, login, False, status="revoked"),     # near-miss: revoked
            deploy_key(source, 5, login, False, holder=False)]         # residual: found by added_by
    out = findings(recs, "codehost.deploy_key_write_by_leaver")
    assert sorted(f.object_id for f in out) == ["repo/keys/1", "repo/keys/5"]
    assert {f.identity for f in out} == {"alice@example.com"}
    assert all(f.severity == "high" and f.layer == "code-hosting" for f in out)


def test_expired_deploy_key_is_not_reported():
    recs = [acc(GH, "alice-gh"),
            deploy_key(GH, 1, "alice-gh", False, expires_at=datetime(2026, 11, 2, tzinfo=UTC))]
    assert findings(recs, "codehost.deploy_key_write_by_leaver") == []
