"""Real-time offboarding: the watch loop's exactly-once behaviour over the real CLI, and
the revocation plan's steps and order."""

from __future__ import annotations

import json
from datetime import timedelta

from scanner.core.model import Account, Credential, Grant, Identity, Resource
from scanner.core.store import Inventory
from scanner.engine import context_from_records, run_rules
from scanner.plan import build_plan, render_plan
from tests.conftest import NOW, run_cli, write_config

HEADER = "id,name,email,kind,status,terminated_at,owner,aliases"


def test_watch_roster_file_exactly_once(tmp_path):
    rows = ["alice@example.com,Alice,alice@example.com,human,active,,,",
            "bob@example.com,Bob,bob@example.com,human,active,,,"]
    cfg = write_config(tmp_path, {}, rows)
    out = tmp_path / "verdicts.jsonl"
    first = run_cli("watch", "-c", str(cfg), "--once", "--jsonl", str(out))
    assert first.returncode == 0, first.stderr
    assert "handled 0 event(s)" in first.stderr  # a baseline, not a replay of history
    (tmp_path / "roster.csv").write_text("\n".join([HEADER,
        "alice@example.com,Alice,alice@example.com,human,terminated,2026-11-20,,",
        "bob@example.com,Bob,bob@example.com,human,active,,,"]) + "\n")
    second = run_cli("watch", "-c", str(cfg), "--once", "--jsonl", str(out))
    assert "handled 1 event(s)" in second.stderr, second.stderr
    (line,) = out.read_text().splitlines()
    msg = json.loads(line)
    assert msg["identity"] == "alice@example.com" and msg["event"]["change"] == "terminated"
    # no collector is configured: checking nothing is incomplete, never clean (issue 13)
    assert msg["verdict"] == "incomplete" and msg["layers"]["directory"] == "incomplete"
    assert msg["time_to_verdict_s"] >= 0
    third = run_cli("watch", "-c", str(cfg), "--once", "--jsonl", str(out))
    assert "handled 0 event(s)" in third.stderr  # never reprocessed
    assert len(out.read_text().splitlines()) == 1


def _plan_inventory(tmp_path):
    left = NOW - timedelta(days=20)
    src = "aws:111111111111"
    alice = Identity("alice@example.com", status="terminated", terminated_at=left,
                     emails=["alice@example.com"], aliases=["aws:alice", "github:alice-gh"])
    user = Account("aws", src, "arn:aws:iam::111111111111:user/alice", "alice")
    key = Credential("aws", src, f"{user.native_id}#access_key_1", "access_key", holder=user.uid,
                     name="AKIAFAKEALICE0000001", created_at=left - timedelta(days=300),
                     last_used_at=left + timedelta(days=2),
                     attributes={"access_key_id": "AKIAFAKEALICE0000001"})
    pwd = Credential("aws", src, f"{user.native_id}#password", "password", holder=user.uid,
                     created_at=left - timedelta(days=300))
    role = Resource("aws", src, "arn:aws:iam::111111111111:role/deploy-role", "role", "deploy-role")
    trust = Grant("aws", src, user.native_id, role.uid, "sts:AssumeRole", "trust")
    ctx = context_from_records([alice, user, key, pwd, role, trust], NOW)
    findings, _ = run_rules(ctx)
    inv = Inventory(tmp_path / "p.duckdb")
    sid = inv.begin_scan("test")
    inv.insert(sid, [alice, user, key, pwd, role, trust, *ctx.links.values(), *findings])
    inv.finish_scan(sid)
    return inv, sid


def test_plan_orders_revocations_and_ends_with_reverify(tmp_path):
    inv, sid = _plan_inventory(tmp_path)
    steps = build_plan(inv, sid, "alice@example.com")
    phases = [s.phase for s in steps]
    assert phases == sorted(phases) and steps[-1].command == "residual verify --live alice@example.com"
    cmds = "\n".join(s.command for s in steps)
    assert "aws iam delete-access-key --user-name alice --access-key-id AKIAFAKEALICE0000001" in cmds
    assert "aws iam delete-login-profile --user-name alice" in cmds
    assert "aws iam update-assume-role-policy --role-name deploy-role" in cmds
    key_step = next(s for s in steps if "delete-access-key" in s.command)
    trust_step = next(s for s in steps if "update-assume-role-policy" in s.command)
    user_step = next(s for s in steps if "delete-user" in s.command)
    assert key_step.phase < trust_step.phase < user_step.phase
    sh = render_plan(steps, "alice@example.com", "sh")
    assert sh.startswith("#!/bin/sh") and "# --- phase 2: revoke credentials" in sh
    doc = json.loads(render_plan(steps, "alice@example.com", "json"))
    assert doc["identity"] == "alice@example.com" and len(doc["steps"]) == len(steps)
    inv.close()


def test_plan_cli(tmp_path):
    inv, sid = _plan_inventory(tmp_path)
    # since then a watch verified someone else: that targeted scan holds nothing of alice's
    other = inv.begin_scan("verify-live", kind="targeted", targets=["bob@example.com"])
    inv.insert(other, [Identity("alice@example.com", status="terminated", emails=["alice@example.com"]),
                       Identity("bob@example.com", status="suspended", emails=["bob@example.com"])])
    inv.write_verdicts(other, [("bob@example.com", "cloud", "clean", "")])
    inv.finish_scan(other)
    inv.close()
    cfg = write_config(tmp_path, {"inventory": str(tmp_path / "p.duckdb")})
    r = run_cli("plan", "-c", str(cfg), "alice@example.com", "--format", "md")
    assert r.returncode == 0, r.stderr
    assert "# Revocation plan for alice@example.com" in r.stdout and "## Phase 2" in r.stdout
    assert "delete-access-key --user-name alice" in r.stdout and f"plan from scan {sid}" in r.stderr
    r = run_cli("plan", "-c", str(cfg), "nobody@example.com")
    assert r.returncode == 2 and "not in the roster" in r.stderr
