"""Google Workspace and Google Cloud residue the generic rules do not see.

Why these are their own rules: the generic ``credential.live_of_leaver`` treats a
suspended holder's credentials as dormant, which is true of most systems and false here.
Google keeps a suspended user's OAuth grants, app passwords and device registrations and
restores them all on reactivation (and an app holding a refresh token may keep using a
grant; the Reports ``token`` log says so). In Cloud, a user-managed service-account key
works whoever made it, and an IAM policy is not edited when its member leaves.

Already covered generically, not repeated: an active Workspace account of a terminated
person (``account.active_after_termination``); a key older than the rotation policy
(``credential.unrotated``, CIS GCP 1.7) or that never expires (``credential.no_expiry``); a service
account whose owner left (``nhi.owner_terminated``).
"""

from __future__ import annotations

from collections import defaultdict
from typing import Iterator

from rules.base import CIS_GCP_KEYS, CSF_AA01, CSF_AA05, NHI1, NHI3, NHI4, NHI5, NHI7, Hit, rule
from scanner.engine import RuleContext
from scanner.core.model import Activity, Credential, Identity

WS, GCP = "google_workspace", "gcp"


def _mine(system: str, value: str) -> bool:
    return value == system or value.startswith(system + ":")


def _leaver_holding(ctx: RuleContext, c: Credential) -> Identity | None:
    ident = ctx.identity_of(c.holder)
    return ident if ident and ident.is_leaver else None


def _cred_hit(ctx: RuleContext, c: Credential, ident: Identity, evidence: dict, **kw) -> Hit:
    acc = ctx.accounts.get(c.holder or "")
    kw.setdefault("path", [n for n in (ident.node, acc.node if acc else None, c.node) if n])
    return Hit(subject=c.node, system=c.system, object_kind=c.kind, object_id=c.native_id,
               object_name=f"{c.name} ({acc.login})" if acc else c.name, identity=ident.id,
               evidence={"account": acc.login if acc else c.holder,
                         "account_status": acc.status if acc else None,
                         "identity_status": ident.status, "terminated_at": ident.terminated_at, **evidence},
               **kw)


def _workspace_creds(ctx: RuleContext, kind: str) -> Iterator[tuple[Credential, Identity]]:
    for c in ctx.credentials:
        if c.kind == kind and _mine(WS, c.system) and c.status == "active":
            ident = _leaver_holding(ctx, c)
            if ident:
                yield c, ident


@rule(id="google_workspace.grant_of_leaver",
      title="OAuth grant of a leaver still present in Google Workspace",
      severity="high",
      frameworks=[NHI1, NHI3, CSF_AA05],
      remediation="Delete the grant (Directory tokens.delete), then sign the user out; "
                  "suspending the user keeps it, and reactivation restores it.")
def grant_of_leaver(ctx: RuleContext) -> Iterator[Hit]:
    """A third-party app the leaver authorised keeps its grant (and the refresh token
    behind it) while the account is only suspended."""
    for c, ident in _workspace_creds(ctx, "oauth_grant"):
        yield _cred_hit(ctx, c, ident, {"client_id": c.attributes.get("client_id"), "app": c.name,
                                        "scopes": c.scopes, "native_app": c.attributes.get("native_app")})


@rule(id="google_workspace.app_password_of_leaver",
      title="App-specific password of a leaver still present in Google Workspace",
      severity="high",
      frameworks=[NHI1, NHI4, CSF_AA01],
      remediation="Delete the app password (Directory asps.delete); it signs in to mail "
                  "(IMAP/SMTP) without the second factor.")
def app_password_of_leaver(ctx: RuleContext) -> Iterator[Hit]:
    """App passwords bypass 2-step verification and are kept through a suspension."""
    for c, ident in _workspace_creds(ctx, "app_password"):
        yield _cred_hit(ctx, c, ident, {"created_at": c.created_at, "last_used_at": c.last_used_at})


@rule(id="google_workspace.device_of_leaver",
      title="Device of a leaver still registered in Google Workspace",
      severity="medium",
      frameworks=[NHI1, CSF_AA01],
      remediation="Wipe the account from the device (mobiledevices.action admin_account_wipe) "
                  "and delete it, or deprovision the Chromebook; a synced device keeps a copy "
                  "of mail and files.")
def device_of_leaver(ctx: RuleContext) -> Iterator[Hit]:
    """A registered phone or Chromebook keeps synced data and resumes syncing on
    reactivation."""
    for c, ident in _workspace_creds(ctx, "device"):
        synced_after = bool(ident.terminated_at and c.last_used_at and c.last_used_at > ident.terminated_at)
        yield _cred_hit(ctx, c, ident, {"device": c.attributes.get("device"), "last_sync": c.last_used_at,
                                        "synced_after_termination": synced_after,
                                        "serial": c.attributes.get("serial")},
                        severity="high" if synced_after else None)


