"""Incremental rescans of IaC, end to end through the real CLI: an unchanged tree (its
content hash) or repository (HEAD and every ref) is neither analysed nor loaded again,
its records are copied from the previous scan; a change is read; a failed previous read
is never reused."""

from __future__ import annotations

import subprocess
from pathlib import Path

from scanner.core.model import Coverage, Exposure, Finding, Reference
from scanner.core.store import TABLES, Inventory
from tests.conftest import run_cli, write_config

ROSTER = [
    "alice@example.com,Alice,alice@example.com,human,terminated,2026-11-01,,aws:alice;github:alice-gh",
    "bob@example.com,Bob,bob@example.com,human,active,,,aws:bob;github:bob-gh",
]
FAKE_SECRET = "Zq8vN3xT7pL2wK9mINCR"  # fake, high entropy
LATER_SECRET = "Pw4rT9yU2iO7pA3sLATER"  # fake


def git(cwd: Path, *args: str) -> str:
    env = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t.invalid", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@t.invalid", "HOME": str(cwd), "PATH": "/usr/bin:/bin:/usr/local/bin"}
    return subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True,
                          text=True).stdout


def plant(root: Path) -> None:
    (root / "k8s").mkdir(parents=True)
    (root / "users.tf").write_text('resource "aws_iam_user" "alice" {\n  name = "alice"\n}\n')
    (root / "CODEOWNERS").write_text("/infra/ @alice-gh @bob-gh\n")
    (root / ".env").write_text(f"DB_PASSWORD={FAKE_SECRET}\n")


def scan(cfg: Path) -> None:
    r = run_cli("scan", "-c", str(cfg))
    assert r.returncode in (0, 1), r.stdout + r.stderr


def iac_rows(cfg: Path) -> tuple[list[str], dict[str, list[Coverage]], Inventory]:
    inv = Inventory(cfg.parent / "residual.duckdb", read_only=True)
    ids = [s["id"] for s in inv.scans()]
    return ids, {i: [c for c in inv.coverage(i) if c.collector == "iac"] for i in ids}, inv


def records(inv: Inventory, scan_id: str) -> list[tuple]:
    refs = sorted((r.location, r.line, r.matched) for r in inv.load(Reference, scan_id))
    exps = sorted((e.location, e.line, e.fingerprint, e.commit or "") for e in inv.load(Exposure, scan_id))
    return [refs, exps]


def findings(inv: Inventory, scan_id: str) -> list[tuple[str, str]]:
    return sorted((f.rule, f.fingerprint) for f in inv.load(Finding, scan_id))


def test_unchanged_tree_is_copied_a_modified_file_is_read(tmp_path):
    plant(tmp_path / "infra")
    cfg = write_config(tmp_path, {"collectors": {"iac": [{"path": "infra"}]}}, ROSTER)
    scan(cfg)
    # without its content cache the analyzer would have to parse every file again:
    # the copy must not need it
    cached = list((tmp_path / "residual.duckdb.cache").glob("iac-results.sqlite*"))
    assert cached
    for f in cached:
        f.unlink()
    scan(cfg)
    ids, rows, inv = iac_rows(cfg)
    with inv:
        (one,), (two,) = rows[ids[0]], rows[ids[1]]
        assert one.status == two.status == "ok"
        assert two.attributes["reused_from"] == ids[0]
        assert two.attributes["change_token"] == one.attributes["change_token"]
        assert one.attributes["analysed"] + one.attributes["cached"] == 3
        assert "analysed" not in two.attributes  # nothing handed to the analyzer
        assert two.records == one.records > 0
        assert records(inv, ids[1]) == records(inv, ids[0])
        assert findings(inv, ids[1]) == findings(inv, ids[0])
        assert {r for r, _ in findings(inv, ids[1])} >= {"reference.recreates_leaver", "reference.leaver"}
        for cls in TABLES:  # nothing else of the scan changed in size
            if cls.__name__ not in ("Coverage",):
                assert inv.count(cls, ids[1]) == inv.count(cls, ids[0]), cls.__name__

    # a modified file: a second secret. The tree is read again and the change is seen.
    (tmp_path / "infra" / ".env").write_text(f"DB_PASSWORD={FAKE_SECRET}\nAPI_TOKEN={LATER_SECRET}\n")
    scan(cfg)
    ids, rows, inv = iac_rows(cfg)
    with inv:
        (three,) = rows[ids[2]]
        assert three.status == "ok" and "reused_from" not in three.attributes
        assert three.attributes["change_token"] != two.attributes["change_token"]
        assert len(inv.load(Exposure, ids[2])) == len(inv.load(Exposure, ids[1])) + 1
    for path in (tmp_path / "residual.duckdb",):
        assert FAKE_SECRET.encode() not in path.read_bytes() and LATER_SECRET.encode() not in path.read_bytes()


def test_unchanged_repository_history_is_copied_with_fewer_git_calls(tmp_path):
    repo = tmp_path / "infra"
    plant(repo)
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "one")
    (repo / ".env").unlink()
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "two: the secret is gone, not from history")
    cfg = write_config(tmp_path, {"collectors": {"iac": [{"path": "infra", "history": True}]}}, ROSTER)
    scan(cfg)
    scan(cfg)
    ids, rows, inv = iac_rows(cfg)
    with inv:
        (one,), (two,) = rows[ids[0]], rows[ids[1]]
        assert two.attributes["reused_from"] == ids[0] and "blobs" not in two.attributes
        assert two.api_calls < one.api_calls  # git log / cat-file of the history not run
        assert records(inv, ids[1]) == records(inv, ids[0])
        assert findings(inv, ids[1]) == findings(inv, ids[0])
        assert any(r == "exposure.history_unverified" for r, _ in findings(inv, ids[1]))

    # a new commit on another branch: the refs changed, the history is read again
    git(repo, "checkout", "-q", "-b", "feature")
    (repo / "later.env").write_text(f"API_TOKEN={LATER_SECRET}\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "three")
    git(repo, "checkout", "-q", "main")
    scan(cfg)
    ids, rows, inv = iac_rows(cfg)
    with inv:
        (three,) = rows[ids[2]]
        assert "reused_from" not in three.attributes and three.attributes["blobs"] > 0
        assert "later.env" in {e.location for e in inv.load(Exposure, ids[2])}


def test_a_failed_previous_read_is_not_reused(tmp_path):
    """The first scan cannot read the path (it is missing): failed. Once it is there the
    next scan reads it all, and finds the secret a copy of the failed scan would lack."""
    cfg = write_config(tmp_path, {"collectors": {"iac": [{"path": "infra"}]}}, ROSTER)
    r = run_cli("scan", "-c", str(cfg))
    assert r.returncode == 3, r.stdout + r.stderr  # incomplete, never clean
    plant(tmp_path / "infra")
    scan(cfg)
    ids, rows, inv = iac_rows(cfg)
    with inv:
        (one,), (two,) = rows[ids[0]], rows[ids[1]]
        assert one.status == "failed" and two.status == "ok"
        assert "reused_from" not in two.attributes and two.attributes["analysed"] + two.attributes["cached"] == 3
        assert [e.location for e in inv.load(Exposure, ids[1])] == [".env"]
