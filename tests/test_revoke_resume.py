"""A revoker run killed mid-way resumes from the journal (issue 20).

Five steps: Okta (sessions, then Universal Logout), Slack (session reset), AWS (two roles
that trust alice). The Slack fake holds the third step's request; the test kills the
real CLI process (SIGKILL) while it waits. The next `--apply` must resume that run: the
two steps answered ok are not sent again (the fakes' counters), the other three are."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time

import boto3
import pytest

from fixtures import fake_slack as fs
from fixtures.aws_estate import FAKE_ENV, AwsServer
from fixtures.fake_okta import DEMO_TOKEN as OKTA_TOKEN, FakeOkta, demo_okta, plant_sessions
from tests.conftest import NOW, ROOT, run_cli, write_config
from tests.test_revoke_sessions import deny_policies, journal

ALICE = "alice@example.com"


@pytest.fixture
def estate(tmp_path):
    with AwsServer() as aws:
        iam = boto3.client("iam", endpoint_url=aws.url, region_name="us-east-1",
                           aws_access_key_id="testing", aws_secret_access_key="testing")
        arn = iam.create_user(UserName="alice")["User"]["Arn"]
        trust = json.dumps({"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Principal": {"AWS": arn}, "Action": "sts:AssumeRole"}]})
        for name in ("ops-admin", "data-reader"):
            iam.create_role(RoleName=name, AssumeRolePolicyDocument=trust)
        okta = demo_okta(FakeOkta(token=OKTA_TOKEN, allow_revoke=True))
        plant_sessions(okta)
        okta.start()
        slack = fs.start_demo(allow_revoke=True)
        shutil.copy(ROOT / "fixtures" / "demo" / "roster.csv", tmp_path / "roster.csv")
        cfg = write_config(tmp_path, {"roster": [{"csv": "roster.csv"}], "collectors": {
            "okta": [{"domain": "acme.okta.com", "base_url": okta.url, "token": "${OKTA_TOKEN}",
                      "revoke": {"token": "${OKTA_TOKEN}", "universal_logout": True}}],
            "slack": [{"token": "${SLACK_TOKEN}", "base_url": slack.url + "/api/", "team_ids": [fs.GRID_TEAM],
                       "access_logs": False, "revoke": {"token": "${SLACK_REVOKE_TOKEN}"}}],
            "aws": [{"endpoint_url": aws.url,
                     "revoke": {"access_key_id": "testing", "secret_access_key": "testing"}}]}})
        env = {**FAKE_ENV, "OKTA_TOKEN": OKTA_TOKEN, "SLACK_TOKEN": fs.ORG_READ_TOKEN,
               "SLACK_REVOKE_TOKEN": fs.ORG_REVOKE_TOKEN}
        r = run_cli("scan", "-c", str(cfg), "-q", env=env)
        assert r.returncode in (0, 1, 3), r.stderr[-3000:]
        yield {"cfg": cfg, "env": env, "okta": okta, "slack": slack, "aws": aws}
        okta.stop()
        slack.stop()


def test_a_crash_after_two_of_five_steps_resumes_with_the_other_three(estate):
    okta, slack, cfg = estate["okta"], estate["slack"], estate["cfg"]
    slack.fault(r"^/api/admin\.users\.session\.reset$", times=1, delay=6, close=True)
    proc = subprocess.Popen([sys.executable, "-m", "scanner.cli", "revoke-sessions", "-c", str(cfg), ALICE,
                             "--apply", "-q"], env={**os.environ, "RESIDUAL_NOW": NOW.isoformat(), **estate["env"]},
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 240
        while not slack.count("/api/admin.users.session.reset") and time.monotonic() < deadline:
            assert proc.poll() is None, "the run ended before its third step"
            time.sleep(0.05)
        assert slack.count("/api/admin.users.session.reset") == 1
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert [x["action"] for x in okta.revocations] == ["clear_sessions", "global_token_revocation"]
    assert slack.revocations == [] and deny_policies(estate["aws"].url) == {}
    rows = journal(cfg)
    assert [r["phase"] for r in rows if r["phase"] in ("sent", "sending")] == \
        ["sending", "sent", "sending", "sent", "sending"]
    assert "run-end" not in [r["phase"] for r in rows]

    r = run_cli("revoke-sessions", "-c", str(cfg), ALICE, "--apply", "--format", "json", env=estate["env"])
    assert r.returncode == 0, r.stderr[-3000:]
    report = json.loads(r.stdout)
    assert report["resumed"] and len(report["actions"]) == 5
    assert len(report["skipped"]) == 2 and len(report["results"]) == 3 and report["ok"]
    assert [a["system"] for a in report["actions"]] == ["okta", "okta", "slack", "aws", "aws"]
    assert len(okta.revocations) == 2  # not sent again
    assert [x["user_id"] for x in slack.revocations] == [fs.ALICE]
    assert deny_policies(estate["aws"].url).keys() == {"ops-admin", "data-reader"}
    rows = journal(cfg)
    assert len({r["run_id"] for r in rows}) == 1
    sent = [r["step"] for r in rows if r["phase"] == "sent"]
    assert sent == [1, 2, 3, 4, 5]
    assert [r["phase"] for r in rows][-2:] == ["verified", "run-end"]
