"""IaC end to end: ``residual scan`` (iac only) + ``residual report`` against
``detect-secrets scan --all-files`` on the same tree, in the same run (issue 23).

    .venv/bin/python benchmarks/iac_end_to_end.py [--files 10000] [--dir DIR] [--workers 2]

Without ``--dir`` it generates a monorepo (Terraform with IAM users and planted secrets,
tfvars, Kubernetes YAML with Secrets, JSON, .env files, GitHub Actions and GitLab CI
files, CODEOWNERS; the generators of benchmarks/secrets_throughput.py plus these). Both
sides run as their real CLIs in subprocesses (imports, reading, parsing, the inventory
and the report are all in residual's time), with a roster of 50 people. It prints both
wall times, the ratio, and the secret findings by (file, line): residual's exposures
from the inventory against detect-secrets' results; lines only detect-secrets reports are
explained by the same noise filters as secrets_throughput.py (anything else prints
UNEXPLAINED and exits 1). ``--rescan`` also times a second scan of the unchanged tree
(the content cache: no file is analysed again).

Both CLIs are timed as installed tools run: with their bytecode cached (the subprocesses
get ``PYTHONPYCACHEPREFIX`` in the run's temporary folder, and one untimed warm-up each,
even where the environment sets ``PYTHONDONTWRITEBYTECODE``: compiling ~700 modules
costs residual ~1.5 s a process and detect-secrets ~0.5 s), and detect-secrets with
``--no-verify`` (residual does not verify by default either; detect-secrets' default
presents each AWS key it finds to sts.amazonaws.com, and those network waits are not
scanning). It also prints each side's CPU seconds: on a shared machine the wall ratio
moves with the load, the CPU ratio much less.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import string
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import duckdb
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import secrets_throughput as st  # noqa: E402

PEOPLE = 50


def gen_iam(rnd: random.Random, i: int) -> str:
    out = []
    for j in range(rnd.randint(3, 10)):
        p = rnd.randrange(PEOPLE)
        out.append(f'resource "aws_iam_user" "u{i}_{j}" {{\n  name = "person{p}"\n'
                   f'  tags = {{\n    email = "person{p}@example.com"\n    team  = "t{j % 5}"\n  }}\n}}\n')
        out.append(f'resource "aws_iam_access_key" "k{i}_{j}" {{\n  user = aws_iam_user.u{i}_{j}.name\n}}\n')
        if rnd.random() < 0.3:
            out.append(f'resource "github_membership" "m{i}_{j}" {{\n  username = "person{p}-gh"\n'
                       f'  role     = "member"\n}}\n')
    if rnd.random() < 0.2:
        out.append(f'variable "api_token_{i}" {{\n  type    = string\n'
                   f'  default = "{st._rand(rnd, 24)}"\n}}\n')
    return "\n".join(out)


def gen_tfvars(rnd: random.Random, i: int) -> str:
    return (f'region = "eu-west-{i % 3 + 1}"\ninstance_count = {rnd.randint(1, 9)}\n'
            f'db_password = "{st._rand(rnd, 18)}"\n' if rnd.random() < 0.5 else
            f'region = "us-east-1"\nenv = "stage{i}"\n')


def gen_actions(rnd: random.Random, i: int) -> str:
    env = {"LOG_LEVEL": "info"}
    if rnd.random() < 0.2:
        env["DEPLOY_TOKEN"] = st._rand(rnd, 32)
    doc = {"name": f"ci-{i}", "on": ["push"], "jobs": {"build": {
        "runs-on": "ubuntu-latest", "env": env,
        "steps": [{"uses": "actions/checkout@v4"}, {"run": f"make test-{i}"}]}}}
    return yaml.safe_dump(doc, sort_keys=False)


def gen_gitlab(rnd: random.Random, i: int) -> str:
    return (f"stages: [test]\nvariables:\n  IMAGE: registry.example.com/app{i}\n"
            f"test:\n  stage: test\n  script:\n    - make test\n")


KINDS = [("tf", st.gen_terraform, 3), ("iam.tf", gen_iam, 2), ("tfvars", gen_tfvars, 1),
         ("yaml", st.gen_k8s, 3), ("json", st.gen_json, 2), ("env", st.gen_env, 1),
         ("actions", gen_actions, 1), ("gitlab", gen_gitlab, 1)]


def generate(root: Path, files: int, seed: int = 23) -> None:
    rnd = random.Random(seed)
    weights = [w for *_x, w in KINDS]
    for i in range(files):
        kind, gen, _w = rnd.choices(KINDS, weights=weights)[0]
        d = root / f"team{i % 40}" / f"svc{i % 250}"
        if kind == "actions":
            d, name = d / ".github" / "workflows", f"ci{i}.yml"
        elif kind == "gitlab":
            d, name = d / f"p{i}", ".gitlab-ci.yml"
        elif kind == "env":
            d, name = d / f"e{i}", ".env"
        else:
            name = f"f{i}.{kind}"
        d.mkdir(parents=True, exist_ok=True)
        (d / name).write_text(gen(rnd, i))
    (root / "CODEOWNERS").write_text("".join(f"/team{t}/ @person{t}-gh\n" for t in range(40)))


def roster(path: Path) -> None:
    rows = ["id,name,email,kind,status,terminated_at,owner,aliases"]
    for p in range(PEOPLE):
        left = p % 10 == 0
        rows.append(f"person{p}@example.com,P{p},person{p}@example.com,human,"
                    f"{'terminated' if left else 'active'},{'2026-11-01' if left else ''},,"
                    f"aws:person{p};github:person{p}-gh")
    path.write_text("\n".join(rows) + "\n")


def residual(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "RESIDUAL_NOW": "2026-12-01T00:00:00+00:00"}
    return subprocess.run([sys.executable, "-m", "scanner.cli", *args], capture_output=True,
                          text=True, env=env, cwd=ROOT)


def run_residual(tree: Path, work: Path, workers: int) -> tuple[float, dict, subprocess.CompletedProcess]:
    roster(work / "roster.csv")
    cfg = work / "residual.yaml"
    cfg.write_text(yaml.safe_dump({
        "inventory": str(work / "residual.duckdb"), "cache_dir": str(work / "cache"),
        "fingerprint_key": str(work / "fp.key"), "roster": [{"csv": str(work / "roster.csv")}],
        "collectors": {"iac": [{"path": str(tree), "workers": workers}]}}, sort_keys=False))
    c0 = st.cpu_children()
    t0 = time.perf_counter()
    scan = residual("scan", "-c", str(cfg), "-q")
    rep = residual("report", "-c", str(cfg), "--format", "json", "-o", str(work / "report.json"))
    elapsed = time.perf_counter() - t0
    st.CPU["residual"] = st.cpu_children() - c0
    if scan.returncode not in (0, 1) or rep.returncode != 0:
        raise SystemExit(f"residual failed: scan {scan.returncode} {scan.stderr[-2000:]} "
                         f"report {rep.returncode} {rep.stderr[-2000:]}")
    con = duckdb.connect(str(work / "residual.duckdb"), read_only=True)
    scan_id = con.execute("SELECT max(scan_id) FROM exposures").fetchone()[0]
    found = {(loc, line): det for loc, line, det in con.execute(
        "SELECT location, line, detector FROM exposures WHERE scan_id = ?", [scan_id]).fetchall()}
    con.close()
    return elapsed, found, scan


def warm_up(pycache: Path) -> None:
    """Bytecode for both CLIs in ``pycache`` (inherited by every subprocess below), written
    by one untimed run of each."""
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    os.environ["PYTHONPYCACHEPREFIX"] = str(pycache)
    with tempfile.TemporaryDirectory() as tmp:
        tree, work = Path(tmp) / "tree", Path(tmp) / "work"
        tree.mkdir()
        work.mkdir()
        (tree / "main.tf").write_text('resource "aws_iam_user" "a" {\n  name = "person1"\n}\n')
        st.run_detect_secrets(tree)
        run_residual(tree, work, 1)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--files", type=int, default=10_000)
    ap.add_argument("--dir", type=Path, help="scan this directory instead of a generated one")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--rescan", action="store_true")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        warm_up(Path(tmp) / "pycache")
        tree = args.dir.resolve() if args.dir else Path(tmp) / "monorepo"
        if not args.dir:
            generate(tree, args.files)
        files = [p for p in tree.rglob("*") if p.is_file()]
        mb = sum(p.stat().st_size for p in files) / 1e6
        ds_s, ds_found = st.run_detect_secrets(tree)
        work = Path(tmp) / "work"
        work.mkdir()
        us_s, detectors, _scan = run_residual(tree, work, args.workers)
        us_found = set(detectors)
        rescan_s = None
        if args.rescan:
            t0 = time.perf_counter()
            residual("scan", "-c", str(work / "residual.yaml"), "-q")
            residual("report", "-c", str(work / "residual.yaml"), "--format", "json",
                     "-o", str(work / "report2.json"))
            rescan_s = time.perf_counter() - t0
        report = json.loads((work / "report.json").read_text())
        only_ds, only_us = ds_found - us_found, us_found - ds_found
        reasons, unexplained = st.explain(tree, only_ds, only_us, detectors)
        print(f"tree: {args.dir or 'generated monorepo'}, {len(files)} files, {mb:.1f} MB, "
              f"{os.cpu_count()} cpus, load average {', '.join(f'{x:.1f}' for x in os.getloadavg())}")
        ds_cpu, us_cpu = st.CPU["detect-secrets"], st.CPU["residual"]
        print(f"detect-secrets scan --no-verify --all-files: {ds_s:8.2f} s  {ds_cpu:8.2f} CPU s  "
              f"{len(ds_found)} secret lines")
        print(f"residual scan + report (iac, {args.workers} workers):  {us_s:8.2f} s  {us_cpu:8.2f} CPU s  "
              f"{len(us_found)} secret lines, {len(report['findings'])} findings")
        print(f"ratio (wall, end to end): {ds_s / us_s:.1f}x   (CPU seconds: {ds_cpu / us_cpu:.1f}x)")
        if rescan_s is not None:
            print(f"rescan, tree unchanged: {rescan_s:.2f} s ({ds_s / rescan_s:.1f}x)")
        print(f"secret lines: common {len(ds_found & us_found)}; detect-secrets only {len(only_ds)}; "
              f"residual only {len(only_us)}")
        for reason, n in sorted(reasons.items()):
            print(f"  {n:6d}  {reason}")
        for u in unexplained[:20]:
            print("  UNEXPLAINED", *u)
        return 1 if unexplained else 0


if __name__ == "__main__":
    raise SystemExit(main())
