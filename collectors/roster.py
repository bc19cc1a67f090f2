"""The roster-source contract: who is who, who left and when, who owns which NHI.

A roster source is a plugin like a collector: it lives in its source's folder
(``collectors/csv_roster/roster.py``, ``collectors/okta/collector.py``...), marked with
``@roster_source``. Several sources merge by e-mail (see ``merge``), and each
identity remembers which sources it came from.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Callable, Iterable

from scanner.core.model import Identity
from scanner.core.options import Option


@dataclass
class RosterSource:
    name: str
    options: dict[str, Option]
    load: Callable[[dict[str, Any], "RosterContext"], Iterable[Identity]]
    shorthand: str | None = None  # `- csv: roster.csv` means {path: roster.csv}


@dataclass
class RosterContext:
    base_dir: Path
    api_calls: dict[str, int] = field(default_factory=dict)
    # the scan's "now" (RESIDUAL_NOW pins it): a leave date in the future is not a leaver yet
    now: datetime = field(default_factory=lambda: datetime.now(UTC))


def distinct_identities(payloads: Iterable[Any], transform: Callable[[Any], Identity],
                        log: logging.Logger, what: str) -> list[Identity]:
    """A directory listing as identities: each payload transformed, a malformed one
    (ValueError) skipped with a warning naming ``what``, the first of each id kept."""
    out: dict[str, Identity] = {}
    for payload in payloads:
        try:
            ident = transform(payload)
        except ValueError:
            log.warning("%s: a malformed user was skipped", what)
            continue
        out.setdefault(ident.id, ident)
    return list(out.values())


# Identities (the roster's records) carry system "roster": the directory layer.
ROSTER_SYSTEMS = {"roster": "directory"}


def roster_source(name: str, options: dict[str, Option], shorthand: str | None = None):
    """Marks a loader as a roster source (``roster:`` kind ``name``); the discovery step
    (collectors.registry.roster_sources) finds it in its source package."""
    def mark(fn: Callable[[dict[str, Any], RosterContext], Iterable[Identity]]):
        fn.roster_source = RosterSource(name, options, fn, shorthand)  # type: ignore[attr-defined]
        return fn
    return mark


_STATUS_WEIGHT = {"active": 0, "suspended": 1, "terminated": 2}


def _take_termination(target: Identity, ident: Identity) -> None:
    """The termination time of ``ident``, with whether it was a date alone."""
    target.terminated_at = ident.terminated_at
    if "terminated_on" in ident.attributes:
        target.attributes["terminated_on"] = ident.attributes["terminated_on"]
    else:
        target.attributes.pop("terminated_on", None)


def merge(batches: list[list[Identity]]) -> list[Identity]:
    """Merge identities from several sources, in config order.

    Precedence: identities match by id or by any shared e-mail (case-folded). The first
    source that sets a field wins, except ``status``: the most final status wins
    (terminated > suspended > active), because a directory that says someone left is
    right even if an older CSV says otherwise; ``terminated_at`` follows that status, and
    when two sources give the same final status the earliest departure wins (access used
    after the earliest recorded departure is already residue), compared as
    ``Identity.after_termination``: an HR date without a time ends with its day, so a
    directory's time on that day (Okta deactivated her at 17:03) is the earlier one, and
    ``attributes["terminated_on"]`` goes with the date it describes. Aliases, e-mails and sources
    accumulate, and ``attributes["roster_status"]`` keeps what each source said
    ({source: status}), so a disagreement (HR says terminated, Okta says active) is visible.
    """
    merged: list[Identity] = []
    by_key: dict[str, Identity] = {}
    for batch in batches:
        for ident in batch:
            keys = [ident.id.lower()] + [e.lower() for e in ident.emails]
            target = next((by_key[k] for k in keys if k in by_key), None)
            if target is None:
                target = Identity(id=ident.id, name=ident.name, kind=ident.kind, status=ident.status,
                                  terminated_at=ident.terminated_at, owner=ident.owner,
                                  emails=list(ident.emails), aliases=list(ident.aliases),
                                  sources=list(ident.sources), attributes=dict(ident.attributes))
                merged.append(target)
                target.attributes["roster_status"] = {}
            else:
                target.name = target.name or ident.name
                target.owner = target.owner or ident.owner
                if _STATUS_WEIGHT[ident.status] > _STATUS_WEIGHT[target.status]:
                    target.status = ident.status
                    if ident.terminated_at:
                        _take_termination(target, ident)
                elif target.terminated_at is None:
                    _take_termination(target, ident)
                elif (ident.status == target.status != "active" and ident.terminated_at
                      and ident.after_termination < target.after_termination):
                    _take_termination(target, ident)
                for e in ident.emails:
                    if e not in target.emails:
                        target.emails.append(e)
                for a in ident.aliases:
                    if a not in target.aliases:
                        target.aliases.append(a)
                for s in ident.sources:
                    if s not in target.sources:
                        target.sources.append(s)
                for k, v in ident.attributes.items():
                    if k != "terminated_on":  # follows terminated_at (_take_termination)
                        target.attributes.setdefault(k, v)
            for s in ident.sources:
                target.attributes.setdefault("roster_status", {})[s] = ident.status
            for k in [target.id.lower()] + [e.lower() for e in target.emails]:
                by_key[k] = target
    return merged
