"""Incremental rescans of AWS, end to end: moto's server on 127.0.0.1 with the demo
estate, the real CLI run twice against it.

What the AWS collector can honestly save (see docs/scale.md, "Incremental rescans"):
IAM has no ETag, so its change token is a digest of the payloads the bulk pass reads
anyway (the credential report's GeneratedTime and content, the authorization details,
service-specific credentials, Secrets Manager, EKS). An unchanged account therefore
costs the same read calls, no more; what is saved is the transform and the load: its
records are copied in DuckDB from the previous scan."""

from __future__ import annotations

import json
from pathlib import Path

import boto3
import pytest

from fixtures.aws_estate import FAKE_ENV, SERVICE_CREDENTIALS, ACCOUNT_ID, AwsServer, plant_demo
from scanner.core.model import Account, Coverage, Exposure, Finding
from scanner.core.store import TABLES, Inventory
from tests.conftest import ROOT, run_cli, write_config

ROSTER = (ROOT / "fixtures" / "demo" / "roster.csv").read_text().splitlines()[1:]
COUNTED = [cls for cls in TABLES if cls.__name__ not in ("Coverage", "Finding", "Link", "Identity")]


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


def scan(cfg: Path) -> None:
    r = run_cli("scan", "-c", str(cfg), env=FAKE_ENV)
    assert r.returncode in (0, 1), r.stdout + r.stderr


def scans(cfg: Path) -> tuple[Inventory, list[str]]:
    inv = Inventory(cfg.parent / "residual.duckdb", read_only=True)
    return inv, [s["id"] for s in inv.scans()]


def bulk_row(inv: Inventory, scan_id: str) -> Coverage:
    rows = [c for c in inv.coverage(scan_id) if c.collector == "aws" and c.target == ACCOUNT_ID
            and c.attributes.get("pass") != "deep"]
    assert len(rows) == 1, rows
    return rows[0]


def counts(inv: Inventory, scan_id: str) -> dict[str, int]:
    return {TABLES[cls].name: inv.count(cls, scan_id) for cls in COUNTED}


def findings(inv: Inventory, scan_id: str) -> list[tuple[str, str]]:
    return sorted((f.rule, f.fingerprint) for f in inv.load(Finding, scan_id))


def test_unchanged_account_is_copied_and_a_new_user_is_seen(tmp_path, server, estate):
    cfg = write_config(tmp_path, {"collectors": {"aws": [{"endpoint_url": server.url}]}}, ROSTER)
    scan(cfg)
    first_calls = server.count()
    server.clear()
    scan(cfg)
    second_calls = server.count()
    assert server.writes() == []

    inv, ids = scans(cfg)
    with inv:
        one, two = bulk_row(inv, ids[0]), bulk_row(inv, ids[1])
        assert one.status == two.status == "ok"
        assert "reused_from" not in one.attributes and one.attributes["change_token"]
        assert two.attributes["reused_from"] == ids[0]
        assert two.attributes["change_token"] == one.attributes["change_token"]
        assert two.records == one.records  # the copied rows, counted as the target's
        # the same records and the same findings (rules ran again over the copy)
        assert counts(inv, ids[1]) == counts(inv, ids[0])
        assert findings(inv, ids[1]) == findings(inv, ids[0])
        assert ("credential.used_after_termination",) in {(r,) for r, _ in findings(inv, ids[1])}
        # the deep pass still ran for alice (its records are never copied)
        deep = [c for c in inv.coverage(ids[1]) if c.attributes.get("pass") == "deep"]
        assert deep and deep[0].status == "ok"
        # IAM has no cheaper "has anything changed": the check costs no extra call
        assert second_calls <= first_calls
        assert sum(c.api_calls for c in inv.coverage(ids[1]) if c.collector == "aws") == second_calls

    # a change: a new IAM user. The account is read and transformed again.
    iam = boto3.client("iam", endpoint_url=server.url, region_name="us-east-1",
                       aws_access_key_id="testing", aws_secret_access_key="testing")
    iam.create_user(UserName="frank-new")
    scan(cfg)
    inv, ids = scans(cfg)
    with inv:
        three = bulk_row(inv, ids[2])
        assert three.status == "ok" and "reused_from" not in three.attributes
        assert three.attributes["change_token"] != two.attributes["change_token"]
        logins = {a.login for a in inv.load(Account, ids[2]) if a.system == "aws"}
        assert "frank-new" in logins
        assert counts(inv, ids[2])["accounts"] == counts(inv, ids[1])["accounts"] + 1


def test_a_partial_previous_read_is_not_reused(tmp_path, server, estate):
    """A malformed service-specific credential makes the read partial; the next scan
    sees the very same payloads (same token) and must still read the account again."""
    SERVICE_CREDENTIALS.setdefault(ACCOUNT_ID, []).append(
        {"UserName": "bob", "Status": "Active", "ServiceName": "codecommit.amazonaws.com"})
    cfg = write_config(tmp_path, {"collectors": {"aws": [{"endpoint_url": server.url}]}}, ROSTER)
    scan(cfg)
    scan(cfg)
    inv, ids = scans(cfg)
    with inv:
        one, two = bulk_row(inv, ids[0]), bulk_row(inv, ids[1])
        assert one.status == "partial" and two.status == "partial"
        assert two.attributes["change_token"] == one.attributes["change_token"]
        assert "reused_from" not in two.attributes
        assert counts(inv, ids[1]) == counts(inv, ids[0])


def test_a_copied_exposure_is_correlated_again_not_carried_over(tmp_path, server, estate):
    """An IaC file leaks alice's access key id. The tree does not change (its exposure
    is copied), but the key is deleted in IAM: the copy must not keep pointing at it,
    correlation decides again on this scan's credentials."""
    infra = tmp_path / "infra"
    infra.mkdir()
    key_id = estate["leaked_key_id"]
    (infra / "deploy.env").write_text(f"AWS_ACCESS_KEY_ID={key_id}\n")
    cfg = write_config(tmp_path, {"collectors": {"aws": [{"endpoint_url": server.url}],
                                                 "iac": [{"path": "infra"}]}}, ROSTER)
    scan(cfg)
    inv, ids = scans(cfg)
    with inv:
        (exp,) = [e for e in inv.load(Exposure, ids[0]) if e.identifier == key_id]
        assert exp.matched_credential and exp.matched_credential.startswith(f"aws:{ACCOUNT_ID}|")
    iam = boto3.client("iam", endpoint_url=server.url, region_name="us-east-1",
                       aws_access_key_id="testing", aws_secret_access_key="testing")
    iam.delete_access_key(UserName="alice", AccessKeyId=key_id)
    scan(cfg)
    inv, ids = scans(cfg)
    with inv:
        iac = [c for c in inv.coverage(ids[1]) if c.collector == "iac"]
        assert iac[0].attributes["reused_from"] == ids[0]
        (exp2,) = [e for e in inv.load(Exposure, ids[1]) if e.identifier == key_id]
        # key 2's slot is still in the (cached) credential report, as "revoked" by the deep
        # pass: no credential carries the key id any more, so nothing is matched
        assert exp2.matched_credential is None
