"""Scale benchmark: time and peak RSS of each stage on a synthetic estate.

    python benchmarks/scale.py                 # N = 1000 and 10000
    python benchmarks/scale.py --people 10000  # one N; last line is the summary
    python benchmarks/scale.py --people 100000 # on request (needs the disk and the time)

Each stage runs in a subprocess of its own, and its peak RSS is that process's
``ru_maxrss`` (from ``os.wait4``), so a stage is never charged for what an earlier one
left on the heap, and the peak of the whole run is the largest of the stages:

| stage   | what runs                                                               |
|---------|-------------------------------------------------------------------------|
| ingest  | fixtures.synth writes the estate into a fresh inventory (Arrow batches)  |
| resolve | scanner.pipeline._resolve_into: links every account to an identity      |
| graph   | the identity graph for every leaver's neighbourhood (what finding paths need) |
| rules   | scanner.pipeline.analyse: context, every rule, findings, verdicts       |
| json    | `residual report --format json`                                         |
| html    | `residual report --format html` (when reports/html.py is present)        |
| verify  | `residual verify --scan latest <a leaver>` (timed apart: verify_s)      |

``total_s`` is the sum of ingest..html; ``peak_rss_mb`` the largest stage peak.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NOW = "2026-11-21T12:00:00+00:00"
RESULTS = ROOT / "benchmarks" / "RESULTS.md"
STAGES = ("ingest", "resolve", "graph", "rules", "json", "html")


# --- stages (run in the child process) ------------------------------------------------


def _config(workdir: Path):
    from scanner.config import load_config
    return load_config(workdir / "residual.yaml")


def stage_ingest(workdir: Path, people: int, seed: int) -> dict:
    import yaml

    from fixtures.synth import generate, write_roster_csv
    from scanner.core.store import Inventory

    write_roster_csv(workdir / "roster.csv", people, seed)
    (workdir / "residual.yaml").write_text(yaml.safe_dump({
        "inventory": str(workdir / "residual.duckdb"), "roster": [{"csv": "roster.csv"}],
        "fingerprint_key": str(workdir / "fp.key"), "cache_dir": str(workdir / "cache")}))
    with Inventory(workdir / "residual.duckdb") as inv:
        r = generate(inv, people, seed)
    return {"scan_id": r.scan_id, "records": r.records, "counts": r.counts,
            "leaver": r.leavers[0] if r.leavers else None}


def stage_resolve(workdir: Path, scan_id: str) -> dict:
    from scanner.core.store import Inventory
    from scanner.core.model import Identity
    from scanner.pipeline import _resolve_into

    with Inventory(workdir / "residual.duckdb") as inv:
        identities = inv.load(Identity, scan_id)
        links = _resolve_into(inv, scan_id, identities)
    return {"links": len(links)}


def stage_graph(workdir: Path, scan_id: str) -> dict:
    """The graph a question needs: every leaver's neighbourhood (load_neighbourhood
    filters in DuckDB; graph_for builds each leaver's subgraph), never a whole-estate
    graph."""
    from scanner.engine import load_neighbourhood
    from scanner.core.store import Inventory
    from scanner.core.model import Identity

    config = _config(workdir)
    now = datetime.fromisoformat(NOW)
    with Inventory(workdir / "residual.duckdb", read_only=True) as inv:
        leavers = [i.id for i in inv.iter(Identity, scan_id, "status IN ('terminated', 'suspended')")]
        t = time.perf_counter()
        ctx = load_neighbourhood(inv, scan_id, leavers, config.policy, now)
        load_s = time.perf_counter() - t
        t = time.perf_counter()
        nodes = edges = biggest = 0
        for ident in leavers:
            g = ctx.graph_for(ident)
            nodes += g.number_of_nodes()
            edges += g.number_of_edges()
            biggest = max(biggest, g.number_of_nodes())
        return {"leavers": len(leavers), "nodes": nodes, "edges": edges,
                "largest_subgraph_nodes": biggest, "records_loaded": ctx.size(),
                "load_s": round(load_s, 2), "graphs_s": round(time.perf_counter() - t, 2)}


def stage_rules(workdir: Path, scan_id: str) -> dict:
    from scanner.core.store import Inventory
    from scanner.pipeline import analyse

    config = _config(workdir)
    with Inventory(workdir / "residual.duckdb") as inv:
        r = analyse(inv, scan_id, config, now=datetime.fromisoformat(NOW))
    by_rule: dict[str, int] = {}
    for f in r.findings:
        by_rule[f.rule] = by_rule.get(f.rule, 0) + 1
    return {"findings": len(r.findings), "by_rule": by_rule, "rule_errors": r.rule_errors}


def _cli(workdir: Path, *args: str) -> dict:
    env = {**os.environ, "RESIDUAL_NOW": NOW}
    p = subprocess.run([sys.executable, "-m", "scanner.cli", *args, "-c", str(workdir / "residual.yaml")],
                       capture_output=True, text=True, env=env, cwd=ROOT)
    return {"exit": p.returncode, "stderr": p.stderr[-300:] if p.returncode not in (0, 1, 3) else ""}


# --- the parent: one subprocess per stage ------------------------------------------------


def run_child(argv: list[str]) -> tuple[float, float, dict]:
    """Run a child process; its wall time, its peak RSS (MB) and the JSON it printed
    (with the child's CPU seconds, user + system, as ``cpu_s``: on a shared machine the
    wall time also counts what other processes took)."""
    t = time.perf_counter()
    p = subprocess.Popen(argv, stdout=subprocess.PIPE, cwd=ROOT,
                         env={**os.environ, "RESIDUAL_NOW": NOW, "PYTHONPATH": str(ROOT)})
    out = p.stdout.read() if p.stdout else b""
    _, status, usage = os.wait4(p.pid, 0)
    p.returncode = os.waitstatus_to_exitcode(status)
    elapsed = time.perf_counter() - t
    lines = [l for l in out.decode().splitlines() if l.startswith("{")]
    data = json.loads(lines[-1]) if lines else {}
    data["cpu_s"] = round(usage.ru_utime + usage.ru_stime, 2)
    if p.returncode not in (0, 1, 3):
        raise SystemExit(f"stage failed ({p.returncode}): {' '.join(argv[-4:])}")
    return elapsed, usage.ru_maxrss / 1024, data


def bench(people: int, seed: int, workdir: Path, html: bool) -> dict:
    me = [sys.executable, str(Path(__file__).resolve()), "--stage"]
    res: dict = {"people": people, "stages": {}}
    t, rss, data = run_child(me + ["ingest", "--dir", str(workdir), "--people", str(people),
                                   "--seed", str(seed)])
    res["stages"]["ingest"] = {"s": t, "rss": rss, **data}
    scan_id, leaver = data["scan_id"], data["leaver"]
    records = data["records"]
    for stage in ("resolve", "graph", "rules"):
        t, rss, data = run_child(me + [stage, "--dir", str(workdir), "--scan", scan_id])
        res["stages"][stage] = {"s": t, "rss": rss, **data}
    records += res["stages"]["resolve"].get("links", 0)
    cli = [sys.executable, "-m", "scanner.cli"]
    cfg = ["-c", str(workdir / "residual.yaml")]
    t, rss, data = run_child(cli + ["report", *cfg, "--format", "json", "-o", str(workdir / "report.json")])
    res["stages"]["json"] = {"s": t, "rss": rss, **data,
                             "bytes": (workdir / "report.json").stat().st_size}
    if html and (ROOT / "reports" / "html.py").exists():
        t, rss, data = run_child(cli + ["report", *cfg, "--format", "html", "-o", str(workdir / "report.html")])
        res["stages"]["html"] = {"s": t, "rss": rss, **data,
                                 "bytes": (workdir / "report.html").stat().st_size}
    t, rss, data = run_child(cli + ["verify", *cfg, "--scan", "latest", "-q", leaver])
    res["verify"] = {"s": t, "rss": rss, "identity": leaver, **data}
    res["records"] = records
    res["total_s"] = sum(s["s"] for s in res["stages"].values())
    res["total_cpu_s"] = sum(s["cpu_s"] for s in res["stages"].values())
    res["peak_rss_mb"] = max(s["rss"] for s in [*res["stages"].values(), res["verify"]])
    res["db_mb"] = (workdir / "residual.duckdb").stat().st_size / 2**20
    return res


def table(results: list[dict]) -> str:
    head = "| people | records | " + " | ".join(f"{s} s / MB" for s in STAGES) + \
           " | total s (cpu s) | peak MB | verify s | findings | graph nodes (largest) | inventory MB |"
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for r in results:
        st = r["stages"]
        cells = [f"{st[s]['s']:.1f} / {st[s]['rss']:.0f}" if s in st else "n/a" for s in STAGES]
        g = st.get("graph", {})
        lines.append(f"| {r['people']} | {r['records']} | " + " | ".join(cells) +
                     f" | {r['total_s']:.1f} ({r['total_cpu_s']:.1f}) | {r['peak_rss_mb']:.0f} | {r['verify']['s']:.2f} | "
                     f"{st['rules'].get('findings')} | {g.get('nodes')} ({g.get('largest_subgraph_nodes')}) | "
                     f"{r['db_mb']:.0f} |")
    return "\n".join(lines)


def append_results(results: list[dict], text: str) -> None:
    """Add a run to the "## Scale" section of RESULTS.md (created if missing), after the
    section's earlier runs and before whatever section follows it."""
    cpu = os.cpu_count()
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    block = (f"### scale run {stamp} ({platform.machine()}, {cpu} cores, python "
             f"{platform.python_version()}, load average {load})\n\n`python benchmarks/scale.py "
             f"{' '.join(sys.argv[1:])}`\n\n{text}\n")
    existing = RESULTS.read_text() if RESULTS.exists() else "# Benchmark results\n"
    if "\n## Scale\n" not in "\n" + existing:
        existing = existing.rstrip("\n") + "\n\n## Scale\n\nMeasured by benchmarks/scale.py " \
                   "(see docs/scale.md for what each stage is).\n"
    start = ("\n" + existing).index("\n## Scale\n")
    nxt = existing.find("\n## ", start + 1)
    if nxt == -1:
        updated = existing.rstrip("\n") + "\n\n" + block
    else:
        updated = existing[:nxt].rstrip("\n") + "\n\n" + block + existing[nxt:]
    RESULTS.write_text(updated)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--people", type=int, action="append", help="repeatable; default 1000 and 10000")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--dir", default=None, help="work directory (default: a temporary one)")
    ap.add_argument("--no-html", action="store_true")
    ap.add_argument("--no-append", action="store_true", help="do not append to RESULTS.md")
    ap.add_argument("--stage", choices=["ingest", "resolve", "graph", "rules"], help=argparse.SUPPRESS)
    ap.add_argument("--scan", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)

    if args.stage:  # child process
        workdir = Path(args.dir)
        fn = {"ingest": lambda: stage_ingest(workdir, args.people[0], args.seed),
              "resolve": lambda: stage_resolve(workdir, args.scan),
              "graph": lambda: stage_graph(workdir, args.scan),
              "rules": lambda: stage_rules(workdir, args.scan)}[args.stage]
        print(json.dumps(fn(), default=str))
        return

    sizes = args.people or [1000, 10000]
    results = []
    for n in sizes:
        with tempfile.TemporaryDirectory(prefix=f"residual-scale-{n}-", dir=args.dir) as tmp:
            r = bench(n, args.seed, Path(tmp), not args.no_html)
        results.append(r)
        print(json.dumps({k: v for k, v in r.items()}, default=str), file=sys.stderr)
    text = table(results)
    print(text)
    if not args.no_append:
        append_results(results, text)
    if len(sizes) == 1:
        r = results[0]
        print(f"people={r['people']} records={r['records']} total_s={r['total_s']:.1f} "
              f"peak_rss_mb={r['peak_rss_mb']:.0f} verify_s={r['verify']['s']:.2f}")


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    main()
