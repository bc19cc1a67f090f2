"""The slack collector against the fake Slack (Enterprise Grid admin API), through the
real CLI: deleted users, leavers' live sessions, access logs, the token that cannot see
sessions (incomplete, never clean), rate limits, read-only."""

from __future__ import annotations

import json
import shutil

import duckdb
import pytest

from fixtures import fake_slack as fs
from tests.conftest import ROOT, run_cli, write_config


@pytest.fixture
def slack():
    s = fs.start_demo()
    yield s
    s.stop()


def setup(tmp_path, slack, token=fs.ORG_READ_TOKEN, roster: str | None = None, **extra):
    shutil.copy(ROOT / "fixtures" / "demo" / "roster.csv", tmp_path / "roster.csv")
    if roster is not None:
        (tmp_path / "roster.csv").write_text(roster)
    block = {"token": "${SLACK_TOKEN}", "base_url": slack.url + "/api/", "team_ids": [fs.GRID_TEAM], **extra}
    cfg = write_config(tmp_path, {"roster": [{"csv": "roster.csv"}], "collectors": {"slack": [block]}})
    r = run_cli("scan", "-c", str(cfg), "-q", env={"SLACK_TOKEN": token})
    assert r.returncode in (0, 1, 3), r.stderr[-3000:]
    rep = run_cli("report", "-c", str(cfg), "--format", "json", env={"SLACK_TOKEN": token})
    assert rep.returncode == 0, rep.stderr[-2000:]
    return cfg, json.loads(rep.stdout)


def rows(cfg, sql):
    con = duckdb.connect(str(cfg.parent / "residual.duckdb"), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def test_users_sessions_and_logins_of_leavers(tmp_path, slack):
    cfg, rep = setup(tmp_path, slack)
    accounts = dict(rows(cfg, "SELECT native_id, status FROM accounts WHERE system = 'slack'"))
    assert accounts[fs.ALICE] == "deleted" and accounts[fs.CAROL] == "deleted" and accounts[fs.BOB] == "active"
    sessions = rows(cfg, "SELECT native_id, holder FROM credentials WHERE kind = 'session' ORDER BY 1")
    # alice (terminated) and erin (suspended) are leavers; bob (active) is not asked about
    assert sessions == [("session:8273648801", f"slack:{fs.ENTERPRISE}|{fs.ALICE}"),
                        ("session:8273648802", f"slack:{fs.ENTERPRISE}|{fs.ALICE}"),
                        ("session:8273648804", f"slack:{fs.ENTERPRISE}|{fs.ERIN}")]
    logins = rows(cfg, "SELECT subject_account, \"at\" FROM activities WHERE system = 'slack' ORDER BY 2")
    assert {a for a, _ in logins} == {f"slack:{fs.ENTERPRISE}|{fs.ALICE}", f"slack:{fs.ENTERPRISE}|{fs.CAROL}"}
    asked = [fs.FakeSlack.args(r).get("user_id") for r in slack.requests
             if r.path.endswith("admin.users.session.list")]
    assert fs.BOB not in asked
    found = {(f["rule"], f["identity"], f["object"]["id"]) for f in rep["findings"] if f["layer"] == "sessions"}
    assert ("session.live_after_termination", "alice@example.com", "session:8273648801") in found
    assert ("session.live_after_termination", "erin@example.com", "session:8273648804") in found
    used = [f for f in rep["findings"] if f["rule"] == "session.used_after_termination"]
    assert [f["identity"] for f in used] == ["alice@example.com"]  # carol's last access was before
    assert used[0]["evidence"]["first_event_at"].startswith("2026-11-05")
    assert used[0]["evidence"]["first_event_id"].startswith("accesslog:")
    cov = {(c["collector"], c["target"]): c for c in rep["coverage"]}
    assert cov[("slack", f"slack:{fs.ENTERPRISE}/sessions")]["status"] == "ok"
    assert cov[("slack", f"slack:{fs.ENTERPRISE}")]["api_calls"] >= 3
    assert slack.writes == [] and slack.revocations == []


def test_a_bot_token_cannot_show_sessions_and_says_so(tmp_path, slack):
    cfg, rep = setup(tmp_path, slack, token=fs.BOT_TOKEN)
    assert rows(cfg, "SELECT count(*) FROM accounts WHERE system = 'slack'")[0][0] >= 5  # users.list fallback
    assert rows(cfg, "SELECT count(*) FROM credentials WHERE kind = 'session'")[0][0] == 0
    part = [c for c in rep["coverage"] if c["layer"] == "sessions"]
    assert part and all(c["status"] == "partial" for c in part)
    assert "not_allowed_token_type" in part[0]["error"] and "admin.users:read" in part[0]["error"]
    alice = next(i for i in rep["identities"] if i["id"] == "alice@example.com")
    assert alice["layers"]["sessions"] == "incomplete"


def test_ratelimited_is_waited_out(tmp_path, slack):
    slack.ratelimit("admin.users.list", times=1, retry_after=0)
    cfg, rep = setup(tmp_path, slack)
    assert rows(cfg, "SELECT count(*) FROM accounts WHERE system = 'slack'")[0][0] >= 5
    assert slack.count("/api/admin.users.list") == 3  # one refused, then active and deleted


@pytest.mark.parametrize("last_access, flagged", [("2026-11-05T23:59:00+00:00", False),
                                                  ("2026-11-06T00:01:00+00:00", True)])
def test_a_date_only_termination_counts_from_the_end_of_that_day(tmp_path, slack, last_access, flagged):
    """The roster says `terminated_at` 2026-11-05 (a date alone): alice's use late on her
    leaving day is not after termination; a minute past midnight UTC it is."""
    slack.access_logs[fs.GRID_TEAM][0]["date_last"] = fs._ts(last_access)
    roster = (ROOT / "fixtures" / "demo" / "roster.csv").read_text()
    assert "alice@example.com,human,terminated,2026-11-01," in roster
    _, rep = setup(tmp_path, slack, roster=roster.replace("alice@example.com,human,terminated,2026-11-01,",
                                                          "alice@example.com,human,terminated,2026-11-05,"))
    used = [f for f in rep["findings"] if f["rule"] == "session.used_after_termination"]
    assert [f["identity"] for f in used] == (["alice@example.com"] if flagged else [])
    if flagged:
        assert used[0]["evidence"]["first_event_at"] == "2026-11-06T00:01:00Z"  # RFC 3339
    # her sessions are live whatever the day: that rule does not depend on the date
    assert any(f["rule"] == "session.live_after_termination" and f["identity"] == "alice@example.com"
               for f in rep["findings"])
