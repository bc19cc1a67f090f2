"""Pure functions: Vault payloads -> records. No I/O; unit-tested on the api-samples.

Native ids carry the namespace where Vault's own ids are only unique inside one
(AppRole role names, lease ids, policy names, KV paths); entity ids and token accessors
are UUIDs, unique across namespaces.
"""

from __future__ import annotations

import re
from typing import Any, Iterable

from scanner.core.model import Account, Credential, Grant, Resource, make_uid
from scanner.core.timeparse import timestamp as ts

SYSTEM = "vault"
NEVER = "0001-01-01T00:00:00Z"  # Vault's zero time: "never expires"
# auth methods whose aliases name a person (an IdP login); the others name a machine
HUMAN_MOUNTS = {"oidc", "ldap", "userpass", "okta", "github", "saml", "radius"}
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def data_of(resp: Any) -> dict[str, Any]:
    """The ``data`` of Vault's envelope; ValueError when there is none."""
    data = resp.get("data") if isinstance(resp, dict) else None
    if not isinstance(data, dict):
        raise ValueError("Vault answer without data")
    return data


def ns_label(namespace: str) -> str:
    return namespace.strip("/") or "root"


def entity_uid(source: str, entity_id: str) -> str:
    return make_uid(source, f"entity:{entity_id}")


def transform_entity(resp: Any, source: str, namespace: str) -> Account:
    """``identity/entity/id/<id>`` -> Account. Its login is the first alias's name (the
    IdP login: an e-mail for OIDC, a username for LDAP), so resolve links it by e-mail or
    alias; a disabled entity is ``disabled`` (Vault refuses its tokens)."""
    d = data_of(resp)
    if not d.get("id"):
        raise ValueError("Vault entity without id")
    aliases = [a for a in d.get("aliases") or [] if isinstance(a, dict)]
    names = [str(a.get("name") or "") for a in aliases if a.get("name")]
    mounts = {str(a.get("mount_type") or "") for a in aliases}
    emails = [n.lower() for n in names if EMAIL.match(n)]
    meta = d.get("metadata") if isinstance(d.get("metadata"), dict) else {}
    human = bool(mounts & HUMAN_MOUNTS) or not aliases
    return Account(
        system=SYSTEM, source=source, native_id=f"entity:{d['id']}",
        login=(emails or names or [str(d.get("name") or d["id"])])[0],
        email=emails[0] if emails else None,
        kind="user" if human else "service_account",
        status="disabled" if d.get("disabled") else "active",
        created_at=ts(d.get("creation_time")), last_seen_at=None,
        attributes={"namespace": ns_label(namespace), "entity_id": d["id"],
                    "entity_name": d.get("name"), "policies": list(d.get("policies") or []),
                    "aliases": [{"name": a.get("name"), "mount_type": a.get("mount_type"),
                                 "mount_path": a.get("mount_path"), "id": a.get("id")} for a in aliases],
                    "linked_emails": emails, "disabled": bool(d.get("disabled")),
                    "tags": {str(k): str(v) for k, v in meta.items()},
                    "group_ids": list(d.get("group_ids") or [])})


def transform_token(resp: Any, source: str, namespace: str) -> Credential:
    """``auth/token/lookup-accessor`` -> Credential(kind="vault_token"). The token itself
    is never returned by a lookup by accessor (``id`` is empty): the accessor is the
    handle, and what ``revoke-accessor`` takes. ``expire_time: null`` = no expiry."""
    d = data_of(resp)
    accessor = d.get("accessor")
    if not accessor:
        raise ValueError("Vault token lookup without accessor")
    entity = str(d.get("entity_id") or "")
    policies = sorted({*(d.get("policies") or []), *(d.get("identity_policies") or [])})
    expires = ts(d.get("expire_time"))
    return Credential(
        system=SYSTEM, source=source, native_id=f"token:{accessor}", kind="vault_token",
        holder=entity_uid(source, entity) if entity else None,
        name=str(d.get("display_name") or ""), scopes=[str(p) for p in policies], status="active",
        created_at=ts(d.get("issue_time")) or ts(d.get("creation_time")), expires_at=expires,
        attributes={"namespace": ns_label(namespace), "accessor": accessor, "path": d.get("path"),
                    "orphan": bool(d.get("orphan")), "entity_id": entity or None,
                    "meta": d.get("meta") if isinstance(d.get("meta"), dict) else {},
                    "ttl": d.get("ttl"), "renewable": d.get("renewable"),
                    "explicit_max_ttl": d.get("explicit_max_ttl"), "num_uses": d.get("num_uses"),
                    "never_expires": expires is None, "root": "root" in policies})


