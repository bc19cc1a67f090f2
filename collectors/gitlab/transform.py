"""GitLab: pure transforms, payload -> records, and the audit-event index. No I/O: each
function takes what the REST API returned and gives the records to load."""

from __future__ import annotations

import dataclasses
import json
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


from scanner.core.fingerprints import ssh_fingerprint
from scanner.core.model import Account, Credential, Exposure, Grant, Resource, make_uid
from scanner.core.secrets import SecretScanner
from scanner.core.timeparse import parse_time


SYSTEM = "gitlab"

STATES = {"active": "active", "blocked": "blocked", "ldap_blocked": "blocked",
          "banned": "blocked", "blocked_pending_approval": "pending", "deactivated": "disabled"}

INTERNAL_BOTS = {"ghost", "alert-bot", "support-bot", "visual-review-bot", "gitlab-admin-bot",
                 "gitlab-security-bot", "gitlab-automation-bot", "gitlab-llm-bot"}

# detect-secrets plugins that say "this looks like a secret" without saying which kind:
# a CI variable is a secret by definition, so only the typed detectors add information.
GENERIC_DETECTORS = {"Base64 High Entropy String", "Hex High Entropy String", "Secret Keyword"}

BOT_USERNAME = re.compile(r"^(project|group)_\d+_bot(_[0-9a-f]+)?$")

ACCESS_LEVELS = {5: "minimal_access", 10: "guest", 15: "planner", 20: "reporter",
                 30: "developer", 40: "maintainer", 50: "owner", 60: "admin"}

# --- pure transforms: payload -> records ------------------------------------------


def level_name(level: Any) -> str:
    return ACCESS_LEVELS.get(level, str(level)) if isinstance(level, int) else str(level)


def account_kind(username: str) -> str:
    if BOT_USERNAME.match(username) or username in INTERNAL_BOTS:
        return "bot"
    if username.startswith("service_account"):
        return "service_account"
    return "user"


def _emails_from_identities(identities: Any) -> list[str]:
    out = []
    for ident in identities or []:
        uid = (ident or {}).get("extern_uid") or ""
        if isinstance(uid, str) and "@" in uid and uid not in out:
            out.append(uid)
    return out


def transform_user(u: dict[str, Any], source: str) -> Account:
    """A user from ``/users`` (admin: with e-mail and identities) or from a member list."""
    username = u["username"]
    seen = [t for t in (parse_time(u.get("last_activity_on")), parse_time(u.get("last_sign_in_at")),
                        parse_time(u.get("current_sign_in_at"))) if t]
    identities = list(u.get("identities") or [])
    saml = u.get("group_saml_identity")
    if saml:
        identities.append(saml)
    email = u.get("email") or u.get("public_email") or None
    if email and "noreply" in email:
        email = None
    state = u.get("state") or "active"
    attrs: dict[str, Any] = {"state": state, "user_id": u["id"]}
    if "is_admin" in u:
        attrs["is_admin"] = bool(u.get("is_admin"))
    if identities:
        attrs["identities"] = [{"provider": i.get("provider"), "extern_uid": i.get("extern_uid")}
                               for i in identities]
    linked = _emails_from_identities(identities)
    if linked:
        attrs["linked_emails"] = linked
    if username in INTERNAL_BOTS:
        attrs["system_managed"] = True
    return Account(system=SYSTEM, source=source, native_id=username, login=username,
                   email=email, kind=account_kind(username),
                   status=STATES.get(state, "active"),  # unknown state: assume it can sign in
                   created_at=parse_time(u.get("created_at")),
                   last_seen_at=max(seen) if seen else None, attributes=attrs)


def transform_namespace(g: dict[str, Any], source: str) -> Resource:
    return Resource(system=SYSTEM, source=source, native_id=f"group:{g['full_path']}",
                    kind="group", name=g["full_path"], updated_at=parse_time(g.get("created_at")),
                    attributes={"id": g["id"], "parent_id": g.get("parent_id"),
                                "visibility": g.get("visibility"), "web_url": g.get("web_url")})


def transform_project(p: dict[str, Any], source: str) -> Resource:
    ns = p.get("namespace") or {}
    return Resource(system=SYSTEM, source=source, native_id=f"project:{p['path_with_namespace']}",
                    kind="project", name=p["path_with_namespace"],
                    updated_at=parse_time(p.get("last_activity_at") or p.get("updated_at")),
                    attributes={"id": p["id"], "namespace": ns.get("full_path"),
                                "namespace_kind": ns.get("kind"),
                                "visibility": p.get("visibility"), "archived": p.get("archived"),
                                "web_url": p.get("web_url")})


def transform_member(m: dict[str, Any], resource_uid: str, source: str, via: str) -> Grant:
    return Grant(system=SYSTEM, source=source, principal=make_uid(source, m["username"]),
                 resource=resource_uid, permission=level_name(m["access_level"]), via=via,
                 attributes={"access_level": m["access_level"], "expires_at": m.get("expires_at"),
                             "member_state": m.get("state")})


