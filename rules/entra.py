"""Microsoft Entra ID: what survives a leaver in the directory itself.

- sessions: ``signInSessionsValidFromDateTime`` before the termination means the
  leaver's refresh tokens and session cookies were never revoked (disabling the account
  does not revoke them); a successful sign-in after the termination means they are used;
- OAuth: delegated grants with the leaver as principal (the client app keeps refresh
  tokens with those scopes), tenant-wide consents the leaver gave, app role assignments;
- devices still registered to or owned by the leaver (device trust survives);
- app registrations and service principals: an owner who left (owners can add secrets:
  a persistence path), no owner at all, secrets that never expire or outlive the policy,
  secrets added by a leaver or after an owner's termination.

Entra records carry object ids as native ids and their owners in ``attributes.owners``
(collectors/entra/transform.py); a rule finds the person behind an owner through the
owner's own Entra account (``identity_of``), so it needs no e-mail of its own.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Iterator

from rules.base import CSF_AA01, CSF_AA05, NHI1, NHI3, NHI7, Hit, rule
from rules.credentials import is_live
from scanner.engine import RuleContext
from scanner.core.model import Account, Credential, Identity
from scanner.core.timeparse import parse_time

SYSTEM = "entra"
APP_KINDS = ("app", "service_account")
SECRET_KINDS = ("client_secret", "client_cert")


def _t(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value
    try:
        return parse_time(value) if isinstance(value, str) else None
    except ValueError:
        return None


def _entra(rec: Any) -> bool:
    return rec.system == SYSTEM


def leaver_of(ctx: RuleContext, account_uid: str | None) -> Identity | None:
    ident = ctx.identity_of(account_uid)
    return ident if ident and ident.is_leaver else None


def owner_leavers(ctx: RuleContext, app: Account) -> list[tuple[dict[str, Any], Identity]]:
    """The owners of an app or service principal who are leavers, with their identity."""
    out = []
    for o in app.attributes.get("owners") or []:
        ident = leaver_of(ctx, f"{app.source}|{o.get('id')}")
        if ident:
            out.append((o, ident))
    return out


def live_secrets(ctx: RuleContext, app: Account) -> list[Credential]:
    return [c for c in ctx.credentials_by_holder.get(app.uid, [])
            if c.kind in SECRET_KINDS and is_live(c, ctx)]


@rule(id="entra.sessions_not_revoked",
      title="Leaver's Entra sign-in sessions were never revoked",
      severity="high", layer="sessions",
      frameworks=[NHI1, CSF_AA01],
      remediation="Revoke the user's sessions (POST /users/{id}/revokeSignInSessions, or "
                  "Revoke-MgUserSignInSession): disabling the account does not invalidate "
                  "refresh tokens and session cookies already issued.")
def sessions_not_revoked(ctx: RuleContext) -> Iterator[Hit]:
    """High for a terminated identity, medium for a suspended one. Graph's
    ``signInSessionsValidFromDateTime`` is the moment tokens issued before it stopped
    working; earlier than the termination, everything issued until then still works."""
    for acc in ctx.accounts.values():
        if not _entra(acc) or acc.kind != "user":
            continue
        ident = leaver_of(ctx, acc.uid)
        valid_from = _t(acc.attributes.get("sessions_valid_from"))
        if not ident or not ident.terminated_at or valid_from is None or valid_from >= ident.terminated_at:
            continue
        yield Hit(subject=acc.node, system=acc.system, object_kind="sign_in_sessions",
                  object_id=acc.native_id, object_name=acc.login, identity=ident.id,
                  title=f"{acc.login}: sessions valid since {valid_from:%Y-%m-%d}, before the "
                        f"{ident.status} date {ident.terminated_at:%Y-%m-%d}",
                  severity=None if ident.status == "terminated" else "medium",
                  evidence={"sessions_valid_from": valid_from, "terminated_at": ident.terminated_at,
                            "account_enabled": acc.attributes.get("account_enabled"),
                            "employee_leave_at": acc.attributes.get("employee_leave_at"),
                            "user_id": acc.native_id},
                  path=[ident.node, acc.node])


@rule(id="entra.sign_in_after_termination",
      title="Leaver signed in to Entra ID after termination",
      severity="critical", layer="sessions",
      frameworks=[NHI1, CSF_AA01],
      remediation="Treat as an incident: revoke the user's sessions now, review the sign-in "
                  "log and what the sessions reached since the termination, and rotate it.")
def sign_in_after_termination(ctx: RuleContext) -> Iterator[Hit]:
    """A successful sign-in (``status.errorCode`` 0) at or after the termination time
    (``Identity.after_termination``: a roster date alone counts from the end of that day):
    somebody holds a working session or password. Failed sign-ins (a disabled account
    refusing) are not use."""
    latest: dict[str, Any] = {}
    counts: dict[str, int] = {}
    for ev in ctx.activities:
        if ev.system != SYSTEM or ev.action != "signIn" or ev.outcome != "success" or ev.at is None:
            continue
        ident = leaver_of(ctx, ev.subject_account)
        if not ident or not ident.terminated_at or ev.at < ident.after_termination:
            continue
        key = ev.subject_account or ""
        counts[key] = counts.get(key, 0) + 1
        if key not in latest or ev.at > latest[key].at:
            latest[key] = ev
    for uid, ev in sorted(latest.items()):
        acc = ctx.accounts.get(uid)
        ident = leaver_of(ctx, uid)
        if acc is None or ident is None:
            continue
        yield Hit(subject=acc.node, system=acc.system, object_kind="sign_in", object_id=acc.native_id,
                  object_name=acc.login, identity=ident.id,
                  title=f"{acc.login} signed in on {ev.at:%Y-%m-%d %H:%M}, after termination",
                  evidence={"event": ev.native_id, "at": ev.at, "terminated_at": ident.terminated_at,
                            "app": ev.attributes.get("app"), "ip": ev.attributes.get("ip"),
                            "sign_ins_after": counts[uid], "user_id": acc.native_id},
                  path=[ident.node, acc.node])


@rule(id="entra.oauth_grant_of_leaver",
      title="OAuth consent a leaver gave is still in place",
      severity="high",
      frameworks=[NHI1, NHI3, CSF_AA05],
      remediation="Delete the delegated permission grant (DELETE /oauth2PermissionGrants/{id}); "
                  "the client app's refresh tokens for the user stop working with it.")
def oauth_grant_of_leaver(ctx: RuleContext) -> Iterator[Hit]:
    """A delegated grant with the leaver as principal lets the client app keep acting as
    them (with ``offline_access``, without them being present)."""
    for c in ctx.credentials:
        if not _entra(c) or c.kind != "oauth_grant":
            continue
        ident = leaver_of(ctx, c.holder)
        if not ident:
            continue
        acc = ctx.accounts.get(c.holder or "")
        yield Hit(subject=c.node, system=c.system, object_kind="oauth_grant",
                  object_id=c.attributes.get("grant_id") or c.native_id, object_name=c.name,
                  identity=ident.id, title=f"{ident.id} still consents to {c.name} ({' '.join(c.scopes)})",
                  severity=None if "offline_access" in c.scopes or ident.status == "terminated" else "medium",
                  evidence={"client": c.name, "scopes": c.scopes, "resource": c.attributes.get("resource"),
                            "consent_type": c.attributes.get("consent_type"),
                            "grant_id": c.attributes.get("grant_id")},
                  path=[ident.node] + ([acc.node] if acc else []) + [c.node])


@rule(id="entra.tenant_consent_by_leaver",
      title="Tenant-wide consent granted by a leaver",
      severity="medium",
      frameworks=[NHI3, CSF_AA05],
      remediation="Review the application's tenant-wide (AllPrincipals) grant: delete it "
                  "(DELETE /oauth2PermissionGrants/{id}) unless a current owner re-approves it.")
def tenant_consent_by_leaver(ctx: RuleContext) -> Iterator[Hit]:
    """An admin consent for the whole tenant outlives the admin who gave it; nobody left
    answers for the third-party app's access to everyone's data."""
    for ev in ctx.activities:
        if (ev.system != SYSTEM or ev.action != "Consent to application"
                or ev.attributes.get("consent_type") != "AllPrincipals"):
            continue
        ident = leaver_of(ctx, ev.subject_account)
        target = next((x for x in ev.attributes.get("targets") or [] if x.get("type") == "ServicePrincipal"), None)
        if not ident or not target:
            continue
        sp = ctx.accounts.get(f"{ev.source}|{target.get('id')}")
        subject = sp.node if sp else f"account:{ev.source}|{target.get('id')}"
        yield Hit(subject=subject, system=SYSTEM, object_kind="tenant_consent",
                  object_id=str(target.get("id")), object_name=str(target.get("name") or target.get("id")),
                  identity=ident.id, title=f"{ident.id} consented to {target.get('name')} for the whole tenant",
                  evidence={"event": ev.native_id, "at": ev.at, "app": target.get("name"),
                            "service_principal_id": target.get("id")},
                  path=[ident.node] + ([sp.node] if sp else []))


@rule(id="entra.app_role_assignment_of_leaver",
      title="Leaver still assigned to an Entra enterprise application",
      severity="medium",
      frameworks=[NHI1, CSF_AA05],
      remediation="Remove the app role assignment (DELETE /users/{id}/appRoleAssignments/{assignment id}).")
def app_role_assignment_of_leaver(ctx: RuleContext) -> Iterator[Hit]:
    """High while the leaver's account can still sign in; medium once it is disabled
    (the assignment returns with a re-enable)."""
    for g in ctx.grants:
        if not _entra(g) or g.via != "app_role":
            continue
        ident = leaver_of(ctx, g.principal)
        acc = ctx.accounts.get(g.principal)
        if not ident or acc is None:
            continue
        app = g.attributes.get("resource_name") or g.resource
        yield Hit(subject=f"grant:{g.source}|{g.principal}->{g.resource}:{g.permission}", system=g.system,
                  object_kind="app_role_assignment", object_id=str(g.attributes.get("assignment_id")),
                  object_name=f"{acc.login} -> {app}", identity=ident.id,
                  title=f"{ident.id} still assigned to {app}",
                  severity="high" if acc.status == "active" and ident.status == "terminated" else None,
                  evidence={"app": app, "assignment_id": g.attributes.get("assignment_id"),
                            "user_id": acc.native_id, "account_enabled": acc.status == "active"},
                  path=[ident.node, acc.node])


@rule(id="entra.device_of_leaver",
      title="Device still registered to a leaver",
      severity="medium",
      frameworks=[NHI1, CSF_AA01],
      remediation="Disable, then delete the device object (PATCH/DELETE /devices/{id}); wipe "
                  "or retire it in Intune if it is managed.")
def device_of_leaver(ctx: RuleContext) -> Iterator[Hit]:
    """A registered device keeps its device trust (Primary Refresh Token, compliant-device
    conditional access) whoever holds it now."""
    for c in ctx.credentials:
        if not _entra(c) or c.kind != "device" or c.status != "active":
            continue
        ident = leaver_of(ctx, c.holder)
        if not ident:
            continue
        acc = ctx.accounts.get(c.holder or "")
        used_after = bool(ident.terminated_at and c.last_used_at and c.last_used_at > ident.terminated_at)
        yield Hit(subject=c.node, system=c.system, object_kind="device",
                  object_id=c.attributes.get("device_object_id") or c.native_id, object_name=c.name,
                  identity=ident.id, title=f"{c.name} still registered to {ident.id}",
                  severity="high" if used_after else None,
                  evidence={"device_id": c.attributes.get("device_id"), "os": c.attributes.get("os"),
                            "relations": c.attributes.get("relations"), "last_sign_in": c.last_used_at,
                            "trust_type": c.attributes.get("trust_type"), "used_after_termination": used_after},
                  path=[ident.node] + ([acc.node] if acc else []) + [c.node])


@rule(id="entra.app_owner_departed",
      title="Application or service principal owned by a leaver",
      severity="high",
      frameworks=[NHI1, NHI7, CSF_AA01],
      remediation="Add a current owner, remove the leaver as owner (DELETE "
                  "/applications/{id}/owners/{owner id}/$ref), and rotate the secrets they could know.")
def app_owner_departed(ctx: RuleContext) -> Iterator[Hit]:
    """An owner can add a new secret to the app at any time: while the owner's account
    works, that is a way back in; and nobody answers for the app's credentials. High
    while the app has a live secret or certificate, medium otherwise."""
    for acc in ctx.accounts.values():
        if not _entra(acc) or acc.kind not in APP_KINDS or acc.status != "active":
            continue
        live = live_secrets(ctx, acc)
        for owner, ident in owner_leavers(ctx, acc):
            others = [o.get("upn") or o.get("id") for o in acc.attributes.get("owners") or []
                      if o.get("id") != owner.get("id")]
            owner_acc = ctx.accounts.get(f"{acc.source}|{owner.get('id')}")
            yield Hit(subject=acc.node, system=acc.system, object_kind=acc.attributes.get("object_type", acc.kind),
                      object_id=acc.native_id, object_name=acc.login, identity=ident.id,
                      title=f"{acc.attributes.get('object_type', 'app')} {acc.login} is owned by {ident.status} {ident.id}",
                      severity=None if live else "medium",
                      evidence={"owner": owner.get("upn") or owner.get("id"), "owner_id": owner.get("id"),
                                "owner_can_sign_in": bool(owner_acc and owner_acc.status == "active"),
                                "other_owners": others, "live_credentials": [c.name for c in live],
                                "app_id": acc.attributes.get("app_id")},
                      path=[ident.node] + ([owner_acc.node] if owner_acc else []) + [acc.node])


@rule(id="entra.app_without_owner",
      title="Application with live credentials and no owner",
      severity="medium",
      frameworks=[NHI1, CSF_AA01],
      remediation="Assign an accountable owner (POST /applications/{id}/owners/$ref), or retire "
                  "the app and remove its secrets and certificates.")
def app_without_owner(ctx: RuleContext) -> Iterator[Hit]:
    """Nobody will rotate or retire the credentials of an app nobody owns. Apps of other
    tenants (first- and third-party service principals) have no owners here by design
    and are left out."""
    for acc in ctx.accounts.values():
        if (not _entra(acc) or acc.kind not in APP_KINDS or acc.attributes.get("foreign")
                or acc.attributes.get("owners") or acc.attributes.get("owners") is None):
            continue
        live = live_secrets(ctx, acc)
        if not live:
            continue
        yield Hit(subject=acc.node, system=acc.system, object_kind=acc.attributes.get("object_type", acc.kind),
                  object_id=acc.native_id, object_name=acc.login,
                  title=f"{acc.login} has {len(live)} live credential(s) and no owner",
                  evidence={"live_credentials": [c.name for c in live], "app_id": acc.attributes.get("app_id")},
                  path=[acc.node])


@rule(id="entra.secret_lifetime",
      title="App secret or certificate that never expires or outlives the policy",
      severity="low",
      frameworks=[NHI7, CSF_AA01],
      remediation="Replace it with a credential valid no longer than the policy allows "
                  "(or a federated credential), then remove the old one (removePassword/removeKey).")
def secret_lifetime(ctx: RuleContext) -> Iterator[Hit]:
    """Medium for a secret that never expires (the portal's 2299-12-31), low for one
    valid longer than ``policy.max_secret_days`` (default 730)."""
    limit = getattr(ctx.policy, "max_secret_days", 730)
    for c in ctx.credentials:
        if not _entra(c) or c.kind not in SECRET_KINDS or not is_live(c, ctx):
            continue
        never = bool(c.attributes.get("never_expires"))
        days = c.attributes.get("lifetime_days")
        if not never and not (isinstance(days, int) and days > limit):
            continue
        app = ctx.accounts.get(c.holder or "")
        owners = owner_leavers(ctx, app) if app else []
        yield Hit(subject=c.node, system=c.system, object_kind=c.kind, object_id=c.attributes.get("key_id") or c.native_id,
                  object_name=f"{c.attributes.get('app')}: {c.name}",
                  identity=owners[0][1].id if owners else None,
                  title=f"{c.attributes.get('app')} {c.kind.replace('_', ' ')} {c.name} "
                        + ("never expires" if never else f"is valid for {days} days"),
                  severity="medium" if never else None,
                  evidence={"expires_at": c.expires_at, "lifetime_days": days, "policy_days": limit,
                            "hint": c.hint, "app_id": app.attributes.get("app_id") if app else None},
                  path=[n for n in ((owners[0][1].node if owners else None), app.node if app else None, c.node) if n])


@rule(id="entra.secret_added_by_leaver",
      title="App secret added by a leaver, or after an owner's termination",
      severity="high",
      frameworks=[NHI1, NHI7, CSF_AA01],
      remediation="Remove the secret (POST /applications/{id}/removePassword with its keyId, "
                  "or removeKey for a certificate), review the app's sign-ins since, and "
                  "rotate what the app can reach.")
def secret_added_by_leaver(ctx: RuleContext) -> Iterator[Hit]:
    """Critical when the directory audit shows the leaver added it after their
    termination (a way back in); high when they added it before (they may hold the
    value) or when it appeared after an owner's termination."""
    added: dict[str, Any] = {}
    for ev in ctx.activities:
        if ev.system == SYSTEM and ev.subject_credential and ev.category == "use":
            ident = leaver_of(ctx, ev.subject_account)
            if ident:
                added[ev.subject_credential] = (ev, ident)
    for c in ctx.credentials:
        if not _entra(c) or c.kind not in SECRET_KINDS or not is_live(c, ctx):
            continue
        app = ctx.accounts.get(c.holder or "")
        if c.uid in added:
            ev, ident = added[c.uid]
            after = bool(ident.terminated_at and ev.at and ev.at >= ident.terminated_at)
            how, severity, when = "added by", "critical" if after else None, ev.at
        else:
            late = [(o, i) for o, i in (owner_leavers(ctx, app) if app else [])
                    if i.terminated_at and c.created_at and c.created_at >= i.terminated_at]
            if not late:
                continue
            ev, (_, ident) = None, late[0]
            after, how, severity, when = True, "added after the termination of owner", None, c.created_at
        yield Hit(subject=c.node, system=c.system, object_kind=c.kind,
                  object_id=c.attributes.get("key_id") or c.native_id,
                  object_name=f"{c.attributes.get('app')}: {c.name}", identity=ident.id,
                  title=f"{c.attributes.get('app')} secret {c.name} {how} {ident.id}"
                        + (" after termination" if how == "added by" and after else ""),
                  severity=severity,
                  evidence={"added_at": when, "terminated_at": ident.terminated_at,
                            "event": ev.native_id if ev else None, "expires_at": c.expires_at,
                            "hint": c.hint, "app_id": app.attributes.get("app_id") if app else None},
                  path=[n for n in (ident.node, app.node if app else None, c.node) if n])
