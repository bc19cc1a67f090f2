"""The session revoker (issue 20) through the real CLI, on the fakes: Okta (allow_revoke),
moto's IAM (the revoke-older-sessions deny), and later Slack.

What could go wrong and is asserted: a dry run that sends something (fake counters), a
command that runs without write credentials, a resumed run that repeats a step, a journal
that misses the provider's answer, a re-verify that is not recorded."""

from __future__ import annotations

import json
import shutil

import boto3
import duckdb
import pytest

from fixtures.aws_estate import FAKE_ENV, AwsServer, plant_demo
from fixtures.fake_cloudtrail import plant_session_roles
from fixtures import fake_slack as fs
from fixtures.fake_okta import DEMO_TOKEN as OKTA_TOKEN, FakeOkta, demo_okta, plant_sessions
from tests.conftest import ROOT, run_cli, write_config

ALICE = "alice@example.com"


@pytest.fixture(scope="module")
def aws():
    with AwsServer() as srv:
        yield srv


@pytest.fixture
def estate(tmp_path, aws):
    aws.reset()
    made = plant_demo(aws.url)
    roles = plant_session_roles(aws.url, trusted_arn=made["users"]["alice"])
    aws.clear()
    okta = demo_okta(FakeOkta(token=OKTA_TOKEN, allow_revoke=True))
    plant_sessions(okta)
    okta.start()
    slack = fs.start_demo(allow_revoke=True)
    shutil.copy(ROOT / "fixtures" / "demo" / "roster.csv", tmp_path / "roster.csv")
    env = {**FAKE_ENV, "OKTA_TOKEN": OKTA_TOKEN, "OKTA_REVOKE_TOKEN": OKTA_TOKEN,
           "SLACK_TOKEN": fs.ORG_READ_TOKEN, "SLACK_REVOKE_TOKEN": fs.ORG_REVOKE_TOKEN}
    yield {"tmp": tmp_path, "okta": okta, "aws": aws, "slack": slack, "roles": roles, "made": made, "env": env}
    okta.stop()
    slack.stop()


def config(e, revoke=True, **over):
    okta = {"domain": "acme.okta.com", "base_url": e["okta"].url, "token": "${OKTA_TOKEN}"}
    aws = {"endpoint_url": e["aws"].url}
    slack = {"token": "${SLACK_TOKEN}", "base_url": e["slack"].url + "/api/", "team_ids": [fs.GRID_TEAM],
             "access_logs": False}
    if revoke:
        okta["revoke"] = {"token": "${OKTA_REVOKE_TOKEN}"}
        aws["revoke"] = {"access_key_id": "testing", "secret_access_key": "testing"}
        slack["revoke"] = {"token": "${SLACK_REVOKE_TOKEN}"}
    return write_config(e["tmp"], {"roster": [{"csv": "roster.csv"}],
                                   "collectors": {"okta": [okta], "aws": [aws], "slack": [slack], **over}})


def scan(cfg, env):
    r = run_cli("scan", "-c", str(cfg), "-q", env=env)
    assert r.returncode in (0, 1), r.stderr[-3000:]


def revoke(cfg, env, *args):
    return run_cli("revoke-sessions", "-c", str(cfg), ALICE, "--format", "json", *args, env=env)


def journal(cfg):
    con = duckdb.connect(str(cfg.parent / "residual.duckdb"), read_only=True)
    try:
        cols = [d[0] for d in con.execute("SELECT * FROM revocations LIMIT 0").description]
        return [dict(zip(cols, r)) for r in con.execute("SELECT * FROM revocations ORDER BY \"at\", seq").fetchall()]
    finally:
        con.close()


def deny_policies(aws_url):
    iam = boto3.client("iam", endpoint_url=aws_url, region_name="us-east-1",
                       aws_access_key_id="testing", aws_secret_access_key="testing")
    out = {}
    for role in iam.list_roles()["Roles"]:
        names = iam.list_role_policies(RoleName=role["RoleName"])["PolicyNames"]
        if "AWSRevokeOlderSessions" in names:
            out[role["RoleName"]] = iam.get_role_policy(
                RoleName=role["RoleName"], PolicyName="AWSRevokeOlderSessions")["PolicyDocument"]
    return out


