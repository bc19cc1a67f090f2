"""End to end through the real CLI: the demo roster and the `vault` collector (hvac)
against the demo fake Vault on 127.0.0.1 (root namespace + Enterprise namespace
team-payments). Each rule's residue and its near miss are planted in
fixtures/fake_vault/estate.py."""

from __future__ import annotations

import json
import shutil

import pytest

from fixtures import fake_vault as fv
from tests.conftest import ROOT, run_cli, write_config

ALICE, BOB, CAROL, DAVE = (f"{n}@example.com" for n in ("alice", "bob", "carol", "dave"))


@pytest.fixture(scope="module")
def estate(tmp_path_factory):
    server = fv.start_demo()
    tmp = tmp_path_factory.mktemp("vault")
    shutil.copy(ROOT / "fixtures" / "demo" / "roster.csv", tmp / "roster.csv")
    cfg = write_config(tmp, {"roster": [{"csv": "roster.csv"}], "collectors": {"vault": [{
        "url": server.url, "name": "prod", "token": "${VAULT_TOKEN}", "namespaces": [fv.NS],
        "lease_prefixes": ["database/", "aws/"], "kv_mounts": ["secret"], "concurrency": 4}]}})
    env = {"VAULT_TOKEN": fv.DEMO_TOKEN}
    scan = run_cli("scan", "-c", str(cfg), "-q", env=env)
    report = run_cli("report", "-c", str(cfg), "--format", "json", env=env)
    yield {"server": server, "cfg": cfg, "env": env, "scan": scan, "tmp": tmp,
           "report": json.loads(report.stdout) if report.returncode == 0 else report}
    server.stop()


def findings(report, **match):
    return [f for f in report["findings"] if all(f.get(k) == v for k, v in match.items())]


def test_scan_reads_every_namespace_read_only(estate):
    assert estate["scan"].returncode == 1, estate["scan"].stderr[-2000:]
    cov = {(c["collector"], c["target"]): c for c in estate["report"]["coverage"]}
    assert cov[("vault:prod", "prod")]["status"] == "ok"
    assert cov[("vault:prod", f"prod/{fv.NS}")]["status"] == "ok"
    assert cov[("vault:prod", f"prod/{fv.NS}/kv:secret")]["status"] == "skipped"
    assert cov[("vault:prod", "prod")]["api_calls"] > 0
    assert estate["server"].writes == []
    assert fv.DEMO_TOKEN not in (estate["tmp"] / "residual.duckdb").read_bytes().decode("latin-1")


def test_leaver_tokens_in_root_and_in_a_namespace(estate):
    r = estate["report"]
    alice, = findings(r, rule="vault.token_of_leaver", identity=ALICE)
    assert alice["severity"] == "critical" and alice["layer"] == "secrets"
    assert alice["evidence"]["accessor"] == fv.ALICE_ACCESSOR and "payments-read" in alice["evidence"]["policies"]
    dave, = findings(r, rule="vault.token_of_leaver", identity=DAVE)
    assert dave["evidence"]["namespace"] == fv.NS
    assert not findings(r, identity=BOB, rule="vault.token_of_leaver")  # near miss: bob is active
    # the entity still enabled, its OIDC alias mapped: the generic account rule
    assert findings(r, rule="account.active_after_termination", identity=ALICE, system="vault")
    assert not findings(r, identity=CAROL, system="vault")  # carol's entity is disabled, nothing live


def test_orphan_token_without_owner(estate):
    r = estate["report"]
    orphan = findings(r, rule="vault.orphan_token_unowned")
    assert [f["evidence"]["accessor"] for f in orphan] == [fv.ORPHAN_ACCESSOR]
    # near misses: the scanner's own child token (orphan: false), login tokens with an entity
    assert not findings(r, rule="credential.orphaned", system="vault")


def test_secret_ids(estate):
    r = estate["report"]
    never = findings(r, rule="vault.secret_id_never_expires")
    assert [f["evidence"]["accessor"] for f in never] == [fv.CI_SECRET_NEVER]
    by_alice, = findings(r, rule="vault.secret_id_created_by_leaver")
    assert by_alice["identity"] == ALICE and by_alice["evidence"]["accessor"] == fv.CI_SECRET_ALICE
    # bob's secret ID (bob is active, and it expires) is neither


def test_lease_attributed_to_the_leaver_by_inference(estate):
    r = estate["report"]
    lease, = findings(r, rule="vault.lease_of_leaver")
    assert lease["identity"] == ALICE and lease["evidence"]["lease_id"] == fv.ALICE_LEASE
    assert lease["evidence"]["token_accessor"] == fv.ALICE_ACCESSOR
    assert lease["evidence"]["attribution"].startswith("inferred")
    # near misses: bob's lease and the CI lease were issued after alice left


def test_kv_secret_not_rotated_since_the_leaver(estate):
    r = estate["report"]
    kv = findings(r, rule="vault.kv_readable_by_leaver_not_rotated", identity=ALICE)
    assert [f["object"]["name"] for f in kv] == ["secret/payments/stripe"]  # adyen rotated since


def test_plan_steps(estate):
    p = run_cli("plan", "-c", str(estate["cfg"]), ALICE, "--format", "sh", env=estate["env"])
    assert p.returncode == 0, p.stderr[-2000:]
    out = p.stdout
    assert f"vault write auth/token/revoke-accessor accessor={fv.ALICE_ACCESSOR}" in out
    assert f"auth/approle/role/ci/secret-id-accessor/destroy secret_id_accessor={fv.CI_SECRET_ALICE}" in out
    assert f"sys/leases/revoke lease_id={fv.ALICE_LEASE}" in out and "revoke-prefix" in out
    assert f"vault write identity/entity/id/{fv.ALICE_ENTITY} disabled=true" in out
    assert "vault kv patch -mount=secret payments/stripe" in out
    d = run_cli("plan", "-c", str(estate["cfg"]), DAVE, "--format", "sh", env=estate["env"])
    assert f"vault write -namespace={fv.NS} auth/token/revoke-accessor accessor={fv.DAVE_ACCESSOR}" in d.stdout


def test_carol_is_clean_in_the_secrets_layer(estate):
    carol, = [i for i in estate["report"]["identities"] if i["id"] == CAROL]
    assert carol["layers"]["secrets"] == "clean"
