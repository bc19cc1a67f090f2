"""One exit-code contract for every command (issue 17), through the real CLI:
0 clean, 1 residual, 2 usage/config/output error, 3 incomplete, 130 interrupted; the
config found the same way wherever -c is given (after the command, before it, or in
$RESIDUAL_CONFIG)."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import threading
import time

import pytest

from tests.conftest import NOW, ROOT, run_cli, write_config

ROSTER = (ROOT / "fixtures" / "demo" / "roster.csv").read_text().splitlines()[1:]


@pytest.fixture
def iac_scan(tmp_path):
    tree = tmp_path / "infra"
    tree.mkdir()
    (tree / "main.tf").write_text('resource "aws_iam_user" "a" {\n  name = "alice"\n}\n')
    cfg = write_config(tmp_path, {"collectors": {"iac": [{"path": str(tree)}]}}, ROSTER)
    r = run_cli("scan", "-q", "-c", str(cfg))
    assert r.returncode in (0, 1), r.stderr
    return cfg


def test_config_before_the_command_and_from_the_environment(iac_scan, tmp_path):
    after = run_cli("report", "-c", str(iac_scan), "--format", "json")
    before = run_cli("-c", str(iac_scan), "report", "--format", "json")
    env = run_cli("report", "--format", "json", env={"RESIDUAL_CONFIG": str(iac_scan)},
                  cwd=tmp_path.parent)
    assert after.returncode == before.returncode == env.returncode == 0, before.stderr + env.stderr
    assert '"findings"' in before.stdout and before.stdout == after.stdout == env.stdout
    # the command's own -c wins over the environment
    other = run_cli("report", "-c", str(tmp_path / "nope.yaml"), "--format", "json",
                    env={"RESIDUAL_CONFIG": str(iac_scan)})
    assert other.returncode == 2 and "nope.yaml" in other.stderr


@pytest.mark.parametrize("where", ["dir", "under_a_file"])
def test_an_output_path_that_cannot_be_written_is_one_line_and_exit_2(iac_scan, tmp_path, where):
    target = tmp_path if where == "dir" else tmp_path / "residual.yaml" / "report.json"
    r = run_cli("report", "-c", str(iac_scan), "--format", "json", "-o", str(target))
    assert r.returncode == 2, r.stderr
    assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert r.stderr.startswith("residual: error: ")


def test_ctrl_c_is_exit_130_and_the_scan_is_marked_interrupted(tmp_path):
    """A GitHub that accepts the connection and never answers keeps the scan busy; SIGINT
    must end it with 130 (not click's 'Aborted!' and 1, which reads as 'residual found')."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(8)
    held: list[socket.socket] = []
    threading.Thread(target=lambda: [held.append(srv.accept()[0]) for _ in range(8)],
                     daemon=True).start()
    url = f"http://127.0.0.1:{srv.getsockname()[1]}"
    cfg = write_config(tmp_path, {"collectors": {"github": [{"org": "acme", "token": "t",
                                                             "base_url": url}]},
                                  "network": {"timeout_s": 60, "max_retries": 0}}, ROSTER)
    p = subprocess.Popen([sys.executable, "-m", "scanner.cli", "scan", "-q", "-c", str(cfg)],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         env={**__import__("os").environ, "RESIDUAL_NOW": NOW.isoformat()})
    deadline = time.monotonic() + 120
    while not held and time.monotonic() < deadline:  # the scan is waiting on GitHub
        time.sleep(0.2)
    assert held, "the scan never reached the server"
    p.send_signal(signal.SIGINT)
    _, err = p.communicate(timeout=120)
    srv.close()
    assert p.returncode == 130, err
    assert "Aborted" not in err and "Traceback" not in err
    import duckdb
    con = duckdb.connect(str(tmp_path / "residual.duckdb"), read_only=True)
    assert con.execute("SELECT status FROM scans").fetchall() == [("interrupted",)]


def test_help_states_the_contract():
    r = run_cli("--help")
    assert r.returncode == 0 and "130 interrupted" in r.stdout and "2 usage" in r.stdout
