"""The engine: runs the rules over one scan, stores findings, and gives verdicts.

Findings get a fingerprint that is stable across scans (rule + identity + object), a
graph path from the identity to the object, a status against the previous scan (new /
persisting) and, where a waiver applies, ``waived`` (waived findings are shown, never
hidden). Verdicts are per identity and per layer:

- ``residual``: a finding of severity low or above names the identity in that layer;
- ``incomplete``: nothing found, but a collector of that layer failed or was partial;
- ``clean``: every collector of that layer succeeded and nothing was found;
- ``not_configured``: no collector covers that layer (said plainly in every report);
- ``not_run``: a collector of that layer is configured but this (partial) scan skipped it.

Checking nothing is not clean: with no collector at all (only the roster), every
configured layer is ``incomplete``, and an identity's overall verdict is ``clean`` only
when every layer that is configured was checked (see ``overall``).
"""

from __future__ import annotations

import hashlib
import logging
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cached_property
from typing import Any, Callable, Iterable

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # networkx costs half a second to import: only when a graph is built
    import networkx as nx

from rules.base import Hit, Rule, RuleMeta, all_rules, layer_of
from scanner.config import Policy
from scanner.core.graph import build_graph, path_between
from scanner.core.model import (
    LAYERS, Account, Activity, Coverage, Credential, Exposure, Finding, Grant, Identity, Link,
    Reference, Resource, credential_handle, severity_rank,
)
from scanner.core.store import Inventory, paused_gc

log = logging.getLogger("residual.engine")

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
    inventory: Inventory | None = None
    activities: list[Activity] = field(default_factory=list)  # provider events (sign-ins, audits)

    # --- lookups rules need over and over ---------------------------------------
    def fingerprint_subject(self, subject: str) -> str:
        """The subject a finding's fingerprint is made from: for a record of a local IaC
        tree, its source (``iac:<configured path>``, which depends on where the scan ran)
        replaced by the tree's identity (``attributes.tree``: its repository, or its
        folder's name), so that the same tree scanned from another folder gives the same
        findings (waivers and diffs match them)."""
        trees = self.__dict__.get("_trees")
        if trees is None:
            trees = self.__dict__["_trees"] = {
                r.node: (r.source, r.attributes["tree"])
                for r in (*self.exposures, *self.references, *self.resources.values())
                if r.attributes.get("tree")}
        found = trees.get(subject)
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

    def is_unowned(self, account_uid: str) -> bool:
        return account_uid not in self.links

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
    def identities_by_email(self) -> dict[str, Identity]:
        """Identities by case-folded e-mail (and e-mail-shaped id): for principals that
        exist only as an address (an IAM policy member, an audit log's actor)."""
        out: dict[str, Identity] = {}
        for i in self.identities.values():
            for e in [*i.emails, *([i.id] if "@" in i.id else [])]:
                out.setdefault(e.casefold(), i)
        return out

    @cached_property
    def leavers(self) -> dict[str, Identity]:
        return {i.id: i for i in self.identities.values() if i.is_leaver}

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
        cache = self.__dict__.setdefault("_graph_for", {})
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

    def path(self, *nodes: str | None) -> list[str]:
        return [n for n in nodes if n]


def _refined(records: Iterable[Any]) -> dict[str, Any]:
    """One record per uid. The deep pass may re-emit a record the bulk pass already wrote,
    with more detail and ``attributes["deep"] = True``; that one wins."""
    out: dict[str, Any] = {}
    for r in records:
        prev = out.get(r.uid)
        if prev is None or (r.attributes.get("deep") and not prev.attributes.get("deep")):
            out[r.uid] = r
    return out


def load_context(inv: Inventory, scan_id: str, policy: Policy, now: datetime) -> RuleContext:
    with paused_gc():
        return _load_context(inv, scan_id, policy, now)


def _load_context(inv: Inventory, scan_id: str, policy: Policy, now: datetime) -> RuleContext:
    return RuleContext(
        scan_id=scan_id, now=now, policy=policy,
        identities={i.id: i for i in inv.iter(Identity, scan_id)},
        accounts=_refined(inv.iter(Account, scan_id)),
        credentials=list(_refined(inv.iter(Credential, scan_id)).values()),
        grants=inv.load(Grant, scan_id),
        resources={r.uid: r for r in inv.iter(Resource, scan_id)},
        links={l.account: l for l in inv.iter(Link, scan_id)},
        exposures=inv.load(Exposure, scan_id),
        references=inv.load(Reference, scan_id),
        coverage=inv.load(Coverage, scan_id),
        inventory=inv,
        activities=inv.load(Activity, scan_id),
    )


