"""Verdicts you can trust (issue 13), through the real CLI against the demo estate's AWS
(moto) and IaC tree: a targeted run speaks only for the identity it asked about, a partial
scan never displaces the estate's latest scan, a shard scan is never "the latest", and
checking nothing is incomplete, never clean."""

from __future__ import annotations

import json
from contextlib import ExitStack

import pytest
import yaml

from fixtures.aws_estate import FAKE_ENV, AwsServer, plant_demo
from fixtures.demo import run as demo
from tests.conftest import ROOT, run_cli, write_config

ALICE, CAROL, DAVE = "alice@example.com", "carol@example.com", "dave@example.com"


def _json(r):
    assert r.returncode in (0, 1, 3), r.stderr[-2000:]
    return json.loads(r.stdout)


def _scan_ids(cfg):
    from scanner.core.store import Inventory
    from scanner.config import load_config
    with Inventory(load_config(cfg).inventory, read_only=True) as inv:
        return [(s["id"], s.get("kind")) for s in inv.scans()]


@pytest.fixture(scope="module")
def estate(tmp_path_factory):
    mp = pytest.MonkeyPatch()
    for k, v in FAKE_ENV.items():
        mp.setenv(k, v)
    out = tmp_path_factory.mktemp("trust")
    (out / "roster.csv").write_text((ROOT / "fixtures" / "demo" / "roster.csv").read_text())
    config = {"inventory": "residual.duckdb", "roster": [{"csv": "roster.csv"}], "collectors": {}}
    state: dict = {}
    with ExitStack() as stack, AwsServer() as aws:  # moto's backends reset: they are process-global
        state["aws"] = plant_demo(aws.url)
        config["collectors"]["aws"] = [{"name": "demo", "endpoint_url": aws.url, "regions": ["us-east-1"]}]
        demo.kubernetes_part(stack, out, config, state)
        demo.iac_part(stack, out, config, state)
        cfg = out / "residual.yaml"
        cfg.write_text(yaml.safe_dump(config, sort_keys=False))
        c = str(cfg)
        cli = lambda *a: run_cli(*a, env=FAKE_ENV)  # noqa: E731
        r: dict = {"cfg": cfg}
        assert cli("scan", "-q", "-c", c).returncode == 1
        assert cli("scan", "-q", "-c", c).returncode == 1
        r["full"] = _scan_ids(cfg)[-1][0]
        r["key_id"] = state["aws"]["leaked_key_id"]
        r["live_dave"] = cli("verify", "-q", "-c", c, "--live", DAVE, "--format", "json")
        r["targeted"] = _scan_ids(cfg)[-1][0]
        r["alice_after_dave"] = cli("verify", "-c", c, "--scan", "latest", ALICE, "--format", "json")
        r["alice_in_daves_run"] = cli("verify", "-c", c, "--scan", r["targeted"], ALICE)
        r["report_of_daves_run"] = cli("report", "-c", c, "--scan", r["targeted"], "--format", "json")
        r["only_iac"] = cli("scan", "-q", "-c", c, "--only", "iac")
        r["partial"] = _scan_ids(cfg)[-1][0]
        r["diff"] = cli("diff", "-c", c, "--format", "json")
        r["carol_latest"] = cli("verify", "-c", c, "--scan", "latest", CAROL, "--format", "json")
        r["carol_partial"] = cli("verify", "-c", c, "--scan", r["partial"], CAROL, "--format", "json")
        r["partial_json"] = cli("report", "-c", c, "--scan", r["partial"], "--format", "json")
        r["partial_md"] = cli("report", "-c", c, "--scan", r["partial"], "--format", "md")
        r["partial_html"] = cli("report", "-c", c, "--scan", r["partial"], "--format", "html")
        r["shard"] = cli("scan", "-q", "-c", c, "--shard", "0/1", "--shard-out", str(out / "shard"))
        r["plan"] = cli("plan", "-c", c, ALICE, "--format", "json")
        # the default report, in every format, after a targeted, a partial and a shard scan
        for fmt in ("json", "csv", "md", "sarif", "html"):
            r[f"full_{fmt}"] = cli("report", "-c", c, "--format", fmt)
        # every finding, a Kubernetes one too (the default github profile keeps files only)
        r["full_sarif"] = cli("report", "-c", c, "--format", "sarif", "--sarif-profile", "generic")
        r["kinds"] = _scan_ids(cfg)
        yield r
    mp.undo()


