"""Hardening of the core: interrupted scans leave history intact; the config loader and
the roster CSV never crash on hostile input (hypothesis)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import yaml
from hypothesis import HealthCheck, given, settings, strategies as st

from collectors.csv_roster.roster import identities_from_csv
from scanner.config import load_config
from scanner.core.errors import ConfigError
from scanner.core.errors import RosterError
from scanner.core.store import Inventory
from tests.conftest import run_cli, write_config

SLOW_SCAN = """
import sys, time
from scanner.core.store import Inventory
inv = Inventory(sys.argv[1])
sid = inv.begin_scan("scan")
print(sid, flush=True)
time.sleep(60)
"""


def test_killed_scan_is_marked_interrupted_and_history_survives(tmp_path):
    rows = ["alice@example.com,Alice,alice@example.com,human,terminated,2026-11-01,,"]
    (tmp_path / "infra").mkdir()  # one collector: a scan that checks nothing is incomplete
    cfg = write_config(tmp_path, {"collectors": {"iac": [{"path": str(tmp_path / "infra")}]}}, rows)
    assert run_cli("scan", "-c", str(cfg), "-q").returncode == 0
    inv_path = tmp_path / "residual.duckdb"
    p = subprocess.Popen([sys.executable, "-c", SLOW_SCAN, str(inv_path)], stdout=subprocess.PIPE, text=True)
    killed_id = p.stdout.readline().strip()
    p.send_signal(signal.SIGKILL)
    p.wait()
    r = run_cli("scan", "-c", str(cfg), "-q")
    assert r.returncode == 0, r.stderr
    with Inventory(inv_path, read_only=True) as inv:
        scans = inv.scans()
        statuses = [s["status"] for s in scans]
        assert statuses == ["complete", "interrupted", "complete"]
        assert scans[1]["id"] == killed_id
        assert inv.latest_scan_id() == scans[2]["id"]
        assert inv.previous_scan_id(scans[2]["id"]) == scans[0]["id"]


def test_sigint_marks_the_scan_interrupted(tmp_path):
    code = ("import sys\nfrom scanner.core.store import Inventory\n"
            "inv = Inventory(sys.argv[1])\nsid = inv.begin_scan('scan')\n"
            "try:\n    print(sid, flush=True); import time; time.sleep(60)\n"
            "except KeyboardInterrupt:\n    inv.finish_scan(sid, 'interrupted'); inv.close()\n")
    p = subprocess.Popen([sys.executable, "-c", code, str(tmp_path / "i.duckdb")],
                         stdout=subprocess.PIPE, text=True)
    p.stdout.readline()
    p.send_signal(signal.SIGINT)
    p.wait(timeout=30)
    with Inventory(tmp_path / "i.duckdb", read_only=True) as inv:
        assert [s["status"] for s in inv.scans()] == ["interrupted"]


def test_concurrent_scan_fails_clearly(tmp_path):
    cfg = write_config(tmp_path, {}, ["a@e.com,A,a@e.com,human,active,,,"])
    holder = subprocess.Popen([sys.executable, "-c", "import sys,time,duckdb; c=duckdb.connect(sys.argv[1]);"
                               "print('ok', flush=True); time.sleep(30)", str(tmp_path / "residual.duckdb")],
                              stdout=subprocess.PIPE, text=True)
    holder.stdout.readline()
    try:
        r = run_cli("scan", "-c", str(cfg), "-q")
    finally:
        holder.kill()
        holder.wait()
    assert r.returncode == 2 and "cannot open inventory" in r.stderr
    assert r.stderr.strip().count("\n") == 0


yaml_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=30) | st.floats(allow_nan=False),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=20)
top_keys = st.sampled_from(["inventory", "roster", "policy", "collectors", "waivers", "cache_dir",
                            "fingerprint_key", "other"])


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(doc=st.dictionaries(top_keys, yaml_values, max_size=5))
def test_config_loader_never_crashes(tmp_path, doc):
    p = tmp_path / "fuzz.yaml"
    p.write_text(yaml.safe_dump(doc))
    try:
        load_config(p)
    except ConfigError as exc:
        assert "\n" not in str(exc) and str(p) in str(exc)


@settings(max_examples=150, deadline=None)
@given(body=st.text(max_size=400))
def test_roster_csv_never_crashes(body):
    try:
        identities_from_csv("id,name,email,kind,status,terminated_at,owner,aliases\n" + body, "r.csv")
    except RosterError as exc:
        assert str(exc).startswith("r.csv: line ")


def test_non_utf8_and_binary_config(tmp_path):
    p = tmp_path / "bin.yaml"
    p.write_bytes(b"\xff\xfe\x00inventory: \x80\x81\n")
    try:
        load_config(p)
    except ConfigError as exc:
        assert str(p) in str(exc)
