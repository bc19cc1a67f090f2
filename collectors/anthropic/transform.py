"""Pure: Anthropic Admin API payloads -> records (samples: anthropic_*.json)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from scanner.core.timeparse import timestamp as ts
from scanner.core.model import Account, Credential, Grant, Resource, make_uid
from scanner.core.secrets import Fingerprinter

SYSTEM = "anthropic"
# key status -> Credential.status: an inactive key can be re-activated, an archived one not
STATUS = {"active": "active", "inactive": "inactive", "archived": "revoked", "expired": "expired"}


def transform_user(p: Any, source: str) -> Account:
    if not isinstance(p, dict) or not p.get("id") or not p.get("email"):
        raise ValueError("Anthropic user without id or email")
    return Account(system=SYSTEM, source=source, native_id=str(p["id"]), login=str(p["email"]).lower(),
                   email=str(p["email"]).lower(), kind="user", status="active", created_at=ts(p.get("added_at")),
                   attributes={"role": p.get("role"), "display_name": p.get("name")})


def transform_key(p: Any, source: str, fp: Fingerprinter, last_used: datetime | None,
                  usage_window_days: int) -> Credential:
    """An API key, held by its creator (``created_by``). The API has no last-use field:
    ``last_used`` comes from the usage report (the newest day with usage within
    ``usage_window_days``); a key without usage there is recorded as such."""
    if not isinstance(p, dict) or not p.get("id"):
        raise ValueError("Anthropic key without id")
    creator = p.get("created_by") if isinstance(p.get("created_by"), dict) else {}
    holder = make_uid(source, str(creator["id"])) if creator.get("type") == "user" and creator.get("id") else None
    shown = p.get("partial_key_hint") if isinstance(p.get("partial_key_hint"), str) else None
    name = str(p.get("name") or "")
    return Credential(system=SYSTEM, source=source, native_id=str(p["id"]), kind="api_key", holder=holder,
                      name=name, status=STATUS.get(str(p.get("status")), "unknown"),
                      created_at=ts(p.get("created_at")), last_used_at=last_used,
                      expires_at=ts(p.get("expires_at")),
                      fingerprint=fp.redacted(shown) if shown else None, hint=shown,
                      attributes={"workspace_id": p.get("workspace_id"), "anthropic_status": p.get("status"),
                                  "created_by": creator.get("id"), "usage_window_days": usage_window_days,
                                  "last_used_from": "usage report" if last_used else None})


def transform_workspace(p: Any, source: str) -> Resource:
    if not isinstance(p, dict) or not p.get("id"):
        raise ValueError("Anthropic workspace without id")
    return Resource(system=SYSTEM, source=source, native_id=f"workspace:{p['id']}", kind="workspace",
                    name=str(p.get("name") or p["id"]), attributes={"archived_at": p.get("archived_at")})


def transform_member(p: Any, source: str, ws: Resource) -> Grant:
    if not isinstance(p, dict) or not p.get("user_id"):
        raise ValueError("Anthropic workspace member without user_id")
    return Grant(system=SYSTEM, source=source, principal=make_uid(source, str(p["user_id"])), resource=ws.uid,
                 permission=str(p.get("workspace_role") or "member"), via="membership",
                 attributes={"workspace": ws.name})


def last_use(buckets: list[Any]) -> dict[str, datetime]:
    """api_key_id -> the start of the newest daily bucket in which it was used."""
    out: dict[str, datetime] = {}
    for b in buckets:
        if not isinstance(b, dict):
            continue
        day = ts(b.get("starting_at"))
        for r in b.get("results") or []:
            kid = r.get("api_key_id") if isinstance(r, dict) else None
            used = isinstance(r, dict) and (r.get("uncached_input_tokens") or r.get("output_tokens")
                                            or r.get("cache_read_input_tokens"))
            if kid and used and day and (kid not in out or day > out[kid]):
                out[kid] = day
    return out
