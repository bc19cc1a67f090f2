"""Sessions: what a leaver already held when she left, and whether it was used since.

Disabling an account stops new sign-ins; it does not end the sessions, refresh tokens
and assumed-role credentials she already had. These rules read the session layer the
collectors emit (Okta refresh tokens and devices, Slack sessions: Credential records of
``SESSION_KINDS``; sign-ins and calls after termination: Activity records; AWS roles with
their ``AWSRevokeOlderSessions`` cut-off) and report in the ``sessions`` layer. A source
that could not show sessions has a partial coverage row there: the layer is then
incomplete for the identity, never clean.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Iterator

from rules.base import CSF_AA01, CSF_AA05, NHI1, Hit, rule
from rules.context import RuleContext
from scanner.core.model import Activity, Identity
from rules.credentials import SESSION_KINDS
from scanner.core.timeparse import parse_time

EVENTS_IN_EVIDENCE = 10


def _leaver(ctx: RuleContext, account_uid: str | None) -> Identity | None:
    ident = ctx.identity_of(account_uid)
    return ident if ident is not None and ident.is_leaver else None


@rule(id="session.live_after_termination",
      title="Session or token still live after termination",
      severity="high", layer="sessions",
      frameworks=[NHI1, CSF_AA01],
      remediation="End the sessions now: `residual revoke-sessions IDENTITY --apply` (or the "
                  "provider's own call: Okta DELETE /api/v1/users/{id}/sessions?oauthTokens=true, "
                  "Slack admin.users.session.reset), then re-run `residual verify --live`.")
def live_after_termination(ctx: RuleContext) -> Iterator[Hit]:
    """A session, refresh token or registered device of a leaver that the provider still
    lists as active and unexpired. The holder's own status does not matter: a deleted
    Slack user's sessions keep working until they are reset."""
    for c in ctx.credentials:
        if c.kind not in SESSION_KINDS or c.status != "active":
            continue
        if c.expires_at is not None and c.expires_at <= ctx.now:
            continue
        ident = _leaver(ctx, c.holder)
        if ident is None:
            continue
        acc = ctx.accounts.get(c.holder or "")
        yield Hit(subject=c.node, system=c.system, object_kind=c.kind, object_id=c.native_id,
                  object_name=c.name, identity=ident.id,
                  evidence={"status": c.status, "created_at": c.created_at, "expires_at": c.expires_at,
                            "holder": acc.login if acc else c.holder,
                            "holder_status": acc.status if acc else None,
                            "terminated_at": ident.terminated_at, "identity_status": ident.status,
                            **{k: c.attributes.get(k) for k in ("device", "created_ip", "recent_ip",
                                                                  "client_name", "platform") if c.attributes.get(k)}},
                  path=[n for n in (ident.node, acc.node if acc else None, c.node) if n])


def _events_after_termination(ctx: RuleContext) -> dict[tuple[str, str], list[Activity]]:
    """(identity id, account uid or actor) -> the successful events at or after her
    termination (``Identity.after_termination``: a roster date alone is the end of that
    day). Events without an account (Identity Center sign-ins by e-mail) are
    tied by the actor's e-mail."""
    by_email = {e.casefold(): i for i in ctx.identities.values() if i.is_leaver for e in i.emails}
    out: dict[tuple[str, str], list[Activity]] = defaultdict(list)
    for a in ctx.activities:
        if a.category == "removal" or a.outcome == "failure" or a.at is None:
            continue
        ident = _leaver(ctx, a.subject_account) if a.subject_account else by_email.get(a.actor.casefold())
        after = ident.after_termination if ident is not None else None
        if after is None or a.at < after:
            continue
        out[(ident.id, a.subject_account or f"{a.source}|{a.actor}")].append(a)
    return out


@rule(id="session.used_after_termination",
      title="Account used after termination (sign-ins or calls in the provider's log)",
      severity="critical", layer="sessions",
      frameworks=[NHI1, CSF_AA01],
      remediation="Treat as an incident: end her sessions (`residual revoke-sessions IDENTITY "
                  "--apply`), disable the account, and review what the events listed did.")
