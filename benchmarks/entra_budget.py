"""Entra ID API budget: residual's entra collector vs a naive per-user Graph collector.

The fake Microsoft (fixtures/fake_microsoft) serves the issue-18 synthetic tenant on
127.0.0.1 over TLS: 20,000 users, 3,000 app registrations, 5,000 service principals, 20
leavers with residue. Both collectors sign in with the real azure-identity; requests are
counted by the server (token requests apart).

- residual: the bulk pass (users, applications and service principals, ``$top=999``,
  ``$select``, ``$expand=owners``), then the deep pass for the 20 leavers (six GETs each,
  twenty to a ``$batch``);
- naive: what a per-user collector does: list users (default page size, 100), then per
  user its grants, app role assignments, registered and owned devices and owned objects,
  and list apps and service principals with one owners call each. Run on the first
  ``--naive-users`` users (default 300) and scaled per user: its cost is linear in users.

Goals (issue 18): <= 0.02 requests per user in the bulk pass, <= 8 per leaver.

    python benchmarks/entra_budget.py [--users 20000 --apps 3000 --sps 5000 --leavers 20 --naive-users 300]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import requests  # noqa: E402
from azure.identity import ClientSecretCredential  # noqa: E402

from collectors.base import CollectorContext, Scope  # noqa: E402
from collectors.entra.collector import EntraCollector  # noqa: E402
from fixtures.fake_microsoft import DEMO_CLIENT, DEMO_SECRET, SYNTH_TENANT, FakeMicrosoft, synthetic_tenant  # noqa: E402
from scanner.core.store import Inventory, Sink  # noqa: E402
from scanner.core.model import Account  # noqa: E402
from scanner.core.secrets import Fingerprinter  # noqa: E402

GOAL_USER, GOAL_LEAVER = 0.02, 8.0


def graph_requests(server: FakeMicrosoft) -> int:
    return server.count("/v1.0")


def residual(server: FakeMicrosoft, tmp: Path) -> dict:
    server.reset_counts()
    inv = Inventory(":memory:")
    scan = inv.begin_scan("bench")
    sink = Sink(inv, scan)
    ctx = CollectorContext(fingerprinter=Fingerprinter(b"bench-key-0123456789abcdef"), cache_dir=tmp,
                           now=datetime(2026, 11, 21, 12, tzinfo=UTC))
    c = EntraCollector({"tenant_id": SYNTH_TENANT, "client_id": DEMO_CLIENT, "client_secret": DEMO_SECRET,
                        "authority_host": server.url, "base_url": server.graph_url,
                        "ca_bundle": server.ca_file, "page_size": 999}, ctx)
    t0 = time.perf_counter()
    c.collect(sink)
    sink.flush()
    bulk, bulk_s = graph_requests(server), time.perf_counter() - t0
    leavers = [a.uid for a in inv.iter(Account, scan, "kind = 'user' AND status = 'disabled'")]
    batched_before = server.count_batched()
    t1 = time.perf_counter()
    c.deepen(sink, Scope(accounts=set(leavers)))
    sink.flush()
    deep, deep_s = graph_requests(server) - bulk, time.perf_counter() - t1
    return {"bulk": bulk, "deep": deep, "inner": server.count_batched() - batched_before,
            "leavers": len(leavers), "bulk_s": bulk_s, "deep_s": deep_s, "calls": c.calls}


def naive(server: FakeMicrosoft, users: int) -> dict:
    """A per-user collector over the first ``users`` users (and every app and SP)."""
    cred = ClientSecretCredential(SYNTH_TENANT, DEMO_CLIENT, DEMO_SECRET, authority=server.url,
                                  disable_instance_discovery=True, connection_verify=server.ca_file)
    s = requests.Session()
    s.headers["Authorization"] = f"Bearer {cred.get_token('https://graph.microsoft.com/.default').token}"
    server.reset_counts()

    def listing(url: str) -> list:
        out = []
        while url:
            body = s.get(url, verify=server.ca_file, timeout=30).json()
            out += body.get("value", [])
            url = body.get("@odata.nextLink")
        return out

    t0 = time.perf_counter()
    ids = []
    url = f"{server.graph_url}/users"
    while url and len(ids) < users:
        body = s.get(url, verify=server.ca_file, timeout=30).json()
        ids += [u["id"] for u in body["value"]]
        url = body.get("@odata.nextLink")
    ids = ids[:users]
    for uid in ids:
        for rel in ("oauth2PermissionGrants", "appRoleAssignments", "registeredDevices", "ownedDevices",
                    "ownedObjects"):
            listing(f"{server.graph_url}/users/{uid}/{rel}")
    per_user = graph_requests(server)
    apps = listing(f"{server.graph_url}/applications")
    sps = listing(f"{server.graph_url}/servicePrincipals")
    for coll, objs in (("applications", apps), ("servicePrincipals", sps)):
        for o in objs:
            listing(f"{server.graph_url}/{coll}/{o['id']}/owners")
    return {"users": len(ids), "user_requests": per_user, "app_requests": graph_requests(server) - per_user,
            "seconds": time.perf_counter() - t0}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--users", type=int, default=20_000)
    ap.add_argument("--apps", type=int, default=3_000)
    ap.add_argument("--sps", type=int, default=5_000)
    ap.add_argument("--leavers", type=int, default=20)
    ap.add_argument("--naive-users", type=int, default=300)
    a = ap.parse_args()
    server = FakeMicrosoft(synthetic_tenant(a.users, a.apps, a.sps, a.leavers)).start()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            r = residual(server, Path(tmp))
        n = naive(server, min(a.naive_users, a.users))
    finally:
        server.stop()
    per_user = r["bulk"] / a.users
    per_leaver = r["deep"] / max(1, r["leavers"])
    inner_per_leaver = r["inner"] / max(1, r["leavers"])
    naive_per_user = n["user_requests"] / max(1, n["users"])
    naive_total = naive_per_user * a.users + n["app_requests"]
    print(f"tenant: {a.users} users, {a.apps} applications, {a.sps} service principals, {r['leavers']} leavers")
    print(f"residual bulk pass: {r['bulk']} Graph requests ({r['bulk_s']:.1f} s): "
          f"{per_user:.4f} per user (goal <= {GOAL_USER}) {'OK' if per_user <= GOAL_USER else 'MISSED'}")
    print(f"residual deep pass: {r['deep']} HTTP requests ($batch) carrying {r['inner']} Graph requests "
          f"({r['deep_s']:.1f} s): {per_leaver:.2f} HTTP / {inner_per_leaver:.1f} Graph requests per leaver "
          f"(goal <= {GOAL_LEAVER}) {'OK' if inner_per_leaver <= GOAL_LEAVER else 'MISSED'}")
    print(f"naive per-user collector: {n['user_requests']} requests for {n['users']} users "
          f"({naive_per_user:.2f} per user) + {n['app_requests']} for apps/SP owners ({n['seconds']:.1f} s); "
          f"scaled to the tenant: {naive_total:,.0f} requests")
    total = r["bulk"] + r["deep"]
    print(f"ratio: naive / residual = {naive_total / max(1, total):,.0f}x fewer requests "
          f"({total} vs {naive_total:,.0f})")
    ok = per_user <= GOAL_USER and inner_per_leaver <= GOAL_LEAVER
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
