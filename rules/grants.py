"""Grants that name a leaver: trust policies, and the principals they let in.

A role's trust policy is access that lives on the *role*, not on the person: deleting
the person's IAM user does not edit the policies that name their ARN (and an IAM user
recreated with the same name, e.g. by a Terraform apply, is trusted again).
"""

from __future__ import annotations

from typing import Iterator

from rules.base import CSF_AA05, NHI1, NHI5, Hit, rule
from rules.context import RuleContext
from scanner.core.model import Identity


def principal_identity(ctx: RuleContext, principal: str) -> tuple[Identity | None, str | None]:
    """The identity behind a principal string (an ARN, or an account uid), and the
    account node when there is one. Falls back to the ARN's last name matched against
    roster aliases (``aws:alice``), because the user may be deleted while the policy
    that names it stays."""
    acc = ctx.accounts.get(principal) or ctx.accounts_by_native_id.get(principal)
    if acc:
        ident = ctx.identity_of(acc.uid)
        return ident, acc.node
    if principal.startswith("arn:") and ":user/" in principal:
        name = principal.rsplit("/", 1)[-1].casefold()
        ident = ctx.leavers_by_aws_alias.get(f"aws:{name}")
        if ident:
            return ident, None
    return None, None


@rule(id="grant.trust_names_leaver",
      title="Trust policy lets a leaver's principal assume a role",
      severity="high",
      frameworks=[NHI1, NHI5, CSF_AA05],
      remediation="Remove the leaver's principal from the role's trust policy "
                  "(aws iam update-assume-role-policy), and check who assumed the role since "
                  "the termination date (CloudTrail AssumeRole events).")
def trust_names_leaver(ctx: RuleContext) -> Iterator[Hit]:
    """Roles whose trust policy names a terminated or suspended identity's principal."""
    for g in ctx.grants:
        if g.via != "trust":
            continue
        ident, acc_node = principal_identity(ctx, g.principal)
        if not ident or not ident.is_leaver:
            continue
        res = ctx.resources.get(g.resource)
        role_node = res.node if res else f"resource:{g.resource}"
        yield Hit(subject=role_node, system=g.system, object_kind="role",
                  object_id=res.native_id if res else g.resource,
                  object_name=res.name if res else g.resource, identity=ident.id,
                  evidence={"principal": g.principal, "permission": g.permission,
                            "principal_exists": acc_node is not None,
                            "terminated_at": ident.terminated_at},
                  path=[n for n in (ident.node, acc_node, role_node) if n])