def transform_invitation(i: dict[str, Any], place_uid: str, place_path: str, source: str) -> Account:
    """A pending invitation: an account that exists only as an e-mail until accepted."""
    email = i["invite_email"]
    return Account(system=SYSTEM, source=source, native_id=f"invitation:{place_path}:{email}",
                   login=email, email=email, kind="user", status="pending",
                   created_at=parse_time(i.get("created_at")),
                   attributes={"invited_to": place_uid, "access_level": level_name(i.get("access_level")),
                               "inviter": i.get("created_by_name"), "expires_at": i.get("expires_at"),
                               "invitation_id": i.get("id")})


def token_status(t: dict[str, Any], now: datetime) -> str:
    if t.get("revoked"):
        return "revoked"
    expires = parse_time(t.get("expires_at"))
    if t.get("expired") or (expires and expires <= now):
        return "expired"
    if t.get("active") is False:
        return "inactive"
    return "active"


def transform_token(t: dict[str, Any], source: str, holder: str | None, now: datetime,
                    token_type: str = "personal_access_token", parent: str | None = None,
                    added_by: str | None = None) -> Credential:
    """A personal, impersonation, project or group access token (one GitLab table, so one
    native id space: ``pat:<id>``)."""
    attrs: dict[str, Any] = {"token_type": token_type, "user_id": t.get("user_id")}
    if t.get("expires_at") is None:
        attrs["never_expires"] = True
    if parent:
        attrs["parent"] = parent
    if "access_level" in t:
        attrs["access_level"] = level_name(t["access_level"])
    if added_by:
        attrs["added_by"] = added_by
    if token_type == "impersonation_token" or t.get("impersonation"):
        attrs["impersonation"] = True
    return Credential(system=SYSTEM, source=source, native_id=f"pat:{t['id']}", kind="pat",
                      holder=holder, name=t.get("name") or "", scopes=list(t.get("scopes") or []),
                      status=token_status(t, now), created_at=parse_time(t.get("created_at")),
                      last_used_at=parse_time(t.get("last_used_at")),
                      expires_at=parse_time(t.get("expires_at")), attributes=attrs)


def transform_ssh_key(k: dict[str, Any], source: str, holder: str, now: datetime) -> Credential:
    expires = parse_time(k.get("expires_at"))
    attrs: dict[str, Any] = {"usage_type": k.get("usage_type"), "deep": True}
    if expires is None:
        attrs["never_expires"] = True
    return Credential(system=SYSTEM, source=source, native_id=f"ssh_key:{k['id']}", kind="ssh_key",
                      holder=holder, name=k.get("title") or "",
                      status="expired" if expires and expires <= now else "active",
                      created_at=parse_time(k.get("created_at")), expires_at=expires,
                      fingerprint=ssh_fingerprint(k.get("key") or ""), attributes=attrs)


def transform_deploy_key(k: dict[str, Any], project_uid: str, project_path: str, source: str,
                         now: datetime, added_by: str | None = None) -> Credential:
    """A project's deploy key. GitLab does not say who added it; audit events may
    (``added_by``), and then the adder is the holder: they made the private half."""
    expires = parse_time(k.get("expires_at"))
    return Credential(system=SYSTEM, source=source,
                      native_id=f"{project_path}:deploy_key:{k['id']}", kind="deploy_key",
                      holder=make_uid(source, added_by) if added_by else None,
                      name=k.get("title") or "",
                      status="expired" if expires and expires <= now else "active",
                      created_at=parse_time(k.get("created_at")), expires_at=expires,
                      fingerprint=k.get("fingerprint_sha256") or ssh_fingerprint(k.get("key") or ""),
                      attributes={"read_only": not k.get("can_push", False), "added_by": added_by,
                                  "parent": project_uid, "repo": project_path, "key_id": k["id"]})


def transform_deploy_token(t: dict[str, Any], parent_uid: str, source: str, now: datetime,
                           added_by: str | None = None) -> Credential:
    attrs: dict[str, Any] = {"username": t.get("username"), "parent": parent_uid,
                             "added_by": added_by}
    if t.get("expires_at") is None:
        attrs["never_expires"] = True
    return Credential(system=SYSTEM, source=source, native_id=f"deploy_token:{t['id']}",
                      kind="deploy_token", holder=None, name=t.get("name") or "",
                      scopes=list(t.get("scopes") or []), status=token_status(t, now),
                      expires_at=parse_time(t.get("expires_at")), attributes=attrs)