def test_without_write_credentials_the_command_refuses_in_one_line(estate):
    cfg = config(estate, revoke=False)
    r = revoke(cfg, estate["env"], "--apply")
    assert r.returncode == 2
    assert r.stderr.strip().count("\n") == 0 and "revoke:" in r.stderr
    assert estate["okta"].revocations == [] and estate["aws"].writes() == []


def test_a_wrong_key_in_a_revoke_block_is_named(estate):
    cfg = config(estate)
    body = cfg.read_text().replace("access_key_id: testing", "acess_key_id: testing")
    cfg.write_text(body)
    r = revoke(cfg, estate["env"])
    assert r.returncode == 2 and "collectors.aws[0].revoke.acess_key_id: unknown key" in r.stderr


def test_dry_run_plans_and_sends_nothing(estate):
    cfg = config(estate)
    scan(cfg, estate["env"])
    before = estate["aws"].count()
    r = revoke(cfg, estate["env"])
    assert r.returncode == 0, r.stderr[-2000:]
    report = json.loads(r.stdout)
    verbs = sorted((a["system"], a["verb"], a["target"]) for a in report["actions"])
    assert ("okta", "revoke_sessions", "00ualice000000000001") in verbs or \
        any(v[:2] == ("okta", "revoke_sessions") for v in verbs)
    roles = {v[2] for v in verbs if v[0] == "aws"}
    assert roles == {"deploy-role", "ops-admin", "legacy-admin", "data-reader"}
    assert ("slack", "session_reset", fs.ALICE) in verbs
    assert not report["applied"] and report["results"] == []
    assert estate["okta"].revocations == [] and estate["okta"].writes == []
    assert estate["slack"].revocations == [] and estate["slack"].writes == []
    assert estate["aws"].writes() == [] and estate["aws"].count() == before
    assert deny_policies(estate["aws"].url).keys() == {"ops-admin", "legacy-admin"}  # as planted
    assert journal(cfg) == []


def test_apply_revokes_okta_and_aws_journals_and_reverifies(estate):
    cfg = config(estate)
    scan(cfg, estate["env"])
    okta = estate["okta"]
    alice_id = next(u["id"] for u in okta.users if u["profile"]["login"] == ALICE)
    assert any(t["userId"] == alice_id for t in okta.refresh_tokens)
    r = revoke(cfg, estate["env"], "--apply")
    assert r.returncode == 0, r.stderr[-3000:]
    report = json.loads(r.stdout)
    assert report["applied"] and report["ok"] and len(report["results"]) == 6
    assert [x["user_id"] for x in okta.revocations] == [alice_id]
    assert okta.revocations[0]["oauth_tokens"] is True
    assert not any(t["userId"] == alice_id for t in okta.refresh_tokens)
    assert any(t["userId"] != alice_id for t in okta.refresh_tokens)  # bob's token stays
    assert [x["user_id"] for x in estate["slack"].revocations] == [fs.ALICE]
    assert {x["user_id"] for x in estate["slack"].sessions} == {fs.BOB, fs.ERIN}
    denies = deny_policies(estate["aws"].url)
    assert denies.keys() == {"deploy-role", "ops-admin", "legacy-admin", "data-reader"}
    cut = {json.dumps(d) if not isinstance(d, str) else d for d in denies.values()}
    assert all("2026-09-01" not in c for c in cut)  # the too-early deny was moved to now
    rows = journal(cfg)
    phases = [r["phase"] for r in rows]
    assert phases[0] == "run-start" and phases[-1] == "run-end"
    assert phases.count("sending") == 6 and phases.count("sent") == 6
    sent = [r for r in rows if r["phase"] == "sent"]
    assert all(r["ok"] and r["status"] in (200, 204) for r in sent)
    assert sent[0]["system"] == "okta"  # the identity provider first
    verified, = [r for r in rows if r["phase"] == "verified"]
    assert json.loads(verified["detail"])["scan_id"]
    assert all(r["run_by"] and r["at"] for r in rows)
    assert OKTA_TOKEN not in json.dumps(rows, default=str)

    again = revoke(cfg, estate["env"], "--apply")  # idempotent: a new run, nothing breaks
    assert again.returncode == 0, again.stderr[-2000:]
    assert len(okta.revocations) == 2


