"""Vault token accessors: requests and seconds of residual's token pass, beside a naive
sequential lookup, in the same run against the same fake Vault.

Not a test: run it with `python benchmarks/vault_budget.py [--accessors 20000]`.

Set-up: fixtures.fake_vault.synthetic_vault(N): the demo Vault plus N token accessors
(1 in 1,000 belongs to the leaver alice), served on 127.0.0.1 by the fake (threaded
http.server). Vault has no bulk token lookup, so both sides send one
``auth/token/lookup-accessor`` per accessor: requests are the same by construction and the
difference is wall time. Requests are counted on the server side.

1. residual: the `vault` collector's token part (``collect_tokens``: LIST + lookups at
   ``--concurrency``, default 8), then the same with ``max_tokens`` at half the estate to
   show the cap honoured (requests = LIST + cap) and reported (coverage partial).
2. naive: hvac, one client, LIST then ``lookup_accessor`` for each accessor in a loop.
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--accessors", type=int, default=20_000)
    ap.add_argument("--concurrency", type=int, default=8)
    args = ap.parse_args()

    import hvac

    from collectors.base import CollectorContext, TargetRun
    from collectors.vault.collector import VaultCollector
    from fixtures import fake_vault as fv
    from scanner.config import check_block
    from scanner.core.store import Inventory, Sink
    from scanner.core.secrets import Fingerprinter

    server = fv.synthetic_vault(args.accessors).start()
    total = len(server.root.tokens)
    leavers = sum(1 for t in server.root.tokens.values() if t.entity_id == fv.ALICE_ENTITY)
    ctx = CollectorContext(fingerprinter=Fingerprinter(b"k" * 32), cache_dir=Path("/tmp"),
                           now=datetime(2026, 11, 21, 12, tzinfo=UTC))

    def residual(cap: int) -> tuple[int, float, TargetRun, int]:
        block = check_block({"url": server.url, "token": fv.DEMO_TOKEN, "concurrency": args.concurrency,
                             "max_tokens": cap}, VaultCollector.options, "vault", Path("b.yaml"))
        col = VaultCollector(block, ctx)
        inv = Inventory(":memory:")
        sink = Sink(inv, inv.begin_scan("bench"))
        run = TargetRun("vault", "vault", "secrets", datetime.now(UTC), 0, 0)
        server.reset_counts()
        t0 = time.perf_counter()
        creds = col.collect_tokens(col.clients(), "", sink, run)
        return server.count(), time.perf_counter() - t0, run, len(creds)

    def naive() -> tuple[int, float, int]:
        server.reset_counts()
        t0 = time.perf_counter()
        c = hvac.Client(url=server.url, token=fv.DEMO_TOKEN)
        found = 0
        for acc in c.auth.token.list_accessors()["data"]["keys"]:
            c.auth.token.lookup_accessor(acc)
            found += 1
        return server.count(), time.perf_counter() - t0, found

    try:
        r_req, r_s, r_run, r_n = residual(10 ** 9)
        n_req, n_s, n_n = naive()
        cap = total // 2
        c_req, c_s, c_run, c_n = residual(cap)
    finally:
        server.stop()
    print(f"accessors: {total} ({leavers} of the leaver), concurrency {args.concurrency}")
    print(f"{'':34}{'requests':>10}{'req/accessor':>14}{'seconds':>10}{'tokens':>8}")
    print(f"{'residual (bounded concurrency)':34}{r_req:>10}{r_req / total:>14.3f}{r_s:>10.1f}{r_n:>8}")
    print(f"{'naive sequential hvac loop':34}{n_req:>10}{n_req / total:>14.3f}{n_s:>10.1f}{n_n:>8}")
    print(f"{'residual, max_tokens=' + str(cap):34}{c_req:>10}{c_req / total:>14.3f}{c_s:>10.1f}{c_n:>8}")
    print(f"wall-time ratio naive / residual: {n_s / r_s:.2f}x; requests ratio: {n_req / r_req:.3f}")
    print(f"cap: coverage {c_run.status}: {c_run.error}")
    ok = (r_n == total and n_n == total and r_req == total + 1 and c_req == cap + 1 and c_n == cap
          and c_run.status == "partial" and c_run.attributes.get("tokens_not_looked_up") == total - cap)
    print("checks:", "ok" if ok else "FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