def test_a_targeted_run_speaks_only_for_whom_it_asked_about(estate):
    assert _json(estate["live_dave"])[DAVE]["layers"]["cloud"] in ("clean", "residual")
    doc = _json(estate["alice_after_dave"])[ALICE]
    # her live access key is still there: the full scan's residual, not dave's run's clean
    assert doc["layers"]["cloud"] == "residual" and doc["verdict"] == "residual"
    assert doc["scans"]["cloud"] == estate["full"]
    assert estate["alice_after_dave"].returncode == 1
    # dave's run holds no verdict for her at all, in the CLI and in the report
    assert estate["alice_in_daves_run"].returncode == 2
    assert "has no verdict for this identity" in estate["alice_in_daves_run"].stderr
    report = _json(estate["report_of_daves_run"])
    assert [i["id"] for i in report["identities"]] == [DAVE]
    assert report["scan"]["kind"] == "targeted" and report["scan"]["targets"] == [DAVE]


def test_a_partial_scan_never_displaces_the_latest_full_scan(estate):
    assert estate["only_iac"].returncode in (1, 3), estate["only_iac"].stderr[-2000:]
    diff = json.loads(estate["diff"].stdout)
    assert diff["to"] == estate["full"] and diff["resolved"] == [], diff["to"]
    assert estate["diff"].returncode == 0
    carol = _json(estate["carol_latest"])[CAROL]
    assert carol["layers"]["cloud"] == "clean" and carol["scans"]["cloud"] == estate["full"]
    assert carol["scans"]["iac"] == estate["partial"]
    assert "not_configured" not in (carol["layers"]["cloud"], carol["layers"]["iac"])
    assert _json(estate["full_json"])["scan"]["id"] == estate["full"]
    assert f"scan `{estate['full']}`" in estate["full_md"].stdout


def test_a_configured_layer_a_partial_scan_skipped_reads_not_run(estate):
    carol = _json(estate["carol_partial"])[CAROL]
    assert carol["layers"]["cloud"] == "not_run" and carol["layers"]["iac"] == "clean"
    # not a clean bill: the partial scan did not look at AWS
    assert carol["verdict"] == "incomplete" and estate["carol_partial"].returncode == 3
    report = _json(estate["partial_json"])
    assert report["scan"]["kind"] == "partial" and report["scan"]["only"] == ["iac"]
    assert "cloud" in report["scan"]["not_run"] and "iac" not in report["scan"]["not_run"]
    md = estate["partial_md"].stdout
    assert "**not run**: layer cloud is configured" in md
    assert "layer cloud was not checked at all" not in md
    assert "Partial scan (--only iac)" in md
    html = estate["partial_html"].stdout
    assert "Not run:" in html and "skipped by this partial scan" in html


def test_a_shard_scan_is_never_the_latest(estate):
    assert estate["shard"].returncode in (0, 3), estate["shard"].stderr[-2000:]
    plan = json.loads(estate["plan"].stdout)
    assert any("delete-access-key" in json.dumps(s) for s in plan["steps"]), plan["steps"][:3]
    assert f"plan from scan {estate['full']}" in estate["plan"].stderr
    assert _json(estate["full_json"])["scan"]["id"] == estate["full"]
    assert estate["kinds"][-1][1] == "shard"


