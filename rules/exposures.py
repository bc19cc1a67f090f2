"""Exposures: secrets found in files and git history (the IaC collector's Exposure records).

An exposure is a secret anyone with read access to the repository or directory holds. It
matters most when it is still a working key of someone: correlation (scanner/correlate.py)
ties it to the credential it exposes, and through that credential's holder to an identity.
"""

from __future__ import annotations

from typing import Iterator

from rules.base import CSF_AA01, NHI1, NHI2, NHI7, Hit, rule
from rules.context import RuleContext
from rules.credentials import is_live
from scanner.core.model import Credential, Exposure, Identity


def _iac(ctx: RuleContext) -> Iterator[Exposure]:
    return (e for e in ctx.exposures if e.system == "iac")


def _credential(ctx: RuleContext, e: Exposure) -> Credential | None:
    return ctx.credentials_by_uid.get(e.matched_credential or "")


def _holder_identity(ctx: RuleContext, c: Credential | None) -> Identity | None:
    if c is None:
        return None
    return ctx.identity_of(c.holder) or ctx.owner_of(c.holder)


def _hit(ctx: RuleContext, e: Exposure, cred: Credential | None = None, **kw) -> Hit:
    ident = _holder_identity(ctx, cred)
    acc = ctx.accounts.get(cred.holder or "") if cred else None
    path = [n for n in (ident.node if ident else None, acc.node if acc else None,
                        cred.node if cred else None, e.node) if n]
    evidence = {"detector": e.detector, "hint": e.hint, "source": e.source,
                "commit": e.commit, "in_head": e.in_head, "identifier": e.identifier,
                "verified": e.verified}
    if cred is not None:
        evidence.update({"credential": cred.uid, "credential_status": cred.status,
                         "holder": acc.login if acc else cred.holder})
    return Hit(subject=e.node, system=e.system, object_kind="secret",
               object_id=f"{e.location}:{e.line or 0}", object_name=e.hint,
               identity=ident.id if ident else None, evidence=evidence,
               location_path=e.location, location_line=e.line, path=path, **kw)


def _live_match(ctx: RuleContext, e: Exposure) -> Credential | None:
    c = _credential(ctx, e)
    return c if c is not None and is_live(c, ctx) else None


@rule(id="exposure.live_credential",
      title="Exposed secret is a live credential",
      severity="critical",
      frameworks=[NHI2, NHI1, CSF_AA01],
      remediation="Revoke the credential now (it works, and anyone who can read the file has "
                  "it), check its use since the commit that exposed it, then remove the secret "
                  "from the file.")
def live_credential(ctx: RuleContext) -> Iterator[Hit]:
    """A secret in a current file is the key/token/SSH key of an active credential."""
    for e in _iac(ctx):
        if e.in_head is False:
            continue
        cred = _live_match(ctx, e)
        if cred is not None:
            yield _hit(ctx, e, cred)


@rule(id="exposure.secret",
      title="Secret exposed in code or configuration",
      severity="high",
      frameworks=[NHI2, NHI7],
      remediation="Move the secret to a secret store, rotate it (assume it is known), and "
                  "remove it from the file.")
def exposed_secret(ctx: RuleContext) -> Iterator[Hit]:
    """A secret in a current file that matches no live credential in the inventory."""
    for e in _iac(ctx):
        if e.in_head is False or e.attributes.get("tfstate") or _live_match(ctx, e):
            continue
        yield _hit(ctx, e, _credential(ctx, e))


@rule(id="exposure.tfstate",
      title="Secrets in a Terraform state file",
      severity="high",
      frameworks=[NHI2],
      remediation="Keep state in an encrypted remote backend with restricted access, delete "
                  "it from the repository or share, and rotate the secrets it held.")
def tfstate(ctx: RuleContext) -> Iterator[Hit]:
    """Terraform state holds every managed secret in clear text."""
    for e in _iac(ctx):
        if e.attributes.get("tfstate") and e.in_head is not False:
            yield _hit(ctx, e, _credential(ctx, e))


@rule(id="exposure.history_live",
      title="Secret in git history is still valid",
      severity="high",
      frameworks=[NHI2, NHI7],
      remediation="Deleting the file did not revoke the secret: revoke/rotate the credential; "
                  "rewriting history is optional once it no longer works.")
def history_live(ctx: RuleContext) -> Iterator[Hit]:
    """A secret removed from the current tree but still in history, and still working."""
    for e in _iac(ctx):
        if e.in_head is not False:
            continue
        cred = _live_match(ctx, e)
        if cred is not None or e.verified == "valid":
            yield _hit(ctx, e, cred or _credential(ctx, e))


@rule(id="exposure.history_unverified",
      title="Secret in git history (validity unknown)",
      severity="low",
      frameworks=[NHI2],
      remediation="Confirm the secret was rotated after it was removed; if unsure, rotate it.")
def history_unverified(ctx: RuleContext) -> Iterator[Hit]:
    """A secret only in history that matches no live credential (it may still work on a
    system residual does not see)."""
    for e in _iac(ctx):
        if e.in_head is False and _live_match(ctx, e) is None and e.verified != "valid":
            yield _hit(ctx, e, _credential(ctx, e))
