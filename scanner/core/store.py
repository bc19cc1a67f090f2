"""The inventory: a DuckDB file with one table per record type and one row per scan.

Why DuckDB: a columnar, embedded engine lets rules push their heavy filtering into SQL
and lets users query their estate with plain SQL, with no server to run. Rows are
written in Arrow batches (never row by row) because at estate scale (millions of
records) per-row inserts dominate the run time.

Every table carries ``scan_id``; scans are never overwritten, so history (``residual
diff``, findings over time) is a query away. docs/schema.md documents the tables.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import getpass
import json
import os
import secrets as _secrets
import socket
from collections import defaultdict
from operator import attrgetter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Iterable, Iterator, TypeVar

import duckdb
import pyarrow as pa

from scanner.core.columns import (
    AS_IS, SQL_TYPES, TABLES, Table, coerce, column_in, column_out, to_utc_naive,
)
from scanner.core.model import Coverage, Finding, Identity, Link, Record
from scanner.core.timeparse import json_default

T = TypeVar("T", bound=Record)

BATCH_ROWS = 20_000
# The revocation journal (docs/schema.md): who did what to which provider object, when,
# and what the provider answered. ``phase``: run-start, planned, sending, sent, failed,
# verified, run-end.
JOURNAL_COLUMNS = (
    ("run_id", "VARCHAR"), ("seq", "BIGINT"), ("at", "TIMESTAMP"), ("phase", "VARCHAR"),
    ("identity", "VARCHAR"), ("step", "INTEGER"), ("action_key", "VARCHAR"), ("system", "VARCHAR"),
    ("source", "VARCHAR"), ("account", "VARCHAR"), ("verb", "VARCHAR"), ("target", "VARCHAR"),
    ("description", "VARCHAR"), ("ok", "BOOLEAN"), ("status", "INTEGER"), ("detail", "VARCHAR"),
    ("run_by", "VARCHAR"), ("host", "VARCHAR"),
)
TOOL_VERSION = "0.1.0"

# The inventory's schema version, kept in its ``meta`` table. An inventory written before
# versions were recorded (no ``meta`` table) is version 1. Bump it with every change to a
# table's columns and add the step to ``_MIGRATIONS``; tests/test_inventory_upgrade.py holds
# the schema's digest per version so that a change without a bump fails the suite.
SCHEMA_VERSION = 3  # 3: revocations journal (issue 20) and the tables of this wave's sources

# What a scan saw (``scans.kind``). Only an ``estate`` scan can be "the estate's latest
# scan" (``Inventory.latest_scan_id``); see docs/design.md, Scan history.
SCAN_KINDS = ("estate", "partial", "targeted", "shard")
FINISHED = ("complete", "incomplete")


class InventoryError(Exception):
    """The inventory could not be opened or written (locked by another scan, corrupt)."""


_gc_pauses = 0


@contextlib.contextmanager
def paused_gc() -> Iterator[None]:
    """Pause Python's cyclic garbage collector while millions of records are built.

    Why: records hold no reference cycles (refcounting frees them), but each full
    collection walks every live object, and building a 2M-record estate triggered a
    dozen of them: measured at 10k people, more time than the loading itself. Nested
    pauses are fine; the collector runs again when the outermost one ends."""
    global _gc_pauses
    was_enabled = gc.isenabled()
    _gc_pauses += 1
    gc.disable()
    try:
        yield
    finally:
        _gc_pauses -= 1
        if _gc_pauses == 0 and was_enabled:
            gc.enable()


def new_scan_id(now: datetime | None = None) -> str:
    now = now or datetime.now(UTC)
    return now.strftime("%Y%m%dT%H%M%SZ") + "-" + _secrets.token_hex(3)


def _create_private(path: Path) -> None:
    """An inventory holds the map of who can reach what: it and its WAL must not be
    world-readable. A umask of 077 makes DuckDB create them 0600."""
    path.parent.mkdir(parents=True, exist_ok=True)
    os.umask(0o077)


# Columns the pipeline derives after collection (scanner/correlate.py): an incremental
# rescan copies a source's records without them, so that a match to a credential gone
# since is not carried over.
_DERIVED = {("exposures", "matched_credential")}


class Inventory:
    """An open inventory. Use as a context manager; one writer process at a time."""

    def __init__(self, path: str | os.PathLike[str], read_only: bool = False,
                 external_access: bool = False):
        """``external_access``: only for the commands that read or write other files
        (export, merge). An inventory is a file that can be copied between machines: a
        hostile one could hold a view that reads local files (the fingerprint key) into
        a report, or load an extension. Extensions never autoload or autoinstall; files
        other than the database are out of reach unless asked for; and every object the
        schema names must be a table (``_check_objects``)."""
        self.path = Path(path)
        if str(path) != ":memory:" and not read_only:
            _create_private(self.path)
        settings = {"enable_external_access": bool(external_access),
                    "autoload_known_extensions": False, "autoinstall_known_extensions": False}
        try:
            self.con = duckdb.connect(str(path), read_only=read_only, config=settings)
        except duckdb.Error as exc:  # locked by another process, or not a database
            raise InventoryError(f"cannot open inventory {path}: {str(exc).splitlines()[0]}") from None
        if str(path) != ":memory:" and self.path.exists():
            os.chmod(self.path, 0o600)
        try:
            self._check_objects()
        except InventoryError:
            self.con.close()
            raise
        self._upgrade(read_only)
        if not read_only:
            self._create_schema()

    def _check_objects(self) -> None:
        """Refuse an inventory whose expected tables are anything but tables, or that
        holds a view or a macro (residual creates neither)."""
        rows = self.con.execute(
            "SELECT table_name, table_type FROM information_schema.tables "
            "WHERE table_catalog = current_database()").fetchall()
        odd = sorted(f"{n} ({t.lower()})" for n, t in rows if t != "BASE TABLE")
        odd += [f"{n} (macro)" for (n,) in self.con.execute(
            "SELECT function_name FROM duckdb_functions() WHERE NOT internal "
            "AND database_name = current_database()").fetchall()]
        if odd:
            raise InventoryError(f"{self.path}: not a residual inventory: it holds "
                                 f"{', '.join(odd)} (residual creates tables only)")

    # context manager
    def __enter__(self) -> "Inventory":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        try:
            self.con.close()
        except duckdb.Error:
            pass

    # schema
    def _create_schema(self) -> None:
        fresh = not self._tables()
        self.con.execute(
            """CREATE TABLE IF NOT EXISTS scans (
                 scan_id VARCHAR PRIMARY KEY, started_at TIMESTAMP, finished_at TIMESTAMP,
                 status VARCHAR, tool_version VARCHAR, command VARCHAR, config_digest VARCHAR,
                 host VARCHAR, run_by VARCHAR, attributes VARCHAR, seq BIGINT,
                 kind VARCHAR, targets VARCHAR[])""")
        self.con.execute("CREATE TABLE IF NOT EXISTS meta (key VARCHAR PRIMARY KEY, value VARCHAR)")
        if fresh:
            self._set_version(SCHEMA_VERSION)
        self.con.execute(
            """CREATE TABLE IF NOT EXISTS verdicts (
                 scan_id VARCHAR, identity VARCHAR, layer VARCHAR, verdict VARCHAR,
                 detail VARCHAR)""")
        # the session revoker's journal (collectors.revoke): one row before and one after
        # each write it sends, never rewritten, so that a crashed run resumes from it
        self.con.execute(
            f"""CREATE TABLE IF NOT EXISTS revocations ({', '.join(f'"{c}" {t}' for c, t in JOURNAL_COLUMNS)})""")
        for table in TABLES.values():
            cols = ", ".join(f'"{n}" {SQL_TYPES[k]}' for n, k in table.columns)
            self.con.execute(f'CREATE TABLE IF NOT EXISTS "{table.name}" (scan_id VARCHAR, {cols})')

    def _tables(self) -> set[str]:
        return {r[0] for r in self.con.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'main'").fetchall()}

    def schema_version(self) -> int:
        """The version of the schema this file was written with (1: before versions)."""
        tables = self._tables()
        if "meta" not in tables:
            return 1 if "scans" in tables else SCHEMA_VERSION
        row = self.con.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        return int(row[0]) if row else 1

    def _set_version(self, version: int) -> None:
        self.con.execute("INSERT OR REPLACE INTO meta VALUES ('schema_version', ?)", [str(version)])

    def _upgrade(self, read_only: bool) -> None:
        """Refuse an inventory from a newer residual; migrate an older one in place, after
        a backup copy of the file (``<inventory>.schema-v<N>.bak``). A read-only open of an
        older inventory migrates it too (the commands that read would not find its columns)."""
        found = self.schema_version()
        if found > SCHEMA_VERSION:
            self.close()
            raise InventoryError(
                f"{self.path}: written by a newer residual (inventory schema version {found}; "
                f"this residual {TOOL_VERSION} reads up to {SCHEMA_VERSION}): upgrade residual")
        if found == SCHEMA_VERSION:
            return
        self.close()
        backup = _backup(self.path, found)
        try:
            self.con = duckdb.connect(str(self.path))
        except duckdb.Error as exc:
            raise InventoryError(f"cannot migrate inventory {self.path}: {str(exc).splitlines()[0]}") from None
        self.con.execute("BEGIN TRANSACTION")
        try:
            self._create_schema()
            for version in range(found, SCHEMA_VERSION):
                _MIGRATIONS[version](self)
            self._add_missing_columns()
            self._set_version(SCHEMA_VERSION)
            self.con.execute("COMMIT")
        except duckdb.Error as exc:
            self.con.execute("ROLLBACK")
            self.close()
            raise InventoryError(f"cannot migrate inventory {self.path} (unchanged; backup {backup}): "
                                 f"{str(exc).splitlines()[0]}") from None
        import logging  # rare: only on the first open after an upgrade
        logging.getLogger("residual.inventory").warning(
            "%s: inventory migrated from schema version %d to %d (backup: %s)",
            self.path, found, SCHEMA_VERSION, backup)
        if read_only:
            self.close()
            self.con = duckdb.connect(str(self.path), read_only=True)

    def _add_missing_columns(self) -> None:
        """Additive changes (a field added to a record type): the column, NULL in old rows."""
        for table in TABLES.values():
            have = {r[0] for r in self.con.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_name = ?",
                [table.name]).fetchall()}
            for name, kind in table.columns:
                if have and name not in have:
                    self.con.execute(f'ALTER TABLE "{table.name}" ADD COLUMN "{name}" {SQL_TYPES[kind]}')

    # scans
    def begin_scan(self, command: str, config_digest: str = "", now: datetime | None = None,
                   attributes: dict[str, Any] | None = None, kind: str = "estate",
                   targets: Iterable[str] | None = None) -> str:
        """Start a scan. Scans are ordered by ``seq`` (monotonic per inventory), not by
        time: clocks are pinned in tests and can step backwards on real machines.
        ``now`` is the analysis time (stored in attributes); started_at is the wall clock.
        ``kind`` (SCAN_KINDS) says what the scan saw; ``targets``: the identities a
        targeted scan was about (it speaks for them only)."""
        assert kind in SCAN_KINDS, kind
        wall = datetime.now(UTC)
        # One writer at a time (DuckDB's lock), so a scan still "running" here was killed
        # (SIGKILL, power loss): say so, and keep its rows for inspection.
        self.con.execute("UPDATE scans SET status = 'interrupted' WHERE status = 'running'")
        scan_id = new_scan_id(wall)
        seq = self.con.execute("SELECT coalesce(max(seq), 0) + 1 FROM scans").fetchone()[0]
        attrs = {**(attributes or {}), "now": (now or wall).isoformat()}
        self.con.execute(
            "INSERT INTO scans (scan_id, started_at, finished_at, status, tool_version, command, "
            "config_digest, host, run_by, attributes, seq, kind, targets) "
            "VALUES (?, ?, NULL, 'running', ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [scan_id, to_utc_naive(wall), TOOL_VERSION, command, config_digest,
             socket.gethostname(), _whoami(), json.dumps(attrs, default=json_default), seq, kind,
             sorted(targets) if targets is not None else None])
        return scan_id

    def finish_scan(self, scan_id: str, status: str = "complete",
                    now: datetime | None = None) -> None:
        self.con.execute("UPDATE scans SET finished_at = ?, status = ? WHERE scan_id = ?",
                         [to_utc_naive(datetime.now(UTC)), status, scan_id])

    def scans(self) -> list[dict[str, Any]]:
        rows = self.con.execute(
            "SELECT scan_id, started_at, finished_at, status, tool_version, command, "
            "config_digest, host, run_by, attributes, kind, targets FROM scans ORDER BY seq").fetchall()
        keys = ["id", "started_at", "finished_at", "status", "tool_version", "command",
                "config_digest", "host", "run_by", "attributes", "kind", "targets"]
        out = []
        for row in rows:
            d = dict(zip(keys, row))
            for k in ("started_at", "finished_at"):
                if d[k] is not None:
                    d[k] = d[k].replace(tzinfo=UTC)
            d["attributes"] = json.loads(d["attributes"] or "{}")
            out.append(d)
        return out

    def scan(self, scan_id: str) -> dict[str, Any] | None:
        return next((s for s in self.scans() if s["id"] == scan_id), None)

    # Scan history. There is one definition of "the estate's latest scan": the newest
    # finished scan of kind ``estate`` (every configured collector, the whole roster, not a
    # shard, not targeted). Report, diff, plan, the HTML history, new/persisting status and
    # incremental reuse all start from it. A partial, targeted or shard scan is kept (its
    # evidence is worth keeping) but never displaces it.
    ESTATE_SQL = f"status IN {FINISHED} AND kind = 'estate'"
    # The command names of the runs that are not estate scans (their kind says so too),
    # in one place.
    VERIFY_LIVE = "verify-live"
    SCAN_SHARD = "scan-shard"

    def latest_scan_id(self) -> str | None:
        """The estate's latest scan (see above), or None before the first one."""
        row = self.con.execute(f"SELECT scan_id FROM scans WHERE {self.ESTATE_SQL} "
                               "ORDER BY seq DESC LIMIT 1").fetchone()
        return row[0] if row else None

    def previous_scan_id(self, scan_id: str) -> str | None:
        """The estate scan before this one (partial, targeted and shard scans skipped)."""
        row = self.con.execute(
            f"SELECT scan_id FROM scans WHERE seq < (SELECT seq FROM scans WHERE scan_id = ?) "
            f"AND {self.ESTATE_SQL} ORDER BY seq DESC LIMIT 1", [scan_id]).fetchone()
        return row[0] if row else None

    def latest_scan_about(self, identity: str) -> str | None:
        """The newest finished scan that checked IDENTITY in every layer it ran: an estate
        scan, or a targeted run about this identity (``verify --live``, a watch event).
        What ``plan ID`` reads: a partial scan lacks the layers it skipped, a shard has no
        findings, someone else's targeted run holds none of this identity's records."""
        row = self.con.execute(
            f"SELECT scan_id FROM scans WHERE status IN {FINISHED} AND (kind = 'estate' OR "
            "(kind = 'targeted' AND list_contains(targets, ?))) ORDER BY seq DESC LIMIT 1",
            [identity]).fetchone()
        return row[0] if row else None

    def latest_verdicts(self, identity: str) -> dict[str, tuple[str, str]]:
        """Per layer, IDENTITY's verdict from the newest run that actually checked it in
        that layer, with that run's id: ``{layer: (verdict, scan_id)}``. A run checked an
        identity in a layer when it stored a verdict other than ``not_run`` for it there:
        estate and partial scans store verdicts for every leaver, a targeted run only for
        the identities it was about (``targets``; a targeted run from before targets were
        recorded speaks for no one). Shards store none."""
        rows = self.con.execute(
            "SELECT layer, verdict, scan_id FROM (SELECT v.layer, v.verdict, v.scan_id, "
            "row_number() OVER (PARTITION BY v.layer ORDER BY s.seq DESC) AS rn "
            "FROM verdicts v JOIN scans s USING (scan_id) WHERE v.identity = ? "
            f"AND s.status IN {FINISHED} AND v.verdict <> 'not_run' AND (s.kind IN ('estate', 'partial') "
            "OR (s.kind = 'targeted' AND list_contains(s.targets, v.identity)))) WHERE rn = 1",
            [identity]).fetchall()
        return {layer: (verdict, sid) for layer, verdict, sid in rows}

    # writes
    def insert(self, scan_id: str, records: Iterable[Record]) -> int:
        """Insert records of any types, grouped into one Arrow batch per table."""
        by_type: dict[type, list[Record]] = defaultdict(list)
        n = 0
        with paused_gc():
            for rec in records:
                by_type[type(rec)].append(rec)
                n += 1
            for cls, recs in by_type.items():
                self._insert_batch(scan_id, TABLES[cls], recs)
        return n

    def _insert_batch(self, scan_id: str, table: Table, recs: list[Record]) -> None:
        if not recs:
            return
        columns: dict[str, list[Any]] = {"scan_id": [scan_id] * len(recs)}
        try:
            for name, kind in table.columns:
                values = list(map(attrgetter(name), recs))
                columns[name] = values if kind in AS_IS else column_out(kind, values)
            batch = pa.table(columns, schema=table.arrow_schema)
        except (UnicodeEncodeError, TypeError, ValueError, AttributeError, RecursionError,
                pa.ArrowException):
            # A field of the wrong type or text UTF-8 cannot encode (a lone surrogate from
            # a payload's "\udcff"): a malformed payload a transform let through. Keep the
            # batch, coercing each value to its column's type, rather than lose the batch
            # and the target's coverage row with it.
            logging.getLogger("residual.inventory").warning(
                "%s: values of the wrong type or invalid Unicode coerced", table.name)
            columns = {"scan_id": [scan_id] * len(recs)}
            for name, kind in table.columns:
                columns[name] = [coerce(kind, getattr(r, name)) for r in recs]
            batch = pa.table(columns, schema=table.arrow_schema)
        self.insert_arrow(table.name, batch)

    def insert_arrow(self, table_name: str, batch: pa.Table) -> None:
        """Insert an Arrow table whose columns are ``table_name``'s (synth, shards). By
        name: a migrated table has its added columns last, whatever the record's order."""
        cols = ", ".join(f'"{n}"' for n in batch.schema.names)
        self.con.register("_batch", batch)
        try:
            self.con.execute(f'INSERT INTO "{table_name}" ({cols}) SELECT {cols} FROM _batch')
        finally:
            self.con.unregister("_batch")

    def copy_sources(self, from_scan: str, to_scan: str, sources: list[str]) -> dict[str, int]:
        """Incremental rescans: copy the records a source produced in an earlier scan into
        this one, in the engine (INSERT ... SELECT), instead of collecting them again.
        Collected tables only: identities come from the roster, links, findings and
        verdicts are recomputed, coverage is the caller's to write; deep-pass records
        (``attributes.deep``) are not copied, the deep pass asks again. Rows per table."""
        out: dict[str, int] = {}
        if not sources:
            return out
        for cls, table in TABLES.items():
            if cls in (Identity, Link, Finding, Coverage):
                continue
            # derived columns are recomputed on this scan (correlation), never copied
            names = ", ".join(f'NULL AS "{n}"' if (table.name, n) in _DERIVED else f'"{n}"'
                              for n, _ in table.columns)
            cols = ", ".join(f'"{n}"' for n, _ in table.columns)
            n = self.con.execute(
                f'INSERT INTO "{table.name}" (scan_id, {cols}) SELECT ? AS scan_id, {names} FROM "{table.name}" '
                f"WHERE scan_id = ? AND source IN (SELECT unnest(?::VARCHAR[])) "
                # deep-pass records depend on who is in scope (leavers change): re-asked
                f"AND coalesce(json_extract_string(attributes, '$.deep'), '') <> 'true'",
                [to_scan, from_scan, list(sources)]).fetchone()[0]
            if n:
                out[table.name] = int(n)
        return out

    def delete(self, scan_id: str, cls: type[Record]) -> None:
        self.con.execute(f'DELETE FROM "{TABLES[cls].name}" WHERE scan_id = ?', [scan_id])

    def write_verdicts(self, scan_id: str, rows: Iterable[tuple[str, str, str, str]]) -> None:
        rows = list(rows)
        self.con.execute("DELETE FROM verdicts WHERE scan_id = ?", [scan_id])
        if rows:
            batch = pa.table({
                "scan_id": [scan_id] * len(rows),
                "identity": [r[0] for r in rows], "layer": [r[1] for r in rows],
                "verdict": [r[2] for r in rows], "detail": [r[3] for r in rows]})
            self.insert_arrow("verdicts", batch)

    # reads
    def load(self, cls: type[T], scan_id: str, where: str = "", params: list[Any] | None = None,
             ) -> list[T]:
        """Records of one type from one scan; ``where`` is an extra SQL condition."""
        with paused_gc():
            return list(self.iter(cls, scan_id, where, params))

    def iter(self, cls: type[T], scan_id: str, where: str = "", params: list[Any] | None = None,
             batch_rows: int = BATCH_ROWS) -> Iterator[T]:
        table = TABLES[cls]
        names = ", ".join(f'"{n}"' for n, _ in table.columns)
        sql = f'SELECT {names} FROM "{table.name}" WHERE scan_id = ?'
        if where:
            sql += f" AND ({where})"
        cur = self.con.cursor()
        try:
            rel = cur.sql(sql, params=[scan_id, *(params or [])])
            # duckdb 2.0 renamed fetch_arrow_reader (deprecated there) to to_arrow_reader
            reader = getattr(rel, "to_arrow_reader", None) or rel.fetch_arrow_reader
            reader = reader(batch_rows)
            kinds = [k for _, k in table.columns]
            for batch in reader:
                # column at a time, in C where pyarrow can (row-at-a-time conversion
                # dominated loading a 2M-record estate)
                cols = [column_in(k, batch.column(i)) for i, k in enumerate(kinds)]
                for row in zip(*cols):
                    yield cls(*row)
        finally:
            cur.close()

    def count(self, cls: type[Record], scan_id: str) -> int:
        row = self.con.execute(f'SELECT count(*) FROM "{TABLES[cls].name}" WHERE scan_id = ?',
                               [scan_id]).fetchone()
        return int(row[0])

    def verdicts(self, scan_id: str) -> dict[str, dict[str, str]]:
        out: dict[str, dict[str, str]] = defaultdict(dict)
        for ident, layer, verdict in self.con.execute(
                "SELECT identity, layer, verdict FROM verdicts WHERE scan_id = ? ORDER BY identity, layer",
                [scan_id]).fetchall():
            out[ident][layer] = verdict
        return dict(out)

    def query(self, sql: str, params: list[Any] | None = None) -> list[tuple]:
        """A read-only SQL query's rows (reports aggregate in SQL, not in Python)."""
        return self.con.execute(sql, params or []).fetchall()

    # the revocation journal
    def journal_append(self, row: dict[str, Any]) -> None:
        """One journal row (missing columns are NULL); ``at``, ``run_by`` and ``host`` are
        filled in here. Committed before it returns: the journal must survive a crash
        that follows it."""
        row = {"at": datetime.now(UTC), "run_by": _whoami(), "host": socket.gethostname(), **row}
        names = [c for c, _ in JOURNAL_COLUMNS]
        values = [to_utc_naive(row.get(c)) if c == "at" else row.get(c) for c in names]
        self.con.execute(f"INSERT INTO revocations VALUES ({', '.join('?' * len(names))})", values)

    def journal(self, where: str = "", params: list[Any] | None = None) -> list[dict[str, Any]]:
        """Journal rows in the order they were written, as dicts."""
        names = [c for c, _ in JOURNAL_COLUMNS]
        cols = ", ".join(f'"{n}"' for n in names)
        sql = f"SELECT {cols} FROM revocations" + (f" WHERE {where}" if where else "")
        rows = self.con.execute(sql + " ORDER BY \"at\", run_id, seq", params or []).fetchall()
        return [{**dict(zip(names, r)), "at": r[names.index("at")].replace(tzinfo=UTC)} for r in rows]
    def query_arrow(self, sql: str, params: list[Any] | None = None) -> pa.Table:
        """A query's result as an Arrow table, for narrow columns of many rows (sort keys
        of every finding) that would cost a Python tuple each."""
        return self.con.sql(sql, params=params or []).to_arrow_table()

    def coverage(self, scan_id: str) -> list[Coverage]:
        return self.load(Coverage, scan_id)

    def findings(self, scan_id: str) -> list[Finding]:
        return self.load(Finding, scan_id)


