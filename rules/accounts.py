"""Accounts that outlive their person: the first place residue lives, on every system."""

from __future__ import annotations

from typing import Iterator

from rules.base import CSF_AA01, CSF_AA05, NHI1, Hit, rule
from rules.context import RuleContext
from scanner.core.model import Account

LIVE_ACCOUNT = ("active", "pending")
HUMANLIKE = ("user", "service_account", "bot", "app")


def name_only(acc: Account) -> bool:
    """Kubernetes users and groups exist only as names in bindings and certificates:
    there is no account to disable. kubernetes.binding_names_leaver reports them."""
    return acc.system == "kubernetes" and acc.native_id.startswith(("User:", "Group:"))


def _account_hit(acc: Account, identity: str | None, evidence: dict, path: list[str] | None,
                 **kw) -> Hit:
    return Hit(subject=acc.node, system=acc.system, object_kind=acc.kind,
               object_id=acc.native_id, object_name=acc.login, identity=identity,
               evidence={"account_status": acc.status, "source": acc.source, **evidence},
               path=path, **kw)


@rule(id="account.active_after_termination",
      title="Active account of a terminated identity",
      severity="high",
      frameworks=[NHI1, CSF_AA01],
      remediation="Disable or delete the account in the system that holds it (removing the "
                  "person from the directory does not reach it), then re-run `residual verify`.")
def active_after_termination(ctx: RuleContext) -> Iterator[Hit]:
    """An account still active in a system, linked to an identity the roster says is
    terminated. (Pending invitations have their own rule: codehost.)"""
    for uid, link in ctx.links.items():
        if link.relation != "is":
            continue
        ident = ctx.identities.get(link.identity)
        acc = ctx.accounts.get(uid)
        if not ident or not acc or ident.status != "terminated" or acc.status != "active":
            continue
        if acc.kind in ("role", "group") or name_only(acc):
            continue
        yield _account_hit(acc, ident.id,
                           {"terminated_at": ident.terminated_at, "link": link.evidence,
                            "confidence": link.confidence,
                            "last_seen_at": acc.last_seen_at},
                           [ident.node, acc.node])


@rule(id="account.active_while_suspended",
      title="Identity suspended in the directory but active downstream",
      severity="medium",
      frameworks=[NHI1, CSF_AA01],
      remediation="Suspend or disable the downstream account too, or make the directory's "
                  "suspension propagate (SCIM deprovisioning) to this system.")
def active_while_suspended(ctx: RuleContext) -> Iterator[Hit]:
    """Suspension is meant to stop access at once; a downstream account left active
    means the suspension did not reach this system."""
    for uid, link in ctx.links.items():
        ident = ctx.identities.get(link.identity)
        acc = ctx.accounts.get(uid)
        if (link.relation == "is" and ident and acc and ident.status == "suspended"
                and acc.status == "active" and acc.kind not in ("role", "group")
                and not name_only(acc)):
            yield _account_hit(acc, ident.id, {"suspended_at": ident.terminated_at,
                                               "link": link.evidence}, [ident.node, acc.node])


@rule(id="account.unowned",
      title="Account that resolves to no roster identity",
      severity="low",
      frameworks=[NHI1, CSF_AA05],
      remediation="Find its owner and record it (a roster alias, an `owner` tag or "
                  "annotation), or delete the account.")
def unowned(ctx: RuleContext) -> Iterator[Hit]:
    """Nobody is accountable for an unowned account, so nobody will offboard it."""
    for uid, acc in ctx.accounts.items():
        if uid in ctx.links or acc.status not in LIVE_ACCOUNT or acc.kind not in HUMANLIKE:
            continue
        if acc.attributes.get("system_managed") or acc.attributes.get("dedicated_rules"):
            continue  # e.g. Kubernetes system:serviceaccount:kube-system:*; Entra apps (rules/entra.py)
        yield _account_hit(acc, None, {"created_at": acc.created_at,
                                       "last_seen_at": acc.last_seen_at}, [acc.node])
