"""The GitLab part through the real CLI: the demo roster against the demo GitLab."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from fixtures.fake_gitlab import ADMIN_TOKEN, FAKE_DB_PASSWORD, FAKE_GLPAT, start_demo
from tests.conftest import ROOT, run_cli, without_handle

ROSTER = ROOT / "fixtures" / "demo" / "roster.csv"


@pytest.fixture(scope="module")
def server():
    s = start_demo()
    yield s
    s.stop()


def config(tmp: Path, server, token: str = ADMIN_TOKEN) -> Path:
    shutil.copy(ROSTER, tmp / "roster.csv")
    path = tmp / "residual.yaml"
    path.write_text(
        f"inventory: {tmp / 'residual.duckdb'}\n"
        "roster:\n  - csv: roster.csv\n"
        "collectors:\n"
        f"  gitlab:\n    - url: {server.url}\n      token: ${{GITLAB_TOKEN}}\n")
    return path


def scan(tmp: Path, server, token: str = ADMIN_TOKEN):
    cfg = config(tmp, server)
    env = {"GITLAB_TOKEN": token}
    res = run_cli("scan", "-c", str(cfg), env=env)
    rep = run_cli("report", "-c", str(cfg), "--format", "json", env=env)
    assert rep.returncode == 0, rep.stderr
    return res, json.loads(rep.stdout), cfg, env


def by(report, identity):
    return {(f["rule"], without_handle(f["object"]["name"])) for f in report["findings"]
            if f["identity"] == identity}


def test_demo_scan_finds_alice_and_dave_and_leaves_carol_clean(tmp_path, server):
    server.reset_counts()
    res, report, cfg, env = scan(tmp_path, server)
    assert res.returncode == 1, res.stdout + res.stderr
    alice = by(report, "alice@example.com")
    assert ("credential.used_after_termination", "laptop") in alice  # PAT used on 12 Nov
    assert ("credential.no_expiry", "laptop") in alice
    assert ("credential.live_of_leaver", "alice@laptop") in alice  # SSH key
    names = {f["object"]["name"] for f in report["findings"]}  # named by their GitLab ids
    assert any(re.fullmatch(r"key id \d+, SHA256:\S+ \(alice@laptop\)", n) for n in names), names
    assert any(re.fullmatch(r"token id \d+ \(laptop\)", n) for n in names), names
    assert ("account.active_after_termination", "aarcher") in alice
    assert ("gitlab.membership_of_leaver", "acme/platform") in alice  # still a maintainer
    assert ("gitlab.pipeline_schedule_of_leaver", "nightly deploy") in alice
    assert ("gitlab.impersonation_token_of_leaver", "support-session") in alice
    assert ("codehost.ci_secret_not_rotated", "PROD_DB_PASSWORD") in alice
    assert ("codehost.deploy_key_write_by_leaver", "release-bot") in alice
    assert ("codehost.invitation_to_leaver", "alice@example.com") in alice
    # rotated on 5 Nov, after she left: not flagged
    assert not any(name == "REGISTRY_PASSWORD" for _, name in alice)
    dave = by(report, "dave@example.com")
    assert {("gitlab.token_created_by_leaver", "deploy-automation"),
            ("gitlab.token_created_by_leaver", "registry-pull")} <= dave
    assert not any(rule.startswith("account.") for rule, _ in dave)  # his account is blocked
    verdicts = {i["id"]: i for i in report["identities"]}
    assert verdicts["carol@example.com"]["layers"]["code-hosting"] == "clean"
    assert verdicts["carol@example.com"]["layers"]["ci-cd"] == "clean"
    assert by(report, "carol@example.com") == set()
    assert verdicts["alice@example.com"]["layers"]["ci-cd"] == "residual"
    # read-only, and the coverage rows carry the calls the fake counted
    assert server.writes == []
    assert sum(c["api_calls"] for c in report["coverage"]) == server.count("/api/v4")
    # no secret, and no token, in the report or the inventory
    text = json.dumps(report) + (tmp_path / "residual.duckdb").read_bytes().decode("latin-1")
    for secret in (FAKE_GLPAT, FAKE_DB_PASSWORD, ADMIN_TOKEN):
        assert secret not in text

    carol = run_cli("verify", "-c", str(cfg), "carol@example.com", env=env)
    assert carol.returncode == 0, carol.stdout + carol.stderr


def test_rejected_token_is_incomplete_not_clean(tmp_path, server):
    res, report, _, _ = scan(tmp_path, server, token="revoked-token")
    assert res.returncode == 3, res.stdout + res.stderr
    rows = [c for c in report["coverage"] if c["collector"].startswith("gitlab:")]
    assert {c["status"] for c in rows} == {"failed"} and "401" in rows[0]["error"]
    assert "revoked-token" not in res.stdout + res.stderr + json.dumps(report)
    verdicts = {i["id"]: i["verdict"] for i in report["identities"]}
    assert verdicts["carol@example.com"] == "incomplete"


def test_non_admin_token_partial_coverage_still_finds_what_it_sees(tmp_path, server):
    res, report, _, _ = scan(tmp_path, server, token="fake-gitlab-bob-token")
    assert res.returncode == 1
    main = next(c for c in report["coverage"] if c["layer"] == "code-hosting" and c["status"] != "skipped"
                and not c["target"].endswith("/users-in-scope"))
    assert main["status"] == "partial"
    assert ("gitlab.pipeline_schedule_of_leaver", "nightly deploy") in by(report, "alice@example.com")
    verdicts = {i["id"]: i for i in report["identities"]}
    assert verdicts["carol@example.com"]["layers"]["code-hosting"] == "incomplete"