def transform_secret_id(resp: Any, source: str, namespace: str, role: str) -> Credential:
    """``auth/approle/role/<role>/secret-id-accessor/lookup`` -> Credential(kind=
    "secret_id"). ``expiration_time`` is Vault's zero time when it never expires;
    ``metadata.created_by`` is what the team that issued it recorded (Vault itself keeps
    no creator)."""
    d = data_of(resp)
    accessor = d.get("secret_id_accessor")
    if not accessor:
        raise ValueError("Vault secret-id lookup without accessor")
    meta = d.get("metadata") if isinstance(d.get("metadata"), dict) else {}
    expires = ts(d.get("expiration_time"))
    return Credential(
        system=SYSTEM, source=source, native_id=f"secret-id:{ns_label(namespace)}/{role}/{accessor}",
        kind="secret_id", holder=None, name=f"approle {role}", status="active",
        created_at=ts(d.get("creation_time")), expires_at=expires,
        rotated_at=ts(d.get("last_updated_time")),
        attributes={"namespace": ns_label(namespace), "role": role, "accessor": accessor,
                    "metadata": {str(k): str(v) for k, v in meta.items()},
                    "created_by": str(meta.get("created_by") or meta.get("owner") or "") or None,
                    "num_uses": d.get("secret_id_num_uses"), "ttl": d.get("secret_id_ttl"),
                    "never_expires": expires is None,
                    "cidr_list": list(d.get("cidr_list") or [])})


def role_path(lease_id: str) -> str:
    """The secrets-engine role a lease was issued from (``database/creds/readonly/<uuid>``
    -> ``database/creds/readonly``): the path a policy must grant to issue it."""
    return lease_id.rsplit("/", 1)[0] if "/" in lease_id else lease_id


def transform_lease(resp: Any, source: str, namespace: str, prefix: str) -> Credential:
    """``sys/leases/lookup`` -> Credential(kind="lease"). Vault's lease API does not say
    which token issued a lease: the holder is unknown (rules/vault.py says how it is
    attributed, and that revoking the issuing token revokes its leases)."""
    d = data_of(resp)
    lid = d.get("id")
    if not lid:
        raise ValueError("Vault lease lookup without id")
    return Credential(
        system=SYSTEM, source=source, native_id=f"lease:{ns_label(namespace)}/{lid}", kind="lease",
        holder=None, name=str(lid), status="active" if (d.get("ttl") or 0) > 0 else "expired",
        created_at=ts(d.get("issue_time")), expires_at=ts(d.get("expire_time")),
        rotated_at=ts(d.get("last_renewal")),
        attributes={"namespace": ns_label(namespace), "lease_id": lid, "prefix": prefix,
                    "role_path": role_path(str(lid)), "renewable": d.get("renewable"),
                    "ttl": d.get("ttl")})


# --- policies ---------------------------------------------------------------------------

_RULE = re.compile(r'path\s+"([^"]+)"\s*\{(.*?)\}', re.DOTALL)
_CAPS = re.compile(r"capabilities\s*=\s*\[([^\]]*)\]")


def parse_policy(hcl: str) -> list[tuple[str, list[str]]]:
    """The ``path "<glob>" { capabilities = [...] }`` rules of an ACL policy (HCL).
    A rule without capabilities (only parameters) grants nothing and is left out."""
    out = []
    for glob, body in _RULE.findall(hcl or ""):
        m = _CAPS.search(body)
        if m:
            out.append((glob, sorted({c.strip().strip('"') for c in m.group(1).split(",") if c.strip()})))
    return out


