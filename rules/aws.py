"""AWS residue that the generic rules do not see.

Already covered generically, and so not repeated here: a leaver's IAM user
(``account.active_after_termination``), keys/password/SSH keys (``credential.*``), a
role trust policy naming them (``grant.trust_names_leaver``), an IAM user or role whose
``owner`` tag names a leaver (``nhi.owner_terminated``).

What only AWS records say:
- a Secrets Manager secret whose ``owner`` tag names a leaver and whose value has not
  changed since they left: they may hold a copy, and nothing else will prompt a rotation;
- an EKS access entry mapping a leaver's IAM principal into a cluster: a path from IAM
  into Kubernetes that survives the IAM user's deletion (a recreated user of the same
  name is let in again);
- an IAM Identity Center account assignment of a leaver: it is what grants SSO access to
  the account, and it outlives a disabled directory user.
"""

from __future__ import annotations

from datetime import datetime
from typing import Iterator

from rules.base import CSF_AA01, CSF_AA05, NHI1, NHI2, NHI7, Hit, rule
from rules.context import RuleContext
from rules.grants import principal_identity
from scanner.core.model import Identity
from scanner.core.timeparse import parse_time

OWNER_TAGS = ("owner", "owner_email", "created-by", "created_by", "contact")


def _identity_named(ctx: RuleContext, value: str) -> Identity | None:
    v = (value or "").strip().casefold()
    if not v:
        return None
    for ident in ctx.identities.values():
        if ident.id.casefold() == v or v in (e.casefold() for e in ident.emails):
            return ident
    return None


def _when(value: str | None) -> datetime | None:
    return parse_time(value)


@rule(id="aws.secret_owner_left",
      title="Secret owned by a leaver, unchanged since they left",
      severity="medium",
      frameworks=[NHI1, NHI2, NHI7, CSF_AA01],
      remediation="Rotate the secret (aws secretsmanager rotate-secret, or put a new value "
                  "and update its consumers), and tag it with a new owner.")
def secret_owner_left(ctx: RuleContext) -> Iterator[Hit]:
    """The owner of a shared secret has seen its value. Until the value changes after
    their termination, a leaver may still use it."""
    for res in ctx.resources.values():
        if res.system != "aws" or res.kind != "secret_store":
            continue
        tags = {str(k).lower(): str(v) for k, v in (res.attributes.get("tags") or {}).items()}
        owner = next((_identity_named(ctx, tags[k]) for k in OWNER_TAGS if k in tags), None)
        if owner is None or not owner.is_leaver or owner.terminated_at is None:
            continue
        changed = _when(res.attributes.get("last_rotated_at")) or \
            _when(res.attributes.get("last_changed_at")) or res.updated_at
        if changed is not None and changed > owner.terminated_at:
            continue
        yield Hit(subject=res.node, system=res.system, object_kind="secret_store",
                  object_id=res.native_id, object_name=res.name, identity=owner.id,
                  evidence={"owner_tag": owner.id, "terminated_at": owner.terminated_at,
                            "last_changed_at": changed,
                            "rotation_enabled": res.attributes.get("rotation_enabled"),
                            "region": res.attributes.get("region")},
                  path=[owner.node, res.node])


@rule(id="aws.eks_access_entry_leaver",
      title="EKS access entry maps a leaver's IAM principal into a cluster",
      severity="high",
      frameworks=[NHI1, CSF_AA05],
      remediation="Delete the access entry (aws eks delete-access-entry --cluster-name ... "
                  "--principal-arn ...), and remove the principal from the aws-auth ConfigMap "
                  "if the cluster also uses it.")
def eks_access_entry_leaver(ctx: RuleContext) -> Iterator[Hit]:
    """Access entries outlive the IAM user they name."""
    for g in ctx.grants:
        if g.via != "mapping" or g.system != "aws" or g.attributes.get("mapping") != "eks_access_entry":
            continue
        ident, acc_node = principal_identity(ctx, g.principal)
        if not ident or not ident.is_leaver:
            continue
        cluster = ctx.resources.get(g.resource)
        node = cluster.node if cluster else f"resource:{g.resource}"
        yield Hit(subject=f"{node}#access_entry:{g.principal}", system=g.system,
                  object_kind="eks_access_entry", object_id=g.principal,
                  object_name=f"{cluster.name if cluster else g.resource}: {g.permission}",
                  identity=ident.id,
                  evidence={"principal": g.principal, "permission": g.permission,
                            "cluster": cluster.native_id if cluster else g.resource,
                            "principal_exists": acc_node is not None,
                            "terminated_at": ident.terminated_at},
                  path=[n for n in (ident.node, acc_node, node) if n])


@rule(id="aws.identity_center_assignment_leaver",
      title="Identity Center account assignment of a leaver",
      severity="high",
      frameworks=[NHI1, CSF_AA05],
      remediation="Remove the account assignment (aws sso-admin delete-account-assignment) "
                  "and disable or delete the Identity Center user.")
def identity_center_assignment_leaver(ctx: RuleContext) -> Iterator[Hit]:
    for g in ctx.grants:
        if g.via != "assignment" or g.system != "aws":
            continue
        ident = ctx.identity_of(g.principal)
        acc = ctx.accounts.get(g.principal)
        if not ident or not ident.is_leaver or acc is None or acc.status != "active":
            continue
        ps = ctx.resources.get(g.resource)
        node = ps.node if ps else f"resource:{g.resource}"
        yield Hit(subject=f"{node}#{g.permission}", system=g.system,
                  object_kind="account_assignment", object_id=f"{acc.native_id}->{g.resource}",
                  object_name=f"{acc.login} -> {ps.name if ps else g.resource} ({g.permission})",
                  identity=ident.id,
                  evidence={"permission_set": ps.native_id if ps else g.resource,
                            "target": g.permission, "terminated_at": ident.terminated_at},
                  path=[ident.node, acc.node, node])