def _backup(path: Path, version: int) -> Path:
    """Copy the inventory (and its WAL, if a writer died before a checkpoint) aside before
    a migration: ``<inventory>.schema-v<N>.bak``, never overwriting an earlier backup."""
    import shutil
    dest = path.with_name(f"{path.name}.schema-v{version}.bak")
    n = 1
    while dest.exists():
        dest = path.with_name(f"{path.name}.schema-v{version}.{n}.bak")
        n += 1
    shutil.copy2(path, dest)
    wal = path.with_name(path.name + ".wal")
    if wal.exists():
        shutil.copy2(wal, dest.with_name(dest.name + ".wal"))
    return dest


def _v1_to_v2(inv: Inventory) -> None:
    """Version 2 records what each scan saw (``scans.kind``, ``scans.targets``). Older
    scans get it from their command: ``verify-live`` was targeted (about whom was not
    recorded, so its verdicts speak for no one: it stored one for every leaver, most of
    them never asked about), ``scan-shard`` a shard, the rest estate scans, except that a
    scan whose collectors are a strict subset of another scan's under the same config
    (``scan --only``) was partial: the layers it skipped become ``not_run``."""
    have = {r[0] for r in inv.con.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_name = 'scans'").fetchall()}
    if "kind" not in have:
        inv.con.execute("ALTER TABLE scans ADD COLUMN kind VARCHAR")
    if "targets" not in have:
        inv.con.execute("ALTER TABLE scans ADD COLUMN targets VARCHAR[]")
    inv.con.execute("UPDATE scans SET kind = CASE command WHEN 'verify-live' THEN 'targeted' "
                    "WHEN 'scan-shard' THEN 'shard' ELSE 'estate' END WHERE kind IS NULL")
    seen: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))  # scan -> collector -> layers
    for sid, collector, layer in inv.con.execute(
            "SELECT DISTINCT scan_id, collector, layer FROM coverage WHERE collector NOT LIKE 'roster:%'").fetchall():
        seen[sid][collector].add(layer)
    estate = inv.con.execute("SELECT scan_id, config_digest, attributes FROM scans "
                             "WHERE kind = 'estate' AND command <> 'merge'").fetchall()
    for sid, digest, attrs in estate:
        mine = set(seen[sid])
        wider = [o for o, d, _ in estate if o != sid and d == digest and mine < set(seen[o])]
        if not wider:
            continue
        other = seen[wider[0]]
        not_run = sorted({l for c, ls in other.items() if c not in mine for l in ls}
                         - {l for ls in seen[sid].values() for l in ls})
        attributes = {**json.loads(attrs or "{}"), "not_run": not_run, "migrated": "partial"}
        inv.con.execute("UPDATE scans SET kind = 'partial', attributes = ? WHERE scan_id = ?",
                        [json.dumps(attributes), sid])
        inv.con.execute("UPDATE verdicts SET verdict = 'not_run' WHERE scan_id = ? AND verdict <> "
                        "'residual' AND layer IN (SELECT unnest(?::VARCHAR[]))", [sid, not_run])


