"""Resolve: which identity is behind each account, with the evidence and a confidence.

Strongest evidence first; the first rule that links an account wins:

| evidence          | confidence | where it comes from                                        |
|-------------------|-----------:|------------------------------------------------------------|
| alias             | 1.00 | roster ``aliases`` (``github:alice-gh``) naming the account's login |
| email             | 0.95 | the account's e-mail equals one of the identity's (case-folded)  |
| external_email    | 0.95 | SAML nameId / SCIM / GitLab identities (``attributes.linked_emails``) |
| tag:email         | 0.90 | a cloud tag ``email`` on an IAM user or role                     |
| tag:owner / owner | 0.85 | a cloud tag or annotation ``owner``: the identity *owns* the NHI  |
| ssh_key           | 0.80 | the same SSH public key on an account already linked             |
| login~localpart   | 0.40 | the login equals the e-mail's local part (weak, recorded as such) |

An account linked to nobody is *unowned*. Links with relation ``owns`` make the identity
the accountable owner of a non-human account, not the account itself.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Iterable

from collectors.base import Scope
from scanner.core.model import Account, Credential, Identity, Link, Resource
from scanner.core.store import paused_gc

OWNER_KEYS = ("owner", "owner_email", "created-by", "created_by", "residual.io/owner",
              "app.kubernetes.io/owner", "contact")
EMAIL_KEYS = ("email", "mail", "user_email")


def _norm(s: str | None) -> str:
    return (s or "").strip().casefold()


def _account_handles(acc: Account) -> set[str]:
    """Every name under which an alias may refer to this account."""
    handles = {_norm(acc.login), _norm(acc.native_id)}
    nid = acc.native_id
    if "/" in nid:  # ARNs (arn:aws:iam::1:user/path/alice), k8s ns/name
        handles.add(_norm(nid.rsplit("/", 1)[-1]))
    if ":" in nid:  # User:alice, ServiceAccount:ns/name
        handles.add(_norm(nid.split(":", 1)[1]))
    return {h for h in handles if h}


def _tags(acc: Account) -> dict[str, str]:
    tags = acc.attributes.get("tags") or {}
    labels = acc.attributes.get("annotations") or {}
    if not tags and not labels:
        return {}
    merged = {**{str(k).lower(): str(v) for k, v in labels.items()},
              **{str(k).lower(): str(v) for k, v in tags.items()}}
    return merged


@dataclass
class Resolver:
    identities: list[Identity]
    by_email: dict[str, Identity] = field(default_factory=dict)
    by_alias: dict[tuple[str, str], Identity] = field(default_factory=dict)
    by_local: dict[str, Identity | None] = field(default_factory=dict)
    by_id: dict[str, Identity] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for ident in self.identities:
            self.by_id[_norm(ident.id)] = ident
            for e in ident.emails + ([ident.id] if "@" in ident.id else []):
                self.by_email[_norm(e)] = ident
                local = _norm(e.split("@", 1)[0])
                # a local part shared by two identities is no evidence at all
                self.by_local[local] = None if local in self.by_local and self.by_local[local] is not ident else ident
            for alias in ident.aliases:
                # "scim:slack:bob" names system "scim:slack": register every split point
                parts = alias.split(":")
                for i in range(1, len(parts)):
                    self.by_alias[(_norm(":".join(parts[:i])), _norm(":".join(parts[i:])))] = ident

    def find(self, text: str) -> Identity | None:
        """An identity named by an id, e-mail or alias handle (for ``verify``)."""
        t = _norm(text)
        if t in self.by_id:
            return self.by_id[t]
        if t in self.by_email:
            return self.by_email[t]
        matches = {id(i): i for (s, h), i in self.by_alias.items() if h == t or f"{s}:{h}" == t}
        return next(iter(matches.values())) if len(matches) == 1 else None

    def tagged_owners(self, rec: Account | Resource) -> list[tuple[str, str, Identity]]:
        """(key, value, identity) for each owner tag or annotation of an account or a
        resource that names a roster identity: ``link`` keeps the first as the account's
        owner; the BloodHound export draws every one as an edge."""
        tags = _tags(rec) if rec.attributes else {}
        out = []
        for key in OWNER_KEYS if tags else ():
            value = _norm(tags.get(key))
            ident = self.by_email.get(value) or self.by_id.get(value)
            if ident:
                out.append((key, value, ident))
        return out

    def link(self, acc: Account) -> Link | None:
        uid = acc.uid
        system = _norm(acc.system)
        for h in _account_handles(acc):
            ident = self.by_alias.get((system, h)) or self.by_alias.get((_norm(acc.source), h))
            if ident:
                return Link(uid, ident.id, "alias", 1.0, f"{system}:{h}")
        for candidate in (acc.email, acc.login if "@" in (acc.login or "") else None):
            ident = self.by_email.get(_norm(candidate))
            if ident:
                return Link(uid, ident.id, "email", 0.95, _norm(candidate))
        for e in (acc.attributes.get("linked_emails") or []) if acc.attributes else ():
            ident = self.by_email.get(_norm(e))
            if ident:
                return Link(uid, ident.id, "external_email", 0.95, _norm(e))
        tags = _tags(acc) if acc.attributes else {}
        for key in EMAIL_KEYS if tags else ():
            ident = self.by_email.get(_norm(tags.get(key)))
            if ident:
                return Link(uid, ident.id, f"tag:{key}", 0.9, _norm(tags.get(key)))
        for key, value, ident in self.tagged_owners(acc)[:1]:
            return Link(uid, ident.id, f"tag:{key}", 0.85, value, relation="owns")
        local = self.by_local.get(_norm(acc.login))
        if local is not None and acc.kind == "user":
            return Link(uid, local.id, "login~localpart", 0.4, _norm(acc.login))
        return None


def identities_named(inv, scan_id: str, names: Iterable[str]) -> list[Identity]:
    """The roster identities a ``Resolver.find`` of these names could return, read with
    a DuckDB filter instead of loading the whole roster (60k identities at 10k people):
    every identity whose id, an e-mail, an alias or an alias's handle equals a name.
    A superset of the true matches, so ``Resolver(...).find`` over it answers as over
    the whole roster; when nothing matches, the whole roster (exotic case-folding)."""
    wanted = sorted({_norm(n) for n in names if _norm(n)})
    if not wanted:
        return []
    rows = inv.load(
        Identity, scan_id,
        "lower(trim(id)) IN (SELECT unnest(?::VARCHAR[])) "
        "OR len(list_intersect(list_transform(emails, lambda e: lower(trim(e))), ?::VARCHAR[])) > 0 "
        "OR len(list_intersect(list_transform(aliases, lambda a: lower(trim(a))), ?::VARCHAR[])) > 0 "
        "OR len(list_intersect(list_transform(aliases, lambda a: lower(trim(substr(a, strpos(a, ':') + 1)))), "
        "?::VARCHAR[])) > 0",
        [wanted, wanted, wanted, wanted])
    return rows or inv.load(Identity, scan_id)


def resolve(identities: list[Identity], accounts: Iterable[Account],
            credentials: Iterable[Credential] = ()) -> list[Link]:
    with paused_gc():  # hundreds of thousands of accounts and links: see paused_gc
        return _resolve(identities, accounts, credentials)


def _resolve(identities: list[Identity], accounts: Iterable[Account],
             credentials: Iterable[Credential]) -> list[Link]:
    resolver = Resolver(identities)
    links: dict[str, Link] = {}
    unlinked: list[Account] = []
    for acc in accounts:
        link = resolver.link(acc)
        if link:
            links[acc.uid] = link
        else:
            unlinked.append(acc)
    if unlinked:
        _link_by_ssh_key(unlinked, credentials, links)
    return list(links.values())


def _link_by_ssh_key(unlinked: list[Account], credentials: Iterable[Credential],
                     links: dict[str, Link]) -> None:
    """The same public key on a linked account and an unlinked one links the second."""
    keys_by_holder: dict[str, set[str]] = defaultdict(set)
    for c in credentials:
        if c.kind == "ssh_key" and c.holder and c.fingerprint:
            keys_by_holder[c.holder].add(c.fingerprint)
    owner_of_key: dict[str, str] = {}
    for holder, fps in keys_by_holder.items():
        link = links.get(holder)
        if link and link.relation == "is":
            for fp in fps:
                owner_of_key[fp] = link.identity
    for acc in unlinked:
        for fp in keys_by_holder.get(acc.uid, ()):
            if fp in owner_of_key:
                links[acc.uid] = Link(acc.uid, owner_of_key[fp], "ssh_key", 0.8, fp)
                break


def scope_for(identities: list[Identity], accounts: Iterable[Account], links: list[Link],
              only: set[str] | None = None) -> Scope:
    """The deep pass's scope: accounts of leavers, unowned accounts, NHIs whose owner left.
    With ``only`` (identity ids), just those identities' accounts (targeted verify)."""
    by_id = {i.id: i for i in identities}
    leavers = {i.id for i in identities if i.is_leaver}
    owners_left = {i.id for i in identities if i.owner and i.owner in leavers}
    link_of = {l.account: l for l in links}
    scope = Scope()
    for acc in accounts:
        link = link_of.get(acc.uid)
        if only is not None:
            wanted = link is not None and link.identity in only
        else:
            wanted = (link is None or link.identity in leavers or link.identity in owners_left
                      or (link.relation == "owns" and link.identity in leavers))
        if wanted:
            scope.accounts.add(acc.uid)
            scope.logins.setdefault(acc.system, set()).add(acc.login or acc.native_id)
    for ident_id in (only or leavers):
        ident = by_id.get(ident_id)
        if ident:
            scope.identities.add(ident.id)
            scope.emails.update(ident.emails)
            for alias in ident.aliases:
                system, _, handle = alias.partition(":")
                scope.logins.setdefault(system, set()).add(handle)
    return scope
