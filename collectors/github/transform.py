"""GitHub: pure transforms, payload -> records. No I/O: each function takes what the API
returned and gives the records to load (tests feed them payloads directly)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Callable, Iterable

from scanner.core.fingerprints import ssh_fingerprint
from scanner.core.model import Account, Activity, Credential, Grant, Record, Resource, make_uid
from scanner.core.secrets import Fingerprinter, safe_url
from scanner.core.timeparse import parse_time, timestamp


SYSTEM = "github"

# --- pure transforms: payload -> records ------------------------------------------------------


def permission_name(value: Any) -> str:
    """GraphQL ``ADMIN/MAINTAIN/WRITE/TRIAGE/READ`` and REST ``push/pull`` -> one vocabulary."""
    v = str(value or "").lower()
    return {"push": "write", "pull": "read"}.get(v, v)


@dataclass
class Org:
    """Names every transform needs."""

    login: str

    @property
    def source(self) -> str:
        return f"{SYSTEM}:{self.login}"

    @property
    def uid(self) -> str:
        return make_uid(self.source, self.login)

    def account_uid(self, login: str) -> str:
        return make_uid(self.source, login)

    def repo_id(self, name: str) -> str:
        return f"{self.login}/{name}"

    def repo_uid(self, name: str) -> str:
        return make_uid(self.source, self.repo_id(name))

    def team_uid(self, slug: str) -> str:
        return make_uid(self.source, f"{self.login}/teams/{slug}")


def transform_org(org: Org) -> Resource:
    return Resource(SYSTEM, org.source, org.login, "org", name=org.login)


def transform_saml(edges: Iterable[dict[str, Any]]) -> dict[str, list[str]]:
    """login -> the corporate e-mails its SAML/SCIM identity carries (the strongest
    evidence resolve gets). An identity with ``user: null`` is linked to no account."""
    out: dict[str, list[str]] = {}
    for e in edges:
        node = (e or {}).get("node") or {}
        login = ((node.get("user") or {}).get("login"))
        if not login:
            continue
        emails = [v for v in ((node.get("samlIdentity") or {}).get("nameId"),
                              (node.get("samlIdentity") or {}).get("username"),
                              (node.get("scimIdentity") or {}).get("username")) if v and "@" in v]
        if emails:
            out.setdefault(login, [])
            out[login].extend(e for e in emails if e not in out[login])
    return out


def transform_member(org: Org, edge: dict[str, Any], linked: dict[str, list[str]]) -> list[Record]:
    node = edge["node"]
    login = node["login"]
    role = str(edge.get("role") or "MEMBER").lower()
    kind = "bot" if login.endswith("[bot]") else "user"
    attrs: dict[str, Any] = {"org_role": role, "two_factor": edge.get("hasTwoFactorEnabled"),
                             "name": node.get("name") or ""}
    if linked.get(login):
        attrs["linked_emails"] = linked[login]
    acc = Account(SYSTEM, org.source, login, login=login, email=node.get("email") or None,
                  kind=kind, status="active", attributes=attrs)
    return [acc, Grant(SYSTEM, org.source, acc.uid, org.uid, role, "direct")]


def transform_outside_collaborator(org: Org, user: dict[str, Any],
                                   linked: dict[str, list[str]]) -> Account:
    login = user["login"]
    attrs: dict[str, Any] = {"outside_collaborator": True}
    if linked.get(login):
        attrs["linked_emails"] = linked[login]
    return Account(SYSTEM, org.source, login, login=login, kind="user", status="active",
                   attributes=attrs)


def transform_invitation(org: Org, inv: dict[str, Any], failed: bool = False) -> Account:
    """A pending invitation is access waiting to happen: Account(status="pending",
    email=invitee). A failed one can no longer be accepted (status "deleted")."""
    attrs = {"invitation": True, "invitation_id": inv["id"], "role": inv.get("role"),
             "inviter": (inv.get("inviter") or {}).get("login"),
             "invited_at": inv.get("created_at")}
    if failed:
        attrs.update(failed_at=inv.get("failed_at"), failed_reason=inv.get("failed_reason"))
    return Account(SYSTEM, org.source, f"invitation:{inv['id']}", login=inv.get("login") or "",
                   email=inv.get("email") or None, kind="user",
                   status="deleted" if failed else "pending",
                   created_at=parse_time(inv.get("created_at")), attributes=attrs)


def transform_repo(org: Org, node: dict[str, Any]) -> list[Record]:
    name = node["name"]
    res = Resource(SYSTEM, org.source, org.repo_id(name), "repo", name=name,
                   updated_at=parse_time(node.get("updatedAt")),
                   attributes={"private": node.get("isPrivate"), "archived": node.get("isArchived"),
                               "parent": org.uid})
    return [res]


def transform_collaborator(org: Org, repo: str, edge: dict[str, Any]) -> Grant:
    login = edge["node"]["login"]
    return Grant(SYSTEM, org.source, org.account_uid(login), org.repo_uid(repo),
                 permission_name(edge.get("permission")), "direct")


def _deploy_key_native_id(org: Org, repo: str, key: str | None, fallback: Any) -> str:
    fp = ssh_fingerprint(key)
    return f"{org.repo_id(repo)}/keys/{fp or fallback}"


def transform_deploy_key(org: Org, repo: str, key: dict[str, Any], now: datetime) -> Credential:
    """A deploy key, from REST (``read_only``, ``added_by``, ``last_used``) or, when REST
    is not allowed, from GraphQL (``readOnly``, no adder). Its holder is the account that
    added it, when that is a user of this org."""
    rest = "read_only" in key
    read_only = bool(key.get("read_only") if rest else key.get("readOnly"))
    added_by = key.get("added_by") if rest else None
    fp = ssh_fingerprint(key.get("key"))
    attrs: dict[str, Any] = {"read_only": read_only, "added_by": added_by, "repo": org.repo_id(repo),
                             "verified": key.get("verified"), "parent": org.repo_uid(repo),
                             "key_id": key.get("id")}  # its REST id: what a responder deletes
    if not rest:
        attrs["added_by_unknown"] = True
    enabled = key.get("enabled", True)
    return Credential(
        SYSTEM, org.source, _deploy_key_native_id(org, repo, key.get("key"), key.get("id")),
        "deploy_key", holder=org.account_uid(added_by) if added_by and added_by != org.login else None,
        name=str(key.get("title") or ""), scopes=["read"] if read_only else ["read", "write"],
        status="active" if enabled is not False else "inactive",
        created_at=parse_time(key.get("created_at") or key.get("createdAt")),
        last_used_at=parse_time(key.get("last_used")), fingerprint=fp, attributes=attrs)


def transform_team(org: Org, node: dict[str, Any], members: list[dict[str, Any]],
                   repos: list[dict[str, Any]]) -> list[Record]:
    """A team is a group resource; its members hold the team's permission on each of its
    repositories (Grant via "team")."""
    slug = node["slug"]
    out: list[Record] = [Resource(SYSTEM, org.source, f"{org.login}/teams/{slug}", "group",
                                  name=node.get("name") or slug,
                                  attributes={"team": True, "privacy": node.get("privacy"),
                                              "parent": org.uid})]
    for m in members:
        login = m["node"]["login"]
        out.append(Grant(SYSTEM, org.source, org.account_uid(login), org.team_uid(slug),
                         str(m.get("role") or "member").lower(), "direct"))
        for r in repos:
            out.append(Grant(SYSTEM, org.source, org.account_uid(login),
                             org.repo_uid(r["node"]["name"]), permission_name(r.get("permission")),
                             "team", attributes={"team": slug}))
    return out


CREDENTIAL_TYPES = {"personal access token": "pat", "ssh key": "ssh_key",
                    "oauth app token": "oauth_grant", "github app token": "oauth_grant"}


def transform_credential_authorization(org: Org, item: dict[str, Any], fp: Fingerprinter,
                                       now: datetime) -> Credential:
    """SAML SSO credential authorizations (Enterprise Cloud). The token's last eight
    characters identify it; we keep only a keyed digest of them (``last8:...``, as
    ``Fingerprinter.last8``) so a token found in code correlates without being stored."""
    kind = CREDENTIAL_TYPES.get(str(item.get("credential_type") or "").lower(), "pat")
    expires = parse_time(item.get("authorized_credential_expires_at"))
    last8 = item.get("token_last_eight")
    fingerprint = item.get("token_last_eight_fp") or (fp.last8(str(last8)) if last8 else None) \
        or item.get("fingerprint") or None
    hint = item.get("token_hint") or (f"…{str(last8)[-4:]}" if last8 else None)  # DESIGN: last 4 at most
    attrs: dict[str, Any] = {"credential_authorization": True,
                             "credential_type": item.get("credential_type"),
                             "authorized_credential_id": item.get("authorized_credential_id")}
    if kind in ("pat", "oauth_grant") and expires is None:
        attrs["never_expires"] = True
    status = "expired" if expires and expires <= now else "active"
    return Credential(
        SYSTEM, org.source, f"credential-authorization:{item['credential_id']}", kind,
        holder=org.account_uid(item["login"]) if item.get("login") else None,
        name=str(item.get("authorized_credential_title") or item.get("credential_type") or ""),
        scopes=[str(s) for s in item.get("scopes") or []], status=status,
        created_at=parse_time(item.get("credential_authorized_at")),
        last_used_at=parse_time(item.get("credential_accessed_at")), expires_at=expires,
        fingerprint=fingerprint, hint=hint, attributes=attrs)


def scrub_hook_urls(body: Any) -> Any:
    """A body rewriter: a webhook's ``config.url`` as ``safe_url`` gives it (its userinfo,
    query and token-like path segments are credentials), before the body is cached."""
    if not isinstance(body, list):
        return body
    return [{**item, "config": {**item["config"], "url": safe_url(item["config"]["url"])}}
            if isinstance(item, dict) and isinstance(item.get("config"), dict)
            and isinstance(item["config"].get("url"), str) else item for item in body]


def scrub_last_eight(fp: Fingerprinter) -> Callable[[Any], Any]:
    """A body rewriter: ``token_last_eight`` -> its keyed digest (``token_last_eight_fp``),
    before the body is cached or read, so no part of a token is kept anywhere."""
    def scrub(body: Any) -> Any:
        if not isinstance(body, list):
            return body
        out = []
        for item in body:
            if isinstance(item, dict) and item.get("token_last_eight"):
                last8 = str(item["token_last_eight"])
                item = {**item, "token_last_eight": None, "token_last_eight_fp": fp.last8(last8),
                        "token_hint": f"…{last8[-4:]}"}
            out.append(item)
        return out
    return scrub


def transform_fine_grained_pat(org: Org, item: dict[str, Any], now: datetime) -> Credential:
    """A fine-grained PAT granted access to the org (listed only to a GitHub App)."""
    perms = item.get("permissions") or {}
    scopes = [f"{area}:{k}:{v}" for area, d in perms.items() if isinstance(d, dict) for k, v in d.items()]
    expires = parse_time(item.get("token_expires_at"))
    attrs: dict[str, Any] = {"fine_grained": True, "grant_id": item.get("id"),
                             "repository_selection": item.get("repository_selection")}
    if expires is None:
        attrs["never_expires"] = True
    expired = bool(item.get("token_expired")) or (expires is not None and expires <= now)
    owner = (item.get("owner") or {}).get("login")
    return Credential(
        SYSTEM, org.source, f"fine-grained-pat:{item['token_id']}", "pat",
        holder=org.account_uid(owner) if owner else None, name=str(item.get("token_name") or ""),
        scopes=scopes, status="expired" if expired else "active",
        created_at=parse_time(item.get("access_granted_at")),
        last_used_at=parse_time(item.get("token_last_used_at")), expires_at=expires,
        attributes=attrs)


def transform_installation(org: Org, item: dict[str, Any]) -> Resource:
    return Resource(SYSTEM, org.source, f"installation:{item['id']}", "app",
                    name=str(item.get("app_slug") or item.get("app_id") or item["id"]),
                    updated_at=parse_time(item.get("updated_at")),
                    attributes={"app_id": item.get("app_id"), "permissions": item.get("permissions") or {},
                                "repository_selection": item.get("repository_selection"),
                                "suspended_at": item.get("suspended_at"), "parent": org.uid})


def transform_secret(org: Org, item: dict[str, Any], parent_id: str, parent_uid: str) -> Resource:
    """An Actions secret: name and dates only (the API never gives values)."""
    return Resource(SYSTEM, org.source, f"{parent_id}/actions/secrets/{item['name']}", "ci_secret",
                    name=str(item["name"]), updated_at=parse_time(item.get("updated_at")),
                    attributes={"parent": parent_uid, "created_at": item.get("created_at"),
                                "visibility": item.get("visibility")})


def transform_hook(org: Org, item: dict[str, Any], parent_id: str, parent_uid: str) -> Resource:
    cfg = item.get("config") or {}
    return Resource(SYSTEM, org.source, f"{parent_id}/hooks/{item['id']}", "webhook",
                    name=safe_url(cfg["url"]) if isinstance(cfg.get("url"), str) else str(item.get("name") or item["id"]),
                    updated_at=parse_time(item.get("updated_at")),
                    attributes={"parent": parent_uid, "active": item.get("active"),
                                "events": item.get("events") or [],
                                "url": safe_url(cfg["url"]) if isinstance(cfg.get("url"), str) else None,
                                "insecure_ssl": cfg.get("insecure_ssl")})


def transform_runner(org: Org, item: dict[str, Any]) -> Resource:
    return Resource(SYSTEM, org.source, f"{org.login}/runners/{item['id']}", "runner",
                    name=str(item.get("name") or item["id"]),
                    attributes={"parent": org.uid, "os": item.get("os"), "status": item.get("status"),
                                "labels": [l.get("name") for l in item.get("labels") or [] if isinstance(l, dict)]})


def transform_user_key(org: Org, login: str, item: dict[str, Any]) -> Credential:
    fp = ssh_fingerprint(item.get("key"))
    return Credential(SYSTEM, org.source, f"{login}/keys/{item['id']}", "ssh_key",
                      holder=org.account_uid(login), name=str(item.get("title") or f"key {item['id']}"),
                      created_at=parse_time(item.get("created_at")),
                      last_used_at=parse_time(item.get("last_used")), fingerprint=fp,
                      attributes={"public": True})


# --- the audit log (Enterprise Cloud) ---------------------------------------------------------

AUDIT_GIT_ACTIONS = ("git.clone", "git.fetch", "git.push")


def transform_audit_event(org: Org, login: str, payload: Any) -> Activity:
    """One ``GET /orgs/{org}/audit-log`` event done by ``login`` -> Activity (category
    ``use``): a Git operation (``git.clone``, ``git.fetch``, ``git.push``), a call made
    with a token (``programmatic_access_type`` set: the API) or a web action. Its
    ``_document_id`` is the event id the evidence names; ``@timestamp`` is epoch
    milliseconds. ``hashed_token`` is not kept (``token_id`` names the token)."""
    if not isinstance(payload, dict) or not payload.get("_document_id") or not payload.get("action"):
        raise ValueError("GitHub audit-log event without _document_id or action")
    ms = payload.get("@timestamp", payload.get("created_at"))
    if isinstance(ms, bool) or not isinstance(ms, (int, float)):
        raise ValueError("GitHub audit-log event without @timestamp")
    action = str(payload["action"])
    access = payload.get("programmatic_access_type")
    via = "git" if action.startswith("git.") else "api" if access else "web"
    location = payload.get("actor_location") if isinstance(payload.get("actor_location"), dict) else {}
    attrs = {"via": via, "repo": payload.get("repo") or payload.get("repository"),
             "protocol": payload.get("transport_protocol_name"), "access": access,
             "token_id": payload.get("token_id"), "ip": payload.get("actor_ip"),
             "country": location.get("country_code"), "user_agent": payload.get("user_agent")}
    return Activity(source=org.source, native_id=str(payload["_document_id"]), system=SYSTEM, action=action,
                    category="use", at=timestamp(ms / 1000), actor=str(payload.get("actor") or login),
                    subject_account=org.account_uid(login), outcome="success",
                    attributes={k: v for k, v in attrs.items() if v not in (None, "")})