def load_neighbourhood(inv: Inventory, scan_id: str, identity_ids: Iterable[str],
                       policy: Policy, now: datetime) -> RuleContext:
    """A RuleContext holding only what is tied to these identities: them and the NHIs
    they own (transitively), their linked accounts, those accounts' credentials and
    grants, the resources granted, exposures of the credentials, references naming any
    of them, and every coverage row. The filtering runs in DuckDB, so the cost follows
    the identities' share of the estate, not its size: what ``verify`` of one person,
    or the evidence graphs of every leaver, need (``ctx.graph`` of it is their
    neighbourhood graph). Rules about the estate as a whole (unowned accounts) do not
    belong on it."""
    wanted = set(identity_ids)
    identities = {i.id: i for i in inv.iter(Identity, scan_id)}
    owned: dict[str, list[str]] = defaultdict(list)
    for i in identities.values():
        if i.owner:
            owned[i.owner].append(i.id)
    todo, keep = list(wanted), set()
    while todo:
        i = todo.pop()
        if i not in keep and i in identities:
            keep.add(i)
            todo.extend(owned.get(i, []))

    def among(values: Iterable[str]) -> list[Any]:
        return [sorted(set(values))]

    inside = "IN (SELECT unnest(?::VARCHAR[]))"
    uid = "source || '|' || native_id"
    links = inv.load(Link, scan_id, f"identity {inside}", among(keep))
    account_uids = among(l.account for l in links)
    accounts = _refined(inv.iter(Account, scan_id, f"{uid} {inside}", account_uids))
    credentials = list(_refined(inv.iter(Credential, scan_id, f"holder {inside}", account_uids)).values())
    # trust policies may name a deleted IAM user by ARN: match its name to aws: aliases
    aws_names = among(a.split(":", 1)[1].casefold() for i in keep for a in identities[i].aliases
                      if a.casefold().startswith("aws:"))
    grants = inv.load(Grant, scan_id,
                      f"principal {inside} OR (principal LIKE 'arn:%:user/%' AND "
                      f"lower(string_split(principal, '/')[-1]) {inside})",
                      among([*accounts, *(a.native_id for a in accounts.values())]) + aws_names)
    resources = {r.uid: r for r in inv.iter(Resource, scan_id, f"{uid} {inside}",
                                           among(g.resource for g in grants))}
    cred_keys = among([*(c.uid for c in credentials), *(c.native_id for c in credentials)])
    exposures = inv.load(Exposure, scan_id, f"matched_credential {inside}", cred_keys)
    references = inv.load(
        Reference, scan_id,
        f"(target_kind = 'identity' AND target {inside}) OR "
        f"(target_kind = 'account' AND target {inside}) OR "
        f"(target_kind = 'credential' AND target {inside})",
        among(keep) + account_uids + cred_keys)
    return RuleContext(
        scan_id=scan_id, now=now, policy=policy,
        identities={i: identities[i] for i in keep}, accounts=accounts, credentials=credentials,
        grants=grants, resources=resources, links={l.account: l for l in links},
        exposures=exposures, references=references, coverage=inv.load(Coverage, scan_id),
        inventory=inv, activities=inv.load(Activity, scan_id, f"subject_account {inside}", account_uids))


def finding_fingerprint(rule_id: str, identity: str | None, subject: str) -> str:
    return hashlib.sha256(f"{rule_id}\x1f{identity or ''}\x1f{subject}".encode()).hexdigest()[:32]


def _named_by_handle(hit: Hit, ctx: RuleContext) -> str:
    """``object.name`` with the real handle of the credential the finding is about (its
    subject, or the live credential an exposure matched), once, first: what a responder
    acts on, in every report format."""
    uid = hit.subject[len("credential:"):] if hit.subject.startswith("credential:") else \
        (hit.evidence or {}).get("credential")
    cred = ctx.credentials_by_uid.get(uid) if isinstance(uid, str) else None
    handle = credential_handle(cred) if cred is not None else ""
    name = hit.object_name or ""
    if not handle or handle in name:
        return name
    return f"{handle} ({name})" if name else handle


def to_finding(meta: RuleMeta, hit: Hit, ctx: RuleContext) -> Finding:
    path = hit.path
    if path is None:
        path = ctx.path_for(hit.identity, hit.subject) if hit.identity else [hit.subject]
    return Finding(
        rule=meta.id, severity=hit.severity or meta.severity, title=hit.title or meta.title,
        layer=hit.layer or meta.layer or layer_of(hit.system, hit.object_kind),
        system=hit.system, identity=hit.identity, subject=hit.subject,
        object_kind=hit.object_kind, object_id=hit.object_id, object_name=_named_by_handle(hit, ctx),
        location_path=hit.location_path, location_line=hit.location_line,
        evidence=hit.evidence, path=path, frameworks=list(meta.frameworks),
        remediation=meta.remediation,
        fingerprint=finding_fingerprint(meta.id, hit.identity, ctx.fingerprint_subject(hit.subject)))


def run_rules(ctx: RuleContext, rules: dict[str, Rule] | None = None,
              only_identities: set[str] | None = None) -> tuple[list[Finding], list[str]]:
    """All findings of all rules; a rule that crashes is reported, not fatal."""
    rules = rules if rules is not None else all_rules()
    with paused_gc():
        return _run_rules(ctx, rules, only_identities)


