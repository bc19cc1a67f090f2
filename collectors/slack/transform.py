"""Slack payloads -> records (pure; unit-tested on ../shared/reference/api-samples/slack/).

- ``admin.users.list`` (Enterprise Grid) and ``users.list`` members -> Account. A Slack
  user removed from the org is ``deleted`` (``is_active: false`` / ``deleted: true``):
  she cannot sign in again, but the sessions she already had are not ended by that;
- ``admin.users.session.list`` ``active_sessions`` -> Credential(kind="session"): Slack
  gives no creation time, only the device and IP it was created from (and ``recent``,
  where it was used last);
- ``team.accessLogs`` logins -> Activity(category="session", action="login"): one row per
  (user, IP, user agent) with its last time, which is what Slack keeps.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any

from scanner.core.model import Account, Activity, Credential, make_uid

SYSTEM = "slack"


def epoch(value: Any) -> datetime | None:
    """Slack's epoch seconds (an int, or a string of one) as UTC; None when absent or 0."""
    try:
        n = int(float(value))
    except (TypeError, ValueError):
        return None
    return datetime.fromtimestamp(n, UTC) if n > 0 else None


def transform_admin_user(payload: Any, source: str) -> Account:
    """One ``admin.users.list`` item. Raises ValueError without an id."""
    if not isinstance(payload, dict) or not payload.get("id"):
        raise ValueError("Slack user without id")
    active = payload.get("is_active", True) is not False
    email = str(payload.get("email") or "").lower() or None
    kind = "bot" if payload.get("is_bot") else "user"
    return Account(system=SYSTEM, source=source, native_id=str(payload["id"]),
                   login=str(payload.get("username") or email or payload["id"]), email=email,
                   kind=kind, status="active" if active else "deleted",
                   created_at=epoch(payload.get("date_created")),
                   last_seen_at=epoch(payload.get("last_active_ts")),
                   attributes={"workspaces": [str(w) for w in payload.get("workspaces") or []],
                               "is_admin": bool(payload.get("is_admin")),
                               "is_owner": bool(payload.get("is_owner")),
                               "has_sso": payload.get("has_sso"),
                               "display_name": str(payload.get("full_name") or "")})


def transform_member(payload: Any, source: str) -> Account:
    """One ``users.list`` member (a workspace's view, without Grid admin fields)."""
    if not isinstance(payload, dict) or not payload.get("id"):
        raise ValueError("Slack member without id")
    profile = payload.get("profile") if isinstance(payload.get("profile"), dict) else {}
    email = str(profile.get("email") or "").lower() or None
    return Account(system=SYSTEM, source=source, native_id=str(payload["id"]),
                   login=str(payload.get("name") or email or payload["id"]), email=email,
                   kind="bot" if payload.get("is_bot") else "user",
                   status="deleted" if payload.get("deleted") else "active",
                   attributes={"workspaces": [str(payload.get("team_id") or "")],
                               "is_admin": bool(payload.get("is_admin")),
                               "display_name": str(payload.get("real_name") or "")})


def transform_session(payload: Any, source: str) -> Credential:
    """One ``active_sessions`` item -> a live session credential of its user."""
    if not isinstance(payload, dict) or not payload.get("session_id") or not payload.get("user_id"):
        raise ValueError("Slack session without session_id or user_id")
    created = payload.get("created") if isinstance(payload.get("created"), dict) else {}
    recent = payload.get("recent") if isinstance(payload.get("recent"), dict) else {}
    device = " ".join(str(x) for x in (created.get("device_hardware"), created.get("os")) if x)
    return Credential(system=SYSTEM, source=source, native_id=f"session:{payload['session_id']}",
                      kind="session", holder=make_uid(source, str(payload["user_id"])),
                      name=f"Slack session on {device or 'an unknown device'}", status="active",
                      attributes={"team_id": payload.get("team_id"), "device": device,
                                  "client_version": created.get("slack_client_version"),
                                  "created_ip": created.get("ip"), "recent_ip": recent.get("ip"),
                                  "session_id": payload["session_id"]})


def transform_login(payload: Any, source: str, team_id: str) -> Activity:
    """One ``team.accessLogs`` login. Its id is derived (Slack gives none): the same
    (user, IP, user agent, last time) read twice is one row."""
    if not isinstance(payload, dict) or not payload.get("user_id"):
        raise ValueError("Slack access log entry without user_id")
    last = epoch(payload.get("date_last"))
    if last is None:
        raise ValueError("Slack access log entry without date_last")
    key = "|".join(str(payload.get(k) or "") for k in ("user_id", "ip", "user_agent", "date_last"))
    return Activity(source=source, native_id=f"accesslog:{team_id}:{hashlib.sha256(key.encode()).hexdigest()[:20]}",
                    system=SYSTEM, action="login", category="session", at=last,
                    actor=str(payload.get("username") or payload["user_id"]),
                    subject_account=make_uid(source, str(payload["user_id"])), outcome="success",
                    attributes={"team_id": team_id, "ip": payload.get("ip"),
                                "user_agent": str(payload.get("user_agent") or "")[:200],
                                "count": payload.get("count"), "first_at": payload.get("date_first"),
                                "country": payload.get("country")})