def _glob_rx(glob: str) -> re.Pattern[str]:
    rx = "".join("[^/]+" if part == "+" else re.escape(part) for part in re.split(r"(\+)", glob.rstrip("*")))
    return re.compile(rx + (".*" if glob.endswith("*") else ""))


def capabilities(rules: list[tuple[str, list[str]]], path: str) -> set[str]:
    """What one policy allows on ``path``: the most specific matching rule wins (Vault's
    priority, simplified to the longest literal glob); ``deny`` denies."""
    best: tuple[int, list[str]] | None = None
    for glob, caps in rules:
        if _glob_rx(glob).fullmatch(path):
            weight = len(glob) - glob.count("*") - glob.count("+")
            if best is None or weight > best[0]:
                best = (weight, caps)
    caps = set(best[1]) if best else set()
    return set() if "deny" in caps else caps


def transform_policy(resp: Any, source: str, namespace: str, name: str) -> Resource:
    d = data_of(resp)
    text = d.get("policy") if isinstance(d.get("policy"), str) else d.get("rules")
    rules = parse_policy(text if isinstance(text, str) else "")
    return Resource(system=SYSTEM, source=source, native_id=f"policy:{ns_label(namespace)}/{name}",
                    kind="vault_policy", name=name,
                    attributes={"namespace": ns_label(namespace), "rules": [[g, c] for g, c in rules]})


def policy_principal(namespace: str, name: str) -> str:
    """How a grant names a policy: tokens and entities carry policy names per namespace."""
    return f"vault-policy:{ns_label(namespace)}/{name}"


def transform_kv(resp: Any, source: str, namespace: str, mount: str, path: str) -> Resource:
    """KV v2 ``<mount>/metadata/<path>`` -> Resource(kind="kv_secret"); ``updated_at`` is
    when its current version was written (the last rotation). No value is ever read."""
    d = data_of(resp)
    versions = d.get("versions") if isinstance(d.get("versions"), dict) else {}
    current = str(d.get("current_version") or "")
    written = ts((versions.get(current) or {}).get("created_time")) if current in versions else None
    return Resource(system=SYSTEM, source=source, native_id=f"kv:{ns_label(namespace)}/{mount}/{path}",
                    kind="kv_secret", name=f"{mount}/{path}",
                    updated_at=written or ts(d.get("updated_time")),
                    attributes={"namespace": ns_label(namespace), "mount": mount, "path": path,
                                "current_version": d.get("current_version"),
                                "created_time": d.get("created_time"),
                                "custom_metadata": d.get("custom_metadata") or {}})


def kv_grants(policies: Iterable[Resource], secrets: Iterable[Resource], source: str) -> list[Grant]:
    """Which policy may read which KV v2 secret (``read`` on ``<mount>/data/<path>``)."""
    secrets = list(secrets)
    out = []
    for pol in policies:
        rules = [(g, c) for g, c in pol.attributes.get("rules") or []]
        ns = pol.attributes.get("namespace", "root")
        for sec in secrets:
            if sec.attributes.get("namespace") != ns:
                continue
            caps = capabilities(rules, f"{sec.attributes['mount']}/data/{sec.attributes['path']}")
            if "read" in caps or "root" in caps:
                out.append(Grant(system=SYSTEM, source=source,
                                 principal=policy_principal(ns, pol.name), resource=sec.uid,
                                 permission="read", via="policy",
                                 attributes={"policy": pol.name, "namespace": ns,
                                             "capabilities": sorted(caps)}))
    return out


def lease_grants(policies: Iterable[Resource], leases: Iterable[Credential]) -> dict[str, list[str]]:
    """Per lease uid, the policies (``<ns>/<name>``) allowed to issue it (``read`` or
    ``update`` on its role path): evidence for attributing a lease to a token."""
    leases = list(leases)
    out: dict[str, list[str]] = {}
    for pol in policies:
        rules = [(g, c) for g, c in pol.attributes.get("rules") or []]
        ns = pol.attributes.get("namespace", "root")
        for lease in leases:
            if lease.attributes.get("namespace") != ns:
                continue
            if capabilities(rules, lease.attributes["role_path"]) & {"read", "update", "create", "root"}:
                out.setdefault(lease.uid, []).append(f"{ns}/{pol.name}")
    return out
