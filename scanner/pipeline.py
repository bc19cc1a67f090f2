"""One scan, end to end: roster -> bulk pass -> resolve -> deep pass -> resolve ->
rules -> findings and verdicts, all written to the inventory under one scan_id.

Order matters and is the design's one loop: the deep pass asks only about accounts that
resolve puts in scope (leavers', unowned, NHIs whose owner left), so it runs between two
resolves.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Callable

from collectors.base import Collector, CollectorContext, Scope
from collectors.registry import attribute_keys, collector_classes, roster_sources
from collectors.roster import RosterContext, merge
from scanner.config import Config
from scanner.core.errors import RosterError, safe_error
from scanner.core.model import Account, Coverage, Credential, Finding, Identity, Link
from scanner.core.options import redact
from scanner.core.secrets import Fingerprinter
from scanner.core.store import Inventory, Sink
from scanner.core.timeparse import parse_time
from scanner.correlate import correlate
from scanner.engine import load_context, mark_status, run_rules, verdicts_for
from scanner.resolve import resolve, scope_for

log = logging.getLogger("residual.pipeline")

# The command a targeted run is stored under (``verify --live``, a watch event): the one
# place that names it; what a scan saw is its ``kind`` (scanner.core.store.SCAN_KINDS).


def now_utc() -> datetime:
    """The scan's "now". RESIDUAL_NOW (ISO 8601) pins it, so tests and demos inject time
    instead of sleeping."""
    pinned = os.environ.get("RESIDUAL_NOW")
    if pinned:
        t = parse_time(pinned)
        if t:
            return t
    return datetime.now(UTC)


@dataclass
class ScanResult:
    scan_id: str
    findings: list[Finding]
    verdicts: dict[str, dict[str, str]]
    coverage: list[Coverage]
    identities: list[Identity]
    rule_errors: list[str] = field(default_factory=list)
    status: str = "complete"


def load_roster(config: Config, sink: Sink | None = None,
                extra: tuple[str, list[Identity]] | None = None) -> list[Identity]:
    """Every configured roster source, merged. A source that cannot be reached is a
    failed ``directory`` coverage row; a malformed CSV is a configuration error.
    ``extra``: (label, identities) merged last, as one more source (a watch event: the
    directory just said this person left, even if the HR file has not caught up)."""
    ctx = RosterContext(base_dir=config.base_dir, now=now_utc())
    batches: list[list[Identity]] = []
    blocks = [*config.roster, *([{"kind": extra[0]}] if extra else [])]
    for i, block in enumerate(blocks):
        kind = block["kind"]
        target = str(block.get("path") or block.get("url") or block.get("domain") or block.get("tenant_id") or kind)
        started = datetime.now(UTC)
        status, error, idents = "ok", None, []
        try:
            idents = list(extra[1]) if extra and i == len(config.roster) else \
                list(roster_sources()[kind].load(block, ctx))
        except RosterError:
            raise
        except Exception as exc:  # noqa: BLE001 - a directory outage is incomplete, not fatal
            status, error = "failed", safe_error(exc)
        if status == "ok" and not idents:  # a 0-byte file, an empty export: no one verified
            status, error = "partial", "the roster source is empty: no identities"
        batches.append(idents)
        if sink is not None:
            sink.emit(Coverage(collector=f"roster:{kind}", target=target, layer="directory",
                               status=status, error=error, records=len(idents),
                               api_calls=ctx.api_calls.get(target, 0), started_at=started,
                               finished_at=datetime.now(UTC)))
    return merge(batches)


def make_collectors(config: Config, ctx: CollectorContext,
                    only: tuple[str, ...] | None = None) -> list[Collector]:
    classes = collector_classes()
    out = []
    for name, blocks in config.collectors.items():
        if only and name not in only:
            continue
        for block in blocks:
            out.append(classes[name](block, ctx))
    return out


def shard_target(c: Collector) -> str:
    """What names a collector's target for sharding: its label and its config block
    (secrets redacted, so a rotated token does not move a target to another shard)."""
    import json
    return f"{c.describe()}|{json.dumps(redact(c.config), sort_keys=True, default=str)}"


def _failed_row(c: Collector, stage: str, exc: BaseException) -> Coverage:
    now = datetime.now(UTC)
    return Coverage(collector=c.describe(), target=c.describe(), layer=c.layer, status="failed",
                    error=f"{stage}: {safe_error(exc)}", api_calls=c.calls, started_at=now,
                    finished_at=now)


def run_scan(config: Config, inv: Inventory, *, command: str = "scan",
             only: tuple[str, ...] | None = None, verify: set[str] | None = None,
             progress: Any = None, now: datetime | None = None,
             waive: Callable[[Finding], dict[str, Any] | None] | None = None,
             shard: Any = None, extra_identities: tuple[str, list[Identity]] | None = None,
             ) -> ScanResult:
    """Run one scan into ``inv``. ``verify``: identity ids the verdicts must include
    (besides every leaver). ``progress``: a ``Progress``-like object or None.
    ``shard`` (scanner.shard.Shard): collect only this shard's targets and stop before
    the rules (analysis runs on the merged shards: ``residual merge``).
    ``extra_identities``: see ``load_roster``."""
    now = now or now_utc()
    previous = inv.latest_scan_id()
    live = command == Inventory.VERIFY_LIVE and bool(verify)
    fp = Fingerprinter.from_file(config.fingerprint_key)
    ctx = CollectorContext(fingerprinter=fp, cache_dir=config.cache_dir, now=now,
                           base_dir=config.base_dir,
                           timeout_s=float(config.network["timeout_s"]),
                           max_retries=config.network["max_retries"],
                           max_pages=config.network["max_pages"],
                           max_wait_s=float(config.network["max_wait_s"]))
    everything = make_collectors(config, ctx)
    collectors = [c for c in everything if not only or c.name in only]
    kind, attributes = "estate", {}
    if shard is not None:
        kind, attributes = "shard", {"shard": str(shard)}
    elif live:
        kind = "targeted"
    elif len(collectors) < len(everything):
        kind = "partial"
        attributes = {"only": sorted(only or ()),
                      "not_run": sorted(skipped_layers(inv, previous, collectors, everything))}
    scan_id = inv.begin_scan(command, config.digest(), now=now, attributes=attributes or None,
                             kind=kind, targets=sorted(verify or ()) if live else None)
    sink = Sink(inv, scan_id, attribute_keys=attribute_keys())
    sink.previous_scan_id = previous  # for collectors that reuse unchanged targets
    status = "interrupted"
    try:
        identities = load_roster(config, sink, extra_identities)
        sink.emit_all(identities)
        sink.flush()
        config.cache_dir.mkdir(parents=True, exist_ok=True)
        if shard is not None:
            collectors = [c for c in collectors if shard.owns(c.name, shard_target(c))]
        task = progress.add_task("collecting", total=len(collectors) * 2) if progress else None
        bulk_scope = targeted_scope(inv, identities, verify) if live else None

        for c in collectors:  # bulk pass (targeted: only what is known to be theirs)
            if progress:
                progress.update(task, description=f"collecting {c.describe()}")
            try:
                c.collect(sink, bulk_scope)
            except Exception as exc:  # noqa: BLE001 - collectors guard targets; this is the backstop
                sink.emit(_failed_row(c, "bulk pass", exc))
            sink.flush()
            if progress:
                progress.advance(task)

        links = _resolve_into(inv, scan_id, identities)
        scope = scope_for(identities, _accounts(inv, scan_id), links,
                          only=verify if live else None)
        if bulk_scope is not None:
            scope.accounts |= bulk_scope.accounts
        scope.identifiers |= _exposed_identifiers(inv, scan_id)
        for c in collectors:  # deep pass
            if progress:
                progress.update(task, description=f"deep pass {c.describe()}")
            if not scope.is_empty():
                try:
                    c.deepen(sink, scope)
                except Exception as exc:  # noqa: BLE001
                    sink.emit(_failed_row(c, "deep pass", exc))
                sink.flush()
            if progress:
                progress.advance(task)
        sink.flush()
        _resolve_into(inv, scan_id, identities, replace=True)
        _correlate(inv, scan_id)

        if shard is not None:  # a shard stops here; rules run on the merge
            coverage = inv.coverage(scan_id)
            status = "incomplete" if any(c.status in ("failed", "partial") for c in coverage) \
                else "complete"
            return ScanResult(scan_id, [], {}, coverage, identities, status=status)
        result = analyse(inv, scan_id, config, now=now, verify=verify, waive=waive)
        status = result.status
        return result
    finally:
        sink.flush()
        inv.finish_scan(scan_id, status)


def skipped_layers(inv: Inventory, previous: str | None, ran: list[Collector],
                   everything: list[Collector]) -> set[str]:
    """The layers a partial scan (``scan --only``) leaves unchecked: each skipped
    collector's layer, and the layers its coverage rows had in the estate's latest scan
    (a code host also covers ci-cd). Unless residual access was found there, their
    verdicts read ``not_run``, never ``clean`` or ``not_configured``."""
    skipped = [c for c in everything if c not in ran]
    labels = {c.describe() for c in skipped}
    layers = {c.layer for c in skipped if c.layer}
    if previous and labels:
        layers |= {r[0] for r in inv.query(
            "SELECT DISTINCT layer FROM coverage WHERE scan_id = ? AND collector IN "
            "(SELECT unnest(?::VARCHAR[]))", [previous, sorted(labels)]) if r[0]}
    return layers


def targeted_scope(inv: Inventory, identities: list[Identity], wanted: set[str]) -> Scope:
    """For ``verify --live``: start from what the last finished scan linked to these
    identities (their accounts, logins per system, e-mails, aliases), so that each
    collector can ask only about them."""
    scope = Scope()
    # and the non-human identities they answer for (roster owner): their residue is
    # part of the verdict (nhi.owner_terminated)
    wanted = set(wanted) | {i.id for i in identities if i.owner and i.owner in wanted}
    # the estate's latest scan, and the latest run about each of them (a verify --live run
    # holds only the accounts of the identities it verified: after a watch verified
    # someone else, it knows nothing of these)
    previous_scans = [s for s in dict.fromkeys(
        [inv.latest_scan_id(), *(inv.latest_scan_about(i) for i in sorted(wanted))]) if s]
    for previous in previous_scans:
        rows = inv.query("SELECT account FROM links WHERE scan_id = ? AND identity IN "
                         "(SELECT unnest(?::VARCHAR[]))", [previous, sorted(wanted)])
        uids = sorted({r[0] for r in rows})
        for acc in inv.iter(Account, previous, "source || '|' || native_id IN (SELECT unnest(?::VARCHAR[]))",
                            [uids]) if uids else ():
            scope.accounts.add(acc.uid)
            scope.logins.setdefault(acc.system, set()).add(acc.login or acc.native_id)
    for ident in identities:
        if ident.id in wanted:
            scope.identities.add(ident.id)
            scope.emails.update(ident.emails)
            for alias in ident.aliases:
                system, _, handle = alias.partition(":")
                scope.logins.setdefault(system, set()).add(handle)
    # what they were granted directly and the credentials they held (a deploy key's holder is
    # its adder, also after the adder's own account is gone): the objects to re-check
    holders = sorted(scope.accounts)
    logins = sorted({h for hs in scope.logins.values() for h in hs})
    for previous in previous_scans:
        scope.known_resources.update(r[0] for r in inv.query(  # granted to them, not via a team
            "SELECT DISTINCT resource FROM grants WHERE scan_id = ? AND principal IN "
            "(SELECT unnest(?::VARCHAR[])) AND via NOT IN ('team', 'group', 'inherited')",
            [previous, holders]))
        scope.known_credentials.update(r[0] for r in inv.query(
            "SELECT DISTINCT source || '|' || native_id FROM credentials WHERE scan_id = ? "
            "AND (holder IN (SELECT unnest(?::VARCHAR[])) OR split_part(holder, '|', 2) IN "
            "(SELECT unnest(?::VARCHAR[])))", [previous, holders, logins]))
    return scope


def checked_anything(coverage: list[Coverage]) -> bool:
    """Whether any collector ran: a roster alone checks no one's access, and a scan that
    checked nothing is incomplete (exit 3), never clean."""
    return any(not c.collector.startswith("roster:") for c in coverage)


def nothing_checked_warnings(config: Config, result: ScanResult) -> list[str]:
    """What the CLI says on stderr, even under -q, when a run could not check anything."""
    out = []
    if not config.roster and not config.collectors:
        out.append("the config has no roster and no collectors: nothing was checked")
    elif not config.collectors:
        out.append("no collector is configured (collectors: is empty): no access was checked")
    if config.roster and not result.identities:
        out.append("the roster is empty: no identity to verify")
    elif not config.roster and config.collectors:
        out.append("no roster is configured: findings cannot be tied to leavers")
    return out


def _correlate(inv: Inventory, scan_id: str) -> None:
    """Tie exposures to the live credentials they expose (scanner/correlate.py)."""
    correlate(inv, scan_id)


def _accounts(inv: Inventory, scan_id: str):
    return inv.load(Account, scan_id)


def _exposed_identifiers(inv: Inventory, scan_id: str) -> set[str]:
    """Credential ids seen in exposures and references (e.g. an AWS key id in a Terraform
    file) that the deep pass should tie to a holder."""
    rows = inv.query("SELECT DISTINCT identifier FROM exposures WHERE scan_id = ? AND identifier IS NOT NULL "
                     "AND matched_credential IS NULL", [scan_id])
    return {r[0] for r in rows}


def _resolve_into(inv: Inventory, scan_id: str, identities: list[Identity],
                  replace: bool = False) -> list[Link]:
    if replace:
        inv.delete(scan_id, Link)
    links = resolve(identities, inv.iter(Account, scan_id),
                    inv.iter(Credential, scan_id, "kind = 'ssh_key'"))
    inv.insert(scan_id, links)
    return links


def analyse_merged(inv: Inventory, scan_id: str, config: Config, *, now: datetime,
                   waive: Callable[[Finding], dict[str, Any] | None] | None = None) -> ScanResult:
    """Analysis of a scan built from shards (``residual merge``): resolve again over the
    whole estate (an SSH key on one shard's system links an account on another's),
    correlate, then the rules and verdicts, and the scan is finished."""
    status = "interrupted"
    try:
        _resolve_into(inv, scan_id, inv.load(Identity, scan_id), replace=True)
        _correlate(inv, scan_id)
        result = analyse(inv, scan_id, config, now=now, waive=waive)
        status = result.status
        return result
    finally:
        inv.finish_scan(scan_id, status)


def analyse(inv: Inventory, scan_id: str, config: Config, *, now: datetime,
            verify: set[str] | None = None,
            waive: Callable[[Finding], dict[str, Any] | None] | None = None) -> ScanResult:
    """Rules, findings and verdicts for a scan already collected (re-runnable)."""
    ctx = load_context(inv, scan_id, config.policy, now)
    findings, errors = run_rules(ctx)
    previous_id = inv.previous_scan_id(scan_id)
    previous = {r[0] for r in inv.query("SELECT fingerprint FROM findings WHERE scan_id = ?",
                                        [previous_id])} if previous_id else set()
    mark_status(findings, previous, waive)
    inv.delete(scan_id, Finding)
    inv.insert(scan_id, findings)
    scan = inv.scan(scan_id) or {}
    if scan.get("kind") == "targeted":  # it speaks only for the identities it asked about
        about = set(scan.get("targets") or ())
        wanted = [i for i in ctx.identities.values() if i.id in about]
    else:
        wanted = [i for i in ctx.identities.values() if i.is_leaver or (verify and i.id in verify)]
    verdicts = verdicts_for(wanted, findings, ctx.coverage, roster_loaded=bool(config.roster),
                            not_run=set((scan.get("attributes") or {}).get("not_run") or ()))
    inv.write_verdicts(scan_id, [(ident, layer, v, "") for ident, layers in verdicts.items()
                                 for layer, v in layers.items()])
    failed = any(c.status in ("failed", "partial") for c in ctx.coverage)
    failed |= not checked_anything(ctx.coverage)
    return ScanResult(scan_id, findings, verdicts, ctx.coverage, list(ctx.identities.values()),
                      errors, "incomplete" if failed or errors else "complete")
