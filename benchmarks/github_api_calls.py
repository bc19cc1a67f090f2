"""GitHub API budget: residual's github collector vs a naive per-repository REST collector.

A fake org (fixtures/fake_github.generate_org: 2,000 repos, 500 members, 50 teams, deploy
keys on a tenth of the repos, two Actions secrets per repo, SAML for everyone) serves on
127.0.0.1; both collectors use the real PyGithub client against it, and requests are
counted by the server. Five members are leavers (the deep pass's scope), as after
resolve against a roster that knows everybody (unowned accounts would widen the scope).

Measured, in one run:
- residual, default (``secrets: scoped``): a first scan (empty ETag cache) and a rescan
  with nothing changed (same cache);
- residual, ``secrets: all`` (every repository's Actions secrets): first scan and rescan;
- naive: members, outside collaborators, teams with their members and repositories, then
  per repository collaborators, deploy keys, Actions secrets and webhooks (PyGithub's
  high-level objects, no conditional requests), i.e. what a per-repo graph collector does.

Goals (issue 10): <= 0.7 calls per repository on a first scan; >= 90% of a rescan's
requests answered 304.

    python benchmarks/github_api_calls.py [--repos 2000 --members 500 --teams 50]
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
from collectors.github.collector import GitHubCollector
from fixtures.fake_github import DEMO_TOKEN, generate_org  # noqa: E402
from scanner.core import http
from scanner.core.secrets import Fingerprinter
from scanner.core.store import Inventory, Sink

LEAVERS = [f"user{i:04d}" for i in (10, 110, 210, 310, 410)]


def residual_scan(server, cache: Path, secrets: str) -> dict:
    """One scan (bulk + deep pass) into a throwaway inventory; the server's counts."""
    server.reset_counts()
    server.reset_window()
    server.not_modified = 0
    inv = Inventory(":memory:")
    scan = inv.begin_scan("bench")
    sink = Sink(inv, scan)
    ctx = CollectorContext(fingerprinter=Fingerprinter(b"bench-key-0123456789abcdef"), cache_dir=cache,
                           now=datetime.now(UTC))
    c = GitHubCollector({"org": server.org, "token": DEMO_TOKEN, "base_url": server.url,
                         "secrets": secrets}, ctx)
    t0 = time.perf_counter()
    c.collect(sink)
    bulk = len(server.requests)
    c.deepen(sink, Scope(accounts={f"github:{server.org}|{l}" for l in LEAVERS}))
    sink.flush()
    elapsed = time.perf_counter() - t0
    cov = inv.query("SELECT status, count(*) FROM coverage WHERE scan_id = ? GROUP BY status", [scan])
    counted = inv.query("SELECT sum(api_calls) FROM coverage WHERE scan_id = ? AND target NOT LIKE '%/%'",
                        [scan])[0][0]
    reqs = list(server.requests)
    return {"requests": len(reqs), "bulk": bulk, "deep": len(reqs) - bulk,
            "graphql": sum(1 for r in reqs if r.path == "/graphql"),
            "budget": 5000 - server.remaining["core"] + 5000 - server.remaining["graphql"],
            "rest": sum(1 for r in reqs if r.method == "GET"),
            "not_modified": server.not_modified, "seconds": elapsed, "coverage": dict(cov),
            "counted": counted, "writes": len(server.writes)}