def _additive(inv: Inventory) -> None:
    """A step for a purely additive change (a new table or column): ``_create_schema``
    and ``_add_missing_columns`` do it, for every migration."""


# schema version -> the step that brings an inventory of that version to the next (an
# additive change: ``N: _additive``)
_MIGRATIONS: dict[int, Any] = {1: _v1_to_v2, 2: _additive}
def refined(records: Iterable[Any]) -> dict[str, Any]:
    """One record per uid. The deep pass may re-emit a record the bulk pass already wrote,
    with more detail and ``attributes["deep"] = True``; that one wins."""
    out: dict[str, Any] = {}
    for r in records:
        prev = out.get(r.uid)
        if prev is None or (r.attributes.get("deep") and not prev.attributes.get("deep")):
            out[r.uid] = r
    return out


def _whoami() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no passwd entry in some containers
        return str(os.getuid())


class Sink:
    """What a collector writes to: buffers records and flushes them in batches, and
    counts what each collector wrote so Coverage rows can say how much was seen."""

    def __init__(self, inventory: Inventory, scan_id: str, batch_rows: int = BATCH_ROWS,
                 attribute_keys: dict[str, frozenset[str]] | None = None):
        self.inventory = inventory
        self.scan_id = scan_id
        self.batch_rows = batch_rows
        self._buffer: dict[type, list[Record]] = defaultdict(list)
        self.counts: dict[str, int] = defaultdict(int)
        self.previous_scan_id: str | None = None  # set by the pipeline (incremental rescans)
        # record kind -> the attribute keys declared for it (collectors.registry.attribute_keys);
        # a key written but not declared is counted here and logged once
        self.attribute_keys = attribute_keys
        self.undeclared: dict[tuple[str, str], int] = defaultdict(int)

    def previous_coverage(self, collector: str, target: str) -> Coverage | None:
        """The previous scan's coverage row for this collector and target, if any. A
        target with several rows (a bulk and a deep pass) answers with the one that
        recorded a change token: the bulk read whose records reuse would copy."""
        if not self.previous_scan_id:
            return None
        rows = self.inventory.load(Coverage, self.previous_scan_id, "collector = ? AND target = ?",
                                   [collector, target])
        tokened = [r for r in rows if r.attributes.get("change_token")]
        return (tokened or rows)[-1] if rows else None

    def copy_previous(self, sources: list[str]) -> int:
        """Copy the previous scan's records of these sources into this scan (counted as
        written, so the target's coverage row says how many records it holds)."""
        if not self.previous_scan_id:
            return 0
        self.flush()
        copied = self.inventory.copy_sources(self.previous_scan_id, self.scan_id, sources)
        for table, n in copied.items():
            self.counts[table] += n
        return sum(copied.values())

    def emit(self, record: Record) -> None:
        if self.attribute_keys is not None and record.attributes:
            self._check_attributes(record)
        buf = self._buffer[type(record)]
        buf.append(record)
        self.counts[record.TABLE] += 1
        if len(buf) >= self.batch_rows:
            self._flush_type(type(record))

    def _check_attributes(self, record: Record) -> None:
        """Readers (rules, plan, resolve) rely on the declared keys: an undeclared one is a
        key no reader knows about, or a typo of one they do. Stored all the same (the
        evidence is kept), counted and logged once, so a test or a run can see it."""
        kind = type(record).__name__
        for key in record.attributes.keys() - self.attribute_keys.get(kind, frozenset()):
            if not self.undeclared[(kind, key)]:
                logging.getLogger("residual.inventory").warning(
                    "%s attribute %r is not declared (ATTRIBUTES of its source package)", kind, key)
            self.undeclared[(kind, key)] += 1

    def emit_all(self, records: Iterable[Record]) -> int:
        n = 0
        for r in records:
            self.emit(r)
            n += 1
        return n

    def _flush_type(self, cls: type) -> None:
        recs = self._buffer.pop(cls, [])
        if recs:
            self.inventory._insert_batch(self.scan_id, TABLES[cls], recs)

    def flush(self) -> None:
        for cls in list(self._buffer):
            self._flush_type(cls)

    @property
    def total(self) -> int:
        return sum(v for k, v in self.counts.items() if k != "coverage")
