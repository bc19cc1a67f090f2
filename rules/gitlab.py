"""GitLab-specific residue: what the generic account, credential and code-host rules
cannot see because it rests on GitLab semantics.

- on gitlab.com the company cannot block a person's account, only remove memberships:
  a leaver's membership is the residue;
- a pipeline schedule runs as its owner: a leaver's schedule keeps acting as them;
- an impersonation token is made by an administrator *for* a user and is invisible to
  that user: offboarding checklists that ask the person to revoke their tokens miss it;
- project/group access tokens and deploy tokens belong to no person (a bot user, or
  nobody); only audit events say who created them, and that creator knows the value;
- a ``deactivated`` (not blocked) account comes back to life when its owner signs in.

CI variables a leaver could read are judged by ``codehost.ci_secret_not_rotated`` (the
collector approximates their ``updated_at`` from audit events; unknown when none).
"""

from __future__ import annotations

from typing import Iterator

from rules.base import CSF_AA01, CSF_AA05, NHI1, NHI7, Hit, rule
from rules.context import RuleContext
from scanner.core.model import Credential, Identity, make_uid


def _leaver(ctx: RuleContext, account_uid: str) -> Identity | None:
    ident = ctx.identity_of(account_uid)
    return ident if ident and ident.is_leaver else None


def _live(c: Credential, ctx: RuleContext) -> bool:
    return c.status == "active" and (c.expires_at is None or c.expires_at > ctx.now)


def _parent_name(ctx: RuleContext, uid: str | None) -> str | None:
    res = ctx.resources.get(uid or "")
    return res.name if res else uid


@rule(id="gitlab.pipeline_schedule_of_leaver",
      title="GitLab pipeline schedule owned by a leaver (it runs as them)",
      severity="high", frameworks=[NHI1, CSF_AA01],
      remediation="Take ownership of the schedule (Build > Pipeline schedules > Take "
                  "ownership) or delete it; then review what its pipelines did since the "
                  "owner left.")
def pipeline_schedule_of_leaver(ctx: RuleContext) -> Iterator[Hit]:
    """Scheduled pipelines run with their owner's permissions: a leaver's active schedule
    keeps acting as the leaver (medium while the owner's account is no longer active:
    the schedule fails now, and runs again if the account is reactivated)."""
    for res in ctx.resources.values():
        if res.system != "gitlab" or res.kind != "pipeline_schedule" or not res.attributes.get("active"):
            continue
        owner = res.attributes.get("owner")
        if not owner:
            continue
        acc_uid = make_uid(res.source, owner)
        ident = _leaver(ctx, acc_uid)
        if not ident:
            continue
        acc = ctx.accounts.get(acc_uid)
        active = acc is not None and acc.status == "active"
        yield Hit(subject=res.node, system=res.system, object_kind=res.kind,
                  object_id=res.native_id, object_name=res.name, identity=ident.id,
                  severity=None if active else "medium",
                  evidence={"owner": owner, "owner_account_status": acc.status if acc else None,
                            "project": _parent_name(ctx, res.attributes.get("parent")),
                            "cron": res.attributes.get("cron"), "ref": res.attributes.get("ref"),
                            "next_run_at": res.attributes.get("next_run_at"),
                            "terminated_at": ident.terminated_at},
                  path=[n for n in (ident.node, acc.node if acc else None, res.node) if n])


@rule(id="gitlab.membership_of_leaver",
      title="Leaver still a member of a GitLab group or project",
      severity="high", frameworks=[NHI1, CSF_AA05],
      remediation="Remove the member from the group or project (Manage > Members), and "
                  "block the account on self-managed instances.")
def membership_of_leaver(ctx: RuleContext) -> Iterator[Hit]:
    """On gitlab.com a person's account is their own: the company cannot block it, only
    take away memberships, so a membership is the residue. One finding per membership
    where it is granted (inherited ones are reported at the enclosing group). While the
    account is blocked or deactivated the membership is inert (info): unblocking restores it."""
    for g in ctx.grants:
        if g.system != "gitlab" or g.via != "direct":
            continue
        res = ctx.resources.get(g.resource)
        if res is None or res.kind not in ("group", "project"):
            continue
        ident = _leaver(ctx, g.principal)
        if not ident:
            continue
        acc = ctx.accounts.get(g.principal)
        active = acc is not None and acc.status == "active"
        yield Hit(subject=res.node, system=res.system, object_kind=res.kind,
                  object_id=res.native_id, object_name=res.name, identity=ident.id,
                  title=f"Leaver still {g.permission} of GitLab {res.kind} {res.name}",
                  severity=None if active else "info",
                  evidence={"account": acc.login if acc else g.principal, "role": g.permission,
                            "account_status": acc.status if acc else None,
                            "expires_at": g.attributes.get("expires_at"),
                            "terminated_at": ident.terminated_at},
                  path=[n for n in (ident.node, acc.node if acc else None, res.node) if n])


