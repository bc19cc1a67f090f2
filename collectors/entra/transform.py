"""Pure transforms: Microsoft Graph payloads -> inventory records (no I/O).

Native ids are Entra object ids as Graph gives them (a user's, an application's, a
service principal's id: unique across the tenant's directory objects), so that an Azure
role assignment's ``principalId`` names the same record. Credentials hang off them:
``<object id>:secret:<keyId>``, ``<object id>:cert:<keyId>``, ``grant:<id>``,
``device:<id>``.

Attributes the rules read: ``sessions_valid_from`` and ``employee_leave_at`` (users),
``owners`` (apps and service principals), ``dedicated_rules`` (a record an entra rule
reports in full, so the generic credential rules leave it alone), ``last_used_unknown``
(Graph does not say when an app secret was last used: it must not be aged as "never used").
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any, Iterable

from scanner.core.model import Account, Activity, Credential, Grant, Identity, make_uid
from scanner.core.timeparse import timestamp as ts  # the one lenient payload-time parser

SYSTEM = "entra"
USER_SELECT = ("id,userPrincipalName,mail,otherMails,displayName,accountEnabled,"
               "employeeLeaveDateTime,signInSessionsValidFromDateTime,onPremisesSamAccountName,"
               "onPremisesImmutableId,createdDateTime,userType")
APP_SELECT = "id,appId,displayName,createdDateTime,signInAudience,passwordCredentials,keyCredentials"
SP_SELECT = APP_SELECT + ",accountEnabled,servicePrincipalType,appOwnerOrganizationId"
OWNER_EXPAND = "owners($select=id,userPrincipalName,mail,displayName)"
DEVICE_SELECT = ("id,deviceId,displayName,operatingSystem,operatingSystemVersion,accountEnabled,"
                 "approximateLastSignInDateTime,registrationDateTime,trustType")
NEVER_YEAR = 2299  # the portal's "never expires" is an end date of 2299-12-31
SECRET_AUDIT = "Update application – Certificates and secrets management"
KEY_ID = re.compile(r"KeyIdentifier=([0-9A-Fa-f-]{36})")


def iso(value: Any) -> str | None:
    t = ts(value)
    return t.isoformat() if t else None


def _obj(payload: Any, what: str) -> dict[str, Any]:
    if not isinstance(payload, dict) or not isinstance(payload.get("id"), str) or not payload["id"]:
        raise ValueError(f"{what} without id")
    return payload


def _emails(u: dict[str, Any]) -> list[str]:
    out: list[str] = []
    others = u.get("otherMails") if isinstance(u.get("otherMails"), list) else []
    for e in [u.get("mail"), u.get("userPrincipalName"), *others]:
        if isinstance(e, str) and "@" in e and e.lower() not in out and "#EXT#" not in e:
            out.append(e.lower())
    return out


# --- users ----------------------------------------------------------------------------------

def transform_user(payload: Any, source: str) -> Account:
    u = _obj(payload, "user")
    upn = u.get("userPrincipalName")
    if not isinstance(upn, str) or not upn:
        raise ValueError("user without userPrincipalName")
    emails = _emails(u)
    enabled = u.get("accountEnabled")
    return Account(
        system=SYSTEM, source=source, native_id=u["id"], login=upn,
        email=(u.get("mail") or "").lower() or (emails[0] if emails else None), kind="user",
        status="disabled" if enabled is False else "active", created_at=ts(u.get("createdDateTime")),
        attributes={"object_type": "user", "account_enabled": enabled,
                    "display_name": u.get("displayName"), "linked_emails": emails,
                    "employee_leave_at": iso(u.get("employeeLeaveDateTime")),
                    "sessions_valid_from": iso(u.get("signInSessionsValidFromDateTime")),
                    "on_premises_sam": u.get("onPremisesSamAccountName"),
                    "on_premises_immutable_id": u.get("onPremisesImmutableId"),
                    "user_type": u.get("userType")})


def transform_users(payloads: Iterable[Any], source: str) -> tuple[list[Account], int]:
    out, bad = [], 0
    for p in payloads:
        try:
            out.append(transform_user(p, source))
        except ValueError:
            bad += 1
    return out, bad


def user_to_identity(payload: Any, tenant: str, now: datetime) -> Identity:
    """An Entra user as a roster identity. HR's ``employeeLeaveDateTime`` in the past
    makes them terminated since then (whether or not the account was disabled: an enabled
    account after the leave date is exactly the residue to find); a disabled account
    without a leave date is suspended."""
    acc = transform_user(payload, f"entra:{tenant}")
    leave = ts(acc.attributes["employee_leave_at"])
    if leave and leave <= now:
        status, since = "terminated", leave
    elif acc.attributes["account_enabled"] is False:
        status, since = "suspended", None
    else:
        status, since = "active", None
    emails = acc.attributes["linked_emails"]
    return Identity(id=(acc.email or acc.login).lower(), name=acc.attributes["display_name"] or "",
                    kind="human", status=status, terminated_at=since, emails=emails[:1] + emails[1:],
                    aliases=[f"entra:{acc.login}"], sources=[f"entra:{tenant}"],
                    attributes={"entra_id": acc.native_id})


# --- applications and service principals ----------------------------------------------------------

def owners_of(payload: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for o in payload.get("owners") or []:
        if isinstance(o, dict) and o.get("id"):
            kind = str(o.get("@odata.type") or "").rsplit(".", 1)[-1] or "directoryObject"
            out.append({"id": o["id"], "type": kind, "upn": o.get("userPrincipalName"),
                        "mail": (o.get("mail") or "").lower() or None,
                        "name": o.get("displayName")})
    return out


def transform_app(payload: Any, source: str, now: datetime, tenant_id: str,
                  kind: str = "application") -> tuple[Account, list[Credential]]:
    """An application (app registration) or a service principal, and its secrets and
    certificates. Owners come from ``$expand=owners`` (at most 20: ``owners_truncated``)."""
    a = _obj(payload, kind)
    owners = owners_of(a)
    sp = kind == "servicePrincipal"
    owner_org = a.get("appOwnerOrganizationId")
    emails = [o["mail"] or (o["upn"] or "").lower() for o in owners if o["mail"] or o["upn"]]
    acc = Account(
        system=SYSTEM, source=source, native_id=a["id"], login=str(a.get("displayName") or a["id"]),
        kind="service_account" if sp else "app",
        status="disabled" if sp and a.get("accountEnabled") is False else "active",
        created_at=ts(a.get("createdDateTime")),
        attributes={"object_type": kind, "app_id": a.get("appId"), "owners": owners,
                    "owners_truncated": len(owners) >= 20, "sign_in_audience": a.get("signInAudience"),
                    "app_owner_org": owner_org, "sp_type": a.get("servicePrincipalType"),
                    "foreign": bool(sp and owner_org and owner_org != tenant_id),
                    "dedicated_rules": True,
                    # resolve links the app to its first owner (relation "owns")
                    "tags": {"owner": emails[0]} if emails else {}})
    creds = [transform_secret(p, acc, now) for p in a.get("passwordCredentials") or [] if isinstance(p, dict)]
    creds += [transform_key(k, acc, now) for k in a.get("keyCredentials") or [] if isinstance(k, dict)]
    return acc, creds


def _lifetime(start: datetime | None, end: datetime | None) -> tuple[int | None, bool]:
    if end is None:
        return None, True
    days = int((end - start).total_seconds() // 86400) if start else None
    return days, end.year >= NEVER_YEAR


def _status(end: datetime | None, now: datetime) -> str:
    return "expired" if end is not None and end <= now else "active"


def transform_secret(p: dict[str, Any], app: Account, now: datetime) -> Credential:
    key_id = str(p.get("keyId") or "")
    start, end = ts(p.get("startDateTime")), ts(p.get("endDateTime"))
    days, never = _lifetime(start, end)
    return Credential(
        system=SYSTEM, source=app.source, native_id=f"{app.native_id}:secret:{key_id}",
        kind="client_secret", holder=app.uid, name=str(p.get("displayName") or key_id),
        status=_status(end, now), created_at=start, expires_at=end,
        hint=p.get("hint") if isinstance(p.get("hint"), str) else None,
        attributes={"key_id": key_id, "app": app.login, "object_type": app.attributes["object_type"],
                    "lifetime_days": days, "never_expires": never, "last_used_unknown": True,
                    "dedicated_rules": True})


def transform_key(k: dict[str, Any], app: Account, now: datetime) -> Credential:
    key_id = str(k.get("keyId") or "")
    start, end = ts(k.get("startDateTime")), ts(k.get("endDateTime"))
    days, never = _lifetime(start, end)
    thumb = k.get("customKeyIdentifier")
    return Credential(
        system=SYSTEM, source=app.source, native_id=f"{app.native_id}:cert:{key_id}",
        kind="client_cert", holder=app.uid, name=str(k.get("displayName") or key_id),
        status=_status(end, now), created_at=start, expires_at=end,
        fingerprint=f"x5t:{thumb}" if isinstance(thumb, str) and thumb else None,
        attributes={"key_id": key_id, "app": app.login, "object_type": app.attributes["object_type"],
                    "type": k.get("type"), "usage": k.get("usage"), "lifetime_days": days,
                    "never_expires": never, "last_used_unknown": True, "dedicated_rules": True})


# --- per user (deep pass) ---------------------------------------------------------------------------

def transform_grant(p: Any, source: str, holder: str, names: dict[str, str]) -> Credential:
    """A delegated OAuth2 permission grant: the client app holds refresh tokens with
    these scopes on the user's behalf until the grant is deleted."""
    g = _obj(p, "oauth2PermissionGrant")
    client = str(g.get("clientId") or "")
    return Credential(
        system=SYSTEM, source=source, native_id=f"grant:{g['id']}", kind="oauth_grant", holder=holder,
        name=names.get(client, client), scopes=str(g.get("scope") or "").split(),
        attributes={"grant_id": g["id"], "client_id": client, "resource_id": g.get("resourceId"),
                    "resource": names.get(str(g.get("resourceId") or ""), g.get("resourceId")),
                    "consent_type": g.get("consentType"), "principal_id": g.get("principalId"),
                    "dedicated_rules": True})


