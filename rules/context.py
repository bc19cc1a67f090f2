"""What a rule sees: ``RuleContext``, one scan's records with the indexes rules need.

Rules import it from here, beside them, not from the engine that runs them. Every index
is a typed, cached property of the context (built once, on first use), never an
attribute a rule writes onto it. The engine builds a context from the inventory
(scanner.engine.load_context); tests build one from records (context_from_records).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from typing import TYPE_CHECKING, Any

from scanner.core.graph import build_graph, path_between
from scanner.core.model import (
    Account, Activity, Coverage, Credential, Exposure, Grant, Identity, Link, Reference, Resource,
)
from scanner.core.options import Policy

if TYPE_CHECKING:  # networkx costs half a second to import: only when a graph is built
    import networkx as nx

# Above this many records a finding path is looked for only in the identity's
# neighbourhood graph (RuleContext.graph_for), never in a whole-estate graph.
WHOLE_GRAPH_MAX_RECORDS = 200_000


@dataclass
class RuleContext:
    """Everything a rule may read: one scan's records, the roster, the links, the policy."""

    scan_id: str
    now: datetime
    policy: Policy
    identities: dict[str, Identity]
    accounts: dict[str, Account]
    credentials: list[Credential]
    grants: list[Grant]
    resources: dict[str, Resource]
    links: dict[str, Link]
    exposures: list[Exposure]
    references: list[Reference]
    coverage: list[Coverage]
    activities: list[Activity] = field(default_factory=list)  # provider events (sign-ins, audits)
    _graph_cache: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    # --- lookups rules need over and over ---------------------------------------
    @cached_property
    def trees_by_node(self) -> dict[str, tuple[str, str]]:
        """Each record of a local IaC tree by node: (its source, the tree's identity)."""
        return {r.node: (r.source, r.attributes["tree"])
                for r in (*self.exposures, *self.references, *self.resources.values())
                if r.attributes.get("tree")}

    def fingerprint_subject(self, subject: str) -> str:
        """The subject a finding's fingerprint is made from: for a record of a local IaC
        tree, its source (``iac:<configured path>``, which depends on where the scan ran)
        replaced by the tree's identity (``attributes.tree``: its repository, or its
        folder's name), so that the same tree scanned from another folder gives the same
        findings (waivers and diffs match them)."""
        found = self.trees_by_node.get(subject)
        return subject.replace(found[0], f"iac:{found[1]}", 1) if found else subject

    def identity_of(self, account_uid: str | None) -> Identity | None:
        """The identity whose own account this is (relation ``is``)."""
        link = self.links.get(account_uid or "")
        if link and link.relation == "is":
            return self.identities.get(link.identity)
        return None

    def owner_of(self, account_uid: str | None) -> Identity | None:
        """The accountable human for a non-human account: a direct ``owns`` link, or the
        roster owner of the NHI identity the account belongs to."""
        link = self.links.get(account_uid or "")
        if not link:
            return None
        if link.relation == "owns":
            return self.identities.get(link.identity)
        ident = self.identities.get(link.identity)
        if ident and ident.owner:
            return self.identities.get(ident.owner)
        return None

    @cached_property
    def credentials_by_holder(self) -> dict[str, list[Credential]]:
        out: dict[str, list[Credential]] = defaultdict(list)
        for c in self.credentials:
            if c.holder:
                out[c.holder].append(c)
        return out

    @cached_property
    def credentials_by_uid(self) -> dict[str, Credential]:
        return {c.uid: c for c in self.credentials}

    @cached_property
    def accounts_by_native_id(self) -> dict[str, Account]:
        return {a.native_id: a for a in self.accounts.values()}

    @cached_property
    def accounts_of_identity(self) -> dict[str, list[Account]]:
        out: dict[str, list[Account]] = defaultdict(list)
        for uid, link in self.links.items():
            if link.relation == "is" and uid in self.accounts:
                out[link.identity].append(self.accounts[uid])
        return out

    @cached_property
    def leavers(self) -> dict[str, Identity]:
        return {i.id: i for i in self.identities.values() if i.is_leaver}

    @cached_property
    def identities_by_email(self) -> dict[str, Identity]:
        """Identities by case-folded e-mail (and e-mail-shaped id): for principals that
        exist only as an address (an IAM policy member, an audit log's actor)."""
        out: dict[str, Identity] = {}
        for i in self.identities.values():
            for e in [*i.emails, *([i.id] if "@" in i.id else [])]:
                out.setdefault(e.casefold(), i)
        return out

    @cached_property
    def leavers_by_aws_alias(self) -> dict[str, Identity]:
        """Leavers by their case-folded ``aws:`` aliases (the first leaver wins, as a scan
        of ``leavers`` would): trust policies may name a deleted IAM user by ARN, and at
        estate scale a loop over every leaver for every trust grant cost seconds."""
        out: dict[str, Identity] = {}
        for ident in self.leavers.values():
            for a in ident.aliases:
                if a.casefold().startswith("aws:"):
                    out.setdefault(a.casefold(), ident)
        return out

    @cached_property
    def graph(self) -> nx.DiGraph:
        return build_graph(self.identities.values(), self.accounts.values(), self.credentials,
                           self.grants, self.resources.values(), self.links.values(),
                           self.exposures, self.references)

    # --- the part of the graph one identity's findings need --------------------------
    @cached_property
    def links_by_identity(self) -> dict[str, list[Link]]:
        out: dict[str, list[Link]] = defaultdict(list)
        for link in self.links.values():
            out[link.identity].append(link)
        return out

    @cached_property
    def identities_owned_by(self) -> dict[str, list[Identity]]:
        out: dict[str, list[Identity]] = defaultdict(list)
        for i in self.identities.values():
            if i.owner:
                out[i.owner].append(i)
        return out

    @cached_property
    def grants_by_principal(self) -> dict[str, list[Grant]]:
        out: dict[str, list[Grant]] = defaultdict(list)
        for g in self.grants:
            out[g.principal].append(g)
        return out

    @cached_property
    def exposures_by_credential(self) -> dict[str, list[Exposure]]:
        out: dict[str, list[Exposure]] = defaultdict(list)
        for e in self.exposures:
            if e.matched_credential:
                out[e.matched_credential].append(e)
        return out

    @cached_property
    def references_by_target(self) -> dict[tuple[str, str], list[Reference]]:
        out: dict[tuple[str, str], list[Reference]] = defaultdict(list)
        for r in self.references:
            if r.target:
                out[(r.target_kind, r.target)].append(r)
        return out

    def graph_for(self, identity_id: str) -> nx.DiGraph:
        """The identity's neighbourhood: everything reachable from it along the graph's
        edges (identities it owns, their accounts, credentials, grants and the resources
        they reach, references naming any of them, exposures of their credentials).
        Directed paths from the identity are the same as in the whole-estate ``graph``;
        at estate scale (millions of records) the whole graph costs gigabytes, one
        neighbourhood a few hundred nodes. Cached per identity."""
        cache = self._graph_cache
        if identity_id in cache:
            return cache[identity_id]
        idents: dict[str, Identity] = {}
        todo = [identity_id]
        while todo:  # the identity and, transitively, the NHIs it owns
            i = todo.pop()
            if i in idents or i not in self.identities:
                continue
            idents[i] = self.identities[i]
            todo.extend(o.id for o in self.identities_owned_by.get(i, []))
        links = [l for i in idents for l in self.links_by_identity.get(i, [])]
        accounts = [self.accounts[l.account] for l in links if l.account in self.accounts]
        creds = [c for a in accounts for c in self.credentials_by_holder.get(a.uid, [])]
        grants = [g for a in accounts for key in {a.uid, a.native_id}
                  for g in self.grants_by_principal.get(key, [])]
        resources = [self.resources[g.resource] for g in grants if g.resource in self.resources]
        exposures = [e for c in creds for e in self.exposures_by_credential.get(c.uid, [])]
        refs = ([r for i in idents for r in self.references_by_target.get(("identity", i), [])]
                + [r for a in accounts for r in self.references_by_target.get(("account", a.uid), [])]
                + [r for c in creds for key in {c.uid, c.native_id}
                   for r in self.references_by_target.get(("credential", key), [])])
        g = build_graph(idents.values(), accounts, creds, grants, resources, links, exposures, refs)
        cache[identity_id] = g
        return g

    def path_for(self, identity_id: str, subject: str) -> list[str]:
        """A finding's evidence path: from the identity's neighbourhood graph; only in a
        small estate, when the subject lies outside it, from the whole graph."""
        source = f"identity:{identity_id}"
        sub = self.graph_for(identity_id)
        if subject in sub and source in sub:
            import networkx as nx
            try:
                return nx.shortest_path(sub, source, subject)
            except nx.NetworkXNoPath:
                pass
        if "graph" in self.__dict__ or self.size() <= WHOLE_GRAPH_MAX_RECORDS:
            return path_between(self.graph, source, subject)
        return path_between(sub, source, subject)

    def size(self) -> int:
        return (len(self.accounts) + len(self.credentials) + len(self.grants)
                + len(self.resources) + len(self.exposures) + len(self.references))

    def days_since(self, when: datetime | None) -> float | None:
        if when is None:
            return None
        return (self.now - when).total_seconds() / 86400


def unused_days(cred: Credential, now: datetime) -> float:
    """Days since last use; a never-used credential is aged from its creation."""
    when = cred.last_used_at or cred.created_at
    return (now - when).total_seconds() / 86400 if when else 0.0
