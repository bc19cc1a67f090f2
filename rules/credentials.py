"""Credentials: what keeps working after the account is forgotten.

A credential belongs to a holder account; the holder links to an identity (resolve).
These rules read only that chain, so they apply to every system whose collector emits
Credential records: IAM keys and passwords, GitHub/GitLab tokens and keys, Kubernetes
service-account tokens and client certificates, Okta API tokens.
"""

from __future__ import annotations

from typing import Any, Iterator

from rules.base import (
    CIS_AWS_ROTATE, CIS_AWS_UNUSED, CSF_AA01, NHI1, NHI4, NHI7, Hit, rule,
)
from rules.context import RuleContext, unused_days
from scanner.core.model import Credential, Identity

# Credentials that are not secrets someone can use (an MFA device is a factor, not a key).
NOT_USABLE = {"mfa_device"}
ROTATABLE = {"access_key", "api_key", "pat", "secret", "deploy_token", "service_credential",
             "sa_token", "signing_cert"}
# Kinds with a dedicated leaver rule that says more (a client certificate cannot be
# revoked: kubernetes.client_cert_of_leaver gives its expiry and the honest remediation).
DEDICATED = {"client_cert"}
# Sessions, refresh tokens and devices have the session layer's rules (rules/sessions.py).
SESSION_KINDS = {"session", "refresh_token", "device"}
# Kinds whose own rules say more, and for which the generic ones would be wrong: Vault
# tokens carry no last-use time and every login token is an orphan (rules/vault.py);
# sessions are the session layer's.
OWN_RULES = {"vault_token", "secret_id", "lease"} | SESSION_KINDS
SHOULD_EXPIRE = {"pat", "api_key", "deploy_token", "sa_token", "access_key", "oauth_grant"}


# Holder states in which the system refuses the holder's credentials (a blocked GitLab
# user's tokens, a deactivated Okta admin's API tokens).
HOLDER_GATES = {"blocked", "disabled", "deleted", "suspended"}


def dedicated(rec: Any) -> bool:
    """A record a source's own rules report in full (``attributes.dedicated_rules``: Entra
    app secrets, devices, OAuth grants): the generic rules here leave it alone instead of
    reporting it twice with less to say (an app secret's last use is unknown, so it
    cannot be "unused"; an app's owners are in its record, not in a link)."""
    return bool(rec is not None and rec.attributes.get("dedicated_rules"))


def is_live(c: Credential, ctx: RuleContext) -> bool:
    """Active, not past its expiry, and held by an account the system still honours:
    it would work if presented now."""
    if c.status != "active" or c.kind in NOT_USABLE:
        return False
    holder = ctx.accounts.get(c.holder or "")
    if holder is not None and holder.status in HOLDER_GATES:
        return False
    return c.expires_at is None or c.expires_at > ctx.now


def _hit(ctx: RuleContext, c: Credential, identity: Identity | None, evidence: dict,
         **kw) -> Hit:
    acc = ctx.accounts.get(c.holder or "")
    path = [n for n in ((identity.node if identity else None), acc.node if acc else None, c.node) if n]
    # the report names what a person acts on: the key id itself where there is one
    return Hit(subject=c.node, system=c.system, object_kind=c.kind,
               object_id=c.attributes.get("access_key_id") or c.native_id,
               object_name=c.name or (acc.login if acc else ""),
               identity=identity.id if identity else None,
               evidence={"status": c.status, "created_at": c.created_at,
                         "last_used_at": c.last_used_at, "expires_at": c.expires_at,
                         "hint": c.hint, "holder": acc.login if acc else c.holder, **evidence},
               path=path, **kw)


def _leaver_of(ctx: RuleContext, c: Credential) -> Identity | None:
    ident = ctx.identity_of(c.holder)
    return ident if ident and ident.is_leaver else None


@rule(id="credential.live_of_leaver",
      title="Live credential of a terminated or suspended identity",
      severity="high",
      frameworks=[NHI1, NHI7, CSF_AA01],
      remediation="Revoke or delete the credential (deleting the account is not enough on "
                  "systems where keys and tokens outlive it), then re-run `residual verify`.")
def live_of_leaver(ctx: RuleContext) -> Iterator[Hit]:
    """Keys, passwords, SSH keys, tokens and certificates still valid for a leaver."""
    for c in ctx.credentials:
        ident = _leaver_of(ctx, c)
        if (ident and is_live(c, ctx) and c.kind not in DEDICATED and c.kind not in OWN_RULES
                and not dedicated(c)):
            if ident.terminated_at and c.last_used_at and c.last_used_at > ident.terminated_at:
                continue  # reported, more severely, by credential.used_after_termination
            yield _hit(ctx, c, ident, {"identity_status": ident.status,
                                       "terminated_at": ident.terminated_at})


@rule(id="credential.used_after_termination",
      title="Credential used after its holder's termination",
      severity="critical",
      frameworks=[NHI1, CSF_AA01],
      remediation="Treat as an incident: revoke the credential now, find what it was used "
                  "for since the termination date (CloudTrail, audit logs), and rotate what it reached.")
def used_after_termination(ctx: RuleContext) -> Iterator[Hit]:
    """Somebody, or something, still uses a leaver's credential."""
    for c in ctx.credentials:
        ident = _leaver_of(ctx, c)
        if (ident and ident.terminated_at and c.last_used_at
                and c.last_used_at > ident.terminated_at and c.kind not in NOT_USABLE
                and c.kind not in OWN_RULES and not dedicated(c)):
            yield _hit(ctx, c, ident, {"terminated_at": ident.terminated_at,
                                       "days_used_after": round((c.last_used_at - ident.terminated_at).total_seconds() / 86400, 1)})