def transform_app_role(p: Any, source: str, holder: str) -> Grant:
    r = _obj(p, "appRoleAssignment")
    return Grant(system=SYSTEM, source=source, principal=holder,
                 resource=make_uid(source, str(r.get("resourceId") or "")),
                 permission=str(r.get("appRoleId") or ""), via="app_role",
                 attributes={"assignment_id": r["id"], "resource_name": r.get("resourceDisplayName"),
                             "resource_id": r.get("resourceId"), "assigned_at": r.get("createdDateTime"),
                             "principal_id": r.get("principalId")})


def transform_device(p: Any, source: str, holder: str, relations: list[str]) -> Credential:
    d = _obj(p, "device")
    return Credential(
        system=SYSTEM, source=source, native_id=f"device:{d['id']}", kind="device", holder=holder,
        name=str(d.get("displayName") or d["id"]),
        status="inactive" if d.get("accountEnabled") is False else "active",
        created_at=ts(d.get("registrationDateTime")), last_used_at=ts(d.get("approximateLastSignInDateTime")),
        attributes={"device_object_id": d["id"], "device_id": d.get("deviceId"),
                    "os": " ".join(str(x) for x in (d.get("operatingSystem"), d.get("operatingSystemVersion")) if x),
                    "trust_type": d.get("trustType"), "relations": relations, "dedicated_rules": True})


