"""Parquet export: the layout of issue 16 (a folder per scan, TIMESTAMPTZ) against the
one it replaced (one file per table over the whole history, naive TIMESTAMP), on the
same synthetic inventory in the same run.

    python benchmarks/parquet_export.py [PEOPLE] [SCANS]     (default 2000 5)

What it tells: the cost of one COPY per table per scan (instead of one per table) and
of marking every timestamp UTC. Prints wall and CPU seconds of each and their ratio.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
import time
from pathlib import Path

from fixtures.synth import generate
from scanner.core.store import Inventory
from scanner.export import _quote_path, export_parquet, table_names


def baseline(inv: Inventory, out: Path) -> None:
    """The previous export: every table in one file, the inventory's naive TIMESTAMPs."""
    out.mkdir(parents=True)
    for name in table_names():
        inv.con.execute(f'COPY (SELECT * FROM "{name}") TO {_quote_path(out / f"{name}.parquet")} '
                        "(FORMAT parquet, COMPRESSION zstd)")


def timed(fn, *args) -> tuple[float, float]:
    t0, c0 = time.perf_counter(), time.process_time()
    fn(*args)
    return time.perf_counter() - t0, time.process_time() - c0


def main(people: int = 2000, scans: int = 5) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        inv = Inventory(Path(tmp) / "inv.duckdb", external_access=True)
        for i in range(scans):
            generate(inv, people, seed=7 + i)
        rows = sum(inv.con.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0] for t in table_names())
        print(f"{people} people x {scans} scans: {rows} rows in {len(table_names())} tables")
        results: dict[str, list[tuple[float, float]]] = {"baseline": [], "export": []}
        for rep in range(3):
            for name, fn in (("baseline", baseline), ("export", export_parquet)):
                out = Path(tmp) / f"{name}-{rep}"
                results[name].append(timed(fn, inv, out))
                shutil.rmtree(out)
        best = {k: (min(w for w, _ in v), min(c for _, c in v)) for k, v in results.items()}
        print(f"  file per table, naive (baseline): {best['baseline'][0]:.2f} s wall, {best['baseline'][1]:.2f} s CPU")
        print(f"  folder per scan, TIMESTAMPTZ:     {best['export'][0]:.2f} s wall, {best['export'][1]:.2f} s CPU")
        print(f"  ratio export/baseline: {best['export'][0] / best['baseline'][0]:.2f}x wall, "
              f"{best['export'][1] / best['baseline'][1]:.2f}x CPU (best of 3)")
        inv.close()


if __name__ == "__main__":
    main(*(int(a) for a in sys.argv[1:3]))
