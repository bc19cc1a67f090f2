"""How many AWS API requests does residual send, against a naive per-user collector?

Not a test: run it with `python benchmarks/aws_api_calls.py [--users 1000]`.

Set-up: moto's server on 127.0.0.1 behind a request log (fixtures.aws_estate.AwsServer),
N IAM users with 2 access keys each (every 10th also has a console password), all in a
generated roster, 1 in 100 terminated. Requests are counted on the server side, so
paging and retries are included and nothing is taken from the client's word.

1. residual's scan (the real pipeline: roster -> bulk pass -> resolve -> deep pass for
   the leavers -> rules), its requests split into bulk and deep pass by the Coverage
   rows, and the Coverage api_calls checked against the server's count.
2. a naive collector in the same run, against the same server: list_users, then per
   user list_access_keys, get_access_key_last_used per key, get_login_profile,
   list_ssh_public_keys, list_mfa_devices.

Goal (issue 2): bulk pass <= 0.02 calls per user, deep pass <= 6 per leaver, total
<= 0.08 calls per user in this set-up. Exit status 1 if a goal or the count check fails.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fixtures.aws_estate import FAKE_ENV, AwsServer  # noqa: E402

NOW = "2026-11-21T12:00:00+00:00"


def plant(url: str, users: int) -> None:
    """N users x 2 keys (and a password for every 10th), through the real API."""
    import boto3
    from concurrent.futures import ThreadPoolExecutor

    iam = boto3.Session(aws_access_key_id="testing", aws_secret_access_key="testing",
                        region_name="us-east-1").client("iam", endpoint_url=url)

    def one(i: int) -> None:
        name = f"user{i:05d}"
        iam.create_user(UserName=name)
        iam.create_access_key(UserName=name)
        iam.create_access_key(UserName=name)
        if i % 10 == 0:
            iam.create_login_profile(UserName=name, Password="Bench-Not-A-Real-Passw0rd")

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(one, range(users)))


def roster(path: Path, users: int) -> int:
    rows = ["id,name,email,kind,status,terminated_at,owner,aliases"]
    leavers = 0
    for i in range(users):
        name = f"user{i:05d}"
        gone = i % 100 == 0
        leavers += gone
        rows.append(f"{name}@example.com,User {i},{name}@example.com,human,"
                    f"{'terminated' if gone else 'active'},{'2026-11-01' if gone else ''},,aws:{name}")
    path.write_text("\n".join(rows) + "\n")
    return leavers


def residual_scan(url: str, workdir: Path) -> tuple[list, str]:
    from scanner.config import load_config
    from scanner.core.store import Inventory
    from scanner.pipeline import run_scan

    cfg = workdir / "residual.yaml"
    cfg.write_text(f"inventory: {workdir / 'inv.duckdb'}\nroster:\n  - csv: roster.csv\n"
                   f"collectors:\n  aws:\n    - endpoint_url: {url}\n")
    config = load_config(cfg)
    with Inventory(config.inventory) as inv:
        result = run_scan(config, inv)
    return [c for c in result.coverage if c.collector == "aws"], result.status


def naive_collector(url: str) -> int:
    """What a per-user loop costs (the requests are counted by the server)."""
    import boto3

    iam = boto3.Session(aws_access_key_id="testing", aws_secret_access_key="testing",
                        region_name="us-east-1").client("iam", endpoint_url=url)
    users = [u["UserName"] for p in iam.get_paginator("list_users").paginate(MaxItems=100000)
             for u in p["Users"]]
    for name in users:
        for k in iam.list_access_keys(UserName=name)["AccessKeyMetadata"]:
            iam.get_access_key_last_used(AccessKeyId=k["AccessKeyId"])
        try:
            iam.get_login_profile(UserName=name)
        except iam.exceptions.NoSuchEntityException:
            pass
        iam.list_ssh_public_keys(UserName=name)
        iam.list_mfa_devices(UserName=name)
    return len(users)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--users", type=int, default=1000)
    args = ap.parse_args()
    os.environ.update(FAKE_ENV)
    os.environ["RESIDUAL_NOW"] = NOW

    with tempfile.TemporaryDirectory() as tmp, AwsServer() as srv:
        work = Path(tmp)
        t0 = time.perf_counter()
        plant(srv.url, args.users)
        leavers = roster(work / "roster.csv", args.users)
        planted = time.perf_counter() - t0

        srv.clear()
        t0 = time.perf_counter()
        coverage, status = residual_scan(srv.url, work)
        scan_s = time.perf_counter() - t0
        seen = srv.count()
        writes = len(srv.writes())
        deep = sum(c.api_calls for c in coverage if c.attributes.get("pass") == "deep")
        reported = sum(c.api_calls for c in coverage)
        bulk = reported - deep

        srv.clear()
        t0 = time.perf_counter()
        naive_collector(srv.url)
        naive_s = time.perf_counter() - t0
        naive = srv.count()

    n = args.users
    goals = {
        "bulk pass <= 0.02 calls/user": bulk / n <= 0.02,
        "deep pass <= 6 calls/leaver": deep / max(leavers, 1) <= 6,
        "total <= 0.08 calls/user": seen / n <= 0.08,
        "coverage api_calls == server count": reported == seen,
        "no write operation reached the server": writes == 0,
    }
    print(f"estate: {n} IAM users x 2 access keys ({n // 10} with a console password), "
          f"{leavers} leavers in the roster (planted in {planted:.1f}s)")
    print(f"residual scan ({status}, {scan_s:.1f}s): {seen} HTTP requests seen by the server "
          f"(coverage says {reported}) = bulk {bulk} + deep {deep}")
    print(f"  bulk pass: {bulk / n:.4f} calls/user; deep pass: {deep / max(leavers, 1):.1f} "
          f"calls/leaver; total {seen / n:.4f} calls/user")
    print(f"naive per-user collector ({naive_s:.1f}s): {naive} HTTP requests = {naive / n:.2f} calls/user")
    print(f"ratio naive/residual: {naive / max(seen, 1):.0f}x fewer requests")
    for goal, ok in goals.items():
        print(f"  [{'ok' if ok else 'MISSED'}] {goal}")
    return 0 if all(goals.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