def test_watch_revokes_on_the_status_change(estate):
    roster = estate["tmp"] / "roster.csv"
    lines = roster.read_text().splitlines()
    active = [ln.replace("terminated,2026-11-01", "active,") if ln.startswith(ALICE) else ln for ln in lines]
    roster.write_text("\n".join(active) + "\n")
    cfg = config(estate)
    scan(cfg, estate["env"])
    base = run_cli("watch", "-c", str(cfg), "--once", "--revoke-sessions", env=estate["env"])
    assert base.returncode == 0, base.stderr[-2000:]  # the baseline: no event, nothing sent
    assert estate["okta"].revocations == [] and journal(cfg) == []
    roster.write_text("\n".join(lines) + "\n")  # HR terminates alice
    r = run_cli("watch", "-c", str(cfg), "--once", "--revoke-sessions", env=estate["env"])
    assert r.returncode == 0, r.stderr[-3000:]
    msg = json.loads(r.stdout.strip().splitlines()[-1])
    assert msg["identity"] == ALICE and msg["revocation"]["sent"] == 6
    assert msg["revocation"]["verdict"]
    assert [x["action"] for x in estate["okta"].revocations] == ["clear_sessions"]
    assert [x["user_id"] for x in estate["slack"].revocations] == [fs.ALICE]
    assert len(deny_policies(estate["aws"].url)) == 4
    assert [r["phase"] for r in journal(cfg)][-1] == "run-end"


def test_watch_without_revoke_blocks_refuses_in_one_line(estate):
    cfg = config(estate, revoke=False)
    r = run_cli("watch", "-c", str(cfg), "--once", "--revoke-sessions", env=estate["env"])
    assert r.returncode == 2 and "--revoke-sessions: no source has a `revoke:` block" in r.stderr


def test_an_ssf_account_disabled_set_revokes_her_sessions_in_okta_slack_and_aws(estate):
    """The push receiver's spool (RFC 8935, a signed RISC account-disabled SET) drained by
    `watch --once --ssf ... --revoke-sessions`."""
    import time as _time

    import jwt
    from cryptography.hazmat.primitives.asymmetric import rsa

    from scanner.ssf import RISC, SsfPushSource, Transmitter

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk = {**json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key())), "kid": "t1"}
    jwks = estate["tmp"] / "jwks.json"
    jwks.write_text(json.dumps({"keys": [jwk]}))
    cfg = config(estate)
    scan(cfg, estate["env"])
    spool = cfg.parent / "residual.duckdb.watch.json.ssf.jsonl"
    token = jwt.encode({"iss": "https://idp.example.com", "iat": int(_time.time()), "jti": "set-42",
                        "sub_id": {"format": "email", "email": ALICE},
                        "events": {RISC + "account-disabled": {"reason": "bulk-account"}}},
                       key, algorithm="RS256", headers={"kid": "t1"})
    receiver = SsfPushSource(spool, [Transmitter("https://idp.example.com", str(jwks))])
    assert receiver.accept({"content-type": "application/secevent+jwt"}, token.encode()) == (202, None)
    r = run_cli("watch", "-c", str(cfg), "--once", "--revoke-sessions", "--ssf", "127.0.0.1:0",
                "--ssf-transmitter", f"https://idp.example.com={jwks}", env=estate["env"])
    assert r.returncode == 0, r.stderr[-3000:]
    msg = json.loads(r.stdout.strip().splitlines()[-1])
    assert msg["event"]["id"] == "ssf:https://idp.example.com:set-42:account-disabled"
    assert msg["revocation"]["sent"] == 6
    assert [x["action"] for x in estate["okta"].revocations] == ["clear_sessions"]
    assert [x["user_id"] for x in estate["slack"].revocations] == [fs.ALICE]
    assert len(deny_policies(estate["aws"].url)) == 4
