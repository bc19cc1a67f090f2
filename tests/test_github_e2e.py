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
