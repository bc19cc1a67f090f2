"""Evidence over a year: `residual evidence` on 52 weekly scans of the synthetic estate.

    python benchmarks/evidence_history.py                    # 2,000 people, 52 weeks
    python benchmarks/evidence_history.py --people 10000     # the issue's goal: <= 60 s, <= 2 GB
    python benchmarks/evidence_history.py --people 10000 --keep DIR --against ../before
        # reuse the history in DIR; also time a checkout of an earlier commit, same run
    python benchmarks/evidence_history.py --people 10000 --keep DIR --digests
        # the input digest alone, before and now, on the same presence table

How the history is made, through the inventory's own writer with time pinned: a template
estate is written by fixtures.synth (``Inventory.insert_arrow``), resolved and analysed as
in benchmarks/scale.py, as of the year's end (so its terminations fall in the period).
Then each week is a scan of its own: ``Inventory.begin_scan`` with the week's pinned
``now`` (its own id, seq, tool version and config digest, as `residual scan` records
them), the template's rows of every table streamed back through
``Inventory.insert_arrow`` in Arrow batches (each week dropping a further slice of the
credentials and grants, so items are removed over time), the CloudTrail-style
``DeleteAccessKey`` events of the AWS keys removed that week written as ``Activity``
records through ``Inventory.insert``, the verdicts through ``Inventory.write_verdicts``,
then ``Inventory.finish_scan``. The template scan is deleted at the end. A week costs
what a real scan's rows cost on disk, without 52 real scans' collection time.

Measured in the same run, each in a subprocess of its own with its peak RSS from
``os.wait4`` and ``RESIDUAL_NOW`` pinned: the baseline `residual report --format json` of
the last scan (one scan's report), then `residual evidence --format html` and
``--format csv`` over the whole year. Printed: seconds, peak RSS, and the ratio
evidence / baseline.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
START = datetime.fromisoformat("2025-11-22T12:00:00+00:00")
SLICES = 104  # a credential or grant goes in week (hash % SLICES) + 1; half outlive the year
BATCH_ROWS = 200_000


def _keep(table: str, week: int) -> str:
    if table == "credentials":
        return f" AND hash(source || native_id) % {SLICES} >= {week}"
    if table == "grants":
        return f" AND hash(source || principal || resource) % {SLICES} >= {week}"
    return ""


def build_history(workdir: Path, people: int, weeks: int) -> None:
    import pyarrow as pa

    from benchmarks.scale import stage_ingest, stage_resolve, stage_rules
    from scanner.config import load_config
    from scanner.core.model import Activity
    from scanner.core.store import TABLES as RECORD_TABLES, Inventory

    tables = [t.name for t in RECORD_TABLES.values() if t.name != "activities"]
    template = stage_ingest(workdir, people, 7)["scan_id"]  # as of DEFAULT_NOW = the year's end
    stage_resolve(workdir, template)
    stage_rules(workdir, template)
    digest = load_config(workdir / "residual.yaml").digest()
    with Inventory(workdir / "residual.duckdb") as inv:
        con = inv.con
        cols = {t: [r[0] for r in con.execute(f'DESCRIBE "{t}"').fetchall()] for t in tables}
        for w in range(weeks):
            now = START + timedelta(weeks=w)
            sid = inv.begin_scan("scan", digest, now=now)
            for t in tables:
                names = ", ".join(f'"{c}"' for c in cols[t] if c != "scan_id")
                rel = con.cursor().sql(f'SELECT ? AS scan_id, {names} FROM "{t}" WHERE scan_id = ?'
                                       f"{_keep(t, w)}", params=[sid, template])
                reader = getattr(rel, "to_arrow_reader", None) or rel.fetch_arrow_reader
                for batch in reader(BATCH_ROWS):
                    inv.insert_arrow(t, pa.Table.from_batches([batch]))
            if w:  # the provider's own record of the keys removed since last week
                gone = con.execute(
                    "SELECT source, native_id, holder FROM credentials WHERE scan_id = ? "
                    f"AND kind = 'access_key' AND hash(source || native_id) % {SLICES} = ?",
                    [template, w - 1]).fetchall()
                at = now - timedelta(days=3)
                inv.insert(sid, (Activity(source=src, native_id=f"ct-{nid}", system="aws",
                                          action="DeleteAccessKey", category="removal", at=at,
                                          actor="arn:aws:iam::000000000000:user/it-offboarding",
                                          subject_account=holder, subject_credential=f"{src}|{nid}",
                                          outcome="success") for src, nid, holder in gone))
            inv.write_verdicts(sid, con.execute(
                "SELECT identity, layer, verdict, detail FROM verdicts WHERE scan_id = ?",
                [template]).fetchall())
            inv.finish_scan(sid, "complete")
        for t in (*tables, "verdicts"):
            con.execute(f'DELETE FROM "{t}" WHERE scan_id = ?', [template])
        con.execute("DELETE FROM scans WHERE scan_id = ?", [template])
        con.execute("CHECKPOINT")


# The input digest before issue 22's third change: one ordered aggregate over each scan's
# rows (kept here as the reference that --digests measures against).
FLAT_DIGEST = ("SELECT seq, sha256(string_agg(identity || '|' || kind || '|' || uid || '|' "
               "|| coalesce(status, ''), chr(10) ORDER BY identity, kind, uid, status)) "
               "FROM evidence_presence GROUP BY seq")


def digests(workdir: Path, weeks: int, repeat: int = 3) -> None:
    """The input digest alone, before (FLAT_DIGEST) and now (scanner.evidence), on the
    same presence table, alternately, ``repeat`` times each: the minimum of each."""
    from scanner import evidence as E
    from scanner.core.store import Inventory

    with Inventory(workdir / "residual.duckdb", read_only=True) as inv:
        end = START + timedelta(weeks=weeks)
        scans = E.estate_scans(inv, end)
        ids = [s.id for s in scans]
        pop = [r[0] for r in E._population(inv, ids, START, end)]
        E._presence(inv, ids, pop)
        (rows,), = inv.query("SELECT count(*) FROM evidence_presence")
        flat, tree = [], []
        for _ in range(repeat):
            t = time.perf_counter()
            inv.query(FLAT_DIGEST)
            flat.append(time.perf_counter() - t)
            t = time.perf_counter()
            E._input_digests(inv, scans)
            tree.append(time.perf_counter() - t)
    print(f"input digest over {rows:,} presence rows, {len(scans)} scans, min of {repeat}: "
          f"before (one ordered aggregate per scan) {min(flat):.2f}s, now {min(tree):.2f}s, "
          f"before/now {min(flat) / min(tree):.2f}x; load average "
          f"{', '.join(f'{x:.1f}' for x in os.getloadavg())}")


def run_child(args: list[str], code: Path = ROOT) -> tuple[float, float, float]:
    """Wall seconds, peak RSS (MB) and CPU seconds (user + system) of one CLI run. On a
    shared machine the wall time also counts what other processes took; the CPU time
    much less so (DuckDB's threads make it larger than the wall time on an idle one)."""
    env = {**os.environ, "RESIDUAL_NOW": (START + timedelta(weeks=53)).isoformat()}
    t = time.perf_counter()
    p = subprocess.Popen([sys.executable, "-m", "scanner.cli", *args], cwd=code, env=env,
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(p.pid, 0)
    wall = time.perf_counter() - t
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"{args[0]} failed: {p.stderr.read().decode()[-500:]}")
    return wall, usage.ru_maxrss / 1024, usage.ru_utime + usage.ru_stime


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--people", type=int, default=2000)
    ap.add_argument("--weeks", type=int, default=52)
    ap.add_argument("--keep", default=None, help="build the history in this folder and keep it")
    ap.add_argument("--build-only", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--digests", action="store_true",
                    help="time the input digest alone, before and now, on the kept history")
    ap.add_argument("--against", default=None, metavar="CHECKOUT",
                    help="also run evidence from this checkout of residual (e.g. a worktree of "
                         "the previous commit), in the same run, on the same history")
    a = ap.parse_args()
    work = Path(a.keep or tempfile.mkdtemp(prefix="residual-evidence-"))
    work.mkdir(parents=True, exist_ok=True)
    if a.build_only:
        build_history(work, a.people, a.weeks)
        return
    if a.digests:
        digests(work, a.weeks)
        return
    t = time.perf_counter()
    if not (work / "residual.duckdb").exists():
        # in a process of its own: a child's peak RSS starts at its parent's RSS when it
        # forks (Linux keeps the high-water mark across exec), so a parent that had built
        # the history itself would charge every measured run with the build's memory
        subprocess.run([sys.executable, __file__, "--build-only", "--people", str(a.people),
                        "--weeks", str(a.weeks), "--keep", str(work)], check=True, cwd=ROOT)
    built = time.perf_counter() - t
    size = (work / "residual.duckdb").stat().st_size / 2**20
    cfg = str(work / "residual.yaml")
    base = run_child(["report", "-c", cfg, "--format", "json", "-o", str(work / "last.json")])
    period = ["--from", START.date().isoformat(), "--to", (START + timedelta(weeks=a.weeks)).date().isoformat()]
    runs = [("baseline: report json (1 scan)", base)]
    for label, code in ([("before", Path(a.against).resolve())] if a.against else []) + [("", ROOT)]:
        for fmt in ("html", "csv"):
            out = str(work / f"evidence{'-' + label if label else ''}.{fmt}")
            runs.append((f"{label + ': ' if label else ''}evidence {fmt} (year)",
                         run_child(["evidence", "-c", cfg, *period, "--format", fmt, "-o", out], code)))
    print(f"people={a.people} weeks={a.weeks} history built in {built:.0f}s, inventory {size:.0f} MB, "
          f"load average {', '.join(f'{x:.1f}' for x in os.getloadavg())}")
    print(f"{'run':<40}{'seconds':>9}{'cpu s':>8}{'peak MB':>9}{'x baseline':>12}{'cpu x':>7}")
    for name, (s, mb, cpu) in runs:
        print(f"{name:<40}{s:>9.1f}{cpu:>8.1f}{mb:>9.0f}{s / base[0]:>12.2f}{cpu / base[2]:>7.2f}")


if __name__ == "__main__":
    main()
