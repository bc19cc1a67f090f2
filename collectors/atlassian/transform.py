"""Pure: Atlassian admin API payloads -> records (samples: atlassian_*.json)."""

from __future__ import annotations

from typing import Any

from scanner.core.timeparse import timestamp as ts
from scanner.core.model import Account, Credential, make_uid

SYSTEM = "atlassian"
ACCOUNT_STATUS = {"active": "active", "inactive": "disabled", "closed": "deleted"}
TOKEN_STATUS = {"ALLOWED": "active", "BLOCKED": "inactive", "DISABLED": "inactive", "EXPIRED": "expired"}


def transform_user(p: Any, source: str) -> Account:
    if not isinstance(p, dict) or not p.get("account_id"):
        raise ValueError("Atlassian user without account_id")
    email = str(p.get("email") or "").lower() or None
    return Account(system=SYSTEM, source=source, native_id=str(p["account_id"]), login=email or str(p["account_id"]),
                   email=email, kind="app" if p.get("account_type") == "app" else "user",
                   status=ACCOUNT_STATUS.get(str(p.get("account_status")), "active"),
                   last_seen_at=ts(p.get("last_active")),
                   attributes={"account_status": p.get("account_status"), "account_type": p.get("account_type"),
                               "display_name": p.get("name"), "billable": p.get("access_billable")})


def transform_token(p: Any, source: str) -> Credential:
    """An API token, held by the user who made it. Atlassian returns no part of a token's
    value, so an exposure cannot be tied to it by a hint (docs/permissions/atlassian.md)."""
    if not isinstance(p, dict) or not p.get("id"):
        raise ValueError("Atlassian token without id")
    user = p.get("user") if isinstance(p.get("user"), dict) else {}
    label = str(p.get("label") or "")
    return Credential(system=SYSTEM, source=source, native_id=str(p["id"]), kind="api_key",
                      holder=make_uid(source, str(user["id"])) if user.get("id") else None, name=label,
                      status=TOKEN_STATUS.get(str(p.get("status")), "unknown"),
                      created_at=ts(p.get("createdAt")), last_used_at=ts(p.get("lastActiveAt")),
                      expires_at=ts(p.get("expiresAt")),
                      attributes={"user_email": user.get("email"), "atlassian_status": p.get("status")})
