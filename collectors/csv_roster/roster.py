"""The ``csv`` roster source: ``- csv: roster.csv`` in the config's ``roster:`` list.

Columns: id, name, email, kind, status, terminated_at, owner, aliases (``system:handle``
separated by ``;``). A file that cannot be read is a one-line RosterError naming the line.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

from collectors.roster import RosterContext, roster_source
from scanner.core.errors import RosterError
from scanner.core.model import IDENTITY_KINDS, IDENTITY_STATUSES, Identity
from scanner.core.options import Option
from scanner.core.timeparse import is_date_only, parse_time_strict


CSV_COLUMNS = ("id", "name", "email", "kind", "status", "terminated_at", "owner", "aliases",
               "notified_at")


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
            terminated_at = parse_time_strict(row.get("terminated_at", ""))
        except ValueError:
            raise RosterError(f"{where}: line {line}: terminated_at {row.get('terminated_at')!r} "
                              "is not an ISO date") from None
        try:  # when IT was told (optional): evidence measures removal from it too
            notified_at = parse_time_strict(row.get("notified_at", ""))
        except ValueError:
            raise RosterError(f"{where}: line {line}: notified_at {row.get('notified_at')!r} "
                              "is not an ISO date") from None
        aliases = [a.strip() for a in row.get("aliases", "").split(";") if a.strip()]
        for a in aliases:
            if ":" not in a:
                raise RosterError(f"{where}: line {line}: alias {a!r} is not system:handle")
        attributes: dict[str, Any] = {"notified_at": notified_at.isoformat()} if notified_at else {}
        if terminated_at is not None and is_date_only(row.get("terminated_at")):
            # a leave date without a time: "after termination" starts when that day ends
            attributes["terminated_on"] = terminated_at.date().isoformat()
        out.append(Identity(id=ident, name=row.get("name", ""), kind=kind, status=status,
                            terminated_at=terminated_at, owner=row.get("owner") or None,
                            emails=[email] if email else [], aliases=aliases,
                            attributes=attributes))
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