def _after_termination(ctx: RuleContext, app: str) -> dict[tuple[str, str], list[tuple[Activity, Identity]]]:
    """Workspace events of ``app`` at or after the subject's identity's termination
    (``Identity.after_termination``: a roster date alone from the end of that day), grouped by (account, client id or '')."""
    out: dict[tuple[str, str], list[tuple[Activity, Identity]]] = defaultdict(list)
    for a in ctx.activities:
        if not _mine(WS, a.system) or a.attributes.get("application") != app or a.at is None:
            continue
        ident = ctx.identity_of(a.subject_account)
        if not ident or not ident.is_leaver or not ident.terminated_at or a.at < ident.after_termination:
            continue
        if app == "login" and a.outcome == "failure":
            continue  # a refused sign-in is not use
        out[(a.subject_account or "", str(a.attributes.get("client_id") or ""))].append((a, ident))
    return out


def _event_evidence(events: list[tuple[Activity, Identity]]) -> dict:
    events = sorted(events, key=lambda e: e[0].at)
    first, last = events[0][0], events[-1][0]
    return {"events": len(events), "first_event_id": first.attributes.get("event_id") or first.native_id,
            "first_at": first.at, "last_event_id": last.attributes.get("event_id") or last.native_id,
            "last_at": last.at, "ip": last.attributes.get("ip"), "terminated_at": events[0][1].terminated_at}


@rule(id="google_workspace.login_after_termination",
      title="Leaver signed in to Google Workspace after termination",
      severity="critical",
      frameworks=[NHI1, CSF_AA01],
      remediation="Suspend the user and sign them out (users.signOut), reset the password, "
                  "and review what the account did since (Reports: drive, gmail, token).")
def login_after_termination(ctx: RuleContext) -> Iterator[Hit]:
    """The Reports login log has a successful sign-in at or after HR's termination time."""
    for (uid, _), events in _after_termination(ctx, "login").items():
        acc = ctx.accounts.get(uid)
        ident = events[0][1]
        node = acc.node if acc else f"account:{uid}"
        yield Hit(subject=node, system=events[0][0].system, object_kind="sign_in",
                  object_id=acc.native_id if acc else uid, object_name=acc.login if acc else uid,
                  identity=ident.id, evidence=_event_evidence(events),
                  path=[ident.node, node])


@rule(id="google_workspace.token_used_after_termination",
      title="Leaver's OAuth grant used after termination",
      severity="critical",
      frameworks=[NHI1, NHI3, CSF_AA05],
      remediation="Delete the grant (tokens.delete) and sign the user out; ask the app's "
                  "owner what it did with the data since the termination date.")
def token_used_after_termination(ctx: RuleContext) -> Iterator[Hit]:
    """The Reports token log has an ``authorize`` event for the leaver at or after the
    termination time: an app (re)obtained access with their grant."""
    for (uid, client), events in _after_termination(ctx, "token").items():
        a, ident = events[0]
        cred = ctx.credentials_by_uid.get(a.subject_credential or "")
        acc = ctx.accounts.get(uid)
        subject = cred.node if cred else f"credential:{a.subject_credential or uid + ':' + client}"
        yield Hit(subject=subject, system=a.system, object_kind="oauth_grant",
                  object_id=(cred.native_id if cred else client), identity=ident.id,
                  object_name=f"{a.attributes.get('app_name') or client} ({acc.login if acc else uid})",
                  evidence={**_event_evidence(events), "client_id": client, "app": a.attributes.get("app_name"),
                            "grant_still_present": cred is not None},
                  path=[n for n in (ident.node, acc.node if acc else None, cred.node if cred else None) if n])


# --- Google Cloud ------------------------------------------------------------------------------


def _live_key(ctx: RuleContext, c: Credential) -> bool:
    if not (_mine(GCP, c.system) and c.kind == "access_key" and c.status == "active"):
        return False
    holder = ctx.accounts.get(c.holder or "")
    return (holder is None or holder.status == "active") and (c.expires_at is None or c.expires_at > ctx.now)


@rule(id="gcp.key_of_sa_owner_left",
      title="User-managed key of a service account whose owner left",
      severity="high",
      frameworks=[NHI1, NHI7, CIS_GCP_KEYS, CSF_AA01],
      remediation="Give the service account a new owner, issue it a new key (or better, "
                  "workload identity) where it is used, then disable and delete this key.")
