"""Code hosts (GitHub, GitLab): residue the generic account and credential rules miss.

Written over the shared record conventions, so they fire for every code host whose
collector follows them:
- a pending invitation is Account(status="pending", email=invitee);
- CI secrets/variables are Resource(kind="ci_secret"|"ci_variable") with
  ``attributes.parent`` = the repo/org/group/project resource uid, and who may read them
  is a Grant on that parent;
- a deploy key is Credential(kind="deploy_key") with attributes ``read_only`` and
  ``added_by`` (the adder's login), holder = the adder's account when known.

Not here, on purpose: an outside collaborator who left is an active account of a
terminated identity, which ``account.active_after_termination`` already reports.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Iterator

from rules.base import CSF_AA01, CSF_AA05, NHI1, NHI2, NHI5, NHI7, Hit, rule
from rules.context import RuleContext
from scanner.core.model import Account, Credential, Grant, Identity

CODE_HOSTS = ("github", "gitlab")
CI_SECRET_KINDS = ("ci_secret", "ci_variable")
# who can read a CI secret: GitHub admin/maintain/write (a workflow they push can print
# it), GitLab maintainer/owner (settings show variables); org/group owners
SECRET_READERS = {"admin", "maintain", "write", "push", "maintainer", "owner"}


def _code_host(system: str) -> bool:
    return system.split(":", 1)[0] in CODE_HOSTS


def _norm(s: str | None) -> str:
    return (s or "").strip().casefold()


def _leaver_by_email(ctx: RuleContext, email: str | None) -> Identity | None:
    e = _norm(email)
    if not e:
        return None
    for ident in ctx.leavers.values():
        if e in {_norm(x) for x in ident.emails} or e == _norm(ident.id):
            return ident
    return None


@rule(id="codehost.invitation_to_leaver",
      title="Pending invitation to a leaver",
      severity="high",
      frameworks=[NHI1, CSF_AA01],
      remediation="Cancel the invitation (GitHub: Organization settings > People > Invitations; "
                  "GitLab: the group's or project's Members > Invited), then re-run `residual verify`.")
def invitation_to_leaver(ctx: RuleContext) -> Iterator[Hit]:
    """A pending invitation gives back access the moment it is accepted, to whoever
    controls the leaver's mailbox or account."""
    for uid, acc in ctx.accounts.items():
        if acc.status != "pending" or not _code_host(acc.system):
            continue
        ident = ctx.identity_of(uid)
        if ident is None or not ident.is_leaver:
            ident = _leaver_by_email(ctx, acc.email)
        if ident is None or not ident.is_leaver:
            continue
        yield Hit(subject=acc.node, system=acc.system, object_kind="invitation",
                  object_id=acc.native_id, object_name=acc.email or acc.login, identity=ident.id,
                  evidence={"invitee": acc.email or acc.login, "invited_at": acc.created_at,
                            "inviter": acc.attributes.get("inviter"), "source": acc.source,
                            "identity_status": ident.status, "terminated_at": ident.terminated_at},
                  path=[ident.node, acc.node])


def _readers(ctx: RuleContext) -> dict[str, list[Grant]]:
    out: dict[str, list[Grant]] = defaultdict(list)
    for g in ctx.grants:
        if _norm(g.permission) in SECRET_READERS and _code_host(g.system):
            out[g.resource].append(g)
    return out


@rule(id="codehost.ci_secret_not_rotated",
      title="Rotate this shared secret: a leaver could read it and it was not rotated since",
      severity="high",
      frameworks=[NHI1, NHI2, NHI7, CSF_AA01],
      remediation="Rotate the secret at its issuer (new value), update the CI secret or "
                  "variable, and revoke the old value; removing the leaver does not take back "
                  "a copy they may have made.")
def ci_secret_not_rotated(ctx: RuleContext) -> Iterator[Hit]:
    """A terminated person with admin/maintain/write on a repository or organization
    (GitLab: maintainer or owner on a project or group) could read its Actions secrets or
    CI variables; a secret last updated before their termination may still be in their
    hands. When the host gives no update time, rotation cannot be proved (medium)."""
    readers = _readers(ctx)
    for res in ctx.resources.values():
        if res.kind not in CI_SECRET_KINDS or not _code_host(res.system):
            continue
        parent = res.attributes.get("parent")
        seen: set[str] = set()
        for g in readers.get(parent, []):
            ident = ctx.identity_of(g.principal)
            if ident is None or ident.status != "terminated" or not ident.terminated_at:
                continue
            if ident.id in seen:
                continue
            if res.updated_at is not None and res.updated_at >= ident.terminated_at:
                continue  # rotated since
            seen.add(ident.id)
            acc = ctx.accounts.get(g.principal)
            parent_res = ctx.resources.get(parent or "")
            yield Hit(subject=res.node, system=res.system, object_kind=res.kind,
                      object_id=res.native_id, object_name=res.name, identity=ident.id,
                      severity=None if res.updated_at is not None else "medium",
                      evidence={"updated_at": res.updated_at, "terminated_at": ident.terminated_at,
                                "rotation": "before termination" if res.updated_at else "unknown",
                                "parent": parent_res.native_id if parent_res else parent,
                                "permission": g.permission, "via": g.via,
                                "team": g.attributes.get("team"),
                                "account": acc.login if acc else g.principal},
                      path=[n for n in (ident.node, acc.node if acc else None,
                                        parent_res.node if parent_res else None, res.node) if n])


def _adder(ctx: RuleContext, c: Credential) -> Account | None:
    if c.holder and c.holder in ctx.accounts:
        return ctx.accounts[c.holder]
    added_by = c.attributes.get("added_by")
    if not added_by:
        return None
    acc = ctx.accounts.get(f"{c.source}|{added_by}")
    if acc:
        return acc
    return next((a for a in ctx.accounts.values()
                 if a.source == c.source and _norm(a.login) == _norm(str(added_by))), None)


@rule(id="codehost.deploy_key_write_by_leaver",
      title="Deploy key with write access added by a leaver",
      severity="high",
      frameworks=[NHI1, NHI5, CSF_AA05],
      remediation="Delete the deploy key (repository Settings > Deploy keys), add a new "
                  "read-only key owned by a current team member or a managed identity if one is "
                  "still needed, and review recent pushes made with it.")
def deploy_key_write_by_leaver(ctx: RuleContext) -> Iterator[Hit]:
    """The private half of a deploy key lives wherever its adder put it (their laptop, a
    personal CI); with write access it can push code, whoever runs it now."""
    for c in ctx.credentials:
        if c.kind != "deploy_key" or not _code_host(c.system):
            continue
        if c.attributes.get("read_only", True) is not False or c.status != "active":
            continue
        if c.expires_at is not None and c.expires_at <= ctx.now:
            continue
        acc = _adder(ctx, c)
        ident = ctx.identity_of(acc.uid) if acc else None
        if ident is None or not ident.is_leaver:
            continue
        yield Hit(subject=c.node, system=c.system, object_kind="deploy_key", object_id=c.native_id,
                  object_name=c.name, identity=ident.id,
                  evidence={"repo": c.attributes.get("repo"), "added_by": c.attributes.get("added_by"),
                            "read_only": False, "created_at": c.created_at,
                            "last_used_at": c.last_used_at, "fingerprint": c.fingerprint,
                            "identity_status": ident.status, "terminated_at": ident.terminated_at},
                  path=[n for n in (ident.node, acc.node if acc else None, c.node) if n])
