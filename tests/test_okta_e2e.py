"""End to end through the real CLI: roster from CSV + Okta merged, the Okta and SCIM
collectors against the demo fakes on 127.0.0.1."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from fixtures.fake_okta import DEMO_TOKEN as OKTA_TOKEN, demo_okta
from fixtures.fake_scim import DEMO_TOKEN as SCIM_TOKEN, demo_slack
from tests.conftest import ROOT, run_cli, write_config


@pytest.fixture(scope="module")
def estate(tmp_path_factory):
    okta = demo_okta().start()
    slack = demo_slack().start()
    tmp = tmp_path_factory.mktemp("saas")
    shutil.copy(ROOT / "fixtures" / "demo" / "roster.csv", tmp / "roster.csv")
    cfg = write_config(tmp, {
        "roster": [{"csv": "roster.csv"},
                   {"okta": {"domain": "acme.okta.com", "base_url": okta.url, "token": "${OKTA_TOKEN}"}}],
        "collectors": {
            "okta": [{"domain": "acme.okta.com", "base_url": okta.url, "token": "${OKTA_TOKEN}"}],
            "scim": [{"name": "slack", "url": slack.base_url, "token": "${SLACK_SCIM_TOKEN}"}],
        }})
    env = {"OKTA_TOKEN": OKTA_TOKEN, "SLACK_SCIM_TOKEN": SCIM_TOKEN}
    scan = run_cli("scan", "-c", str(cfg), "-q", env=env)
    report = run_cli("report", "-c", str(cfg), "--format", "json", env=env)
    yield {"okta": okta, "slack": slack, "cfg": cfg, "env": env, "scan": scan,
           "report": json.loads(report.stdout) if report.returncode == 0 else report}
    okta.stop()
    slack.stop()


def findings(report, **match):
    return [f for f in report["findings"] if all(f.get(k) == v for k, v in match.items())]


def test_scan_finds_residue_and_exits_1(estate):
    assert estate["scan"].returncode == 1, estate["scan"].stderr[-2000:]
    report = estate["report"]
    cov = {(c["collector"], c["target"]): c["status"] for c in report["coverage"]}
    assert cov[("okta:acme.okta.com", "acme.okta.com")] == "ok"
    assert cov[("scim:slack", "slack")] == "ok"
    assert cov[("roster:okta", "acme.okta.com")] == "ok"
    assert estate["okta"].writes == [] and estate["slack"].writes == []


def test_alice_residue_in_saas_and_directory(estate):
    r = estate["report"]
    alice = "alice@example.com"
    saas = findings(r, identity=alice, rule="account.active_after_termination", system="scim:slack")
    assert len(saas) == 1 and saas[0]["layer"] == "saas"
    assigned = findings(r, identity=alice, rule="okta.app_assignment_of_leaver")
    assert {f["evidence"]["app"] for f in assigned} == {"Slack", "GitHub Enterprise Cloud"}
    token, = findings(r, identity=alice, rule="okta.api_token_of_leaver")
    assert token["severity"] == "critical" and token["layer"] == "directory"
    assert findings(r, identity=alice, rule="account.active_after_termination", system="okta")


def test_erin_and_the_unowned_account(estate):
    r = estate["report"]
    erin = findings(r, identity="erin@example.com", rule="account.active_while_suspended")
    assert [f["system"] for f in erin] == ["scim:slack"]
    unowned = findings(r, rule="account.unowned", system="scim:slack")
    assert [f["object"]["name"] for f in unowned] == ["old-contractor@vendor.example"]


def test_carol_is_clean_in_saas_and_directory(estate):
    r = estate["report"]
    assert findings(r, identity="carol@example.com") == []
    carol, = [i for i in r["identities"] if i["id"] == "carol@example.com"]
    assert carol["layers"]["saas"] == "clean" and carol["layers"]["directory"] == "clean"
    v = run_cli("verify", "-c", str(estate["cfg"]), "carol@example.com", "--format", "json",
                "--scan", "latest", env=estate["env"])
    assert v.returncode == 0, v.stdout + v.stderr[-2000:]
    assert json.loads(v.stdout)["carol@example.com"]["verdict"] == "clean"


def test_verify_alice_exits_1(estate):
    v = run_cli("verify", "-c", str(estate["cfg"]), "alice@example.com", "--format", "json",
                "--scan", "latest", env=estate["env"])
    assert v.returncode == 1
    layers = json.loads(v.stdout)["alice@example.com"]["layers"]
    assert layers["saas"] == "residual" and layers["directory"] == "residual"


def test_no_token_anywhere(estate):
    text = json.dumps(estate["report"]) + estate["scan"].stdout + estate["scan"].stderr
    data = Path(estate["cfg"]).with_name("residual.duckdb").read_bytes()
    for token in (OKTA_TOKEN, SCIM_TOKEN):
        assert token not in text
        assert token.encode() not in data