def key_of_sa_owner_left(ctx: RuleContext) -> Iterator[Hit]:
    """The leaver may hold a copy of the private key; it works until deleted (user-managed
    keys are valid until 9999 unless an org policy says otherwise)."""
    for c in ctx.credentials:
        if not _live_key(ctx, c):
            continue
        owner = ctx.owner_of(c.holder)
        if owner and owner.is_leaver:
            yield _cred_hit(ctx, c, owner, {"service_account": c.attributes.get("service_account"),
                                            "owner": owner.id, "created_at": c.created_at,
                                            "expires_at": c.expires_at,
                                            "created_by": c.attributes.get("created_by")},
                            path=[n for n in (owner.node, f"account:{c.holder}", c.node) if n])


@rule(id="gcp.key_created_by_leaver",
      title="Service-account key created by a leaver",
      severity="high",
      frameworks=[NHI1, NHI7, CIS_GCP_KEYS, CSF_AA01],
      remediation="Disable the key (keys.disable), check nothing breaks, then delete it; "
                  "whoever created a key downloaded its private key.")
def key_created_by_leaver(ctx: RuleContext) -> Iterator[Hit]:
    """The audit log (``CreateServiceAccountKey``) names the leaver as the key's creator:
    they had the private key in hand."""
    for c in ctx.credentials:
        creator = c.attributes.get("created_by")
        if not creator or not _live_key(ctx, c):
            continue
        ident = ctx.identities_by_email.get(str(creator).casefold())
        if ident and ident.is_leaver:
            yield _cred_hit(ctx, c, ident, {"created_by": creator, "audit_event": c.attributes.get("created_by_event"),
                                            "created_at": c.created_at, "expires_at": c.expires_at,
                                            "service_account": c.attributes.get("service_account")},
                            path=[ident.node, c.node])


def _binding_hit(ctx: RuleContext, g, ident: Identity | None, why: str, **kw) -> Hit:
    res = ctx.resources.get(g.resource)
    node = res.node if res else f"resource:{g.resource}"
    member = g.attributes.get("member") or g.principal
    return Hit(subject=f"{node}#{g.permission}#{member}", system=g.system, object_kind="iam_binding",
               object_id=f"{res.native_id if res else g.resource} {g.permission} {member}",
               object_name=f"{member} in {g.permission} on {res.name if res else g.resource}",
               identity=ident.id if ident else None,
               evidence={"resource": res.native_id if res else g.resource, "role": g.permission, "member": member,
                         "deleted_principal": bool(g.attributes.get("deleted")), "why": why,
                         "terminated_at": ident.terminated_at if ident else None},
               path=[n for n in (ident.node if ident else None, node) if n], **kw)


@rule(id="gcp.binding_names_leaver",
      title="IAM binding names a leaver",
      severity="high",
      frameworks=[NHI1, NHI5, CSF_AA05],
      remediation="Remove the member from the binding (getIamPolicy, edit, setIamPolicy with "
                  "the etag); a deleted member is restored if the account is undeleted.")
def binding_names_leaver(ctx: RuleContext) -> Iterator[Hit]:
    """A policy member ``user:`` (or ``deleted:user:``) whose e-mail is a leaver's, or a
    service account the leaver owns: the access is on the resource, not on the person."""
    for g in ctx.grants:
        if g.via != "binding" or not _mine(GCP, g.system):
            continue
        email = g.attributes.get("email")
        if g.attributes.get("member_type") == "user" and email:
            ident = ctx.identities_by_email.get(str(email).casefold())
            if ident and ident.is_leaver:
                yield _binding_hit(ctx, g, ident, "the member is the leaver")
        elif g.attributes.get("member_type") == "serviceAccount" and g.principal in ctx.accounts:
            owner = ctx.owner_of(g.principal)
            if owner and owner.is_leaver:
                yield _binding_hit(ctx, g, owner, "the member is a service account the leaver owns",
                                   severity="medium")


@rule(id="gcp.binding_names_deleted_principal",
      title="IAM binding names a deleted principal",
      severity="medium",
      frameworks=[NHI1, CSF_AA05],
      remediation="Remove the deleted:... member from the binding (setIamPolicy); Google keeps "
                  "it, and undeleting the account within 30 days restores the access.")
def binding_names_deleted_principal(ctx: RuleContext) -> Iterator[Hit]:
    """``deleted:user:``/``deleted:serviceAccount:`` members: nobody removed the access when
    the principal was deleted. Attributed to the roster identity when the e-mail is known."""
    for g in ctx.grants:
        if g.via != "binding" or not _mine(GCP, g.system) or not g.attributes.get("deleted"):
            continue
        ident = ctx.identities_by_email.get(str(g.attributes.get("email") or "").casefold())
        if ident and ident.is_leaver and g.attributes.get("member_type") == "user":
            continue  # gcp.binding_names_leaver already says it, with the person
        yield _binding_hit(ctx, g, ident, "the member was deleted")
