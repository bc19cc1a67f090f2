"""Upgrades: an inventory written by the release before schema versions
(tests/data/inventory-v1.duckdb.gz, made by tests/data/make_inventory_v1.py) is migrated
in place on first open, after a backup copy; one from a newer residual is refused with
one line, exit 2. The migrated schema is the schema a fresh inventory gets."""

from __future__ import annotations

import gzip
import hashlib
import json
import shutil

import duckdb
import pytest

from scanner.core.model import Identity
from scanner.core.store import SCHEMA_VERSION, Inventory
from tests.conftest import ROOT, run_cli, write_config

V1 = ROOT / "tests" / "data" / "inventory-v1.duckdb.gz"
ALICE, CAROL, DAVE = "alice@example.com", "carol@example.com", "dave@example.com"

# The digest of the schema per version (``_schema`` below). A change to a table's columns
# without a new SCHEMA_VERSION (and its step in scanner.core.store._MIGRATIONS) fails here:
# bump the version, add the migration, and record the new digest.
SCHEMA_DIGESTS = {2: "cf3b7ad422b4a0b3", 3: "78a58ccab08a7b5d"}


def _schema(con) -> list[tuple[str, str, str]]:
    return sorted(con.execute(
        "SELECT table_name, column_name, data_type FROM information_schema.columns "
        "WHERE table_schema = 'main'").fetchall())


@pytest.fixture
def old(tmp_path):
    inv = tmp_path / "residual.duckdb"
    with gzip.open(V1, "rb") as src, open(inv, "wb") as dst:
        shutil.copyfileobj(src, dst)
    (tmp_path / "infra").mkdir()
    (tmp_path / "infra" / "main.tf").write_text('resource "aws_s3_bucket" "b" {}\n')
    (tmp_path / "roster.csv").write_text((ROOT / "fixtures" / "demo" / "roster.csv").read_text())
    cfg = write_config(tmp_path, {"inventory": str(inv), "roster": [{"csv": "roster.csv"}],
                                  "collectors": {"iac": [{"path": str(tmp_path / "infra")}]}})
    return cfg, inv, hashlib.sha256(inv.read_bytes()).hexdigest()


def test_an_old_inventory_is_migrated_in_place_after_a_backup(old):
    cfg, inv, digest = old
    r = run_cli("report", "-c", str(cfg), "--format", "json")  # a read-only command
    assert r.returncode == 0, r.stderr[-2000:]
    assert f"migrated from schema version 1 to {SCHEMA_VERSION}" in r.stderr
    backup = inv.with_name(inv.name + ".schema-v1.bak")
    assert hashlib.sha256(backup.read_bytes()).hexdigest() == digest
    report = json.loads(r.stdout)
    with Inventory(inv, read_only=True) as i:
        scans = i.scans()
        assert i.schema_version() == SCHEMA_VERSION
    assert [s["kind"] for s in scans] == ["estate", "targeted", "partial"]
    assert report["scan"]["id"] == scans[0]["id"]  # not the old `scan --only iac`
    # the old runs' verdicts read by the new rules: the targeted run of dave speaks for no
    # one (it stored a verdict for every leaver), the partial scan's skipped layers are
    # "not run", so alice's live key is residual and carol's AWS is not "not configured"
    alice = run_cli("verify", "-c", str(cfg), "--scan", "latest", ALICE, "--format", "json")
    assert alice.returncode == 1, alice.stderr[-2000:]
    assert json.loads(alice.stdout)[ALICE]["layers"]["cloud"] == "residual"
    carol = json.loads(run_cli("verify", "-c", str(cfg), "--scan", "latest", CAROL,
                               "--format", "json").stdout)[CAROL]
    assert carol["layers"]["cloud"] == "clean" and carol["scans"]["cloud"] == scans[0]["id"]
    assert carol["scans"]["iac"] == scans[2]["id"]
    # a second open does not migrate (or back up) again
    again = run_cli("report", "-c", str(cfg), "--format", "json")
    assert again.returncode == 0 and "migrated" not in again.stderr
    assert not inv.with_name(inv.name + ".schema-v1.1.bak").exists()


def test_the_next_scan_into_an_old_inventory_writes(old):
    """What failed before with a raw DuckDB BinderException: the next insert."""
    cfg, inv, _ = old
    r = run_cli("scan", "-q", "-c", str(cfg))
    assert r.returncode in (0, 1, 3), r.stderr[-2000:]
    assert "Exception" not in r.stderr and "Traceback" not in r.stderr
    with Inventory(inv, read_only=True) as i:
        last = i.scans()[-1]
        assert last["kind"] == "estate" and last["status"] in ("complete", "incomplete")
        assert i.latest_scan_id() == last["id"]
        assert i.count(Identity, last["id"]) == 7


def test_a_migrated_inventory_has_the_schema_of_a_fresh_one(old, tmp_path):
    _, inv, _ = old
    with Inventory(inv):
        pass
    with Inventory(tmp_path / "fresh.duckdb"):
        pass
    with duckdb.connect(str(inv), read_only=True) as a, \
            duckdb.connect(str(tmp_path / "fresh.duckdb"), read_only=True) as b:
        assert {(t, c) for t, c, _ in _schema(a)} == {(t, c) for t, c, _ in _schema(b)}
        assert _schema(a) == _schema(b)


def test_an_inventory_from_a_newer_residual_is_refused(old):
    cfg, inv, _ = old
    with Inventory(inv):
        pass
    with duckdb.connect(str(inv)) as con:
        con.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", [str(SCHEMA_VERSION + 1)])
    before = hashlib.sha256(inv.read_bytes()).hexdigest()
    for args in (["report", "--format", "json"], ["scan", "-q"]):
        r = run_cli(args[0], "-c", str(cfg), *args[1:])
        assert r.returncode == 2, (args, r.stderr)
        lines = r.stderr.strip().splitlines()
        assert len(lines) == 1 and "written by a newer residual" in lines[0], lines
        assert f"schema version {SCHEMA_VERSION + 1}" in lines[0]
    assert hashlib.sha256(inv.read_bytes()).hexdigest() == before  # left as it was


def test_the_schema_version_is_bumped_with_every_schema_change(tmp_path):
    with Inventory(tmp_path / "fresh.duckdb") as inv:
        digest = hashlib.sha256(repr(_schema(inv.con)).encode()).hexdigest()[:16]
    assert SCHEMA_DIGESTS.get(SCHEMA_VERSION) == digest, (
        f"the inventory's schema changed (digest {digest}): bump scanner.core.store.SCHEMA_VERSION, "
        "add the step to _MIGRATIONS, and record the digest in SCHEMA_DIGESTS here")