def used_after_termination(ctx: RuleContext) -> Iterator[Hit]:
    """The provider's own log (Okta System Log, CloudTrail, Slack access logs, GitHub audit
    log) shows the account signing in, refreshing tokens or calling APIs at or after the
    identity's termination. The evidence names each event id and time."""
    for (ident_id, key), events in sorted(_events_after_termination(ctx).items()):
        ident = ctx.identities[ident_id]
        events.sort(key=lambda a: a.at)
        acc = ctx.accounts.get(key)
        first = events[0]
        yield Hit(subject=acc.node if acc else f"account:{key}", system=first.system,
                  object_kind=acc.kind if acc else "user", object_id=acc.native_id if acc else first.actor,
                  object_name=acc.login if acc else first.actor, identity=ident_id,
                  evidence={"terminated_at": ident.terminated_at, "events": len(events),
                            "first_event_id": first.native_id, "first_event_at": first.at,
                            "last_event_id": events[-1].native_id, "last_event_at": events[-1].at,
                            "event_list": [{"id": a.native_id, "at": a.at, "action": a.action,
                                            "ip": a.attributes.get("ip")} for a in events[-EVENTS_IN_EVIDENCE:]]},
                  path=[n for n in (ident.node, acc.node if acc else None) if n])


def _checked_sources(ctx: RuleContext) -> set[str]:
    """AWS sources whose session layer was read (``cloudtrail: true``)."""
    return {str(c.attributes.get("source")) for c in ctx.coverage
            if c.layer == "sessions" and c.attributes.get("source")}


@rule(id="session.assumed_role_not_revoked",
      title="Role the leaver could assume: sessions issued before her termination not revoked",
      severity="high", layer="sessions",
      frameworks=[NHI1, CSF_AA05],
      remediation="Revoke the role's older sessions (`residual revoke-sessions IDENTITY --apply`, or "
                  "IAM console > role > Revoke active sessions: the AWSRevokeOlderSessions deny), then "
                  "remove her from the trust policy (`residual plan`).")
def assumed_role_not_revoked(ctx: RuleContext) -> Iterator[Hit]:
    """Credentials from ``AssumeRole`` live up to 12 hours (36 chained) and cannot be
    deleted; only a deny on ``aws:TokenIssueTime`` ends them. A role whose trust policy
    names a leaver, or that CloudTrail saw her assume, without such a deny at or after
    her termination may still be in use by a session she opened."""
    checked = _checked_sources(ctx)
    roles: dict[tuple[str, str], str] = {}
    for g in ctx.grants:
        if g.via != "trust":
            continue
        acc = ctx.accounts.get(g.principal) or ctx.accounts_by_native_id.get(g.principal)
        ident = _leaver(ctx, acc.uid if acc else None)
        if ident is not None:
            roles.setdefault((ident.id, g.resource), f"trust policy names {acc.login}")
    for a in ctx.activities:
        role = a.attributes.get("role_uid")
        ident = _leaver(ctx, a.subject_account) if role else None
        if ident is not None:
            roles.setdefault((ident.id, str(role)), f"assumed on {a.at.isoformat() if a.at else '?'} (event {a.native_id})")
    for (ident_id, role_uid), why in sorted(roles.items()):
        res = ctx.resources.get(role_uid)
        if res is None or res.source not in checked:
            continue
        ident = ctx.identities[ident_id]
        cut = res.attributes.get("revoked_sessions_before")
        cutoff = parse_time(cut) if isinstance(cut, str) and cut else None
        if ident.terminated_at and cutoff and cutoff >= ident.terminated_at:
            continue
        yield Hit(subject=res.node, system=res.system, object_kind="role", object_id=res.native_id,
                  object_name=res.name, identity=ident_id,
                  evidence={"why": why, "terminated_at": ident.terminated_at,
                            "revoked_sessions_before": cut or None})
