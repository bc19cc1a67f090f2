"""End to end: the real ``residual`` CLI, a github-only config, the demo org on the fake
GitHub, and the demo roster."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from fixtures.fake_github import DEMO_TOKEN, SAML_MESSAGE, start_demo
from tests.conftest import ROOT, run_cli, without_handle, write_config


@pytest.fixture
def demo():
    s = start_demo()
    yield s
    s.stop()


def setup(tmp_path: Path, server, token: str = DEMO_TOKEN) -> tuple[Path, dict]:
    (tmp_path / "roster.csv").write_text((ROOT / "fixtures/demo/roster.csv").read_text())
    cfg = write_config(tmp_path, {
        "roster": [{"csv": "roster.csv"}],
        "collectors": {"github": [{"org": "acme", "token": "${GH_TOKEN}", "base_url": server.url}]}})
    return cfg, {"GH_TOKEN": token}


def report(cfg: Path, env: dict) -> dict:
    p = run_cli("report", "-c", str(cfg), "--format", "json", env=env)
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout)


def test_demo_scan_finds_alice_and_keeps_carol_clean(demo, tmp_path):
    demo.fault(r"^/orgs/acme/failed_invitations$", status=403, body={
        "message": SAML_MESSAGE, "documentation_url": "https://docs.github.com", "status": "403"},
        headers={"X-GitHub-SSO": "required; url=https://github.com/orgs/acme/sso"})
    cfg, env = setup(tmp_path, demo)
    p = run_cli("scan", "-c", str(cfg), env=env)
    assert p.returncode == 1, p.stdout + p.stderr
    assert DEMO_TOKEN not in p.stdout + p.stderr
    data = report(cfg, env)
    found = {(f["rule"], f["identity"], without_handle(f["object"]["name"])) for f in data["findings"]}
    # a deploy key is named by its GitHub id and SSH fingerprint, what a responder deletes
    assert any(re.fullmatch(r"key id \d+, SHA256:\S+ \(prod-deployer\)", f["object"]["name"])
               for f in data["findings"]), [f["object"]["name"] for f in data["findings"]]
    alice = "alice@example.com"
    for expected in [
        ("account.active_after_termination", alice, "alice-gh"),
        ("codehost.ci_secret_not_rotated", alice, "PROD_DB_PASSWORD"),
        ("codehost.deploy_key_write_by_leaver", alice, "prod-deployer"),
        ("credential.used_after_termination", alice, "personal access token"),
        ("account.active_after_termination", "dave@example.com", "dave-gh"),
        ("codehost.invitation_to_leaver", "dave@example.com", "dave@example.com"),
        ("account.active_while_suspended", "erin@example.com", "erin-gh"),
        ("nhi.owner_terminated", alice, "deploy-bot"),
    ]:
        assert expected in found, expected
    # near-misses: rotated after she left, read-only key, org secret only owners read
    names = {without_handle(f["object"]["name"]) for f in data["findings"] if f["rule"].startswith("codehost.")}
    assert not names & {"STRIPE_WEBHOOK_KEY", "TF_API_TOKEN", "mirror-ro", "docs-sync", "NPM_TOKEN"}
    assert not [f for f in data["findings"] if f["identity"] == "carol@example.com"]
    verdicts = {i["id"]: i for i in data["identities"]}
    assert verdicts["carol@example.com"]["verdict"] == "clean"
    assert verdicts[alice]["layers"]["code-hosting"] == "residual"
    assert verdicts[alice]["layers"]["ci-cd"] == "residual"
    cov = {c["target"]: c for c in data["coverage"]}
    assert cov["acme/personal-access-tokens"]["status"] == "skipped"  # token, not an App
    assert cov["acme/failed_invitations"]["status"] == "skipped"
    assert "SAML" in cov["acme/failed_invitations"]["error"]
    assert cov["acme"]["status"] == "ok"
    assert demo.writes == []
    # verify exits 0 for carol: skipped endpoints do not make her incomplete
    v = run_cli("verify", "-c", str(cfg), "carol@example.com", env=env)
    assert v.returncode == 0, v.stdout + v.stderr


def test_bad_token_is_incomplete_not_clean(demo, tmp_path):
    cfg, env = setup(tmp_path, demo, token="not-the-right-token")
    p = run_cli("scan", "-c", str(cfg), env=env)
    assert p.returncode == 3, p.stdout + p.stderr
    assert "not-the-right-token" not in p.stdout + p.stderr
    data = report(cfg, env)
    cov = {c["target"]: c for c in data["coverage"]}
    assert cov["acme"]["status"] == "failed" and "bad credentials" in cov["acme"]["error"]
    verdicts = {i["id"]: i["verdict"] for i in data["identities"]}
    assert verdicts["carol@example.com"] == "incomplete"
    assert "not-the-right-token" not in json.dumps(data)


# --- the audit log (Enterprise Cloud, `audit_log: true`) ------------------------------------------


def audit_setup(tmp_path: Path, server) -> tuple[Path, dict, dict]:
    (tmp_path / "roster.csv").write_text((ROOT / "fixtures/demo/roster.csv").read_text())
    cfg = write_config(tmp_path, {
        "roster": [{"csv": "roster.csv"}],
        "collectors": {"github": [{"org": "acme", "token": "${GH_TOKEN}", "base_url": server.url,
                                   "audit_log": True}]}})
    env = {"GH_TOKEN": DEMO_TOKEN}
    p = run_cli("scan", "-c", str(cfg), "-q", env=env)
    assert p.returncode in (0, 1), p.stdout + p.stderr
    return cfg, env, report(cfg, env)


def used_after(data: dict) -> list[dict]:
    return [f for f in data["findings"] if f["rule"] == "session.used_after_termination"]


def test_audit_log_git_use_after_termination_is_found(demo, tmp_path):
    from fixtures.fake_github import plant_audit_log
    plant_audit_log(demo)  # alice (terminated 2026-11-01) cloned, pushed and fetched on 11-10 and 11-12
    cfg, env, data = audit_setup(tmp_path, demo)
    used, = used_after(data)
    assert used["identity"] == "alice@example.com" and used["severity"] == "critical"
    ev = used["evidence"]
    assert ev["events"] == 3  # her push of 2026-10-30 and the override of 10-28 came before
    assert ev["first_event_at"] == "2026-11-10T08:30:00Z" and ev["last_event_at"].startswith("2026-11-12T21:05")  # RFC 3339
    clone = next(e for e in demo.audit_log if e["action"] == "git.clone" and e["actor"] == "alice-gh")
    assert ev["first_event_id"] == clone["_document_id"]
    assert [e["action"] for e in ev["event_list"]] == ["git.clone", "git.push", "git.fetch"]
    cov = {c["target"]: c for c in data["coverage"]}
    assert cov["acme/audit-log"]["status"] == "ok" and cov["acme/audit-log"]["layer"] == "sessions"
    asked = [r for r in demo.requests if r.path == "/orgs/acme/audit-log"]
    assert asked and all(r.arg("include") == "all" and r.arg("phrase").startswith("actor:") for r in asked)
    assert "actor:bob-gh" not in {r.arg("phrase").split()[0] for r in asked}  # leavers only
    assert demo.writes == []
    # the hash of her token is neither stored nor cached
    assert not any("hashed_token" in p.read_text() for p in tmp_path.rglob("*.json"))
    import duckdb
    con = duckdb.connect(str(tmp_path / "residual.duckdb"), read_only=True)
    try:
        kinds = dict(con.execute("SELECT action, json_extract_string(attributes, '$.via') FROM activities "
                                 "WHERE system = 'github' AND actor = 'alice-gh'").fetchall())
        assert "hashed_token" not in str(con.execute("SELECT attributes FROM activities").fetchall())
    finally:
        con.close()
    assert kinds["git.clone"] == "git" and kinds["protected_branch.policy_override"] == "web"


def test_audit_log_use_before_termination_is_no_finding(demo, tmp_path):
    from fixtures.fake_github import plant_audit_log
    plant_audit_log(demo)
    demo.audit_log = [e for e in demo.audit_log if e["created_at"] < 1793491200000]  # before 2026-11-01
    assert any(e["actor"] == "alice-gh" for e in demo.audit_log)
    cfg, env, data = audit_setup(tmp_path, demo)
    assert used_after(data) == []
    assert {c["target"]: c["status"] for c in data["coverage"]}["acme/audit-log"] == "ok"


@pytest.mark.parametrize("refusal", ["not-enterprise-cloud", "not-an-owner"])
def test_audit_log_not_allowed_is_incomplete_never_clean(demo, tmp_path, refusal):
    from fixtures.fake_github import DEMO_RUN_TOKEN, plant_audit_log
    if refusal == "not-an-owner":
        plant_audit_log(demo)
        demo.audit_log_tokens = {DEMO_RUN_TOKEN}  # not the token the scan uses: 404
    else:
        demo.audit_log = None  # an org without Enterprise Cloud: 404
    cfg, env, data = audit_setup(tmp_path, demo)
    cov = {c["target"]: c for c in data["coverage"]}["acme/audit-log"]
    assert cov["status"] == "partial" and cov["layer"] == "sessions"
    assert "not found" in cov["error"] and "read:audit_log" in cov["error"]
    verdicts = {i["id"]: i for i in data["identities"]}
    assert verdicts["carol@example.com"]["layers"]["sessions"] == "incomplete"
    assert verdicts["carol@example.com"]["verdict"] == "incomplete"
    assert used_after(data) == []


def test_without_audit_log_the_audit_log_is_not_asked(demo, tmp_path):
    from fixtures.fake_github import plant_audit_log
    plant_audit_log(demo)
    cfg, env = setup(tmp_path, demo)
    assert run_cli("scan", "-c", str(cfg), "-q", env=env).returncode == 1
    assert demo.count("/orgs/acme/audit-log") == 0
    assert used_after(report(cfg, env)) == []
