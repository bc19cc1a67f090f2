"""What an incremental rescan saves: a first scan, then a rescan with nothing changed.

Not a test: run it with `python benchmarks/incremental_rescan.py [--users 1000] [--files 2000]`.

AWS: moto's server on 127.0.0.1 (fixtures.aws_estate.AwsServer) with the estate of
benchmarks/aws_api_calls.py (N users x 2 access keys, a password for every 10th, 1 in 100
a leaver) plus N/2 roles with owner tags and trust policies. IaC: a tree of F Terraform
and .env files naming users, 1 in 50 with a fake secret. Each scan is the real pipeline
(roster -> bulk pass -> resolve -> deep pass -> rules) into one inventory; the second
one finds every target unchanged. Printed per target: the bulk pass's wall time, API
calls (AWS: counted by the server), records (written through Python, or copied in
DuckDB), and each scan's total wall time.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.aws_api_calls import NOW, plant, roster  # noqa: E402
from fixtures.aws_estate import FAKE_ENV, AwsServer  # noqa: E402


def plant_roles(url: str, n: int) -> None:
    import boto3
    from concurrent.futures import ThreadPoolExecutor
    iam = boto3.Session(aws_access_key_id="testing", aws_secret_access_key="testing",
                        region_name="us-east-1").client("iam", endpoint_url=url)
    trust = ('{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":'
             '{"AWS":"arn:aws:iam::123456789012:user/user%05d"},"Action":"sts:AssumeRole"}]}')

    def one(i: int) -> None:
        iam.create_role(RoleName=f"role{i:05d}", AssumeRolePolicyDocument=trust % i,
                        Tags=[{"Key": "owner", "Value": f"user{i:05d}@example.com"}])

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(one, range(n)))


def plant_tree(root: Path, files: int) -> None:
    for i in range(files):
        d = root / f"mod{i // 100:03d}"
        d.mkdir(parents=True, exist_ok=True)
        (d / f"user{i:05d}.tf").write_text(
            f'resource "aws_iam_user" "user{i:05d}" {{\n  name = "user{i:05d}"\n'
            f'  tags = {{ owner = "user{i:05d}@example.com" }}\n}}\n' * 3)
        if i % 50 == 0:  # fake, high-entropy values
            (d / f"app{i:05d}.env").write_text(f"DB_PASSWORD=Zq8vN3xT7pL2wK9m{i:05d}Qx\n")


def plant_repo(repo: Path, commits: int) -> None:
    """A repository whose history has ``commits`` commits of 10 changed files each."""
    import subprocess
    env = {**os.environ, "GIT_AUTHOR_NAME": "b", "GIT_AUTHOR_EMAIL": "b@b.invalid",
           "GIT_COMMITTER_NAME": "b", "GIT_COMMITTER_EMAIL": "b@b.invalid"}
    repo.mkdir(parents=True)
    subprocess.run(["git", "init", "-q", "-b", "main"], cwd=repo, env=env, check=True)
    for c in range(commits):
        for f in range(10):
            (repo / f"f{f}.tf").write_text(f'resource "aws_iam_user" "u{c}_{f}" {{\n  name = "user{c:05d}"\n}}\n')
        subprocess.run(["git", "add", "-A"], cwd=repo, env=env, check=True)
        subprocess.run(["git", "commit", "-q", "-m", f"c{c}"], cwd=repo, env=env, check=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--users", type=int, default=1000)
    ap.add_argument("--files", type=int, default=2000)
    ap.add_argument("--commits", type=int, default=200)
    args = ap.parse_args()
    os.environ.update(FAKE_ENV)
    os.environ["RESIDUAL_NOW"] = NOW
    from scanner.config import load_config
    from scanner.core.store import Inventory
    from scanner.pipeline import run_scan

    with tempfile.TemporaryDirectory() as tmp, AwsServer() as srv:
        work = Path(tmp)
        plant(srv.url, args.users)
        plant_roles(srv.url, args.users // 2)
        roster(work / "roster.csv", args.users)
        plant_tree(work / "infra", args.files)
        plant_repo(work / "repo", args.commits)
        cfg = work / "residual.yaml"
        body = (f"roster:\n  - csv: roster.csv\ncache_dir: {work / 'cache'}\n"
                f"fingerprint_key: {work / 'fp.key'}\n"
                f"collectors:\n  aws:\n    - endpoint_url: {srv.url}\n  iac:\n    - path: infra\n"
                f"    - path: repo\n      history: true\n")
        cfg.write_text(f"inventory: {work / 'inv.duckdb'}\n" + body)
        config = load_config(cfg)
        cold = work / "cold.yaml"  # another inventory (no previous scan), the same warm cache
        cold.write_text(f"inventory: {work / 'cold.duckdb'}\n" + body)
        print(f"estate: {args.users} IAM users x 2 keys, {args.users // 2} roles; "
              f"{args.files} IaC files; a repository of {args.commits} commits x 10 files")
        print("| scan | target | reused | bulk s (AWS reads s) | API calls | records | scan total s |")
        print("|---|---|---|---:|---:|---:|---:|")
        for label, conf in (("first", config), ("rescan, unchanged", config),
                            ("full re-read, warm IaC cache", load_config(cold))):
            srv.clear()
            t0 = time.perf_counter()
            with Inventory(conf.inventory) as inv:
                result = run_scan(conf, inv)
            total = time.perf_counter() - t0
            for c in result.coverage:
                if c.attributes.get("pass") == "deep" or c.collector not in ("aws", "iac") \
                        or c.target.count("/"):
                    continue
                calls = srv.count() if c.collector == "aws" else c.api_calls
                secs = (c.finished_at - c.started_at).total_seconds()
                reads = f" ({c.attributes['read_s']:.2f})" if "read_s" in c.attributes else ""
                print(f"| {label} | {c.collector}:{c.target} | {'yes' if c.attributes.get('reused_from') else 'no'} "
                      f"| {secs:.2f}{reads} | {calls} | {c.records} | {total:.1f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
