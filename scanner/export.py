"""Parquet export: every table of the inventory (or of one scan) as Parquet files, for
warehouse engines (Spark, Trino, BigQuery, Snowflake, DuckDB itself).

Layout: one folder per scan, ``DIR/<scan_id>/<table>.parquet`` with that scan's rows and
its own ``manifest.json``, and ``DIR/manifest.json`` listing the scans. Why per scan: a
scan's rows never change once it is finished, so a warehouse loads a new folder per
scan (or drops one) instead of re-reading the whole history in one file per table; all
scans of a table read as one with a glob (``read_parquet('DIR/*/findings.parquet')``,
``spark.read.parquet("DIR/*/findings.parquet")``). ``scan_id`` stays a column of every
file, so the rows say which scan they are from wherever they are copied.

Times are ``TIMESTAMPTZ`` (Parquet timestamps adjusted to UTC, ``timestamp[us,
tz=UTC]`` in Arrow): the inventory keeps naive UTC, which a warehouse in another time
zone would read as its local time; each is marked UTC on the way out
(``timezone('UTC', column)``, whatever the session's zone).

Why DuckDB's ``COPY ... TO ... (FORMAT parquet)``: it streams the table out in the
engine, with no row ever passing through Python, so exporting a multi-million-record
inventory costs seconds and little memory. The other column types are the inventory's
own (docs/schema.md); ``attributes`` and ``evidence`` stay JSON strings.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from scanner.core.store import TABLES, TOOL_VERSION, Inventory

# Tables that are not record types but belong in an export.
EXTRA_TABLES = ("scans", "verdicts")
# A scan id as the inventory makes them (20261121T120000Z-1a2b3c, merge ids): it names
# a folder, and is inlined in COPY (which takes no bound parameters).
_SCAN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_:.-]*$")


def table_names() -> list[str]:
    return [*EXTRA_TABLES, *(t.name for t in TABLES.values())]


def _quote_path(path: Path) -> str:
    return "'" + str(path).replace("'", "''") + "'"


def _select(inv: Inventory, name: str, scan_id: str, utc: bool) -> str:
    """The table's rows of one scan; with ``utc``, its TIMESTAMP columns as TIMESTAMPTZ."""
    ts = [c for (c,) in inv.con.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_name = ? "
        "AND data_type = 'TIMESTAMP' ORDER BY ordinal_position", [name]).fetchall()] if utc else []
    replace = (" REPLACE (" + ", ".join(f"timezone('UTC', \"{c}\") AS \"{c}\"" for c in ts) + ")"
               if ts else "")
    return f"SELECT *{replace} FROM \"{name}\" WHERE scan_id = '{scan_id}'"


def export_scan(inv: Inventory, folder: Path, scan_id: str, compression: str = "zstd",
                tables: list[str] | None = None, utc: bool = True) -> dict[str, int]:
    """``<table>.parquet`` with one scan's rows for every table (or ``tables``) into
    ``folder`` (created 0700, files 0600); returns rows per table. ``utc=False`` keeps
    the inventory's naive timestamps (a shard, read back into an inventory by merge)."""
    if not _SCAN_ID.match(scan_id):
        raise ValueError(f"not a scan id: {scan_id!r}")
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    counts: dict[str, int] = {}
    for name in tables or table_names():
        target = folder / f"{name}.parquet"
        inv.con.execute(f"COPY ({_select(inv, name, scan_id, utc)}) TO {_quote_path(target)} "
                        f"(FORMAT parquet, COMPRESSION {compression})")
        target.chmod(0o600)
        counts[name] = int(inv.con.execute(
            f"SELECT count(*) FROM read_parquet({_quote_path(target)})").fetchone()[0])
    return counts


def export_parquet(inv: Inventory, out_dir: Path, scan_id: str | None = None,
                   compression: str = "zstd") -> dict[str, int]:
    """Write ``<scan_id>/<table>.parquet`` for every table and every scan (``scan_id``
    only, when given) into ``out_dir`` (folders 0700, files 0600); returns rows per
    table over the scans written. Each scan's ``manifest.json`` records the tool
    version, the scan and its row counts; ``out_dir/manifest.json`` the scans, so a
    reader can check it got everything."""
    scan_ids = [scan_id] if scan_id is not None else [s["id"] for s in inv.scans()]
    for sid in scan_ids:
        if not _SCAN_ID.match(sid):
            raise ValueError(f"not a scan id: {sid!r}")
    out_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    counts: dict[str, int] = {name: 0 for name in table_names()}
    for sid in scan_ids:
        rows = export_scan(inv, out_dir / sid, sid, compression)
        for name, n in rows.items():
            counts[name] += n
        _write_manifest(out_dir / sid / "manifest.json", {
            "schema": "residual/export/v2", "tool_version": TOOL_VERSION, "scan_id": sid, "tables": rows})
    _write_manifest(out_dir / "manifest.json", {
        "schema": "residual/export/v2", "tool_version": TOOL_VERSION, "scan_id": scan_id,
        "layout": "<scan_id>/<table>.parquet", "scans": scan_ids, "tables": counts})
    return counts


def _write_manifest(path: Path, data: dict) -> None:
    path.write_text(json.dumps(data, indent=2))
    path.chmod(0o600)
