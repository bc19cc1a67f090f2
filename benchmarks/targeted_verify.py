"""Targeted verify vs full scan, and time to detect (issue 8).

A synthetic estate on 127.0.0.1: N people (8% terminated, and most of those still
active somewhere), each with an Okta user (assigned to 3 of 12 apps), a SCIM (Slack)
user, a GitHub org member (fixtures.fake_github.generate_org: repos with collaborators,
deploy keys, Actions secrets, SAML), and for every other person an IAM user with an
access key in moto. The real collectors scan it in full; then ``verify --live`` of one
leaver (run_scan(command="verify-live"), what the CLI runs) is timed and its requests
counted per fake, side by side with the full scan's.

Time to detect: an admin deactivates a leaver in Okta (the user's status changes and a
``user.lifecycle.deactivate`` LogEvent is recorded, ``published`` = now); one poll of
``residual watch``'s Okta System Log source picks it up and runs the targeted verify.
The figure is ``verified_at - published`` of the verdict message (a real deployment adds
up to one poll interval, ``--interval``, default 30 s).

Goals: a targeted verify under 10 s and under 1% of a full scan's API calls.

    python benchmarks/targeted_verify.py [--people 400 --repos 300 --events 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import boto3  # noqa: E402
import yaml  # noqa: E402

from fixtures.aws_estate import FAKE_ENV, AwsServer  # noqa: E402
from fixtures.fake_github import DEMO_TOKEN as GITHUB_TOKEN, generate_org  # noqa: E402
from fixtures.fake_okta import FakeOkta, okta_api_token, okta_app, okta_app_user, okta_user  # noqa: E402
from fixtures.fake_scim import FakeScim, scim_user  # noqa: E402

OKTA_TOKEN, SCIM_TOKEN = "bench-okta-token-not-real", "bench-scim-token-not-real"
NOW = "2026-11-21T12:00:00+00:00"


def person(i: int) -> tuple[str, str]:
    """(login, e-mail) as generate_org names its members and their SAML identities."""
    return f"user{i:04d}", f"user{i:04d}@bigco.example"


def terminated(i: int) -> bool:
    return i % 12 == 5  # ~8%


def build_estate(people: int, repos: int, aws_url: str) -> tuple[FakeOkta, FakeScim, object, str]:
    okta = FakeOkta(token=OKTA_TOKEN)
    apps = [okta_app(f"0oa{a:017d}", f"app{a}", f"App {a}") for a in range(12)]
    okta.apps = apps
    for i in range(people):
        login, email = person(i)
        status = "DEPROVISIONED" if terminated(i) and i % 24 == 5 else "ACTIVE"  # half still active
        u = okta_user(f"00u{i:017d}", email, "User", str(i), status,
                      last_login="2026-11-01T09:00:00.000Z")
        okta.users.append(u)
        for a in (i % 12, (i + 3) % 12, (i + 7) % 12):
            okta.assignments.setdefault(apps[a]["id"], []).append(okta_app_user(u, apps[a]["id"]))
        if i % 40 == 0:
            okta.tokens.append(okta_api_token(f"00T{i:017d}", f"token-{i}", u["id"],
                                              "2026-01-01T00:00:00.000Z", "2026-12-31T00:00:00.000Z"))
    scim = FakeScim(token=SCIM_TOKEN)
    scim.users = [scim_user(f"5f1c0a9e-{i:04d}-4a6b-9a01-000000000000", person(i)[1],
                            active=not (terminated(i) and i % 24 == 5)) for i in range(people)]
    github = generate_org(n_repos=repos, n_members=people, n_teams=max(1, repos // 20), org="bigco")
    github.tokens[GITHUB_TOKEN] = "user"
    iam = boto3.client("iam", endpoint_url=aws_url, region_name="us-east-1")
    for i in range(1, people, 2):  # the odd half, where the leavers picked below are
        login, email = person(i)
        iam.create_user(UserName=login, Tags=[{"Key": "email", "Value": email}])
        iam.create_access_key(UserName=login)
    roster = ["id,name,email,kind,status,terminated_at,owner,aliases"]
    for i in range(people):
        login, email = person(i)
        status, when = ("terminated", "2026-11-01") if terminated(i) else ("active", "")
        roster.append(f"{email},User {i},{email},human,{status},{when},,github:{login};aws:{login}")
    return okta, scim, github, "\n".join(roster) + "\n"


def counts(servers: dict, aws: AwsServer) -> dict[str, int]:
    out = {name: s.count() for name, s in servers.items()}
    out["aws"] = aws.count()
    out["total"] = sum(out.values())
    return out


def not_modified(servers: dict) -> int:
    """Requests answered 304 (conditional, on GitHub free of the rate limit), as the fake
    GitHub counted them (the collector's own tally covers its bulk pass only)."""
    return int(getattr(servers["github"], "not_modified", 0))


def dump_requests(servers: dict) -> None:
    """What the targeted verify asked, per server: each path with repository/user names
    and numbers masked, and how many times."""
    import collections
    import re
    for name, s in servers.items():
        shapes = collections.Counter()
        for r in s.requests:
            path = re.sub(r"repo-\d+", "REPO", re.sub(r"user\d{4}", "USER", r.path))
            if path.endswith("graphql"):
                m = re.match(r"\s*query\s+(\w+)", (r.json() or {}).get("query", ""))
                path += f" {m.group(1) if m else '?'}"
            shapes[re.sub(r"\b\d{3,}\b|00u\d+|0oa\d+", "N", path)] += 1
        for path, n in shapes.most_common():
            print(f"  {name:8} {n:4}  {path}")


def reset(servers: dict, aws: AwsServer) -> None:
    for s in servers.values():
        s.reset_counts()
    servers["github"].not_modified = 0
    aws.clear()


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--people", type=int, default=400)
    ap.add_argument("--repos", type=int, default=300)
    ap.add_argument("--events", type=int, default=3)
    ap.add_argument("--dump", action="store_true",
                    help="print the targeted verify's requests per server (paths, numbers masked)")
    args = ap.parse_args()
    os.environ.update(FAKE_ENV)
    os.environ["RESIDUAL_NOW"] = NOW
    from scanner.core import http
    http.sleep = lambda s: None  # the fakes do not rate-limit; no backoff waits in the figures

    from scanner.config import load_config
    from scanner.engine import overall
    from scanner.core.store import Inventory
    from scanner.pipeline import run_scan
    from scanner.watch import OktaLogSource, Sinks, targeted_verify, watch_loop

    with AwsServer() as aws, tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        okta, scim, github, roster = build_estate(args.people, args.repos, aws.url)
        servers = {"okta": okta.start(), "scim": scim.start(), "github": github.start()}
        tmpd = Path(tmp)
        (tmpd / "roster.csv").write_text(roster)
        (tmpd / "residual.yaml").write_text(yaml.safe_dump({
            "inventory": str(tmpd / "residual.duckdb"), "roster": [{"csv": "roster.csv"}],
            "collectors": {
                "aws": [{"name": "bench", "endpoint_url": aws.url, "regions": ["us-east-1"]}],
                "github": [{"org": "bigco", "token": GITHUB_TOKEN, "base_url": github.url}],
                "okta": [{"domain": "bigco.okta.com", "base_url": okta.url, "token": OKTA_TOKEN}],
                "scim": [{"name": "slack", "url": scim.base_url, "token": SCIM_TOKEN}]}}))
        cfg = load_config(tmpd / "residual.yaml")
        print(f"estate: {args.people} people, {args.repos} repos, {args.people // 2} IAM users "
              f"(built in {time.perf_counter() - t0:.1f} s)")
        reset(servers, aws)

        with Inventory(cfg.inventory) as inv:
            t = time.perf_counter()
            full = run_scan(cfg, inv, command="scan")
            full_s, full_calls = time.perf_counter() - t, counts(servers, aws)
            full_304 = not_modified(servers)
            leavers = [i for i in range(args.people) if terminated(i) and i % 2 == 1 and i % 24 != 5]
            who = person(leavers[0])[1]
            reset(servers, aws)
            t = time.perf_counter()
            live = run_scan(cfg, inv, command=Inventory.VERIFY_LIVE, verify={who})
            live_s, live_calls = time.perf_counter() - t, counts(servers, aws)
            live_304 = not_modified(servers)
            if args.dump:
                dump_requests(servers)
            reset(servers, aws)
            t = time.perf_counter()
            again = run_scan(cfg, inv, command="verify", verify={who})  # the full verify, now
            verify_s = time.perf_counter() - t
            same = live.verdicts.get(who) == again.verdicts.get(who)

        print(f"\ntargeted verify of {who}: verdict {overall(live.verdicts.get(who, {}))} "
              f"(a full verify says {overall(again.verdicts.get(who, {}))}; layers equal: {same})\n")
        print(f"{'':24}{'full scan':>12}{'verify --live':>15}{'live / full':>13}")
        for k in ("aws", "github", "okta", "scim", "total"):
            ratio = live_calls[k] / full_calls[k] if full_calls[k] else 0.0
            print(f"{k + ' calls':24}{full_calls[k]:>12}{live_calls[k]:>15}{ratio:>12.1%}")
        print(f"{'  of which 304 (ETag)':24}{full_304:>12}{live_304:>15}")
        billed = (live_calls["total"] - live_304) / max(1, full_calls["total"] - full_304)
        print(f"{'total without 304s':24}{full_calls['total'] - full_304:>12}"
              f"{live_calls['total'] - live_304:>15}{billed:>12.1%}")
        print(f"{'wall time (s)':24}{full_s:>12.2f}{live_s:>15.2f}{live_s / full_s:>12.1%}")
        print(f"{'(full verify, s)':24}{verify_s:>12.2f}")

        # time to detect: deactivate in Okta, one poll, the verdict
        detect = []
        state = Path(tmp) / "watch.json"
        src = OktaLogSource(okta.url, OKTA_TOKEN,
                            since=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z"))
        got: list[dict] = []
        sinks = Sinks(stdout=False, echo=lambda line: None)
        sinks.send = lambda msg: got.append(msg)  # collect in memory: what is measured is the verdict
        for n, i in enumerate(leavers[1:1 + args.events]):
            u = okta.users[i]
            u["status"] = "DEPROVISIONED"
            okta.log_event("user.lifecycle.deactivate", u,
                           datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z")
            reset(servers, aws)
            watch_loop([src], state, lambda ev: targeted_verify(cfg, ev), sinks, once=True)
            msg = got[-1]
            detect.append(msg["time_to_detect_s"])
            print(f"event {n + 1}: {msg['identity']} deactivated -> verdict {msg['verdict']} "
                  f"in {msg['time_to_detect_s']:.2f} s (verify {msg['time_to_verdict_s']:.2f} s, "
                  f"{counts(servers, aws)['total']} calls incl. the log poll)")
        if detect:
            print(f"time to detect (event published -> verdict, one poll): median "
                  f"{statistics.median(detect):.2f} s, max {max(detect):.2f} s over {len(detect)} events")
        # the same through an Okta Event Hook (push: no polling delay at all)
        import requests

        from scanner.watch import OktaEventHookSource
        hook = OktaEventHookSource(Path(tmp) / "hook.jsonl", "bench-hook-secret")
        url = hook.serve()
        i = leavers[1 + args.events]
        u = okta.users[i]
        u["status"] = "DEPROVISIONED"
        ev = okta.log_event("user.lifecycle.deactivate", u,
                            datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z")
        requests.post(url, json={"eventType": "com.okta.event_hook", "data": {"events": [ev]}},
                      headers={"Authorization": "bench-hook-secret"}, timeout=10)
        watch_loop([hook], state, lambda e: targeted_verify(cfg, e), sinks, once=True)
        hook.stop()
        print(f"event hook: {got[-1]['identity']} deactivated -> verdict {got[-1]['verdict']} "
              f"in {got[-1]['time_to_detect_s']:.2f} s (verify {got[-1]['time_to_verdict_s']:.2f} s)")
        detect_hook = got[-1]["time_to_detect_s"]
        for s in servers.values():
            s.stop()
        print(json.dumps({"full_calls": full_calls, "live_calls": live_calls, "full_s": round(full_s, 2),
                          "live_s": round(live_s, 2), "detect_s": detect, "detect_hook_s": detect_hook,
                          "not_modified": {"full": full_304, "live": live_304}}))
    if not same:  # a cheaper verdict that differs is no verdict
        print("FAIL: the targeted verify's per-layer verdict differs from the full verify's")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
