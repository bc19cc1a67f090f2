"""Parquet export: every table of the inventory (or of one scan) as Parquet files, for
warehouse engines (Spark, Trino, BigQuery, Snowflake, DuckDB itself).

Why DuckDB's ``COPY ... TO ... (FORMAT parquet)``: it streams the table out in the
engine, with no row ever passing through Python, so exporting a multi-million-record
inventory costs seconds and little memory. The column types are the inventory's own
(docs/schema.md); ``attributes`` and ``evidence`` stay JSON strings.
"""

from __future__ import annotations

import json
from pathlib import Path

from scanner.core.store import TABLES, TOOL_VERSION, Inventory

# Tables that are not record types but belong in an export.
EXTRA_TABLES = ("scans", "verdicts")


def table_names() -> list[str]:
    return [*EXTRA_TABLES, *(t.name for t in TABLES.values())]


def _quote_path(path: Path) -> str:
    return "'" + str(path).replace("'", "''") + "'"


def export_parquet(inv: Inventory, out_dir: Path, scan_id: str | None = None,
                   compression: str = "zstd") -> dict[str, int]:
    """Write ``<table>.parquet`` for every table into ``out_dir`` (created 0700), the
    rows of ``scan_id`` only when given; returns rows per table. A ``manifest.json``
    records the tool version, the scan and the row counts, so a reader can check it got
    everything."""
    out_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    counts: dict[str, int] = {}
    for name in table_names():
        where = ""
        params: list[str] = []
        if scan_id is not None:
            where = " WHERE scan_id = ?"
            params = [scan_id]
        target = out_dir / f"{name}.parquet"
        # COPY takes no bound parameters for its query: the scan id is checked to be a
        # plain token before it is inlined.
        query = f'SELECT * FROM "{name}"{where}'
        if params:
            if not all(ch.isalnum() or ch in "-_:." for ch in params[0]):
                raise ValueError(f"not a scan id: {params[0]!r}")
            query = query.replace("?", "'" + params[0] + "'")
        inv.con.execute(f"COPY ({query}) TO {_quote_path(target)} "
                        f"(FORMAT parquet, COMPRESSION {compression})")
        target.chmod(0o600)
        counts[name] = int(inv.con.execute(
            f"SELECT count(*) FROM read_parquet({_quote_path(target)})").fetchone()[0])
    manifest = {"schema": "residual/export/v1", "tool_version": TOOL_VERSION,
                "scan_id": scan_id, "tables": counts}
    (out_dir / "manifest.json").write_text(json.dumps(manifest, indent=2))
    (out_dir / "manifest.json").chmod(0o600)
    return counts
