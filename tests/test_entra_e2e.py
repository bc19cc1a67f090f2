"""End to end through the real ``residual`` CLI: the demo tenant of the fake Microsoft
(alice left residue everywhere, carol was removed cleanly), entra + azure collectors, the
CSV roster and Entra as a second roster source."""

from __future__ import annotations

import json

import pytest
import yaml

from fixtures.fake_microsoft import FakeMicrosoft
from tests.conftest import ROOT, run_cli, write_config
from tests.entra_helpers import azure_block, entra_block, tenant_with_clients

ROSTER = (ROOT / "fixtures" / "demo" / "roster.csv").read_text().splitlines()[1:]


@pytest.fixture(scope="module")
def estate(tmp_path_factory):
    s = FakeMicrosoft(tenant_with_clients()).start()
    tmp = tmp_path_factory.mktemp("entra")
    cfg = write_config(tmp, {"collectors": {"entra": [entra_block(s, name="acme")],
                                            "azure": [azure_block(s, name="acme")]}}, ROSTER)
    scan = run_cli("scan", "-c", str(cfg), "-q")
    yield s, tmp, cfg, scan
    s.stop()


def verdict(cfg, who):
    r = run_cli("verify", "-c", str(cfg), "--scan", "latest", "--format", "json", who)
    return r, json.loads(r.stdout)


def test_scan_finds_alices_residue_and_is_read_only(estate):
    s, tmp, cfg, scan = estate
    assert scan.returncode == 1, scan.stdout + scan.stderr
    report = json.loads(run_cli("report", "-c", str(cfg), "--format", "json").stdout)
    rules = {(f["rule"], f.get("identity")) for f in report["findings"]}
    for rule in ("entra.sessions_not_revoked", "entra.sign_in_after_termination",
                 "entra.app_owner_departed", "entra.secret_added_by_leaver", "entra.oauth_grant_of_leaver",
                 "entra.device_of_leaver", "azure.role_assignment_of_leaver"):
        assert (rule, "alice@example.com") in rules, rule
    assert ("azure.pim_eligible_leaver", "dave@example.com") in rules
    assert not [r for r in rules if r[1] == "carol@example.com"]
    assert s.writes == []


def test_verify_alice_residual_in_directory_sessions_and_cloud(estate):
    _, _, cfg, _ = estate
    r, body = verdict(cfg, "alice@example.com")
    assert r.returncode == 1, r.stdout + r.stderr
    text = json.dumps(body)
    for layer in ("directory", "sessions", "cloud"):
        assert f'"{layer}": "residual"' in text, layer


def test_verify_carol_clean_in_every_configured_layer(estate):
    _, _, cfg, _ = estate
    r, body = verdict(cfg, "carol@example.com")
    assert r.returncode == 0, r.stdout + r.stderr
    text = json.dumps(body)
    for layer in ("directory", "sessions", "cloud"):
        assert f'"{layer}": "clean"' in text, layer


def test_plan_has_a_step_for_each_of_alices_findings(estate):
    _, _, cfg, _ = estate
    r = run_cli("plan", "-c", str(cfg), "alice@example.com", "--format", "sh")
    assert r.returncode == 0, r.stderr
    out = r.stdout
    assert "revokeSignInSessions" in out and "az ad app credential delete" in out
    assert "az role assignment delete --ids" in out and "/oauth2PermissionGrants/" in out
    assert "/owners/" in out and "/devices/" in out
    assert "no exact step is known" not in out


def test_entra_as_a_roster_source_merges_by_email(estate, tmp_path):
    s, _, _, _ = estate
    block = entra_block(s)
    cfg = write_config(tmp_path, {"collectors": {"entra": [entra_block(s)]}}, ROSTER)
    body = yaml.safe_load(cfg.read_text())
    roster_block = {k: v for k, v in block.items() if k in ("tenant_id", "client_id", "client_secret",
                                                           "authority_host", "base_url", "ca_bundle")}
    body["roster"].append({"entra": roster_block})
    cfg.write_text(yaml.safe_dump(body))
    r = run_cli("verify", "-c", str(cfg), "--format", "json", "carol@example.com")
    assert r.returncode == 0, r.stdout + r.stderr
    r = run_cli("verify", "-c", str(cfg), "--format", "json", "admin@example.com")
    assert r.returncode == 0 and "admin@example.com" in r.stdout, r.stdout + r.stderr  # known from Entra only
    s.fault(".", status=401)
    try:
        failed = run_cli("verify", "-c", str(cfg), "--format", "json", "carol@example.com")
    finally:
        s.clear_faults()
    assert failed.returncode == 3 and '"directory": "incomplete"' in failed.stdout, failed.stdout


def test_verify_live_asks_only_about_the_identity(estate):
    s, _, cfg, _ = estate
    s.reset_counts()
    r = run_cli("verify", "-c", str(cfg), "--live", "--format", "json", "alice@example.com")
    assert r.returncode == 1 and '"sessions": "residual"' in r.stdout, r.stdout + r.stderr
    paths = [q.path for q in s.requests]
    assert "/v1.0/users" not in paths and "/v1.0/applications" not in paths  # no tenant listing
    assert all(q.arg("$filter") for q in s.requests if q.path.endswith("/roleAssignments"))
    r = run_cli("verify", "-c", str(cfg), "--live", "--format", "json", "carol@example.com")
    assert r.returncode == 0 and '"sessions": "clean"' in r.stdout, r.stdout + r.stderr
    assert s.writes == []