def test_a_live_credential_is_named_by_its_real_handle_in_every_format(estate):
    """An AWS key found in a Kubernetes Secret (and in a Terraform file): the finding names
    the access key id a responder deletes, not just the hint ``AKIA…Q2FF``."""
    kid = estate["key_id"]
    report = _json(estate["full_json"])
    names = {}
    for f in report["findings"]:
        if f["rule"] in ("kubernetes.secret_holds_live_credential", "exposure.live_credential"):
            names[f["rule"]] = f["object"]["name"]
    hint = f"AKIA…{kid[-4:]}"
    assert names["kubernetes.secret_holds_live_credential"] == f"{kid} (Kubernetes Secret value {hint})"
    assert names["exposure.live_credential"] == f"{kid} ({hint})"
    for fmt in ("csv", "md", "sarif", "html"):
        text = estate[f"full_{fmt}"].stdout
        for name in names.values():
            assert name in text, (fmt, name)


def test_credential_handles_of_the_code_hosts():
    from collectors.github.transform import Org, transform_user_key
    from collectors.gitlab.collector import transform_token
    from tests.conftest import NOW
    from scanner.core.model import Credential, credential_handle

    key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl a@b"
    gh = transform_user_key(Org("acme"), "alice-gh", {"id": 1003, "key": key, "title": "laptop"})
    assert credential_handle(gh) == f"key id 1003, {gh.fingerprint}" and gh.fingerprint.startswith("SHA256:")
    gl = transform_token({"id": 102, "name": "support-session", "scopes": ["api"], "active": True,
                          "revoked": False}, "gitlab:gl", "gitlab:gl|7", NOW)
    assert credential_handle(gl) == "token id 102"
    # a credential-report slot before the deep pass: no key id known, no handle made up
    slot = Credential("aws", "aws:1", "arn:aws:iam::1:user/a#access_key_1", "access_key", name="a access key 1")
    assert credential_handle(slot) == ""


# --- checking nothing ---------------------------------------------------------------


LEAVER = ["alice@example.com,Alice,alice@example.com,human,terminated,2026-11-01,,"]


def test_no_collectors_is_incomplete_not_clean(tmp_path):
    cfg = write_config(tmp_path, {"collectors": {}}, LEAVER)
    r = run_cli("verify", "-q", "-c", str(cfg), ALICE, "--format", "json")
    assert r.returncode == 3, r.stderr
    assert json.loads(r.stdout)[ALICE]["verdict"] == "incomplete"
    assert "warning: no collector is configured" in r.stderr
    s = run_cli("scan", "-q", "-c", str(cfg))
    assert s.returncode == 3 and "warning: no collector is configured" in s.stderr


def test_an_empty_config_is_incomplete_and_says_so(tmp_path):
    (tmp_path / "residual.yaml").write_text("")
    r = run_cli("scan", "-q", "-c", str(tmp_path / "residual.yaml"), cwd=tmp_path)
    assert r.returncode == 3, r.stderr
    assert "warning: the config has no roster and no collectors" in r.stderr


def test_a_zero_byte_roster_is_incomplete_and_says_so(tmp_path):
    (tmp_path / "infra").mkdir()
    (tmp_path / "infra" / "main.tf").write_text('resource "aws_s3_bucket" "b" {}\n')
    cfg = write_config(tmp_path, {"roster": [{"csv": "roster.csv"}],
                                  "collectors": {"iac": [{"path": str(tmp_path / "infra")}]}})
    (tmp_path / "roster.csv").write_bytes(b"")
    r = run_cli("scan", "-q", "-c", str(cfg))
    assert r.returncode == 3, r.stderr
    assert "warning: the roster is empty" in r.stderr
    v = run_cli("verify", "-q", "-c", str(cfg), ALICE)
    assert v.returncode == 2 and "the roster is empty" in v.stderr


def test_a_clean_leaver_with_a_collector_is_still_clean(tmp_path):
    """The near miss: a leaver with nothing left where a collector looked is clean."""
    (tmp_path / "infra").mkdir()
    (tmp_path / "infra" / "main.tf").write_text('resource "aws_s3_bucket" "b" {}\n')
    cfg = write_config(tmp_path, {"collectors": {"iac": [{"path": str(tmp_path / "infra")}]}}, LEAVER)
    r = run_cli("verify", "-q", "-c", str(cfg), ALICE, "--format", "json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)[ALICE]["verdict"] == "clean" and "warning" not in r.stderr
