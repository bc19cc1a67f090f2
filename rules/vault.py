"""HashiCorp Vault: tokens, secret IDs, leases and shared secrets that outlive a leaver.

Vault issues its own credentials, so the IdP's offboarding does not reach them: an OIDC
or LDAP token already issued lives until its TTL, an AppRole secret ID until it is
destroyed (never, when ``secret_id_ttl`` is 0), a dynamic database or cloud credential
until its lease ends. The records come from collectors/vault (kinds ``vault_token``,
``secret_id``, ``lease``; resources ``kv_secret`` with ``read`` grants from policies).

The generic credential rules leave these kinds to this module (rules/credentials.py
``OWN_RULES``): Vault tokens carry no last-use time, and an orphan token is normal
(every login token is one), so the generic "orphaned" and "unused" would be wrong here.
A leaver's entity left enabled is ``account.active_after_termination`` (generic).
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import Iterator

from rules.base import CSF_AA01, CSF_AA05, NHI1, NHI2, NHI7, Hit, rule
from rules.context import RuleContext
from scanner.core.model import Credential, Identity


def _vault(c: Credential, kind: str) -> bool:
    return c.kind == kind and c.system.split(":", 1)[0] == "vault"


def _live(c: Credential, now: datetime) -> bool:
    return c.status == "active" and (c.expires_at is None or c.expires_at > now)


def _leaver_tokens(ctx: RuleContext) -> dict[str, list[tuple[Identity, Credential]]]:
    """Per (source, namespace): the leavers' Vault tokens still listed."""
    out: dict[str, list[tuple[Identity, Credential]]] = defaultdict(list)
    for c in ctx.credentials:
        if _vault(c, "vault_token"):
            ident = ctx.identity_of(c.holder)
            if ident is not None and ident.is_leaver:
                out[f"{c.source}|{c.attributes.get('namespace')}"].append((ident, c))
    return out


def _identity_named(ctx: RuleContext, name: str | None) -> Identity | None:
    """The roster identity an e-mail or id names (secret-id metadata, token meta)."""
    if not name:
        return None
    n = name.strip().casefold()
    if n in ctx.identities:
        return ctx.identities[n]
    return next((i for i in ctx.identities.values()
                 if i.id.casefold() == n or n in (e.casefold() for e in i.emails)), None)


@rule(id="vault.token_of_leaver",
      title="Live Vault token of a leaver",
      severity="critical",
      frameworks=[NHI1, NHI7, CSF_AA01],
      remediation="Revoke the token by its accessor (`vault token revoke -accessor`), which "
                  "also revokes its child tokens and the leases it issued; then disable the "
                  "leaver's entity so that no new login maps to it.")
def token_of_leaver(ctx: RuleContext) -> Iterator[Hit]:
    """The IdP no longer lets them log in, but the token Vault already issued works until
    its TTL. Medium when the entity is disabled (Vault refuses the token while it is,
    and accepts it again if the entity is re-enabled)."""
    for c in ctx.credentials:
        if not _vault(c, "vault_token") or not _live(c, ctx.now):
            continue
        ident = ctx.identity_of(c.holder)
        if ident is None or not ident.is_leaver:
            continue
        acc = ctx.accounts.get(c.holder or "")
        dormant = acc is not None and acc.status == "disabled"
        yield Hit(subject=c.node, system=c.system, object_kind=c.kind,
                  object_id=c.attributes.get("accessor") or c.native_id, object_name=c.name,
                  identity=ident.id, severity="medium" if dormant else None,
                  evidence={"accessor": c.attributes.get("accessor"), "display_name": c.name,
                            "policies": c.scopes, "namespace": c.attributes.get("namespace"),
                            "issued_at": c.created_at, "expires_at": c.expires_at,
                            "auth_path": c.attributes.get("path"), "orphan": c.attributes.get("orphan"),
                            "entity": acc.login if acc else c.holder, "entity_disabled": dormant,
                            "identity_status": ident.status, "terminated_at": ident.terminated_at},
                  path=[n for n in (ident.node, acc.node if acc else None, c.node) if n])


@rule(id="vault.orphan_token_unowned",
      title="Orphan Vault token that no entity or owner answers for",
      severity="medium",
      frameworks=[NHI1, NHI7, CSF_AA05],
      remediation="Find what uses it (audit device: the accessor), give that workload its "
                  "own auth method (AppRole, Kubernetes, JWT) and revoke the token; if it "
                  "must stay, record its owner in the token's metadata.")
