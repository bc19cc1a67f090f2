"""Inventory: batched writes, history across scans, round-trips, private files."""

from __future__ import annotations

import os
import stat
from datetime import UTC, datetime

from scanner.core.model import Account, Credential, Finding
from scanner.core.store import Inventory, Sink


def test_round_trip_and_history(tmp_path):
    path = tmp_path / "inv.duckdb"
    t = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    with Inventory(path) as inv:
        s1 = inv.begin_scan("scan")
        sink = Sink(inv, s1, batch_rows=3)
        for i in range(10):
            sink.emit(Account("aws", "aws:1", f"arn:{i}", f"u{i}", None, "user", "active", t, None,
                              {"tags": {"owner": "x"}}))
        sink.emit(Credential("aws", "aws:1", "k", "access_key", holder="aws:1|arn:1",
                             scopes=["a", "b"], created_at=t))
        sink.flush()
        inv.finish_scan(s1)
        s2 = inv.begin_scan("scan")
        inv.insert(s2, [Account("aws", "aws:1", "arn:0", "u0")])
        inv.finish_scan(s2)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    with Inventory(path, read_only=True) as inv:
        assert [s["id"] for s in inv.scans()] == [s1, s2]
        assert inv.count(Account, s1) == 10 and inv.count(Account, s2) == 1
        accs = inv.load(Account, s1, "login = ?", ["u3"])
        assert accs[0].created_at == t and accs[0].attributes == {"tags": {"owner": "x"}}
        (c,) = inv.load(Credential, s1)
        assert c.scopes == ["a", "b"] and c.last_used_at is None
        assert inv.previous_scan_id(s2) == s1 and inv.latest_scan_id() == s2


def test_findings_round_trip(tmp_path):
    with Inventory(tmp_path / "i.duckdb") as inv:
        sid = inv.begin_scan("scan")
        f = Finding("r", "high", "t", "cloud", evidence={"n": 1}, path=["a", "b"], frameworks=["X"],
                    fingerprint="fp")
        inv.insert(sid, [f])
        assert inv.findings(sid) == [f]


def test_second_writer_fails_clearly(tmp_path):
    import subprocess, sys
    path = tmp_path / "i.duckdb"
    with Inventory(path):
        code = "from scanner.core.store import Inventory, InventoryError\n" \
               f"try:\n Inventory({str(path)!r})\nexcept InventoryError as e:\n print('LOCKED', e)\n"
        r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert "LOCKED cannot open inventory" in r.stdout


def test_only_estate_scans_are_the_latest_estate_scan(tmp_path):
    """One definition of "the estate's latest scan": finished, kind estate. Targeted,
    partial and shard scans are kept but never displace it."""
    with Inventory(tmp_path / "i.duckdb") as inv:
        full = inv.begin_scan("scan")
        inv.finish_scan(full)
        live = inv.begin_scan("verify-live", kind="targeted", targets=["dave"])
        inv.finish_scan(live)
        part = inv.begin_scan("scan", kind="partial", attributes={"not_run": ["cloud"]})
        inv.finish_scan(part)
        shard = inv.begin_scan("scan-shard", kind="shard")
        inv.finish_scan(shard)
        assert inv.latest_scan_id() == full
        assert inv.latest_scan_about("dave") == live and inv.latest_scan_about("alice") == full
        nxt = inv.begin_scan("scan")
        inv.finish_scan(nxt)
        assert inv.previous_scan_id(nxt) == full


def test_latest_scan_about_an_identity_skips_shards_and_others_targeted_runs(tmp_path):
    """``plan`` starts from the latest scan that covers the person: an estate scan, or a
    targeted verify of them; never a shard (part of the estate) or someone else's verify."""
    with Inventory(tmp_path / "i.duckdb") as inv:
        estate = inv.begin_scan("scan")
        inv.finish_scan(estate)
        shard = inv.begin_scan(Inventory.SCAN_SHARD, kind="shard")
        inv.finish_scan(shard)
        bob = inv.begin_scan(Inventory.VERIFY_LIVE, kind="targeted", targets=["bob@example.com"])
        inv.write_verdicts(bob, [("bob@example.com", "cloud", "clean", "")])
        inv.finish_scan(bob)
        assert inv.latest_scan_about("alice@example.com") == estate
        alice = inv.begin_scan(Inventory.VERIFY_LIVE, kind="targeted", targets=["alice@example.com"])
        inv.write_verdicts(alice, [("alice@example.com", "cloud", "residual", "")])
        inv.finish_scan(alice)
        assert inv.latest_scan_about("alice@example.com") == alice
        assert inv.latest_scan_about("bob@example.com") == bob  # not alice's newer verify
