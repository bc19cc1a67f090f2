"""Slack API budget (issue 20): requests per leaver of the slack collector, against the fake
Slack (fixtures/fake_slack.py: Enterprise Grid admin API) on 127.0.0.1, with baselines
measured in the same run on the same server.

The estate: ``--users`` members of one Grid workspace, each with an active session (one
``admin.users.session.list`` entry) and a ``team.accessLogs`` login in the last 30 days;
``--leavers`` of them deleted in Slack and terminated in the roster, each with two
sessions.

Measured (requests counted by the server, coverage's count printed beside it):
- residual's slack collector (the real ``SlackCollector``, slack_sdk's WebClient): the
  bulk pass (``auth.test``, ``admin.users.list`` active and deleted, 1000 a page) and the
  deep pass for the leavers (``admin.users.session.list`` per leaver and workspace, and
  ``team.accessLogs`` newest first, 1000 a page, until ``access_log_days``);
- baseline 1, a naive collector that does not know who left: ``admin.users.list``, then
  ``admin.users.session.list`` for *every* user, on the first ``--naive-users`` users
  (default 2,000; its cost is per user by construction), extrapolated to the org;
- baseline 2, the org-wide listing: ``admin.users.session.list`` without ``user_id``
  (every active session of the org, 1000 a page), which a collector could filter to the
  leavers client-side.

    python benchmarks/slack_budget.py [--users 20000 --leavers 20 --naive-users 2000]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from collectors.base import CollectorContext, Scope  # noqa: E402
from collectors.slack.collector import SlackCollector  # noqa: E402
from fixtures import fake_slack as fs  # noqa: E402
from scanner.core.model import Activity, Coverage, Credential  # noqa: E402
from scanner.core.secrets import Fingerprinter  # noqa: E402
from scanner.core.store import Inventory, Sink  # noqa: E402

NOW = datetime(2026, 11, 21, 12, tzinfo=UTC)


def build(users: int, leavers: int) -> tuple[fs.FakeSlack, list[str]]:
    s = fs.FakeSlack()
    s.workspaces = {fs.GRID_TEAM: fs.Workspace(fs.GRID_TEAM, "BigCo", "bigco", "enterprise", fs.ENTERPRISE)}
    s.tokens = {fs.ORG_READ_TOKEN: fs.SlackToken("user", {"admin.users:read", "users:read", "admin"},
                                                 "W0ADMIN", None, fs.ENTERPRISE)}
    step = max(1, users // max(1, leavers))
    gone = [f"W{i:08d}" for i in range(0, users, step)][:leavers]
    gone_set = set(gone)
    base = int(NOW.timestamp())
    logins = []
    for i in range(users):
        uid = f"W{i:08d}"
        s.members.append(fs.slack_member(uid, f"user{i:05d}", f"User {i}", f"user{i:05d}@bigco.example",
                                         fs.GRID_TEAM, deleted=uid in gone_set))
        for k in range(2 if uid in gone_set else 1):
            s.sessions.append(fs.slack_session(uid, fs.GRID_TEAM, 9_000_000 + 2 * i + k,
                                               dict(fs.MAC, ip="198.51.100.9")))
        last = base - (i % 30) * 86_400 - i % 86_400
        logins.append(fs.slack_login(uid, f"user{i:05d}", last - 30 * 86_400, last, 3, "198.51.100.9"))
    s.access_logs = {fs.GRID_TEAM: logins}
    return s, gone


def residual(server: fs.FakeSlack, gone: list[str], tmp: Path) -> dict:
    inv = Inventory(":memory:")
    scan = inv.begin_scan("bench")
    sink = Sink(inv, scan)
    ctx = CollectorContext(fingerprinter=Fingerprinter(b"k" * 32), cache_dir=tmp, now=NOW, base_dir=tmp)
    col = SlackCollector({"token": fs.ORG_READ_TOKEN, "base_url": server.url + "/api/",
                          "team_ids": [fs.GRID_TEAM], "access_log_days": 90}, ctx)
    server.reset_counts()
    t0 = time.perf_counter()
    col.collect(sink, None)
    sink.flush()
    bulk, t1 = len(server.requests), time.perf_counter()
    col.deepen(sink, Scope(accounts={f"slack:{fs.ENTERPRISE}|{u}" for u in gone}))
    sink.flush()
    total, t2 = len(server.requests), time.perf_counter()
    by_method: dict[str, int] = {}
    for r in server.requests:
        by_method[r.path.rsplit("/", 1)[-1]] = by_method.get(r.path.rsplit("/", 1)[-1], 0) + 1
    cov = inv.load(Coverage, scan)
    return {"bulk": bulk, "deep": total - bulk, "bulk_s": t1 - t0, "deep_s": t2 - t1, "by_method": by_method,
            "coverage_calls": sum(c.api_calls for c in cov), "statuses": sorted({c.status for c in cov}),
            "sessions": len(inv.load(Credential, scan)), "logins": len(inv.load(Activity, scan)),
            "writes": len(server.writes)}


def client(server: fs.FakeSlack):
    from slack_sdk import WebClient
    return WebClient(token=fs.ORG_READ_TOKEN, base_url=server.url + "/api/", retry_handlers=[])


def pages(call, key: str, **args) -> list:
    out, cursor = [], ""
    while True:
        body = (call(**args, cursor=cursor) if cursor else call(**args)).data
        out.extend(body.get(key) or [])
        cursor = (body.get("response_metadata") or {}).get("next_cursor") or ""
        if not cursor:
            return out


def naive(server: fs.FakeSlack, users: int) -> dict:
    """admin.users.list, then every user's sessions: the first ``users`` users."""
    c = client(server)
    server.reset_counts()
    t0 = time.perf_counter()
    everyone = [u for active in (True, False)
                for u in pages(c.admin_users_list, "users", limit=1000, is_active=active)]
    listing = len(server.requests)
    found = 0
    for u in everyone[:users]:
        for team in u.get("workspaces") or [fs.GRID_TEAM]:
            found += len(pages(c.admin_users_session_list, "active_sessions", user_id=u["id"], team_id=team,
                               limit=1000))
    return {"listing": listing, "per_user": (len(server.requests) - listing) / max(1, min(users, len(everyone))),
            "asked": min(users, len(everyone)), "seconds": time.perf_counter() - t0, "found": found}


