"""Kubernetes: cluster access that survives offboarding.

The cluster does not ask the identity provider who has left. A RoleBinding keeps naming
a user's e-mail, a group keeps its binding after its last member left, an issued client
certificate works until it expires (Kubernetes has no revocation), a legacy
service-account token Secret works until someone deletes it, and the ``aws-auth``
ConfigMap or an EKS access entry keeps mapping an IAM user into the cluster. These rules
read what the Kubernetes collector (and, for EKS access entries, the AWS collector)
recorded; generic rules (credentials.py, accounts.py) cover the rest.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Iterator

from rules.base import CSF_AA01, CSF_AA05, NHI1, NHI2, NHI5, NHI7, Hit, rule
from rules.context import RuleContext
from rules.credentials import is_live
from rules.grants import principal_identity
from scanner.core.model import Account, Grant, Identity

LAYER = "kubernetes"


def _group_of(acc: Account | None) -> str | None:
    if acc and acc.system == "kubernetes" and acc.kind == "group" and acc.native_id.startswith("Group:"):
        return acc.native_id.split(":", 1)[1]
    return None


@dataclass(frozen=True)
class Member:
    """A known member of a Kubernetes group: who, and the record that says so."""

    identity: Identity | None
    evidence: str  # "client certificate CSR:alice", "aws-auth mapUsers arn:..."
    node: str | None  # graph node of that record (credential or account), if any


def group_members(ctx: RuleContext) -> dict[tuple[str, str], list[Member]]:
    """Kubernetes groups whose membership the inventory knows, per cluster (source):
    the O= groups of issued client certificates, and the groups that aws-auth entries and
    EKS access entries map IAM principals into. Groups from an identity provider's token
    (OIDC) are invisible to the cluster, so most groups have no known members."""
    members: dict[tuple[str, str], list[Member]] = defaultdict(list)
    for c in ctx.credentials:
        if c.system == "kubernetes" and c.kind == "client_cert":
            ident = ctx.identity_of(c.holder)
            for g in c.attributes.get("groups") or []:
                members[(c.source, g)].append(Member(ident, f"client certificate {c.native_id}", c.node))
    for g in ctx.grants:
        if g.via != "mapping":
            continue
        source = g.source
        if g.system != "kubernetes":  # an EKS access entry: the cluster's name is its label
            res = ctx.resources.get(g.resource)
            source = f"kubernetes:{res.name}" if res and res.name else g.resource
        ident, acc_node = principal_identity(ctx, g.principal)
        groups = g.attributes.get("groups")
        if groups is None:
            groups = [x for x in g.permission.partition("groups:")[2].split(",") if x]
        for group in groups:
            members[(source, group)].append(Member(ident, f"mapping {g.principal}", acc_node))
    return members


def _binding_hit(ctx: RuleContext, g: Grant, acc: Account, ident: Identity, evidence: dict,
                 via_node: str | None = None, **kw) -> Hit:
    res = ctx.resources.get(g.resource)
    res_node = res.node if res else f"resource:{g.resource}"
    return Hit(subject=g.node, system=g.system, object_kind="role_binding",
               object_id=g.attributes.get("binding") or g.node,
               object_name=f"{g.attributes.get('binding', '')} -> {g.permission}",
               identity=ident.id,
               evidence={"binding": g.attributes.get("binding"), "role": g.permission,
                         "role_kind": g.attributes.get("role_kind"),
                         "scope": res.name if res else g.resource, "subject": acc.native_id,
                         "identity_status": ident.status, "terminated_at": ident.terminated_at,
                         **evidence},
               location_path=g.attributes.get("binding"), layer=LAYER,
               path=[n for n in (ident.node, via_node, acc.node, res_node) if n], **kw)


@rule(id="kubernetes.binding_names_leaver",
      title="RBAC binding still grants a leaver access to the cluster",
      severity="high", layer=LAYER,
      frameworks=[NHI1, NHI5, CSF_AA05],
      remediation="Remove the subject from the RoleBinding / ClusterRoleBinding (kubectl edit, "
                  "or the manifest that owns it), and delete the binding if it has no other "
                  "subject. The identity provider's offboarding does not reach RBAC.")
def binding_names_leaver(ctx: RuleContext) -> Iterator[Hit]:
    """A RoleBinding or ClusterRoleBinding naming a leaver's user (by e-mail or roster
    alias), or a group whose only known members are leavers (client-certificate O=
    groups, aws-auth / access-entry groups): anyone who can still authenticate as them,
    or as that group, keeps the role."""
    members = None
    for g in ctx.grants:
        if g.via != "binding":
            continue
        acc = ctx.accounts.get(g.principal)
        if acc is None:
            continue
        if acc.kind == "user":
            ident = ctx.identity_of(acc.uid)
            if ident and ident.is_leaver:
                link = ctx.links[acc.uid]
                yield _binding_hit(ctx, g, acc, ident,
                                   {"link": link.evidence, "confidence": link.confidence},
                                   severity="medium" if link.confidence < 0.5 else None)
            continue
        group = _group_of(acc)
        if group is None or group.startswith("system:"):
            continue
        if members is None:
            members = group_members(ctx)
        known = members.get((g.source, group)) or []
        if not known or any(m.identity is None or not m.identity.is_leaver for m in known):
            continue
        seen: set[str] = set()
        for m in known:
            if m.identity.id in seen:
                continue
            seen.add(m.identity.id)
            yield _binding_hit(ctx, g, acc, m.identity,
                               {"group": group, "known_members": sorted({x.evidence for x in known}),
                                "membership": m.evidence},
                               via_node=m.node,
                               title=f"Binding of group {group}, whose only known members have left")


@rule(id="kubernetes.client_cert_of_leaver",
      title="A leaver's Kubernetes client certificate has not expired",
      severity="high", layer=LAYER,
      frameworks=[NHI1, NHI7, CSF_AA01],
      remediation="Client certificates cannot be revoked: remove every RBAC binding that "
                  "names the certificate's user and groups (O=) until it expires, or rotate "
                  "the cluster CA (re-issuing every certificate) if the groups include "
                  "system:masters or cannot be unbound.")
def client_cert_of_leaver(ctx: RuleContext) -> Iterator[Hit]:
    """An issued client certificate for a leaver's user that is still within its validity:
    it authenticates them until notAfter, whatever the identity provider says."""
    for c in ctx.credentials:
        if c.system != "kubernetes" or c.kind != "client_cert":
            continue
        ident = ctx.identity_of(c.holder)
        if not ident or not ident.is_leaver or c.status in ("revoked", "expired"):
            continue
        if c.expires_at is not None and c.expires_at <= ctx.now:
            continue
        acc = ctx.accounts.get(c.holder or "")
        until = c.expires_at.date().isoformat() if c.expires_at else "an unknown date"
        yield Hit(subject=c.node, system=c.system, object_kind=c.kind, object_id=c.native_id,
                  object_name=c.hint or c.name, identity=ident.id, layer=LAYER,
                  title=f"A leaver's client certificate stays valid until {until}",
                  evidence={"expires_at": c.expires_at, "groups": c.attributes.get("groups"),
                            "requestor": c.attributes.get("requestor"),
                            "days_left": round((c.expires_at - ctx.now).total_seconds() / 86400)
                            if c.expires_at else None,
                            "terminated_at": ident.terminated_at, "revocable": False},
                  path=[n for n in (ident.node, acc.node if acc else None, c.node) if n])


def _token_hit(ctx: RuleContext, c, ident: Identity | None, evidence: dict, **kw) -> Hit:
    acc = ctx.accounts.get(c.holder or "")
    return Hit(subject=c.node, system=c.system, object_kind=c.kind, object_id=c.native_id,
               object_name=c.name, identity=ident.id if ident else None, layer=LAYER,
               evidence={"service_account": acc.native_id if acc else c.holder,
                         "last_used_at": c.last_used_at, "created_at": c.created_at,
                         "hint": c.hint, **evidence},
               location_path=f"secrets/{c.name}",
               path=[n for n in ((ident.node if ident else None), acc.node if acc else None, c.node) if n],
               **kw)


@rule(id="kubernetes.legacy_token_unused",
      title="Long-lived service-account token Secret unused or never used",
      severity="medium", layer=LAYER,
      frameworks=[NHI7, NHI1, CSF_AA01],
      remediation="Delete the kubernetes.io/service-account-token Secret; workloads get "
                  "short-lived projected tokens (TokenRequest) instead. If something still "
                  "needs a long-lived token, it will fail loudly, not silently keep access.")
def legacy_token_unused(ctx: RuleContext) -> Iterator[Hit]:
    """A legacy token never expires. One that the tracking controller never saw in use,
    or not within ``unused_after_days``, is access nobody needs and anybody holding a copy
    can use. (The last-used label exists since Kubernetes 1.26; on older clusters a
    missing label means "not tracked", which the evidence says.)"""
    limit = ctx.policy.unused_after_days
    for c in ctx.credentials:
        if c.system != "kubernetes" or c.kind != "sa_token" or not c.attributes.get("legacy"):
            continue
        if not is_live(c, ctx):
            continue
        idle = ctx.days_since(c.last_used_at)
        if c.last_used_at is not None and idle is not None and idle < limit:
            continue
        ident = ctx.owner_of(c.holder) or ctx.identity_of(c.holder)
        yield _token_hit(ctx, c, ident, {"never_used": c.last_used_at is None,
                                         "unused_days": int(idle) if idle is not None else None,
                                         "policy_days": limit,
                                         "last_used_tracked": c.attributes.get("last_used_label")})


@rule(id="kubernetes.sa_token_owner_left",
      title="Service-account token whose service account's owner has left",
      severity="high", layer=LAYER,
      frameworks=[NHI1, NHI7, CSF_AA01],
      remediation="Delete the token Secret (the leaver may hold a copy), assign the service "
                  "account a new owner (the owner annotation), and let its workloads use "
                  "projected tokens.")
def sa_token_owner_left(ctx: RuleContext) -> Iterator[Hit]:
    """The person accountable for a service account left, and its long-lived token is
    still valid: they could have copied it, and nobody now answers for it."""
    for c in ctx.credentials:
        if c.system != "kubernetes" or c.kind != "sa_token" or not is_live(c, ctx):
            continue
        owner = ctx.owner_of(c.holder)
        if not owner or not owner.is_leaver:
            continue
        used_after = bool(owner.terminated_at and c.last_used_at and c.last_used_at > owner.terminated_at)
        yield _token_hit(ctx, c, owner, {"owner": owner.id, "owner_status": owner.status,
                                         "owner_terminated_at": owner.terminated_at,
                                         "used_after_owner_left": used_after})


@rule(id="kubernetes.mapping_names_leaver",
      title="IAM-to-cluster mapping lets a leaver's IAM principal into the cluster",
      severity="high", layer=LAYER,
      frameworks=[NHI1, NHI5, CSF_AA05],
      remediation="Remove the entry from the aws-auth ConfigMap (kube-system) or delete the "
                  "EKS access entry (aws eks delete-access-entry). Deleting the IAM user alone "
                  "is not enough: a user recreated with the same name is let in again.")
def mapping_names_leaver(ctx: RuleContext) -> Iterator[Hit]:
    """aws-auth mapUsers/mapRoles and EKS access entries that map a leaver's IAM principal
    (matched to the IAM account linked to them, or to an ARN whose user name is their
    ``aws:`` alias) to a Kubernetes user and groups."""
    for g in ctx.grants:
        if g.via != "mapping":
            continue
        ident, acc_node = principal_identity(ctx, g.principal)
        if not ident or not ident.is_leaver:
            continue
        res = ctx.resources.get(g.resource)
        res_node = res.node if res else f"resource:{g.resource}"
        where = g.attributes.get("configmap") or "EKS access entry"
        yield Hit(subject=g.node, system=g.system, object_kind="iam_mapping",
                  object_id=g.principal, object_name=f"{where}: {g.permission}",
                  identity=ident.id, layer=LAYER,
                  evidence={"principal": g.principal, "mapped_to": g.permission,
                            "where": where, "cluster": res.name if res else g.resource,
                            "principal_exists": acc_node is not None,
                            "terminated_at": ident.terminated_at},
                  location_path=g.attributes.get("configmap"),
                  path=[n for n in (ident.node, acc_node or f"principal:{g.principal}", res_node) if n])


@rule(id="kubernetes.secret_holds_live_credential",
      title="A live credential sits in a Kubernetes Secret or ConfigMap",
      severity="critical", layer=LAYER,
      frameworks=[NHI2, NHI1, CSF_AA01],
      remediation="Revoke and rotate the credential at its issuer first (everyone who can read "
                  "the Secret or ConfigMap has it), then remove it from the object; give the "
                  "workload its own identity (IRSA / workload identity) instead of a person's key.")
def secret_holds_live_credential(ctx: RuleContext) -> Iterator[Hit]:
    """A value in a Secret or ConfigMap (or a kubeconfig the collector was given) that
    correlation matched to a credential still live in the inventory. Critical when it is
    a person's or a leaver's credential, or sits in a ConfigMap (readable as plain
    configuration); an NHI's own credential stored in a Secret, where it belongs, is medium."""
    for e in ctx.exposures:
        if e.system != "kubernetes" or not e.matched_credential:
            continue
        c = ctx.credentials_by_uid.get(e.matched_credential)
        if c is None or not is_live(c, ctx):
            continue
        ident = ctx.identity_of(c.holder)
        owner = ctx.owner_of(c.holder)
        expected = (e.attributes.get("kind") == "Secret" and ident is not None
                    and ident.kind != "human" and not ident.is_leaver
                    and not (owner and owner.is_leaver))
        who = ident if ident and (ident.is_leaver or not (owner and owner.is_leaver)) else (owner or ident)
        acc = ctx.accounts.get(c.holder or "")
        yield Hit(subject=e.node, system=e.system, object_kind=c.kind, object_id=c.native_id,
                  object_name=f"{e.detector} {e.hint}", identity=who.id if who else None,
                  layer=LAYER, severity="medium" if expected else None,
                  evidence={"location": e.location, "context": e.context, "hint": e.hint,
                            "credential": c.uid, "credential_status": c.status,
                            "credential_system": c.system, "last_used_at": c.last_used_at},
                  location_path=e.location, location_line=e.line,
                  path=[n for n in ((who.node if who else None), acc.node if acc else None, c.node, e.node) if n])
