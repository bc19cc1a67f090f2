"""End to end: `residual scan` with an iac-only config on a real git repository."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from tests.conftest import run_cli, write_config

ROSTER = [
    "alice@example.com,Alice,alice@example.com,human,terminated,2026-11-01,,aws:alice;github:alice-gh",
    "bob@example.com,Bob,bob@example.com,human,active,,,aws:bob;github:bob-gh",
    "carol@example.com,Carol,carol@example.com,human,terminated,2026-10-15,,aws:carol;github:carol-gh",
]


def git(cwd: Path, *args: str) -> None:
    env = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t.invalid", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@t.invalid", "HOME": str(cwd), "PATH": "/usr/bin:/bin:/usr/local/bin"}
    subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True)


def test_scan_iac_only(tmp_path):
    infra = tmp_path / "infra"
    (infra / ".github").mkdir(parents=True)
    (infra / "users.tf").write_text(
        'resource "aws_iam_user" "alice" {\n  name = "alice"\n}\n\n'
        'resource "aws_iam_user" "bob" {\n  name = "bob"\n}\n')
    (infra / ".github" / "CODEOWNERS").write_text("/infra/ @alice-gh @bob-gh\n")
    git(infra, "init", "-q", "-b", "main")
    (infra / ".env").write_text("DB_PASSWORD=Zq8vN3xT7pL2wK9m\n")  # fake
    git(infra, "add", "-A")
    git(infra, "commit", "-q", "-m", "one")
    (infra / ".env").unlink()
    git(infra, "add", "-A")
    git(infra, "commit", "-q", "-m", "two")
    cfg = write_config(tmp_path, {"collectors": {"iac": [{"path": "infra", "history": True}]}}, ROSTER)
    scan = run_cli("scan", "-c", str(cfg))
    assert scan.returncode == 1, scan.stderr
    rep = run_cli("report", "-c", str(cfg), "--format", "json")
    data = json.loads(rep.stdout)
    got = {(f["rule"], f["identity"], f["location"]["path"], f["location"]["line"]) for f in data["findings"]}
    assert ("reference.recreates_leaver", "alice@example.com", "users.tf", 2) in got
    assert ("reference.leaver", "alice@example.com", ".github/CODEOWNERS", 1) in got
    assert ("exposure.history_unverified", None, ".env", 1) in got
    assert not any(i == "bob@example.com" for _r, i, _p, _l in got)
    verdicts = {i["id"]: i["verdict"] for i in data["identities"]}
    assert verdicts["alice@example.com"] == "residual" and verdicts["carol@example.com"] == "clean"
    iac = next(c for c in data["coverage"] if c["collector"] == "iac")
    assert iac["status"] == "ok"
    assert "Zq8vN3xT7pL2wK9m" not in rep.stdout + scan.stdout + scan.stderr
    assert b"Zq8vN3xT7pL2wK9m" not in (tmp_path / "residual.duckdb").read_bytes()
