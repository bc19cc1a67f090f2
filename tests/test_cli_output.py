"""Terminal output a newcomer can read (issue 17), through the real CLI: results on
stdout and nothing else there, logs and why a collector failed on stderr (also under
-q), no identity, rule id or verdict cut at 80 or 200 columns or when piped, and
``--format json|tsv`` on the listing commands."""

from __future__ import annotations

import json

import pytest

from tests.conftest import ROOT, run_cli, write_config

ROSTER = (ROOT / "fixtures" / "demo" / "roster.csv").read_text().splitlines()[1:]
IDS = ["alice@example.com", "carol@example.com", "dave@example.com"]


@pytest.fixture
def estate(tmp_path):
    """IaC naming alice, and a GitHub that refuses connections (a failed target)."""
    tree = tmp_path / "infra"
    tree.mkdir()
    (tree / "main.tf").write_text('resource "aws_iam_user" "a" {\n  name = "alice"\n}\n')
    return write_config(tmp_path, {"network": {"timeout_s": 2, "max_retries": 0}, "collectors": {
        "iac": [{"path": str(tree)}],
        "github": [{"org": "acme", "token": "t", "base_url": "http://127.0.0.1:9"}]}}, ROSTER)


@pytest.mark.parametrize("columns", ["80", "200", ""])
def test_scan_results_on_stdout_uncut_and_failures_on_stderr(estate, columns):
    r = run_cli("scan", "-c", str(estate), env={"COLUMNS": columns} if columns else None)
    assert r.returncode == 1, r.stderr  # alice's verdict is residual
    for ident in IDS:
        assert ident in r.stdout.split(), (columns, r.stdout)  # whole, on a line of its own or a cell
    assert "…" not in r.stdout and "incomplete" in r.stdout and "residual" in r.stdout
    assert "verdicts" not in r.stderr and "┃" not in r.stderr  # no table on stderr
    assert "residual: failed: github:acme acme (code-hosting): " in r.stderr
    assert "ConnectionError" not in r.stdout  # errors are not table cells


def test_quiet_scan_still_says_why_a_target_failed(estate):
    r = run_cli("scan", "-q", "-c", str(estate))
    assert r.returncode == 1 and r.stdout == ""
    failed = [ln for ln in r.stderr.splitlines() if ln.startswith("residual: failed: ")]
    assert len(failed) == 2 and "github:acme acme (code-hosting)" in failed[0]


def test_iac_only_scan_of_a_residual_leaver_exits_1_like_verify(tmp_path):
    tree = tmp_path / "infra"
    tree.mkdir()
    (tree / "main.tf").write_text('resource "aws_iam_user" "a" {\n  name = "alice"\n}\n')
    cfg = write_config(tmp_path, {"policy": {"fail_on": "critical"},
                                  "collectors": {"iac": [{"path": str(tree)}]}}, ROSTER)
    scan = run_cli("scan", "-q", "-c", str(cfg))
    ver = run_cli("verify", "-q", "-c", str(cfg), "--scan", "latest", "alice@example.com")
    assert scan.returncode == ver.returncode == 1, scan.stderr + ver.stderr
    (tree / "main.tf").write_text('resource "aws_iam_user" "a" {\n  name = "bob"\n}\n')  # near-miss
    assert run_cli("scan", "-q", "-c", str(cfg)).returncode == 0


def test_verify_json_carries_the_residue_with_finding_ids(estate):
    assert run_cli("scan", "-q", "-c", str(estate)).returncode == 1
    r = run_cli("verify", "-c", str(estate), "--scan", "latest", "alice@example.com",
                "carol@example.com", "--format", "json")
    assert r.returncode == 1, r.stderr
    doc = json.loads(r.stdout)
    alice, carol = doc["alice@example.com"], doc["carol@example.com"]
    assert alice["verdict"] == "residual" and alice["residue"]
    assert all(len(f["id"]) >= 16 and f["rule"] for f in alice["residue"])
    assert carol["residue"] == []
    tsv = run_cli("verify", "-c", str(estate), "--scan", "latest", "alice@example.com",
                  "--format", "tsv")
    header, row = tsv.stdout.splitlines()
    assert header.split("\t")[:2] == ["identity", "verdict"]
    assert row.split("\t")[:2] == ["alice@example.com", "residual"]