def naive_scan(server) -> dict:
    """The per-repository REST walk, with PyGithub's high-level objects."""
    from github import Auth, Github
    server.reset_counts()
    server.limit = 10 ** 6  # let it finish in one go; real GitHub would make it wait for resets
    server.reset_window()
    gh = Github(auth=Auth.Token(DEMO_TOKEN), base_url=server.url, per_page=100, retry=None,
                seconds_between_requests=None, seconds_between_writes=None)
    t0 = time.perf_counter()
    org = gh.get_organization(server.org)
    n = 0
    n += sum(1 for _ in org.get_members())
    n += sum(1 for _ in org.get_outside_collaborators())
    n += sum(1 for _ in org.invitations())
    for team in org.get_teams():
        n += sum(1 for _ in team.get_members()) + sum(1 for _ in team.get_repos())
    for repo in org.get_repos():
        n += sum(1 for _ in repo.get_collaborators(affiliation="direct"))
        n += sum(1 for _ in repo.get_keys())
        n += sum(1 for _ in repo.get_secrets())
        n += sum(1 for _ in repo.get_hooks())
    for login in LEAVERS:
        n += sum(1 for _ in gh.get_user(login).get_keys())
    return {"requests": len(server.requests), "seconds": time.perf_counter() - t0, "objects": n,
            "writes": len(server.writes)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repos", type=int, default=2000)
    ap.add_argument("--members", type=int, default=500)
    ap.add_argument("--teams", type=int, default=50)
    args = ap.parse_args()
    http.sleep = lambda s: None  # nothing here is rate limited; never wait

    t0 = time.perf_counter()
    server = generate_org(args.repos, args.members, args.teams)
    server.start()
    repos = args.repos
    print(f"estate: {repos} repos, {args.members} members, {args.teams} teams, "
          f"{sum(1 for r in server.repos.values() if r.deploy_keys)} repos with deploy keys, "
          f"{len(LEAVERS)} leavers in scope (built in {time.perf_counter() - t0:.1f}s)")
    checks: list[tuple[str, bool]] = []
    firsts: dict[str, int] = {}
    try:
        with tempfile.TemporaryDirectory() as d1, tempfile.TemporaryDirectory() as d2:
            for label, secrets, cache in (("default (secrets: scoped)", "scoped", Path(d1)),
                                          ("secrets: all", "all", Path(d2))):
                first = residual_scan(server, cache, secrets)
                again = residual_scan(server, cache, secrets)
                firsts[secrets] = first["requests"]
                ratio = again["not_modified"] / again["requests"] if again["requests"] else 0
                print(f"residual, {label}:")
                print(f"  first scan ({first['seconds']:.1f}s): {first['requests']} requests = "
                      f"bulk {first['bulk']} + deep {first['deep']} (GraphQL {first['graphql']}, "
                      f"REST {first['rest']}) = {first['requests'] / repos:.3f} calls/repo; "
                      f"coverage says {first['counted']}")
                print(f"  rescan, nothing changed ({again['seconds']:.1f}s): {again['requests']} requests, "
                      f"{again['not_modified']} answered 304 ({ratio:.1%}); GraphQL {again['graphql']} "
                      f"(GitHub has no ETags for GraphQL); rate-limit points spent {again['budget']} "
                      f"(first scan {first['budget']})")
                if secrets == "scoped":
                    checks.append((f"first scan <= 0.7 calls/repo ({first['requests'] / repos:.3f})",
                                   first["requests"] / repos <= 0.7))
                checks.append((f"{label}: rescan >= 90% answered 304 ({ratio:.1%})", ratio >= 0.9))
                checks.append((f"{label}: coverage api_calls == server count",
                               first["counted"] == first["requests"] and again["counted"] == again["requests"]))
                checks.append((f"{label}: no write reached the server",
                               first["writes"] == again["writes"] == 0))
                checks.append((f"{label}: no failed or partial coverage row {first['coverage']}",
                               not {"failed", "partial"} & (set(first["coverage"]) | set(again["coverage"]))))
            naive = naive_scan(server)
            print(f"naive per-repo REST collector ({naive['seconds']:.1f}s): {naive['requests']} requests "
                  f"= {naive['requests'] / repos:.2f} calls/repo, on every scan (no conditional requests): "
                  f"{naive['requests'] / 5000:.1f} hours of a 5,000/h token's budget")
            print(f"ratio naive/residual, first scan (default): {naive['requests'] / firsts['scoped']:.0f}x fewer requests")
            checks.append(("naive collector saw no write", naive["writes"] == 0))
    finally:
        server.stop()
    for text, ok in checks:
        print(f"  [{'ok' if ok else 'FAIL'}] {text}")
    return 0 if all(ok for _, ok in checks) else 1


if __name__ == "__main__":
    raise SystemExit(main())
