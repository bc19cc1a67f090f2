"""Pure transforms: Admin SDK Directory and Reports payloads -> records.

Shapes: ``../shared/reference/api-samples/google-workspace/`` (User, Token, Asp,
MobileDevice, ChromeOsDevice, Activity). Every function takes a payload and returns
records, raising ValueError on a payload it cannot read (the collector counts those).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Iterable

from scanner.core.model import Account, Activity, Credential, Identity, make_uid
from scanner.core.timeparse import timestamp as ts  # the one lenient payload-time parser

SYSTEM = "google_workspace"
NEVER_SIGNED_IN = datetime(1970, 1, 1, tzinfo=UTC)  # Google's lastLoginTime for "never"


def ms(value: Any) -> datetime | None:
    """Epoch milliseconds (ASPs send them as strings); None if absent or unreadable."""
    try:
        n = int(value)
    except (TypeError, ValueError):
        return None
    return datetime.fromtimestamp(n / 1000, UTC) if n > 0 else None


def account_status(u: dict[str, Any]) -> str:
    if u.get("deletionTime"):
        return "deleted"
    if u.get("suspended"):
        return "suspended"
    if u.get("archived"):
        return "disabled"  # an archived user cannot sign in; the licence is kept
    return "active"


def transform_user(u: Any, source: str) -> Account:
    """A Directory User -> Account (native id: the immutable user id)."""
    if not isinstance(u, dict) or not u.get("id") or not u.get("primaryEmail"):
        raise ValueError("Directory user without id or primaryEmail")
    email = str(u["primaryEmail"]).lower()
    aliases = [str(a).lower() for a in u.get("aliases") or [] if isinstance(a, str)]
    emails = [str(e.get("address")).lower() for e in u.get("emails") or []
              if isinstance(e, dict) and e.get("address")]
    last = ts(u.get("lastLoginTime"))
    name = u.get("name") if isinstance(u.get("name"), dict) else {}
    return Account(
        system=SYSTEM, source=source, native_id=str(u["id"]), login=email, email=email,
        kind="user", status=account_status(u), created_at=ts(u.get("creationTime")),
        last_seen_at=None if last is None or last <= NEVER_SIGNED_IN else last,
        attributes={"suspended": bool(u.get("suspended")), "archived": bool(u.get("archived")),
                    "suspension_reason": u.get("suspensionReason"),
                    "is_admin": bool(u.get("isAdmin")), "is_delegated_admin": bool(u.get("isDelegatedAdmin")),
                    "aliases": aliases,
                    "linked_emails": list(dict.fromkeys([email, *aliases, *emails])),
                    "org_unit": u.get("orgUnitPath"), "two_step": u.get("isEnrolledIn2Sv"),
                    "display_name": name.get("fullName") or "", "customer_id": u.get("customerId"),
                    "never_signed_in": last is not None and last <= NEVER_SIGNED_IN})


def transform_users(payloads: Iterable[Any], source: str) -> tuple[list[Account], int]:
    out, bad = [], 0
    for p in payloads:
        try:
            out.append(transform_user(p, source))
        except ValueError:
            bad += 1
    return out, bad


def grant_id(user_id: str, client_id: str) -> str:
    return f"oauth:{user_id}:{client_id}"


def transform_token(t: Any, source: str, account: Account) -> Credential:
    """An OAuth grant a user gave an app (tokens.list) -> Credential(kind="oauth_grant").
    Google keeps a suspended user's grants and they work again on reactivation."""
    if not isinstance(t, dict) or not t.get("clientId"):
        raise ValueError("token without clientId")
    scopes = [str(s) for s in t.get("scopes") or [] if isinstance(s, str)]
    return Credential(
        system=SYSTEM, source=source, native_id=grant_id(account.native_id, str(t["clientId"])),
        kind="oauth_grant", holder=account.uid, name=str(t.get("displayText") or t["clientId"]),
        scopes=scopes, status="active",
        attributes={"client_id": t["clientId"], "native_app": bool(t.get("nativeApp")),
                    "anonymous": bool(t.get("anonymous")), "user_key": account.native_id,
                    "user": account.login, "deep": True, "last_used_unknown": True})


def transform_asp(a: Any, source: str, account: Account) -> Credential:
    """An app-specific password (asps.list) -> Credential(kind="app_password")."""
    if not isinstance(a, dict) or a.get("codeId") in (None, ""):
        raise ValueError("app-specific password without codeId")
    return Credential(
        system=SYSTEM, source=source, native_id=f"asp:{account.native_id}:{a['codeId']}",
        kind="app_password", holder=account.uid, name=str(a.get("name") or f"ASP {a['codeId']}"),
        status="active", created_at=ms(a.get("creationTime")), last_used_at=ms(a.get("lastTimeUsed")),
        attributes={"code_id": a["codeId"], "user_key": account.native_id, "user": account.login,
                    "deep": True})


