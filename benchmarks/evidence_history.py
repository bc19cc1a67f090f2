"""Evidence over a year: `residual evidence` on 52 weekly scans of the synthetic estate.

    python benchmarks/evidence_history.py                    # 2,000 people, 52 weeks
    python benchmarks/evidence_history.py --people 10000     # the issue's goal: <= 60 s, <= 2 GB

How the history is made: scan 1 is the synthetic estate (fixtures.synth), resolved and
analysed as in benchmarks/scale.py. Weeks 2..52 are copies made with INSERT ... SELECT of
the tables evidence reads (scans, identities, links, accounts, credentials, grants,
findings, verdicts, activities), each week dropping a further slice of the credentials
and grants (so items are removed over time), with the scan's "now" a week later. A copy
costs what a real scan's rows cost on disk, without 52 real scans' collection time.

Measured in the same run, each in a subprocess of its own with its peak RSS from
``os.wait4``: the baseline `residual report --format json` of the last scan (one scan's
report), then `residual evidence --format html` and `--format csv` over the whole year.
Printed: seconds, peak RSS, and the ratio evidence / baseline.
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
TABLES = ("identities", "links", "accounts", "credentials", "grants", "findings", "activities")


def build_history(workdir: Path, people: int, weeks: int) -> None:
    import yaml

    from benchmarks.scale import stage_ingest, stage_resolve, stage_rules
    from scanner.core.store import Inventory

    base = stage_ingest(workdir, people, 7)["scan_id"]
    stage_resolve(workdir, base)
    stage_rules(workdir, base)
    cfg = yaml.safe_load((workdir / "residual.yaml").read_text())
    (workdir / "residual.yaml").write_text(yaml.safe_dump(cfg))
    with Inventory(workdir / "residual.duckdb") as inv:
        con = inv.con
        con.execute("UPDATE scans SET attributes = json_object('now', ?::VARCHAR) WHERE scan_id = ?",
                    [START.isoformat(), base])
        for w in range(1, weeks):
            sid = f"{base}-w{w:02d}"
            now = (START + timedelta(weeks=w)).isoformat()
            con.execute("INSERT INTO scans SELECT ?, started_at, finished_at, status, tool_version, "
                        "command, config_digest, host, run_by, json_object('now', ?::VARCHAR), seq + ? "
                        "FROM scans WHERE scan_id = ?", [sid, now, w, base])
            for t in TABLES:
                cols = [r[0] for r in con.execute(f"DESCRIBE \"{t}\"").fetchall() if r[0] != "scan_id"]
                keep = ""
                if t == "credentials":
                    keep = f" AND hash(source || native_id) % 104 >= {w}"
                elif t == "grants":
                    keep = f" AND hash(source || principal || resource) % 104 >= {w}"
                names = ", ".join(f'"{c}"' for c in cols)
                con.execute(f'INSERT INTO "{t}" SELECT ?, {names} FROM "{t}" WHERE scan_id = ?{keep}',
                            [sid, base])
            con.execute("INSERT INTO verdicts SELECT ?, identity, layer, verdict, detail FROM verdicts "
                        "WHERE scan_id = ?", [sid, base])


def run_child(args: list[str]) -> tuple[float, float, int]:
    env = {**os.environ, "RESIDUAL_NOW": (START + timedelta(weeks=53)).isoformat()}
    t = time.perf_counter()
    p = subprocess.Popen([sys.executable, "-m", "scanner.cli", *args], cwd=ROOT, env=env,
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(p.pid, 0)
    wall = time.perf_counter() - t
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"{args[0]} failed: {p.stderr.read().decode()[-500:]}")
    return wall, usage.ru_maxrss / 1024, os.path.getsize(args[-1]) if args[-2] == "-o" else 0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--people", type=int, default=2000)
    ap.add_argument("--weeks", type=int, default=52)
    ap.add_argument("--keep", default=None, help="build the history in this folder and keep it")
    a = ap.parse_args()
    work = Path(a.keep or tempfile.mkdtemp(prefix="residual-evidence-"))
    work.mkdir(parents=True, exist_ok=True)
    t = time.perf_counter()
    if not (work / "residual.duckdb").exists():
        build_history(work, a.people, a.weeks)
    built = time.perf_counter() - t
    size = (work / "residual.duckdb").stat().st_size / 2**20
    cfg = str(work / "residual.yaml")
    base = run_child(["report", "-c", cfg, "--format", "json", "-o", str(work / "last.json")])
    period = ["--from", START.date().isoformat(), "--to", (START + timedelta(weeks=a.weeks)).date().isoformat()]
    html = run_child(["evidence", "-c", cfg, *period, "--format", "html", "-o", str(work / "evidence.html")])
    csvr = run_child(["evidence", "-c", cfg, *period, "--format", "csv", "-o", str(work / "evidence.csv")])
    print(f"people={a.people} weeks={a.weeks} history built in {built:.0f}s, inventory {size:.0f} MB")
    print(f"{'run':<28}{'seconds':>9}{'peak MB':>9}{'x baseline':>12}")
    for name, (s, mb, _) in (("baseline: report json (1 scan)", base), ("evidence html (year)", html),
                             ("evidence csv (year)", csvr)):
        print(f"{name:<28}{s:>9.1f}{mb:>9.0f}{s / base[0]:>12.2f}")


if __name__ == "__main__":
    main()
