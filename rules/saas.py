"""Directory and SaaS residue that the generic account rules do not see.

Already covered generically (rules/accounts.py), and so not repeated here:
- a leaver still active in a SaaS app (SCIM account) -> ``account.active_after_termination``;
- a SaaS account that resolves to no roster identity -> ``account.unowned``;
- suspended in the directory, active downstream -> ``account.active_while_suspended``.

What only the directory knows:
- an Okta app assignment of a leaver: the assignment is what re-provisions the app
  account and lets SSO in, so it must go even when the app account itself is gone;
- an Okta API token created by a leaver: Okta accepts a token for as long as the admin
  who created it is active, so it is live exactly while offboarding is unfinished (and
  comes back if the creator is ever reactivated).
"""

from __future__ import annotations

from typing import Iterator

from rules.base import CSF_AA01, CSF_AA05, NHI1, NHI7, Hit, rule
from rules.context import RuleContext

LIVE_ACCOUNT = ("active", "pending")


@rule(id="okta.app_assignment_of_leaver",
      title="Leaver still assigned to an Okta app",
      severity="high",
      frameworks=[NHI1, CSF_AA05],
      remediation="Remove the user's assignment to the app in Okta (and the group membership, "
                  "for a GROUP assignment), then deactivate the user; check the app itself "
                  "for an account the assignment provisioned.")
def app_assignment_of_leaver(ctx: RuleContext) -> Iterator[Hit]:
    """High while the Okta account can still sign in (terminated, account active);
    medium when the account is deactivated or the identity only suspended: the
    assignment is dormant, and returns with a reactivation."""
    for g in ctx.grants:
        if g.via != "assignment" or not g.system.startswith("okta"):
            continue
        ident = ctx.identity_of(g.principal)
        acc = ctx.accounts.get(g.principal)
        if ident is None or acc is None or not ident.is_leaver:
            continue
        live = ident.status == "terminated" and acc.status in LIVE_ACCOUNT
        app = ctx.resources.get(g.resource)
        app_name = app.name if app else g.resource
        # the subject is the app: one finding per (identity, app), the path goes through the account
        yield Hit(subject=f"resource:{g.resource}", system=g.system, object_kind="app_assignment",
                  object_id=f"{acc.native_id}->{g.resource.split('|', 1)[-1]}",
                  object_name=f"{acc.login} -> {app_name}", identity=ident.id,
                  title=f"{ident.status.capitalize()} {ident.id} still assigned to Okta app {app_name}",
                  severity=None if live else "medium",
                  evidence={"app": app_name, "assignment_scope": g.attributes.get("scope"),
                            "app_username": g.attributes.get("app_username"),
                            "okta_status": acc.attributes.get("okta_status"),
                            "identity_status": ident.status, "since": ident.terminated_at,
                            "can_sign_in": live},
                  path=[ident.node, acc.node, f"resource:{g.resource}"])


@rule(id="okta.api_token_of_leaver",
      title="Okta API token created by a leaver",
      severity="critical",
      frameworks=[NHI1, NHI7, CSF_AA01],
      remediation="Revoke the token in Okta (Security > API > Tokens), replace it with an "
                  "OAuth service app owned by a team, then deactivate the creator.")
def api_token_of_leaver(ctx: RuleContext) -> Iterator[Hit]:
    """Critical while the creator's Okta account is active (the token works with the
    creator's admin rights); medium once the creator is deactivated (Okta rejects it, and
    accepts it again if the account is reactivated). Expired tokens are not residue."""
    for cred in ctx.credentials:
        if cred.kind != "api_key" or not cred.system.startswith("okta") or cred.status == "expired":
            continue
        ident = ctx.identity_of(cred.holder)
        acc = ctx.accounts.get(cred.holder or "")
        if ident is None or acc is None or not ident.is_leaver:
            continue
        valid = cred.status == "active" and acc.status == "active"
        yield Hit(subject=cred.node, system=cred.system, object_kind="api_key",
                  object_id=cred.native_id, object_name=cred.name, identity=ident.id,
                  severity=None if valid else "medium",
                  evidence={"creator": acc.login, "creator_okta_status": acc.attributes.get("okta_status"),
                            "identity_status": ident.status, "since": ident.terminated_at,
                            "valid": valid,
                            "why": ("Okta accepts an API token while the admin who created it is "
                                    "active; the creator is still active, so this token works"
                                    if valid else
                                    "Okta rejects it while its creator is deactivated, and accepts "
                                    "it again if the creator is reactivated"),
                            "expires_at": cred.expires_at, "last_used_at": cred.last_used_at,
                            "last_used_derived": cred.attributes.get("last_used_derived", False)},
                  path=[ident.node, acc.node, cred.node])
