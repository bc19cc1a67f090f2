"""References: files that still name a leaver.

The IaC collector records candidate names (e-mails, IAM ARNs, AWS key ids, handles in
structured places) without knowing the roster. These rules resolve them against the
roster, the accounts and the credentials of the scan, and flag those naming a leaver:
a leftover (a CODEOWNERS line, a workflow, a manifest) or, worse, IaC that would recreate
the leaver's account or access on the next apply.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Iterator

from rules.base import CSF_AA01, CSF_AA05, NHI1, Hit, rule
from rules.context import RuleContext
from scanner.core.model import Identity, Reference


def _n(s: str | None) -> str:
    return (s or "").strip().casefold()


@dataclass
class NameIndex:
    """Every name under which the scan knows an identity."""

    emails: dict[str, Identity] = field(default_factory=dict)
    aliases: dict[tuple[str, str], Identity] = field(default_factory=dict)
    handles: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    native: dict[str, Identity] = field(default_factory=dict)  # ARNs, logins, key ids

    @classmethod
    def build(cls, ctx: RuleContext) -> "NameIndex":
        idx = cls()
        for ident in ctx.identities.values():
            for e in ident.emails + ([ident.id] if "@" in ident.id else []):
                idx.emails[_n(e)] = ident
            for alias in ident.aliases:
                system, _, handle = alias.partition(":")
                idx.aliases[(_n(system), _n(handle))] = ident
                idx.handles[_n(handle)].add(ident.id)
        for uid, acc in ctx.accounts.items():
            ident = ctx.identity_of(uid)
            if ident:
                idx.native[_n(acc.native_id)] = ident
                if acc.login:
                    idx.aliases.setdefault((_n(acc.system), _n(acc.login)), ident)
                    idx.handles[_n(acc.login)].add(ident.id)
        for c in ctx.credentials:
            ident = ctx.identity_of(c.holder)
            if ident:
                for key in (c.native_id, c.name, (c.attributes or {}).get("access_key_id")):
                    if key:
                        idx.native[_n(str(key))] = ident
        return idx

    def resolve(self, ref: Reference, ctx: RuleContext) -> tuple[Identity | None, str]:
        m = _n(ref.matched)
        kind = ref.attributes.get("kind")
        system = _n(ref.attributes.get("system"))
        if m in self.emails:
            return self.emails[m], "email"
        if m in self.native:
            return self.native[m], "inventory"
        if kind == "arn" and "/" in m and (":user/" in m):
            name = m.rsplit("/", 1)[-1]
            ident = self.aliases.get(("aws", name))
            return (ident, "alias") if ident else (None, "")
        if kind == "handle":
            if system and (system, m) in self.aliases:
                return self.aliases[(system, m)], "alias"
            if not system:
                ids = self.handles.get(m) or set()
                if len(ids) == 1:
                    return ctx.identities.get(next(iter(ids))), "alias"
        return None, ""


def _leaver_refs(ctx: RuleContext) -> Iterator[tuple[Reference, Identity, str]]:
    idx = NameIndex.build(ctx)
    # a key id that is part of an exposed secret is reported once, as the exposure
    exposed = {(e.source, e.location, e.line, e.identifier) for e in ctx.exposures if e.identifier}
    for ref in ctx.references:
        if ref.system != "iac" or ref.in_head is False:
            continue
        if (ref.source, ref.location, ref.line, ref.matched) in exposed:
            continue
        ident, how = idx.resolve(ref, ctx)
        if ident is not None and ident.is_leaver:
            yield ref, ident, how


def _hit(ref: Reference, ident: Identity, how: str) -> Hit:
    return Hit(subject=ref.node, system=ref.system, object_kind="reference",
               object_id=f"{ref.location}:{ref.line or 0}", object_name=ref.matched,
               identity=ident.id,
               evidence={"matched": ref.matched, "context": ref.context, "resolved_by": how,
                         "source": ref.source, "commit": ref.commit,
                         "identity_status": ident.status, "terminated_at": ident.terminated_at,
                         **{k: v for k, v in ref.attributes.items() if v not in (None, "")}},
               location_path=ref.location, location_line=ref.line,
               path=[ident.node, ref.node])


@rule(id="reference.recreates_leaver",
      title="IaC would recreate a leaver's account or access",
      severity="high",
      frameworks=[NHI1, CSF_AA01, CSF_AA05],
      remediation="Remove the resource (user, membership, key, binding, trust) from the code "
                  "before the next apply recreates it; remove it from state if already deleted.")
def recreates_leaver(ctx: RuleContext) -> Iterator[Hit]:
    """aws_iam_user / github_membership / RoleBinding subjects / trust policies... naming a
    leaver: the next `terraform apply` or `kubectl apply` gives the access back."""
    for ref, ident, how in _leaver_refs(ctx):
        if ref.attributes.get("recreates"):
            yield _hit(ref, ident, how)


@rule(id="reference.leaver",
      title="Leftover reference to a leaver in code or configuration",
      severity="medium",
      frameworks=[NHI1, CSF_AA01],
      remediation="Replace the leaver (CODEOWNERS, workflow, manifest, tag) with a current "
                  "owner, or remove the line.")
def leftover(ctx: RuleContext) -> Iterator[Hit]:
    """A CODEOWNERS line, a workflow, a manifest or a tag still naming a leaver."""
    for ref, ident, how in _leaver_refs(ctx):
        if not ref.attributes.get("recreates"):
            yield _hit(ref, ident, how)