def _run_rules(ctx: RuleContext, rules: dict[str, Rule], only_identities: set[str] | None,
               ) -> tuple[list[Finding], list[str]]:
    findings: dict[str, Finding] = {}
    errors: list[str] = []
    for rid, r in sorted(rules.items()):
        try:
            for hit in r.fn(ctx):
                if only_identities is not None and hit.identity not in only_identities:
                    continue
                f = to_finding(r.meta, hit, ctx)
                findings.setdefault(f.fingerprint, f)
        except Exception as exc:  # noqa: BLE001 - one broken rule must not hide the others
            log.exception("rule %s failed", rid)
            errors.append(f"{rid}: {exc.__class__.__name__}")
    return sorted(findings.values(), key=lambda f: (-severity_rank(f.severity), f.rule, f.fingerprint)), errors


def mark_status(findings: list[Finding], previous: set[str],
                waive: Callable[[Finding], dict[str, Any] | None] | None = None) -> None:
    for f in findings:
        f.status = "persisting" if f.fingerprint in previous else "new"
        if waive:
            w = waive(f)
            if w:
                f.status = "waived"
                f.evidence = {**f.evidence, "waiver": w}


def configured_layers(coverage: list[Coverage], roster_loaded: bool = True) -> set[str]:
    layers = {c.layer for c in coverage if c.layer}
    if roster_loaded:
        layers.add("directory")
    return layers


def verdicts_for(identities: Iterable[Identity], findings: list[Finding],
                 coverage: list[Coverage], roster_loaded: bool = True,
                 not_run: set[str] | frozenset[str] = frozenset(),
                 ) -> dict[str, dict[str, str]]:
    """Per identity, per layer: clean / residual / incomplete / not_run / not_configured.
    ``not_run``: the configured layers this scan skipped (``scan --only``)."""
    configured = configured_layers(coverage, roster_loaded) | set(not_run)
    unsure = {c.layer for c in coverage if c.status in ("failed", "partial")}
    if not any(not c.collector.startswith("roster:") for c in coverage):
        unsure |= configured  # a roster alone checks no access: nothing was verified
        # (scanner.pipeline.checked_anything says the same of the scan)
    residual: dict[str, set[str]] = defaultdict(set)
    for f in findings:
        if f.identity and f.status != "waived" and severity_rank(f.severity) >= severity_rank("low"):
            residual[f.identity].add(f.layer)
    out: dict[str, dict[str, str]] = {}
    for ident in identities:
        layers: dict[str, str] = {}
        for layer in LAYERS:
            if layer not in configured:
                layers[layer] = "not_configured"
            elif layer in residual[ident.id]:
                layers[layer] = "residual"
            elif layer in not_run:
                layers[layer] = "not_run"
            elif layer in unsure:
                layers[layer] = "incomplete"
            else:
                layers[layer] = "clean"
        out[ident.id] = layers
    return out


def overall(layers: dict[str, str]) -> str:
    """One verdict from the layers': residual wins; clean needs every configured layer
    checked and at least one of them (a layer not run, or nothing checked at all, is
    incomplete: checking nothing never reads as clean)."""
    values = set(layers.values())
    if "residual" in values:
        return "residual"
    if values & {"incomplete", "not_run"} or "clean" not in values:
        return "incomplete"
    return "clean"


def exit_code_for(verdicts: Iterable[str]) -> int:
    vs = set(verdicts)
    if "residual" in vs:
        return 1
    if "incomplete" in vs:
        return 3
    return 0


def unused_days(cred: Credential, now: datetime) -> float:
    """Days since last use; a never-used credential is aged from its creation."""
    when = cred.last_used_at or cred.created_at
    return (now - when).total_seconds() / 86400 if when else 0.0


def days(n: float) -> timedelta:
    return timedelta(days=n)


def context_from_records(records: Iterable[Any], now: datetime, policy: Policy | None = None,
                         link: bool = True) -> RuleContext:
    """A RuleContext straight from records (no inventory): for tests and for targeted
    analyses that already hold the records. ``link``: run resolve on them too."""
    from scanner.resolve import resolve

    recs = list(records)
    of = lambda cls: [r for r in recs if type(r) is cls]  # noqa: E731
    identities = of(Identity)
    accounts = of(Account)
    credentials = of(Credential)
    links = of(Link)
    if link and not links:
        links = resolve(identities, accounts, credentials)
    return RuleContext(
        scan_id="test", now=now, policy=policy or Policy(),
        identities={i.id: i for i in identities}, accounts=_refined(accounts),
        credentials=list(_refined(credentials).values()), grants=of(Grant),
        resources={r.uid: r for r in of(Resource)}, links={l.account: l for l in links},
        exposures=of(Exposure), references=of(Reference), coverage=of(Coverage),
        activities=of(Activity))