def org_wide(server: fs.FakeSlack) -> dict:
    c = client(server)
    server.reset_counts()
    t0 = time.perf_counter()
    sessions = pages(c.admin_users_session_list, "active_sessions", limit=1000)
    return {"requests": len(server.requests), "sessions": len(sessions), "seconds": time.perf_counter() - t0}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--users", type=int, default=20_000)
    ap.add_argument("--leavers", type=int, default=20)
    ap.add_argument("--naive-users", type=int, default=2_000)
    args = ap.parse_args()
    t0 = time.perf_counter()
    server, gone = build(args.users, args.leavers)
    server.start()
    print(f"estate: {args.users} users in one Grid workspace, {len(gone)} leavers (deleted, 2 sessions each), "
          f"{len(server.sessions)} sessions, {args.users} access-log entries (planted in {time.perf_counter() - t0:.1f}s)")
    ok = True

    def check(cond: bool, what: str) -> None:
        nonlocal ok
        ok &= cond
        print(f"  [{'ok' if cond else 'MISSED'}] {what}")

    try:
        with tempfile.TemporaryDirectory() as tmp:
            r = residual(server, gone, Path(tmp))
        ours = r["bulk"] + r["deep"]
        sess = r["by_method"].get("admin.users.session.list", 0)
        logs = r["by_method"].get("team.accessLogs", 0)
        print(f"residual slack: bulk {r['bulk']} requests ({r['bulk_s']:.1f}s) = {r['bulk'] / args.users:.4f}/user; "
              f"deep {r['deep']} requests ({r['deep_s']:.1f}s) = {r['deep'] / len(gone):.2f}/leaver "
              f"(session.list {sess} = {sess / len(gone):.2f}/leaver, accessLogs {logs}: "
              f"{args.users} entries at 1000 a page, shared by all leavers); "
              f"{r['sessions']} sessions and {r['logins']} logins found; coverage says {r['coverage_calls']}")
        nv = naive(server, args.naive_users)
        naive_total = nv["listing"] + nv["per_user"] * args.users
        print(f"baseline 1, naive per-user sessions, first {nv['asked']} users ({nv['seconds']:.1f}s): "
              f"{nv['per_user']:.2f} requests/user + {nv['listing']} listing -> {naive_total:.0f} requests "
              f"for the org = {naive_total / len(gone):.0f}/leaver")
        ow = org_wide(server)
        print(f"baseline 2, org-wide admin.users.session.list ({ow['seconds']:.1f}s): {ow['requests']} requests "
              f"for {ow['sessions']} sessions = {ow['requests'] / len(gone):.2f}/leaver (sessions only)")
        print(f"ratio naive/residual: {naive_total / max(1, ours):.0f}x fewer requests; "
              f"sessions part, org-wide/residual: {ow['requests'] / max(1, sess):.2f}x")
        check(r["deep"] - logs <= 2 * len(gone), "deep pass without access logs <= 2 requests per leaver")
        check(r["bulk"] / args.users <= 0.002, "bulk pass <= 0.002 requests per user")
        check(r["coverage_calls"] == ours, "coverage api_calls == server count")
        check(r["sessions"] == 2 * len(gone), "every leaver's sessions found")
        check(r["statuses"] == ["ok"], "every target ok")
        check(r["writes"] == 0, "no write reached the server")
    finally:
        server.stop()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
