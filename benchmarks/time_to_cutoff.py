"""Time to cutoff (issue 20): from a status change to the last session revoked and the
re-verify's verdict recorded, on the fakes, with N identities in the inventory.

The estate on 127.0.0.1: N people in a roster CSV, each an Okta user (fake Okta with
``allow_revoke``) with a refresh token, and a Slack Enterprise Grid member (fake Slack)
with a session; the E event people also have an IAM user in moto and a role that trusts
her. One full scan fills the inventory. Then, per event, HR terminates the person in the
roster file and one cycle of ``residual watch --revoke-sessions`` (the real
``watch_loop`` with ``verify_and_revoke``, what the CLI runs) handles it: targeted
verify, revocation (Okta sessions, Slack session reset, the AWS role's
AWSRevokeOlderSessions deny), targeted re-verify, all journaled.

Measured per event, from the roster write: ``cutoff`` = the journal's last ``sent`` row,
``verdict`` = its ``verified`` row. Baseline in the same process: the same cycle without
``--revoke-sessions`` (targeted verify only) for E other people; the ratio is what
cutting sessions off adds.

Goal: p95 of ``verdict`` <= 10 s with 2,000 identities.

    python benchmarks/time_to_cutoff.py [--people 2000 --events 20]
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

from fixtures import fake_slack as fs  # noqa: E402
from fixtures.aws_estate import FAKE_ENV, AwsServer  # noqa: E402
from fixtures.fake_okta import FakeOkta, okta_refresh_token, okta_user  # noqa: E402

OKTA_TOKEN = "bench-okta-token-not-real"
HEADER = "id,name,email,kind,status,terminated_at,owner,aliases"


def email(i: int) -> str:
    return f"user{i:04d}@bigco.example"


def build(people: int, event_people: list[int], aws_url: str) -> tuple[FakeOkta, fs.FakeSlack]:
    okta = FakeOkta(token=OKTA_TOKEN, allow_revoke=True)
    slack = fs.FakeSlack(allow_revoke=True)
    slack.workspaces = {fs.GRID_TEAM: fs.Workspace(fs.GRID_TEAM, "BigCo", "bigco", "enterprise", fs.ENTERPRISE)}
    slack.tokens = {fs.ORG_READ_TOKEN: fs.SlackToken("user", {"admin.users:read", "users:read", "admin"},
                                                     "W0ADMIN", None, fs.ENTERPRISE),
                    fs.ORG_REVOKE_TOKEN: fs.SlackToken("user", {"admin.users:write"}, "W0ADMIN", None, fs.ENTERPRISE)}
    for i in range(people):
        u = okta_user(f"00u{i:017d}", email(i), f"User{i}", "Bench", "ACTIVE")
        okta.users.append(u)
        okta.refresh_tokens.append(okta_refresh_token(f"oar{i:017d}", u, "0oaclient0000000001", "cli", "cli",
                                                      "2026-11-01T09:00:00.000Z", "2026-12-31T09:00:00.000Z",
                                                      ["offline_access"]))
        sid = f"W{i:08d}"
        slack.members.append(fs.slack_member(sid, f"user{i:04d}", f"User {i}", email(i), fs.GRID_TEAM))
        slack.sessions.append(fs.slack_session(sid, fs.GRID_TEAM, 9_000_000 + i, dict(fs.MAC, ip="198.51.100.9")))
    iam = boto3.client("iam", endpoint_url=aws_url, region_name="us-east-1",
                       aws_access_key_id="testing", aws_secret_access_key="testing")
    for i in event_people:
        arn = iam.create_user(UserName=f"user{i:04d}")["User"]["Arn"]
        iam.create_role(RoleName=f"role-user{i:04d}", AssumeRolePolicyDocument=json.dumps({
            "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": arn},
                                                    "Action": "sts:AssumeRole"}]}))
    return okta.start(), slack.start()  # type: ignore[return-value]


def roster_rows(people: int, terminated: set[int]) -> str:
    day = datetime.now(UTC).date().isoformat()
    rows = [HEADER] + [f"{email(i)},User {i},{email(i)},human,"
                       f"{'terminated' if i in terminated else 'active'},{day if i in terminated else ''},,"
                       f"aws:user{i:04d}" for i in range(people)]
    return "\n".join(rows) + "\n"


def pct(values: list[float], p: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, max(0, round(p / 100 * len(s) + 0.5) - 1))]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--people", type=int, default=2000)
    ap.add_argument("--events", type=int, default=20)
    args = ap.parse_args()
    os.environ.update(FAKE_ENV)
    os.environ.pop("RESIDUAL_NOW", None)  # the AWS deny and the journal are wall-clock

    import collectors.base  # noqa: F401  (the registry's base)
    from scanner.config import load_config
    from scanner.core.store import Inventory
    from scanner.pipeline import run_scan
    from scanner.watch import RosterFileSource, Sinks, targeted_verify, verify_and_revoke, watch_loop

    step = max(1, args.people // (2 * args.events))
    revoke_people = [i * step for i in range(args.events)]
    baseline_people = [i * step + 1 for i in range(args.events)]
    with AwsServer() as aws, tempfile.TemporaryDirectory() as tmp:
        okta, slack = build(args.people, revoke_people + baseline_people, aws.url)
        d = Path(tmp)
        (d / "roster.csv").write_text(roster_rows(args.people, set()))
        (d / "residual.yaml").write_text(yaml.safe_dump({
            "inventory": str(d / "residual.duckdb"), "roster": [{"csv": "roster.csv"}],
            "collectors": {
                "okta": [{"domain": "bigco.okta.com", "base_url": okta.url, "token": OKTA_TOKEN,
                          "revoke": {"token": OKTA_TOKEN}}],
                "slack": [{"token": fs.ORG_READ_TOKEN, "base_url": slack.url + "/api/", "team_ids": [fs.GRID_TEAM],
                           "access_logs": False, "revoke": {"token": fs.ORG_REVOKE_TOKEN}}],
                "aws": [{"endpoint_url": aws.url, "secrets_manager": False, "eks": False,
                         "revoke": {"access_key_id": "testing", "secret_access_key": "testing"}}]}}))
        config = load_config(d / "residual.yaml")
        t0 = time.monotonic()
        with Inventory(config.inventory) as inv:
            run_scan(config, inv)
        full_scan = time.monotonic() - t0
        state = d / "watch.json"
        sinks = Sinks(stdout=False)
        source = RosterFileSource(d / "roster.csv")
        watch_loop([source], state, lambda ev: {}, sinks, once=True)  # the baseline cursor
        gone: set[int] = set()

        def one(i: int, handle) -> tuple[float, float | None, float | None]:
            gone.add(i)
            start = datetime.now(UTC)
            t = time.monotonic()
            (d / "roster.csv").write_text(roster_rows(args.people, gone))
            assert watch_loop([RosterFileSource(d / "roster.csv")], state, handle, sinks, once=True) == 1
            total = time.monotonic() - t
            with Inventory(config.inventory, read_only=True) as inv:
                rows = inv.journal("identity = ?", [email(i)])
            sent = [r["at"] for r in rows if r["phase"] == "sent" and r["ok"]]
            verified = [r["at"] for r in rows if r["phase"] == "verified"]
            return (total, (max(sent) - start).total_seconds() if sent else None,
                    (max(verified) - start).total_seconds() if verified else None)

        base = [one(i, lambda ev: targeted_verify(config, ev))[0] for i in baseline_people]
        runs = [one(i, lambda ev: verify_and_revoke(config, ev)) for i in revoke_people]
        cutoff = [r[1] for r in runs if r[1] is not None]
        verdict = [r[2] for r in runs if r[2] is not None]
        assert len(cutoff) == len(verdict) == args.events, "an event was not cut off"
        assert len(okta.revocations) == len(slack.revocations) == args.events
        okta.stop()
        slack.stop()
    print(f"identities: {args.people}, events: {args.events}, full scan: {full_scan:.1f} s")
    print(f"baseline (targeted verify only): median {statistics.median(base):.2f} s, p95 {pct(base, 95):.2f} s")
    print(f"last session revoked:             median {statistics.median(cutoff):.2f} s, p95 {pct(cutoff, 95):.2f} s")
    print(f"re-verify verdict recorded:       median {statistics.median(verdict):.2f} s, p95 {pct(verdict, 95):.2f} s"
          f"  ({statistics.median(verdict) / statistics.median(base):.2f}x the baseline; goal p95 <= 10 s)")


if __name__ == "__main__":
    main()