@pytest.mark.parametrize("columns", ["80", "200"])
def test_rules_list_never_cuts_an_id(columns):
    from rules.base import all_rules

    r = run_cli("rules", "list", env={"COLUMNS": columns})
    assert r.returncode == 0, r.stderr
    words = set(r.stdout.split())
    assert all(rid in words for rid in all_rules()), [i for i in all_rules() if i not in words]
    tsv = run_cli("rules", "list", "--format", "tsv")
    assert {ln.split("\t")[0] for ln in tsv.stdout.splitlines()[1:]} == set(all_rules())


def test_diff_tsv_and_table_keep_whole_fingerprints(estate, tmp_path):
    assert run_cli("scan", "-q", "-c", str(estate)).returncode == 1
    (tmp_path / "infra" / "main.tf").write_text("# alice's user is gone\n")
    assert run_cli("scan", "-q", "-c", str(estate)).returncode == 3  # github still failed
    tsv = run_cli("diff", "-c", str(estate), "--format", "tsv")
    rows = [ln.split("\t") for ln in tsv.stdout.splitlines()]
    assert rows[0][0] == "kind" and any(r[0] == "resolved" and r[3] == "alice@example.com" for r in rows)
    fps = [r[-1] for r in rows[1:]]
    table = run_cli("diff", "-c", str(estate), env={"COLUMNS": "80"})
    assert all(fp in table.stdout.split() for fp in fps), table.stdout


def test_on_a_pseudo_terminal_log_lines_do_not_break_the_progress_bar(estate, tmp_path):
    """Under `script` (a pty: the bar is live), the collector's warning is a line of its
    own, never glued to the bar's text, and every identity is still whole at 80 columns."""
    import re
    import shlex
    import shutil
    import subprocess
    import sys

    if not shutil.which("script"):
        pytest.skip("util-linux `script` is not installed (no pseudo-terminal runner)")
    cmd = f"{shlex.quote(sys.executable)} -m scanner.cli scan -c {shlex.quote(str(estate))}"
    p = subprocess.run(["script", "-qec", cmd, "/dev/null"], capture_output=True, text=True,
                       timeout=300, cwd=ROOT, env={**__import__("os").environ, "COLUMNS": "80"})
    assert p.returncode == 1, p.stdout[-2000:]
    plain = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", p.stdout).replace("\r\n", "\n")
    lines = [ln.rsplit("\r", 1)[-1] for ln in plain.split("\n")]  # what the terminal shows
    warn = [ln for ln in lines if "WARNING residual.collectors" in ln]
    assert warn and all(ln.startswith("WARNING ") and "collecting" not in ln for ln in warn), warn
    assert all(ident in plain.split() for ident in IDS)


def test_rules_show_is_readable_text_and_json_on_request():
    from rules.base import all_rules

    rid = "account.active_after_termination"
    text = run_cli("rules", "show", rid)
    assert text.returncode == 0 and text.stdout.startswith(f"{rid}: ")
    assert "\n    " not in text.stdout and "{" not in text.stdout.splitlines()[0]
    doc = json.loads(run_cli("rules", "show", rid, "--format", "json").stdout)
    assert doc["id"] == rid and doc["title"] == all_rules()[rid].meta.title
    assert run_cli("rules", "show", "no.such.rule").returncode == 2


def test_plan_of_an_active_identity_warns_and_of_a_leaver_does_not(estate):
    assert run_cli("scan", "-q", "-c", str(estate)).returncode == 1
    bob = run_cli("plan", "-c", str(estate), "bob@example.com")
    assert bob.returncode == 0, bob.stderr
    assert "residual: warning: bob@example.com is active in the roster, not a leaver" in bob.stderr
    alice = run_cli("plan", "-c", str(estate), "alice@example.com")
    assert alice.returncode == 0 and "not a leaver" not in alice.stderr
