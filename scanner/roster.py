"""The roster: who is who, who left and when, who owns which non-human identity.

Sources register themselves here (``@roster_source``): the CSV file lives in this module;
directory sources (Okta, SCIM) register from their collector modules. Several sources
merge by e-mail (see ``merge``), and each identity remembers which sources it came from.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, Callable, Iterable

from scanner.config import ConfigError, Option
from scanner.model import IDENTITY_KINDS, IDENTITY_STATUSES, Identity


class RosterError(ConfigError):
    """A roster that cannot be read; the message names the file and line."""


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


ROSTER_SOURCES: dict[str, RosterSource] = {}


def roster_source(name: str, options: dict[str, Option], shorthand: str | None = None):
    def register(fn: Callable[[dict[str, Any], RosterContext], Iterable[Identity]]):
        ROSTER_SOURCES[name] = RosterSource(name, options, fn, shorthand)
        return fn
    return register


def parse_time(value: str) -> datetime | None:
    """ISO date or datetime to an aware UTC datetime; '' gives None."""
    value = (value or "").strip()
    if not value:
        return None
    if value.endswith("Z"):
        value = value[:-1] + "+00:00"
    try:
        dt = datetime.fromisoformat(value)
    except ValueError:
        d = date.fromisoformat(value)  # raises ValueError with a clear message
        dt = datetime(d.year, d.month, d.day)
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)


CSV_COLUMNS = ("id", "name", "email", "kind", "status", "terminated_at", "owner", "aliases")


def identities_from_csv(text: str, where: str) -> list[Identity]:
    reader = csv.DictReader(io.StringIO(text, newline=""))
    try:
        return _identities(reader, where)
    except csv.Error as exc:  # a stray quote or carriage return: name the line, do not crash
        raise RosterError(f"{where}: line {reader.line_num}: not valid CSV ({exc})") from None


def _identities(reader: csv.DictReader, where: str) -> list[Identity]:
    if reader.fieldnames is None:
        return []
    header = [h.strip() for h in reader.fieldnames]
    missing = [c for c in ("email",) if c not in header] if "id" not in header else []
    if missing and "id" not in header:
        raise RosterError(f"{where}: line 1: needs an 'id' or 'email' column")
    unknown = [h for h in header if h not in CSV_COLUMNS]
    if unknown:
        raise RosterError(f"{where}: line 1: unknown column {unknown[0]!r} "
                          f"(known: {', '.join(CSV_COLUMNS)})")
    out: list[Identity] = []
    seen: set[str] = set()
    for row in reader:
        line = reader.line_num
        row = {(k or "").strip(): (v or "").strip() for k, v in row.items() if k is not None}
        email = row.get("email", "").lower()
        ident = row.get("id") or email
        if not ident:
            raise RosterError(f"{where}: line {line}: neither id nor email is set")
        if ident in seen:
            raise RosterError(f"{where}: line {line}: duplicate identity {ident!r}")
        seen.add(ident)
        kind = row.get("kind") or "human"
        if kind not in IDENTITY_KINDS:
            raise RosterError(f"{where}: line {line}: kind {kind!r} is not one of {', '.join(IDENTITY_KINDS)}")
        status = row.get("status") or "active"
        if status not in IDENTITY_STATUSES:
            raise RosterError(f"{where}: line {line}: status {status!r} is not one of {', '.join(IDENTITY_STATUSES)}")
        try:
            terminated_at = parse_time(row.get("terminated_at", ""))
        except ValueError:
            raise RosterError(f"{where}: line {line}: terminated_at {row.get('terminated_at')!r} "
                              "is not an ISO date") from None
        aliases = [a.strip() for a in row.get("aliases", "").split(";") if a.strip()]
        for a in aliases:
            if ":" not in a:
                raise RosterError(f"{where}: line {line}: alias {a!r} is not system:handle")
        out.append(Identity(id=ident, name=row.get("name", ""), kind=kind, status=status,
                            terminated_at=terminated_at, owner=row.get("owner") or None,
                            emails=[email] if email else [], aliases=aliases))
    return out


@roster_source("csv", {"path": Option(str, required=True)}, shorthand="path")
def load_csv(block: dict[str, Any], ctx: RosterContext) -> list[Identity]:
    path = Path(block["path"])
    path = path if path.is_absolute() else ctx.base_dir / path
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise RosterError(f"{path}: roster file not found") from None
    except UnicodeDecodeError:
        raise RosterError(f"{path}: roster file is not UTF-8") from None
    idents = identities_from_csv(text, str(path))
    for i in idents:
        i.sources = [f"csv:{path.name}"]
    return idents


_STATUS_WEIGHT = {"active": 0, "suspended": 1, "terminated": 2}


def merge(batches: list[list[Identity]]) -> list[Identity]:
    """Merge identities from several sources, in config order.

    Precedence: identities match by id or by any shared e-mail (case-folded). The first
    source that sets a field wins, except ``status``: the most final status wins
    (terminated > suspended > active), because a directory that says someone left is
    right even if an older CSV says otherwise; ``terminated_at`` follows that status, and
    when two sources give the same final status the earliest date wins (access used after
    the earliest recorded departure is already residue). Aliases, e-mails and sources
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
                    target.terminated_at = ident.terminated_at or target.terminated_at
                elif target.terminated_at is None:
                    target.terminated_at = ident.terminated_at
                elif (ident.status == target.status != "active" and ident.terminated_at
                      and ident.terminated_at < target.terminated_at):
                    target.terminated_at = ident.terminated_at
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
                    target.attributes.setdefault(k, v)
            for s in ident.sources:
                target.attributes.setdefault("roster_status", {})[s] = ident.status
            for k in [target.id.lower()] + [e.lower() for e in target.emails]:
                by_key[k] = target
    return merged
