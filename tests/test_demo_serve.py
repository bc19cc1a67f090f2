"""The newcomer's first hour (issue 17), through the real CLI: `residual demo --serve`
keeps the estate up and writes a config that works as written (no AWS variables in the
shell), `demo --remove-alice-keys` changes the estate, a rescan and `diff` show her keys
resolved, and Ctrl-C ends the server with 130. `demo --out` refuses someone's own folder."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from tests.conftest import NOW, ROOT, run_cli

pytest.importorskip("moto")


def _env_without_aws() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("AWS_")} | {
        "RESIDUAL_NOW": NOW.isoformat()}


def test_serve_scan_change_diff_verify_and_ctrl_c(tmp_path, monkeypatch):
    for k in [k for k in os.environ if k.startswith("AWS_")]:  # the config alone suffices
        monkeypatch.delenv(k)
    out = tmp_path / "demo"
    env = _env_without_aws()
    p = subprocess.Popen([sys.executable, "-m", "scanner.cli", "demo", "--serve", "--out", str(out)],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                         cwd=ROOT)
    try:
        lines: list[str] = []
        deadline = time.monotonic() + 400
        while time.monotonic() < deadline:
            line = p.stderr.readline()
            if not line:
                break
            lines.append(line)
            if line.strip() == "READY":
                break
        assert lines and lines[-1].strip() == "READY", "".join(lines)
        assert "residual demo --remove-alice-keys" in "".join(lines)
        cfg = str(out / "residual.yaml")

        first = run_cli("scan", "-q", "-c", cfg)
        assert first.returncode == 1, first.stderr
        before = run_cli("verify", "-c", cfg, "--scan", "latest", "alice@example.com",
                         "--format", "json")
        assert json.loads(before.stdout)  # a verdict for alice
        change = run_cli("demo", "--remove-alice-keys", "--out", str(out))
        assert change.returncode == 0, change.stderr
        keys = change.stdout.split(": ", 1)[1].strip().split(", ")
        assert len(keys) == 2 and all(k.startswith("AKIA") for k in keys), change.stdout

        second = run_cli("scan", "-q", "-c", cfg)
        assert second.returncode in (1, 3), second.stderr
        d = run_cli("diff", "-c", cfg, "--format", "json")
        assert d.returncode in (0, 1), d.stderr
        resolved = json.loads(d.stdout)["resolved"]
        gone = " ".join(f"{f['object']} {f['rule']}" for f in resolved)
        assert all(k in gone for k in keys), gone
        persisting = " ".join(f["object"] for f in json.loads(d.stdout)["persisting"])
        assert not any(k in persisting for k in keys)  # the near-miss: nothing else moved them
        after = run_cli("verify", "-c", cfg, "--scan", "latest", "alice@example.com",
                        "--format", "json")
        assert after.returncode == 1, after.stderr  # her other residue remains
    finally:
        p.send_signal(signal.SIGINT)
        try:
            p.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            p.kill()
            raise
    assert p.returncode == 130


def test_remove_keys_without_a_running_estate_is_one_line_exit_2(tmp_path):
    r = run_cli("demo", "--remove-alice-keys", "--out", str(tmp_path))
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert "residual demo --serve" in r.stderr


def test_out_refuses_a_folder_that_is_not_a_demo_output(tmp_path):
    (tmp_path / "residual.yaml").write_text("inventory: mine.duckdb\n")
    (tmp_path / "roster.csv").write_text("id,name\n")
    r = run_cli("demo", "--out", str(tmp_path))
    assert r.returncode == 2, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and "not a previous demo output" in r.stderr
    assert (tmp_path / "residual.yaml").read_text() == "inventory: mine.duckdb\n"  # untouched
    assert sorted(p.name for p in tmp_path.iterdir()) == ["residual.yaml", "roster.csv"]


def test_out_accepts_a_previous_demo_output_and_keeps_its_history(tmp_path):
    """The marker makes a second run legal; without --reset the inventory keeps the first
    scan, so `diff` has something to compare."""
    from scanner.core.store import Inventory

    first = run_cli("demo", "-q", "--out", str(tmp_path))
    assert first.returncode == 0, first.stderr
    assert (tmp_path / ".residual-demo").exists()
    second = run_cli("demo", "-q", "--out", str(tmp_path))
    assert second.returncode == 0, second.stderr
    with Inventory(tmp_path / "residual.duckdb", read_only=True) as inv:
        assert len(inv.query("SELECT scan_id FROM scans")) == 2
    d = run_cli("diff", "-c", str(tmp_path / "residual.yaml"), "--format", "json")
    assert d.returncode in (0, 1), d.stderr
    third = run_cli("demo", "-q", "--reset", "--out", str(tmp_path))
    assert third.returncode == 0, third.stderr
    with Inventory(tmp_path / "residual.duckdb", read_only=True) as inv:
        assert len(inv.query("SELECT scan_id FROM scans")) == 1
