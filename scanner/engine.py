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
from datetime import datetime
from typing import Any, Callable, Iterable

from collectors.registry import layer_of
from rules.base import Hit, Rule, RuleMeta, all_rules
from rules.context import RuleContext
from scanner.core.model import (
    LAYERS, Account, Activity, Coverage, Credential, Exposure, Finding, Grant, Identity, Link,
    Reference, Resource, credential_handle, severity_rank,
)
from scanner.core.options import Policy
from scanner.core.store import Inventory, paused_gc, refined
from scanner.resolve import resolve

log = logging.getLogger("residual.engine")

def load_context(inv: Inventory, scan_id: str, policy: Policy, now: datetime) -> RuleContext:
    with paused_gc():
        return _load_context(inv, scan_id, policy, now)


def _load_context(inv: Inventory, scan_id: str, policy: Policy, now: datetime) -> RuleContext:
    return RuleContext(
        scan_id=scan_id, now=now, policy=policy,
        identities={i.id: i for i in inv.iter(Identity, scan_id)},
        accounts=refined(inv.iter(Account, scan_id)),
        credentials=list(refined(inv.iter(Credential, scan_id)).values()),
        grants=inv.load(Grant, scan_id),
        resources={r.uid: r for r in inv.iter(Resource, scan_id)},
        links={l.account: l for l in inv.iter(Link, scan_id)},
        exposures=inv.load(Exposure, scan_id),
        references=inv.load(Reference, scan_id),
        coverage=inv.load(Coverage, scan_id),
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
    accounts = refined(inv.iter(Account, scan_id, f"{uid} {inside}", account_uids))
    credentials = list(refined(inv.iter(Credential, scan_id, f"holder {inside}", account_uids)).values())
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
        activities=inv.load(Activity, scan_id, f"subject_account {inside}", account_uids))


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


def context_from_records(records: Iterable[Any], now: datetime, policy: Policy | None = None,
                         link: bool = True) -> RuleContext:
    """A RuleContext straight from records (no inventory): for tests and for targeted
    analyses that already hold the records. ``link``: run resolve on them too."""

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
        identities={i.id: i for i in identities}, accounts=refined(accounts),
        credentials=list(refined(credentials).values()), grants=of(Grant),
        resources={r.uid: r for r in of(Resource)}, links={l.account: l for l in links},
        exposures=of(Exposure), references=of(Reference), coverage=of(Coverage),
        activities=of(Activity))