@rule(id="credential.orphaned",
      title="Orphaned credential: its holder resolves to no identity",
      severity="medium",
      frameworks=[NHI1, CSF_AA01],
      remediation="Find who uses it (last-used data, audit logs), record an owner, or revoke it.")
def orphaned(ctx: RuleContext) -> Iterator[Hit]:
    """A live credential nobody is accountable for is one nobody will revoke."""
    for c in ctx.credentials:
        if not is_live(c, ctx) or c.kind in OWN_RULES or dedicated(c):
            continue
        if c.holder and (c.holder in ctx.links or c.holder not in ctx.accounts):
            continue
        acc = ctx.accounts.get(c.holder or "")
        if acc and acc.attributes.get("system_managed"):
            continue
        yield _hit(ctx, c, None, {"reason": "no holder" if not c.holder else "holder unowned"})


@rule(id="nhi.owner_terminated",
      title="Non-human identity whose accountable owner has left",
      severity="medium",
      frameworks=[NHI1, CSF_AA01],
      remediation="Assign a new owner (roster `owner`, or the `owner` tag/annotation), "
                  "rotate the credentials the leaver could have copied, or retire the NHI.")
def owner_terminated(ctx: RuleContext) -> Iterator[Hit]:
    """Service accounts, bots and keys owned by a leaver: nobody now answers for them,
    and the leaver may still hold copies of their secrets."""
    for uid, acc in ctx.accounts.items():
        if acc.status != "active" or dedicated(acc):
            continue
        owner = ctx.owner_of(uid)
        if not owner or not owner.is_leaver:
            continue
        link = ctx.links[uid]
        nhi = ctx.identities.get(link.identity) if link.relation == "is" else None
        live = [c for c in ctx.credentials_by_holder.get(uid, []) if is_live(c, ctx)]
        path = [owner.node] + ([nhi.node] if nhi else []) + [acc.node]
        yield Hit(subject=acc.node, system=acc.system, object_kind=acc.kind,
                  object_id=acc.native_id, object_name=acc.login, identity=owner.id,
                  evidence={"owner": owner.id, "owner_status": owner.status,
                            "owner_terminated_at": owner.terminated_at,
                            "nhi": nhi.id if nhi else None, "link": link.evidence,
                            "live_credentials": [c.name or c.native_id for c in live]},
                  path=path)


@rule(id="credential.unused",
      title="Credential unused for longer than policy allows",
      severity="medium",
      frameworks=[NHI7, CIS_AWS_UNUSED, CSF_AA01],
      remediation="Deactivate, then delete the credential; if something still needs it, "
                  "it will say so while deactivated.")
def unused(ctx: RuleContext) -> Iterator[Hit]:
    """Unused credentials are pure risk (CIS: 45 days). A never-used credential is aged
    from its creation."""
    limit = ctx.policy.unused_after_days
    for c in ctx.credentials:
        if not is_live(c, ctx) or c.kind in ("client_cert",) or c.kind in OWN_RULES or dedicated(c):
            continue
        if c.last_used_at is None and c.created_at is None:
            continue
        if c.last_used_at is None and c.attributes.get("last_used_unknown"):
            continue  # the source cannot tell when it was used: silence is not "never used"
        age = unused_days(c, ctx.now)
        if age >= limit:
            # a source that reads use from a window (Anthropic's usage report) knows only
            # "not used in the last N days" of a key without use there, not "never"
            window = c.attributes.get("usage_window_days")
            yield _hit(ctx, c, ctx.identity_of(c.holder),
                       {"unused_days": int(age), "policy_days": limit,
                        "never_used": c.last_used_at is None and not window,
                        **({"no_use_within_days": window} if window and c.last_used_at is None else {})})


@rule(id="credential.unrotated",
      title="Credential not rotated within policy",
      severity="low",
      frameworks=[NHI7, CIS_AWS_ROTATE, CSF_AA01],
      remediation="Rotate the credential (create a new one, move its users, delete the old).")
def unrotated(ctx: RuleContext) -> Iterator[Hit]:
    """Long-lived secrets accumulate copies (CIS: 90 days for access keys)."""
    limit = ctx.policy.rotate_after_days
    for c in ctx.credentials:
        if not is_live(c, ctx) or c.kind not in ROTATABLE:
            continue
        since = c.rotated_at or c.created_at
        if since is None:
            continue
        age = (ctx.now - since).total_seconds() / 86400
        if age >= limit:
            yield _hit(ctx, c, ctx.identity_of(c.holder),
                       {"age_days": int(age), "policy_days": limit, "rotated_at": since})


@rule(id="credential.no_expiry",
      title="Token or key with no expiry",
      severity="low",
      frameworks=[NHI7, NHI4],
      remediation="Replace it with a credential that expires (or a short-lived federated one).")
def no_expiry(ctx: RuleContext) -> Iterator[Hit]:
    """A token that never expires keeps working until someone remembers to revoke it.
    Only flagged where the source says so (``attributes.never_expires``)."""
    for c in ctx.credentials:
        if is_live(c, ctx) and c.kind in SHOULD_EXPIRE and c.attributes.get("never_expires"):
            yield _hit(ctx, c, ctx.identity_of(c.holder), {})
