"""End to end: moto's server on 127.0.0.1 with the demo's AWS estate, the real
``residual`` CLI in a subprocess pointed at it through ``endpoint_url``.

The server counts every request it receives (fixtures.aws_estate.AwsServer), so these
tests check the collector's promises where they matter: only read operations reached
AWS, and the coverage's api_calls equal what the server saw.
"""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest

from fixtures.aws_estate import FAKE_ENV, AwsServer, plant_demo
from tests.conftest import ROOT, run_cli, write_config

ROSTER = (ROOT / "fixtures" / "demo" / "roster.csv").read_text().splitlines()[1:]


@pytest.fixture(scope="module")
def server():
    with AwsServer() as srv:
        yield srv


@pytest.fixture
def estate(server):
    server.reset()
    made = plant_demo(server.url)
    server.clear()
    return made


def aws_config(tmp_path: Path, url: str) -> Path:
    return write_config(tmp_path, {"collectors": {"aws": [{"endpoint_url": url}]}}, ROSTER)


def report(cfg: Path) -> dict:
    r = run_cli("report", "-c", str(cfg), "--format", "json", env=FAKE_ENV)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def test_verify_terminated_user_finds_key_password_ssh_key_and_trust(tmp_path, server, estate):
    cfg = aws_config(tmp_path, server.url)
    r = run_cli("verify", "-c", str(cfg), "alice@example.com", env=FAKE_ENV)
    assert r.returncode == 1, r.stdout + r.stderr
    assert server.count() > 0 and server.writes() == []

    rep = report(cfg)
    alice = [f for f in rep["findings"] if f["identity"] == "alice@example.com"]
    got = {(f["rule"], f["object"]["kind"], f["object"]["name"]) for f in alice}
    k1, k2 = estate["keys"]["alice"]
    assert ("credential.used_after_termination", "access_key", k1) in got  # used 2026-11-10
    assert ("credential.live_of_leaver", "access_key", k2) in got
    assert ("credential.live_of_leaver", "password", "alice console password") in got
    assert ("credential.live_of_leaver", "ssh_key", estate["alice_ssh"]["id"]) in got
    assert ("grant.trust_names_leaver", "role", "deploy-role") in got
    assert ("credential.live_of_leaver", "service_credential", "alice-at-123456789012") in got
    crit = [f for f in alice if f["rule"] == "credential.used_after_termination"]
    assert crit[0]["severity"] == "critical" and crit[0]["system"] == "aws"
    # the NHI whose owner tag names alice is hers to answer for
    assert any(f["rule"] == "nhi.owner_terminated" and f["object"]["name"] == "svc-deploy" for f in alice)
    # the secret tagged owner=alice, unchanged since June; bob's secret is not flagged
    secrets = [f["object"]["name"] for f in rep["findings"] if f["rule"] == "aws.secret_owner_left"]
    assert secrets == ["prod/db-password"]
    # bob is active and has a fresh key: nothing that says residual about him
    assert not [f for f in rep["findings"] if f["identity"] == "bob@example.com"
                and f["rule"] in ("credential.live_of_leaver", "account.active_after_termination")]

    aws_rows = [c for c in rep["coverage"] if c["collector"] == "aws"]
    assert {c["status"] for c in aws_rows if c["target"] == "123456789012"} == {"ok"}
    assert sum(c["api_calls"] for c in aws_rows) == server.count()
    for f in alice:  # no raw secret anywhere in the report
        assert "Demo-Not-A-Real-Password" not in json.dumps(f)


def test_scan_sends_only_read_operations_and_few_calls(tmp_path, server, estate):
    cfg = aws_config(tmp_path, server.url)
    r = run_cli("scan", "-c", str(cfg), "--quiet", env=FAKE_ENV)
    assert r.returncode in (0, 1), r.stderr
    ops = [q.operation for q in server.requests]
    assert server.writes() == [], ops
    assert "GetSecretValue" not in ops
    assert ops.count("GetAccountAuthorizationDetails") == 1 and ops.count("GetCredentialReport") == 1
    # deep pass: only scoped users (alice, svc-deploy whose owner left, unowned legacy-ci)
    listed = [q for q in server.requests if q.operation == "ListAccessKeys"]
    assert len(listed) == 3


def test_cleanly_removed_leaver_is_clean(tmp_path, server, estate):
    cfg = aws_config(tmp_path, server.url)
    r = run_cli("verify", "-c", str(cfg), "carol@example.com", env=FAKE_ENV)
    assert r.returncode == 0, r.stdout + r.stderr
    assert server.writes() == []
    rep = report(cfg)
    assert not [f for f in rep["findings"] if f["identity"] == "carol@example.com"]


def test_unreachable_endpoint_is_incomplete(tmp_path):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # closed port: connection refused
    cfg = aws_config(tmp_path, f"http://127.0.0.1:{port}")
    r = run_cli("verify", "-c", str(cfg), "carol@example.com", env=FAKE_ENV, timeout=60)
    assert r.returncode == 3, r.stdout + r.stderr
    rep = report(cfg)
    failed = [c for c in rep["coverage"] if c["collector"] == "aws"]
    assert [c["status"] for c in failed] == ["failed"]
    assert "Could not connect" in failed[0]["error"]