def transform_mobile(d: Any, source: str, account: Account) -> Credential:
    """A mobile device syncing the user's mail and data -> Credential(kind="device")."""
    if not isinstance(d, dict) or not d.get("resourceId"):
        raise ValueError("mobile device without resourceId")
    return Credential(
        system=SYSTEM, source=source, native_id=f"mobile:{d['resourceId']}", kind="device",
        holder=account.uid, name=" ".join(str(x) for x in (d.get("model"), d.get("os")) if x) or "mobile device",
        status="active" if d.get("status") in (None, "APPROVED") else "inactive",
        created_at=ts(d.get("firstSync")), last_used_at=ts(d.get("lastSync")),
        attributes={"device": "mobile", "resource_id": d["resourceId"], "device_id": d.get("deviceId"),
                    "type": d.get("type"), "device_status": d.get("status"), "user": account.login,
                    "deep": True})


def transform_chromeos(d: Any, source: str, account: Account) -> Credential:
    """A ChromeOS device the user signs in to -> Credential(kind="device")."""
    if not isinstance(d, dict) or not d.get("deviceId"):
        raise ValueError("ChromeOS device without deviceId")
    return Credential(
        system=SYSTEM, source=source, native_id=f"chromeos:{d['deviceId']}", kind="device",
        holder=account.uid, name=str(d.get("model") or "Chromebook"),
        status="active" if d.get("status") in (None, "ACTIVE", "PROVISIONED") else "inactive",
        created_at=ts(d.get("lastEnrollmentTime")), last_used_at=ts(d.get("lastSync")),
        attributes={"device": "chromeos", "device_id": d["deviceId"], "serial": d.get("serialNumber"),
                    "annotated_user": d.get("annotatedUser"), "device_status": d.get("status"),
                    "user": account.login, "deep": True})


def _params(event: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for p in event.get("parameters") or []:
        if isinstance(p, dict) and p.get("name"):
            for k in ("value", "intValue", "boolValue", "multiValue"):
                if k in p:
                    out[str(p["name"])] = p[k]
                    break
    return out


def transform_activity(a: Any, source: str, account: Account) -> list[Activity]:
    """A Reports Activity (``login`` or ``token``) -> one Activity per event in it.
    A token ``authorize`` event points at the grant it (re)created, by client id."""
    if not isinstance(a, dict) or not isinstance(a.get("id"), dict) or not a["id"].get("time"):
        raise ValueError("activity without id.time")
    ident = a["id"]
    app = str(ident.get("applicationName") or "")
    at = ts(ident["time"])
    if at is None:
        raise ValueError("activity with an unreadable time")
    actor = a.get("actor") if isinstance(a.get("actor"), dict) else {}
    out = []
    for n, e in enumerate(x for x in a.get("events") or [] if isinstance(x, dict)):
        params = _params(e)
        name = str(e.get("name") or "")
        client = params.get("client_id")
        out.append(Activity(
            source=source, native_id=f"{app}:{ident.get('uniqueQualifier')}:{ident['time']}:{n}",
            system=SYSTEM, action=name, category="session" if app == "login" else "use", at=at,
            actor=str(actor.get("email") or ""), subject_account=account.uid,
            subject_credential=make_uid(source, grant_id(account.native_id, str(client)))
            if app == "token" and client else None,
            outcome="failure" if name == "login_failure" else "success",
            attributes={"application": app, "event_id": ident.get("uniqueQualifier"),
                        "ip": a.get("ipAddress"), "login_type": params.get("login_type"),
                        "client_id": client, "app_name": params.get("app_name"),
                        "scopes": params.get("scope") if isinstance(params.get("scope"), list) else None}))
    return out


def user_to_identity(u: Any, customer: str) -> Identity:
    """A Directory user as a roster identity: suspended or archived = suspended (Google
    does not say when; the admin log does, and the HR roster usually knows)."""
    acc = transform_user(u, f"{SYSTEM}:{customer}")
    status = {"suspended": "suspended", "disabled": "suspended", "deleted": "terminated"}.get(acc.status, "active")
    # the primary address merges it with the other sources; the aliases stay handles of this
    # system (another source's lookups by e-mail are not widened by every alias)
    return Identity(id=acc.email or acc.login, name=acc.attributes["display_name"], kind="human",
                    status=status, terminated_at=ts(u.get("deletionTime")) if status == "terminated" else None,
                    emails=[acc.email or acc.login],
                    aliases=[f"{SYSTEM}:{e}" for e in acc.attributes["linked_emails"]],
                    sources=[f"{SYSTEM}:{customer}"],
                    attributes={"google_user_id": acc.native_id, "google_status": acc.status})
