"""Pure: OpenAI Admin API payloads -> records (samples: openai_*.json)."""

from __future__ import annotations

from typing import Any

from scanner.core.timeparse import timestamp as ts
from scanner.core.model import Account, Credential, Resource, make_uid
from scanner.core.secrets import Fingerprinter

SYSTEM = "openai"


def transform_user(p: Any, source: str) -> Account:
    if not isinstance(p, dict) or not p.get("id") or not p.get("email"):
        raise ValueError("OpenAI user without id or email")
    return Account(system=SYSTEM, source=source, native_id=str(p["id"]), login=str(p["email"]).lower(),
                   email=str(p["email"]).lower(), kind="user", status="active", created_at=ts(p.get("added_at")),
                   attributes={"role": p.get("role"), "display_name": p.get("name")})


def transform_project(p: Any, source: str) -> Resource:
    if not isinstance(p, dict) or not p.get("id"):
        raise ValueError("OpenAI project without id")
    return Resource(system=SYSTEM, source=source, native_id=f"project:{p['id']}", kind="project",
                    name=str(p.get("name") or p["id"]),
                    attributes={"status": p.get("status"), "archived_at": p.get("archived_at")})


def transform_service_account(p: Any, source: str, project: Resource, created_by: str | None) -> Account:
    """A project service account. Its creator is only in the audit log
    (``service_account.created``): recorded as the ``created_by`` tag, which resolve
    reads as its accountable owner."""
    if not isinstance(p, dict) or not p.get("id"):
        raise ValueError("OpenAI service account without id")
    name = str(p.get("name") or p["id"])
    return Account(system=SYSTEM, source=source, native_id=str(p["id"]), login=name, kind="service_account",
                   status="active", created_at=ts(p.get("created_at")),
                   attributes={"project": project.name, "project_id": project.native_id.split(":", 1)[1],
                               "role": p.get("role"), "tags": {"created_by": created_by} if created_by else {}})


def _key(p: Any, source: str, fp: Fingerprinter, holder: str | None, **attrs: Any) -> Credential:
    if not isinstance(p, dict) or not p.get("id"):
        raise ValueError("OpenAI key without id")
    shown = p.get("redacted_value") if isinstance(p.get("redacted_value"), str) else None
    expires = ts(p.get("expires_at"))
    name = str(p.get("name") or "")
    return Credential(system=SYSTEM, source=source, native_id=str(p["id"]), kind="api_key", holder=holder,
                      name=name, status="active", created_at=ts(p.get("created_at")),
                      last_used_at=ts(p.get("last_used_at")), expires_at=expires,
                      fingerprint=fp.redacted(shown) if shown else None, hint=shown,
                      attributes={**attrs, "never_expires": expires is None})


def transform_admin_key(p: Any, source: str, fp: Fingerprinter) -> Credential:
    """An organization admin key: held by its owner (a user, or an organization-level
    service account, which the Admin API does not list)."""
    owner = p.get("owner") if isinstance(p, dict) and isinstance(p.get("owner"), dict) else {}
    holder = make_uid(source, str(owner["id"])) if owner.get("id") else None
    return _key(p, source, fp, holder, admin=True, owner_role=owner.get("role"),
                owner_type=owner.get("type"), owner_name=owner.get("name"))


def transform_project_key(p: Any, source: str, fp: Fingerprinter, project: Resource) -> Credential:
    """A project key: held by its owner, a user or a service account."""
    owner = p.get("owner") if isinstance(p, dict) and isinstance(p.get("owner"), dict) else {}
    inner = owner.get(owner.get("type") or "") if isinstance(owner.get(owner.get("type") or ""), dict) else {}
    holder = make_uid(source, str(inner["id"])) if inner.get("id") else None
    return _key(p, source, fp, holder, project=project.name, project_id=project.native_id.split(":", 1)[1],
                owner_type=owner.get("type"), owner_project_access=p.get("owner_project_access"))


def creators(events: list[Any]) -> dict[str, str]:
    """service account id -> the e-mail of who created it (``service_account.created``)."""
    out: dict[str, str] = {}
    for e in events:
        if not isinstance(e, dict) or e.get("type") != "service_account.created":
            continue
        sid = (e.get("service_account.created") or {}).get("id")
        actor = e.get("actor") or {}
        who = (((actor.get("session") or {}).get("user") or {}) if actor.get("type") == "session"
               else ((actor.get("api_key") or {}).get("user") or {}))
        if sid and who.get("email"):
            out.setdefault(str(sid), str(who["email"]).lower())
    return out