def orphan_token_unowned(ctx: RuleContext) -> Iterator[Hit]:
    """An orphan token (``auth/token/create-orphan``, or ``orphan: true``) with no
    entity: no login made it, so no person or machine identity is behind it, and no
    parent's revocation ends it. Tokens made by a login are orphans too but carry their
    entity; a child token (``orphan: false``) ends with its parent. High when it never
    expires or holds ``root``."""
    for c in ctx.credentials:
        if not _vault(c, "vault_token") or not _live(c, ctx.now) or c.holder:
            continue
        if not c.attributes.get("orphan"):
            continue
        meta = c.attributes.get("meta") or {}
        if _identity_named(ctx, meta.get("owner") or meta.get("created_by")):
            continue
        severe = c.attributes.get("never_expires") or c.attributes.get("root")
        yield Hit(subject=c.node, system=c.system, object_kind=c.kind,
                  object_id=c.attributes.get("accessor") or c.native_id, object_name=c.name,
                  severity="high" if severe else None,
                  evidence={"accessor": c.attributes.get("accessor"), "display_name": c.name,
                            "auth_path": c.attributes.get("path"), "policies": c.scopes,
                            "namespace": c.attributes.get("namespace"), "issued_at": c.created_at,
                            "expires_at": c.expires_at, "never_expires": c.attributes.get("never_expires")},
                  path=[c.node])


@rule(id="vault.secret_id_never_expires",
      title="AppRole secret ID that never expires",
      severity="medium",
      frameworks=[NHI7, NHI2, CSF_AA01],
      remediation="Issue a secret ID with a TTL (set `secret_id_ttl` on the role), deploy "
                  "it, then destroy this one by its accessor.")
def secret_id_never_expires(ctx: RuleContext) -> Iterator[Hit]:
    """A secret ID with ``secret_id_ttl`` 0 (expiration Vault's zero time) logs in for
    as long as the role exists: whoever copied it once keeps a way in."""
    for c in ctx.credentials:
        if _vault(c, "secret_id") and c.status == "active" and c.attributes.get("never_expires"):
            yield Hit(subject=c.node, system=c.system, object_kind=c.kind,
                      object_id=c.attributes.get("accessor") or c.native_id, object_name=c.name,
                      identity=None,
                      evidence={"role": c.attributes.get("role"), "accessor": c.attributes.get("accessor"),
                                "namespace": c.attributes.get("namespace"), "created_at": c.created_at,
                                "metadata": c.attributes.get("metadata")},
                      path=[c.node])


@rule(id="vault.secret_id_created_by_leaver",
      title="AppRole secret ID issued by a leaver, still valid",
      severity="high",
      frameworks=[NHI1, NHI2, CSF_AA01],
      remediation="Issue a new secret ID to the workload, then destroy this one by its "
                  "accessor: the leaver saw its value when they issued it.")
def secret_id_created_by_leaver(ctx: RuleContext) -> Iterator[Hit]:
    """The person who generated a secret ID received its value; if they left, they may
    still have it. Vault keeps no creator: this reads ``metadata.created_by`` (or
    ``owner``), the convention docs/permissions/vault.md describes."""
    for c in ctx.credentials:
        if not _vault(c, "secret_id") or not _live(c, ctx.now):
            continue
        ident = _identity_named(ctx, c.attributes.get("created_by"))
        if ident is None or not ident.is_leaver:
            continue
        if ident.terminated_at and c.created_at and c.created_at > ident.terminated_at:
            continue  # issued after they left: not by them
        yield Hit(subject=c.node, system=c.system, object_kind=c.kind,
                  object_id=c.attributes.get("accessor") or c.native_id, object_name=c.name,
                  identity=ident.id,
                  evidence={"role": c.attributes.get("role"), "accessor": c.attributes.get("accessor"),
                            "created_by": c.attributes.get("created_by"),
                            "created_at": c.created_at, "expires_at": c.expires_at,
                            "never_expires": c.attributes.get("never_expires"),
                            "namespace": c.attributes.get("namespace"),
                            "identity_status": ident.status, "terminated_at": ident.terminated_at},
                  path=[ident.node, c.node])


@rule(id="vault.lease_of_leaver",
      title="Dynamic credential probably leased to a leaver, still live",
      severity="high",
      frameworks=[NHI1, NHI7, CSF_AA01],
      remediation="Revoke the lease (`vault lease revoke`; revoking the leaver's token by "
                  "accessor revokes every lease it issued), then check the database or cloud "
                  "account the credential reached for use since the termination.")
