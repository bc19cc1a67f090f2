"""Okta's session layer (issue 20): what a leaver still holds and did after termination.

Read per leaver, in the deep pass only, when the ``okta`` block says ``sessions: true``
(GET only):
- OAuth clients the user holds a grant or refresh token for, ``/api/v1/users/{id}/clients``,
  and each one's refresh tokens, ``/clients/{clientId}/tokens`` ->
  Credential(kind="refresh_token"); her consent grants, ``/users/{id}/grants`` ->
  Credential(kind="oauth_grant") (standing access: ``plan``, not the revoker); her
  registered devices, ``/users/{id}/devices`` -> Credential(kind="device");
- the System Log of the last ``session_log_days`` for ``user.session.start``,
  ``user.authentication.sso`` and ``app.oauth2.token.grant*`` with her as the actor ->
  Activity rows (category ``session``; the rules keep those at or after her termination).

Okta has no "list a user's sessions" call: live sessions show through the refresh tokens
and the System Log. The coverage row (layer ``sessions``) says what could be read; a 403
names the missing permission and makes the check incomplete, never clean.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from collectors.okta.common import OktaError, ts
from scanner.core.model import Activity, Credential

SESSION_EVENTS = ("user.session.start", "user.authentication.sso")
GRANT_EVENT_PREFIX = "app.oauth2.token.grant"
TOKEN_STATUS = {"ACTIVE": "active", "REVOKED": "revoked"}
DEVICE_STATUS = {"ACTIVE": "active", "SUSPENDED": "inactive", "DEACTIVATED": "revoked", "CREATED": "inactive"}


def transform_refresh_token(payload: Any, source: str, holder: str, client_name: str) -> Credential:
    if not isinstance(payload, dict) or not payload.get("id"):
        raise ValueError("Okta refresh token without id")
    return Credential(system="okta", source=source, native_id=f"refresh_token:{payload['id']}",
                      kind="refresh_token", holder=holder, name=f"refresh token for {client_name}",
                      scopes=[str(s) for s in payload.get("scopes") or []],
                      status=TOKEN_STATUS.get(str(payload.get("status")), "unknown"),
                      created_at=ts(payload.get("created")), expires_at=ts(payload.get("expiresAt")),
                      attributes={"client_id": payload.get("clientId"), "client_name": client_name,
                                  "last_updated": payload.get("lastUpdated"),
                                  "issuer": payload.get("issuer"), "token_id": payload["id"]})


def transform_grant(payload: Any, source: str, holder: str) -> Credential:
    if not isinstance(payload, dict) or not payload.get("id"):
        raise ValueError("Okta grant without id")
    links = payload.get("_links") if isinstance(payload.get("_links"), dict) else {}
    scope = (links.get("scope") or {}).get("title") or payload.get("scopeId")
    client = (links.get("client") or {}).get("title") or payload.get("clientId")
    return Credential(system="okta", source=source, native_id=f"grant:{payload['id']}",
                      kind="oauth_grant", holder=holder, name=f"{client}: {scope}",
                      scopes=[str(scope)] if scope else [],
                      status="active" if payload.get("status") == "ACTIVE" else "revoked",
                      created_at=ts(payload.get("created")),
                      attributes={"client_id": payload.get("clientId"), "scope_id": payload.get("scopeId"),
                                  "grant_id": payload["id"]})


def transform_device(payload: Any, source: str, holder: str) -> Credential:
    """A ``/users/{id}/devices`` item (``{created, deviceUserId, device{...}}``)."""
    device = payload.get("device") if isinstance(payload, dict) else None
    if not isinstance(device, dict) or not device.get("id"):
        raise ValueError("Okta device without id")
    profile = device.get("profile") if isinstance(device.get("profile"), dict) else {}
    return Credential(system="okta", source=source, native_id=f"device:{device['id']}",
                      kind="device", holder=holder,
                      name=f"{profile.get('displayName') or device['id']} ({profile.get('platform') or '?'})",
                      status=DEVICE_STATUS.get(str(device.get("status")), "unknown"),
                      created_at=ts(payload.get("created") or device.get("created")),
                      attributes={"platform": profile.get("platform"), "registered": profile.get("registered"),
                                  "device_id": device["id"]})


def transform_session_event(payload: Any, source: str, account: str) -> Activity:
    """A session LogEvent -> Activity; its uuid is the event id the evidence names."""
    if not isinstance(payload, dict) or not payload.get("uuid") or not payload.get("eventType"):
        raise ValueError("Okta log event without uuid")
    ctx = payload.get("authenticationContext") if isinstance(payload.get("authenticationContext"), dict) else {}
    client = payload.get("client") if isinstance(payload.get("client"), dict) else {}
    targets = [t for t in payload.get("target") or [] if isinstance(t, dict)]
    app = next((t.get("displayName") for t in targets if t.get("type") == "AppInstance"), None)
    token = next((t.get("id") for t in targets if t.get("type") == "refresh_token"), None)
    actor = payload.get("actor") if isinstance(payload.get("actor"), dict) else {}
    return Activity(source=source, native_id=str(payload["uuid"]), system="okta",
                    action=str(payload["eventType"]), category="session", at=ts(payload.get("published")),
                    actor=str(actor.get("alternateId") or actor.get("id") or ""), subject_account=account,
                    subject_credential=f"{source}|refresh_token:{token}" if token else None,
                    outcome=str((payload.get("outcome") or {}).get("result") or "").lower(),
                    attributes={"session_id": ctx.get("externalSessionId"), "ip": client.get("ipAddress"),
                                "app": app, "client_id": client.get("id")})


def session_filter(user_id: str) -> str:
    """The System Log filter for one user's session events (``and`` binds tighter)."""
    who = f'actor.id eq "{user_id}"'
    parts = [f'eventType eq "{e}" and {who}' for e in SESSION_EVENTS]
    parts.append(f'eventType sw "{GRANT_EVENT_PREFIX}" and {who}')
    return " or ".join(parts)