def transform_sign_in(p: Any, source: str) -> Activity:
    s = _obj(p, "signIn")
    status = s.get("status") if isinstance(s.get("status"), dict) else {}
    code = status.get("errorCode")
    user = s.get("userId")
    return Activity(
        source=source, native_id=f"signin:{s['id']}", system=SYSTEM, action="signIn", category="session",
        at=ts(s.get("createdDateTime")), actor=str(s.get("userPrincipalName") or ""),
        subject_account=make_uid(source, str(user)) if user else None,
        outcome="success" if code == 0 else "failure",
        attributes={"app": s.get("appDisplayName"), "app_id": s.get("appId"), "ip": s.get("ipAddress"),
                    "error_code": code, "failure": status.get("failureReason"),
                    "interactive": s.get("isInteractive"), "client_app": s.get("clientAppUsed"),
                    "resource": s.get("resourceDisplayName")})


def transform_audit(p: Any, source: str) -> Activity:
    """A directory audit event the user initiated. For a secret or certificate added to
    an application, ``subject_credential`` names it (the key id is in the event's
    modified properties); for a consent, ``consent`` says to whom and how widely."""
    a = _obj(p, "directoryAudit")
    who = ((a.get("initiatedBy") or {}).get("user") or {}) if isinstance(a.get("initiatedBy"), dict) else {}
    targets = [t for t in a.get("targetResources") or [] if isinstance(t, dict)]
    activity = str(a.get("activityDisplayName") or "")
    cred = None
    key_ids: list[str] = []
    consent = None
    for t in targets:
        for m in t.get("modifiedProperties") or []:
            value = str((m or {}).get("newValue") or "")
            key_ids += KEY_ID.findall(value)
            if "ConsentType:" in value:
                consent = "AllPrincipals" if "AllPrincipals" in value else "Principal"
    app = next((t for t in targets if t.get("type") in ("Application", "ServicePrincipal")), None)
    if app and key_ids:
        kind = "secret" if "KeyType=Password" in str(targets) else "cert"
        cred = make_uid(source, f"{app['id']}:{kind}:{key_ids[-1]}")
    actor_id = who.get("id") if isinstance(who, dict) else None
    removal = activity.lower().startswith(("remove", "delete", "disable"))
    return Activity(
        source=source, native_id=f"audit:{a['id']}", system=SYSTEM, action=activity,
        category="removal" if removal else "use", at=ts(a.get("activityDateTime")),
        actor=str(who.get("userPrincipalName") or "") if isinstance(who, dict) else "",
        subject_account=make_uid(source, str(actor_id)) if actor_id else None,
        subject_credential=cred, outcome=str(a.get("result") or ""),
        attributes={"targets": [{"id": t.get("id"), "type": t.get("type"), "name": t.get("displayName")}
                                for t in targets],
                    "key_ids": key_ids, "consent_type": consent, "category": a.get("category")})