def lease_of_leaver(ctx: RuleContext) -> Iterator[Hit]:
    """Vault's lease API does not say which token issued a lease, so the attribution is
    inferred and the evidence says so: a live lease issued after a leaver's (still
    listed) token was issued and before their termination, in the same namespace, is
    one their token could have issued. High when one of that token's policies may issue
    the lease's role path; medium when the policies do not say (a policy it holds
    through a group, or one the scanner could not read)."""
    tokens = _leaver_tokens(ctx)
    for lease in ctx.credentials:
        if not _vault(lease, "lease") or not _live(lease, ctx.now) or lease.created_at is None:
            continue
        ns = lease.attributes.get("namespace")
        issuers = set(lease.attributes.get("issuable_by_policies") or [])
        seen: set[str] = set()
        for ident, tok in tokens.get(f"{lease.source}|{ns}", []):
            if ident.id in seen or not ident.terminated_at or tok.created_at is None:
                continue
            if not (tok.created_at <= lease.created_at <= ident.terminated_at):
                continue
            seen.add(ident.id)
            allowed = sorted(issuers & {f"{ns}/{p}" for p in tok.scopes})
            acc = ctx.accounts.get(tok.holder or "")
            yield Hit(subject=lease.node, system=lease.system, object_kind=lease.kind,
                      object_id=lease.attributes.get("lease_id") or lease.native_id,
                      object_name=lease.attributes.get("role_path") or lease.name, identity=ident.id,
                      severity=None if allowed else "medium",
                      evidence={"lease_id": lease.attributes.get("lease_id"), "namespace": ns,
                                "issued_at": lease.created_at, "expires_at": lease.expires_at,
                                "attribution": "inferred: issued while the leaver's token "
                                               f"{tok.attributes.get('accessor')} was live, before "
                                               "their termination (Vault's lease API names no token)",
                                "token_accessor": tok.attributes.get("accessor"),
                                "token_policies_allowing_it": allowed,
                                "terminated_at": ident.terminated_at},
                      path=[n for n in (ident.node, acc.node if acc else None, tok.node, lease.node) if n])


@rule(id="vault.kv_readable_by_leaver_not_rotated",
      title="Rotate this Vault secret: a leaver's policy could read it and it was not rotated since",
      severity="high",
      frameworks=[NHI1, NHI2, NHI7, CSF_AA01],
      remediation="Write a new value at the secret's issuer (database password, API key), "
                  "store it as a new version of the KV secret, and revoke the old value; "
                  "removing the leaver's policy does not take back a copy they may have made.")
def kv_readable_by_leaver_not_rotated(ctx: RuleContext) -> Iterator[Hit]:
    """A KV v2 secret whose current version was written before a leaver's termination,
    readable by a policy their token or entity held (the "rotate this shared secret"
    rule, as for CI variables): they could have read its value."""
    by_policy: dict[str, list] = defaultdict(list)
    for g in ctx.grants:
        if g.via == "policy" and g.system == "vault":
            by_policy[g.principal].append(g)
    if not by_policy:
        return
    holders: dict[str, set[str]] = defaultdict(set)  # identity -> policy principals
    for c in ctx.credentials:
        if _vault(c, "vault_token"):
            ident = ctx.identity_of(c.holder)
            if ident is not None and ident.status == "terminated":
                holders[ident.id].update(f"vault-policy:{c.attributes.get('namespace')}/{p}" for p in c.scopes)
    for uid, acc in ctx.accounts.items():
        if acc.system == "vault" and acc.attributes.get("policies"):
            ident = ctx.identity_of(uid)
            if ident is not None and ident.status == "terminated":
                holders[ident.id].update(f"vault-policy:{acc.attributes.get('namespace')}/{p}"
                                         for p in acc.attributes["policies"])
    for ident_id, principals in holders.items():
        ident = ctx.identities[ident_id]
        seen: set[str] = set()
        for principal in sorted(principals):
            for g in by_policy.get(principal, []):
                res = ctx.resources.get(g.resource)
                if res is None or res.uid in seen or not ident.terminated_at:
                    continue
                if res.updated_at is not None and res.updated_at >= ident.terminated_at:
                    continue  # rotated since
                seen.add(res.uid)
                yield Hit(subject=res.node, system=res.system, object_kind=res.kind,
                          object_id=res.native_id, object_name=res.name, identity=ident.id,
                          severity=None if res.updated_at is not None else "medium",
                          evidence={"updated_at": res.updated_at, "terminated_at": ident.terminated_at,
                                    "rotation": "before termination" if res.updated_at else "unknown",
                                    "policy": g.attributes.get("policy"), "namespace": g.attributes.get("namespace"),
                                    "version": res.attributes.get("current_version")},
                          path=[ident.node, res.node])