def collect_sessions(collector: Any, client: Any, sink: Any, wanted: list[str]) -> None:
    """The session layer of the accounts in ``wanted`` (uids), one coverage row."""
    source = collector.source
    prefix = source + "|"
    days = int(collector.config.get("session_log_days") or 90)
    since = (collector.ctx.now - timedelta(days=days)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    with collector.target(sink, f"{collector.domain}/sessions", layer="sessions") as run:
        counts = {"refresh_tokens": 0, "grants": 0, "devices": 0, "events": 0}
        for uid in wanted:
            user_id = uid[len(prefix):]
            try:
                for c in client.pages(f"/api/v1/users/{user_id}/clients", {"limit": 200}):
                    cid = c.get("client_id") if isinstance(c, dict) else None
                    if not cid:
                        run.partial("a malformed OAuth client was skipped")
                        continue
                    for t in client.pages(f"/api/v1/users/{user_id}/clients/{cid}/tokens", {"limit": 200}):
                        sink.emit(transform_refresh_token(t, source, uid, str(c.get("client_name") or cid)))
                        counts["refresh_tokens"] += 1
                for g in client.pages(f"/api/v1/users/{user_id}/grants", {"limit": 200}):
                    sink.emit(transform_grant(g, source, uid))
                    counts["grants"] += 1
                for d in client.json(f"/api/v1/users/{user_id}/devices") or []:
                    sink.emit(transform_device(d, source, uid))
                    counts["devices"] += 1
                for e in client.pages("/api/v1/logs", {"filter": session_filter(user_id), "since": since,
                                                       "limit": 1000, "until": collector.ctx.now.strftime(
                                                           "%Y-%m-%dT%H:%M:%S.000Z")}):
                    sink.emit(transform_session_event(e, source, uid))
                    counts["events"] += 1
            except ValueError as exc:
                run.partial(f"{user_id}: {exc}")
            except OktaError as exc:
                if exc.status in (403, 404):
                    run.partial(f"sessions of {user_id}: {exc} (needs okta.users.read and okta.logs.read)")
                    continue
                raise
        run.attributes.update({"accounts": len(wanted), **counts})