def transform_variable(v: dict[str, Any], parent_uid: str, parent_path: str, source: str,
                       scanner: SecretScanner, updated_at: datetime | None
                       ) -> tuple[Resource, list[Exposure]]:
    """A CI/CD variable: flags and a keyed fingerprint of the value (never the value);
    an Exposure per known credential format found in it."""
    key = v["key"]
    scope = v.get("environment_scope") or "*"
    location = f"{parent_path} CI/CD variable {key}" + ("" if scope == "*" else f" ({scope})")
    attrs: dict[str, Any] = {
        "parent": parent_uid, "masked": v.get("masked"), "protected": v.get("protected"),
        "hidden": v.get("hidden"), "raw": v.get("raw"), "variable_type": v.get("variable_type"),
        "environment_scope": scope,
        "rotation": "audit_events" if updated_at else "unknown",
    }
    exposures: list[Exposure] = []
    value = v.get("value")
    if isinstance(value, str) and value:
        attrs["value_fingerprint"] = scanner.fp.fingerprint(value)
        for hit in scanner.scan_text(value):
            if hit.detector in GENERIC_DETECTORS:
                continue
            exposures.append(Exposure(system=SYSTEM, source=source, detector=hit.detector,
                                      fingerprint=hit.fingerprint, hint=hit.hint,
                                      location=location, identifier=hit.identifier,
                                      context="ci_variable",
                                      attributes={"parent": parent_uid, "variable": key}))
        del value
    native = f"{parent_path}:variable:{key}:{scope}"
    return (Resource(system=SYSTEM, source=source, native_id=native, kind="ci_variable", name=key,
                     updated_at=updated_at, attributes=attrs), exposures)


def transform_schedule(s: dict[str, Any], project_uid: str, project_path: str, source: str
                       ) -> tuple[Resource, Grant | None]:
    """A pipeline schedule runs as its owner: the owner's Grant on it is what rules follow."""
    owner = s.get("owner") or {}
    res = Resource(system=SYSTEM, source=source, native_id=f"{project_path}:schedule:{s['id']}",
                   kind="pipeline_schedule", name=s.get("description") or str(s["id"]),
                   updated_at=parse_time(s.get("updated_at")),
                   attributes={"parent": project_uid, "owner": owner.get("username"),
                               "owner_state": owner.get("state"), "active": bool(s.get("active")),
                               "cron": s.get("cron"), "ref": s.get("ref"),
                               "next_run_at": s.get("next_run_at")})
    grant = None
    if owner.get("username"):
        grant = Grant(system=SYSTEM, source=source, principal=make_uid(source, owner["username"]),
                      resource=res.uid, permission="owner", via="direct",
                      attributes={"runs_as": True})
    return res, grant


def transform_runner(r: dict[str, Any], source: str) -> Resource:
    return Resource(system=SYSTEM, source=source, native_id=f"runner:{r['id']}", kind="runner",
                    name=r.get("description") or r.get("name") or str(r["id"]),
                    updated_at=parse_time(r.get("contacted_at")),
                    attributes={"runner_type": r.get("runner_type"), "is_shared": r.get("is_shared"),
                                "active": r.get("active"), "paused": r.get("paused"),
                                "status": r.get("status"), "online": r.get("online"),
                                "contacted_at": r.get("contacted_at")})


def check_record(record: Any) -> Any:
    """Raise ValueError unless every field holds the type the inventory stores (a
    payload with, say, a number where GitLab sends a string must be skipped here, not
    break the batch write of every record around it)."""
    for f in dataclasses.fields(record):
        value = getattr(record, f.name)
        kind = str(f.type)
        if value is None:
            if "None" not in kind:
                raise ValueError(f"{f.name}: missing")
        elif kind.startswith("list"):
            if not isinstance(value, list) or not all(isinstance(x, str) for x in value):
                raise ValueError(f"{f.name}: not a list of strings")
        elif kind.startswith("datetime"):
            if not isinstance(value, datetime):
                raise ValueError(f"{f.name}: not a time")
        elif kind.startswith("str") and not isinstance(value, str):
            raise ValueError(f"{f.name}: not a string")
        elif kind.startswith("dict"):
            json.dumps(value, default=str)
    return record


@dataclass
class AuditIndex:
    """What audit events tell that the resources' own APIs do not: who created a token or
    key (``creators``), and when a CI variable last changed (``variable_changed``)."""

    creators: dict[tuple[str, str], str] = field(default_factory=dict)  # (kind, id) -> username
    variable_changed: dict[tuple[str, int, str], datetime] = field(default_factory=dict)
    available: bool = False

    TARGETS = {"PersonalAccessToken": "pat", "DeployToken": "deploy_token", "DeployKey": "deploy_key",
               "Key": "deploy_key"}

    @classmethod
    def build(cls, events: list[dict[str, Any]], username_of: dict[int, str]) -> "AuditIndex":
        idx = cls(available=True)
        for e in sorted(events, key=lambda e: e.get("created_at") or ""):
            d = e.get("details") or {}
            ttype = d.get("target_type")
            when = parse_time(e.get("created_at"))
            name = (e.get("event_name") or d.get("custom_message") or "").lower()
            if ttype in ("Ci::Variable", "Ci::GroupVariable") and when:
                key = (e.get("entity_type") or "", e.get("entity_id") or 0, str(d.get("target_details")))
                idx.variable_changed[key] = when
            elif ttype in cls.TARGETS and ("creat" in name or "add" in name):
                author = username_of.get(e.get("author_id"))
                if author:
                    idx.creators[(cls.TARGETS[ttype], str(d.get("target_id")))] = author
        return idx