@rule(id="gitlab.impersonation_token_of_leaver",
      title="GitLab impersonation token still valid for a leaver",
      severity="high", frameworks=[NHI1, NHI7, CSF_AA01],
      remediation="Revoke it (Admin > Users > the user > Impersonation tokens); find which "
                  "administrator or automation created it and what used it.")
def impersonation_token_of_leaver(ctx: RuleContext) -> Iterator[Hit]:
    """An administrator's token that acts as the leaver. The user never sees it, so the
    usual "revoke your tokens" step of offboarding cannot reach it."""
    for c in ctx.credentials:
        if c.system != "gitlab" or not c.attributes.get("impersonation") or not _live(c, ctx):
            continue
        ident = _leaver(ctx, c.holder or "")
        if not ident:
            continue
        acc = ctx.accounts.get(c.holder or "")
        yield Hit(subject=c.node, system=c.system, object_kind=c.kind, object_id=c.native_id,
                  object_name=c.name, identity=ident.id,
                  evidence={"user": acc.login if acc else c.holder, "scopes": c.scopes,
                            "created_at": c.created_at, "last_used_at": c.last_used_at,
                            "expires_at": c.expires_at, "terminated_at": ident.terminated_at},
                  path=[n for n in (ident.node, acc.node if acc else None, c.node) if n])


@rule(id="gitlab.token_created_by_leaver",
      title="GitLab access or deploy token created by a leaver is still valid",
      severity="high", frameworks=[NHI1, NHI7, CSF_AA05],
      remediation="Rotate the token (create a replacement, move its users to it, revoke this "
                  "one): its creator saw its value and may still hold it.")
def token_created_by_leaver(ctx: RuleContext) -> Iterator[Hit]:
    """Project and group access tokens (bot users) and deploy tokens outlive the person
    who created them; audit events name the creator (``attributes.added_by``)."""
    for c in ctx.credentials:
        if c.system != "gitlab" or not _live(c, ctx):
            continue
        token_type = c.attributes.get("token_type")
        if not (c.kind == "deploy_token" or token_type in ("project_access_token", "group_access_token")):
            continue
        creator = c.attributes.get("added_by")
        if not creator:
            continue
        creator_uid = make_uid(c.source, creator)
        ident = _leaver(ctx, creator_uid)
        if not ident:
            continue
        acc = ctx.accounts.get(creator_uid)
        yield Hit(subject=c.node, system=c.system, object_kind=c.kind, object_id=c.native_id,
                  object_name=c.name, identity=ident.id,
                  evidence={"created_by": creator, "token_type": token_type or "deploy_token",
                            "parent": _parent_name(ctx, c.attributes.get("parent")),
                            "scopes": c.scopes, "created_at": c.created_at,
                            "last_used_at": c.last_used_at, "expires_at": c.expires_at,
                            "terminated_at": ident.terminated_at},
                  path=[n for n in (ident.node, acc.node if acc else None, c.node) if n])


@rule(id="gitlab.deactivated_account_of_leaver",
      title="Leaver's GitLab account is deactivated, not blocked (signing in reactivates it)",
      severity="medium", frameworks=[NHI1, CSF_AA01],
      remediation="Block the account (or delete it); deactivation is undone by the user's "
                  "next sign-in, including through SSO or LDAP if those still let them in.")
def deactivated_account_of_leaver(ctx: RuleContext) -> Iterator[Hit]:
    """GitLab reactivates a deactivated user on their next sign-in: it is a pause, not an
    offboarding."""
    for uid, acc in ctx.accounts.items():
        if acc.system != "gitlab" or acc.attributes.get("state") != "deactivated":
            continue
        ident = _leaver(ctx, uid)
        if ident:
            yield Hit(subject=acc.node, system=acc.system, object_kind=acc.kind,
                      object_id=acc.native_id, object_name=acc.login, identity=ident.id,
                      evidence={"state": "deactivated", "last_seen_at": acc.last_seen_at,
                                "terminated_at": ident.terminated_at},
                      path=[ident.node, acc.node])
