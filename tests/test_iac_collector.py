"""The iac collector on real files and real git repositories built in tmp dirs."""

from __future__ import annotations

import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest

from collectors.base import CollectorContext
from collectors.iac import analyzer as analyzer_mod
from collectors.iac.collector import IacCollector
from scanner.core.model import Coverage, Exposure, Reference
from scanner.core.secrets import Fingerprinter
from scanner.core.store import Inventory, Sink

FAKE_AWS_ID = "AKIAQYLPMN5HHHFPZAM2"  # fake
ENV_SECRET = "DB_PASSWORD=Zq8vN3xT7pL2wK9m\n"  # fake


def git(cwd: Path, *args: str) -> str:
    env = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t.invalid", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@t.invalid", "HOME": str(cwd), "PATH": "/usr/bin:/bin:/usr/local/bin"}
    return subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True,
                           text=True).stdout


def make_repo(root: Path) -> tuple[Path, str]:
    """A repo whose .env was committed, then deleted: the secret lives only in history."""
    repo = root / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    (repo / ".env").write_text("# local\n" + ENV_SECRET)
    (repo / "main.tf").write_text('resource "aws_iam_user" "a" {\n  name = "alice"\n}\n')
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "add env")
    first = git(repo, "rev-parse", "HEAD").strip()
    (repo / ".env").unlink()
    (repo / "provider.tf").write_text(f'provider "aws" {{\n  access_key = "{FAKE_AWS_ID}"\n}}\n')
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "remove env")
    return repo, first


def run(tmp: Path, config: dict, cache: Path | None = None):
    inv = Inventory(":memory:")
    scan = inv.begin_scan("test")
    sink = Sink(inv, scan)
    ctx = CollectorContext(fingerprinter=Fingerprinter(b"test-key-" * 4),
                           cache_dir=cache or tmp / "cache", now=datetime.now(UTC), base_dir=tmp)
    c = IacCollector({"history": False, "repos": [], "include": [], "exclude": [],
                      "max_file_bytes": 2_000_000, "workers": 2, "verify_live": False, **config}, ctx)
    c.collect(sink)
    sink.flush()
    return inv.load(Exposure, scan), inv.load(Reference, scan), inv.load(Coverage, scan)


def test_history_blob_scanned_once_with_first_commit_and_in_head(tmp_path):
    repo, first = make_repo(tmp_path)
    exposures, refs, cov = run(tmp_path, {"path": str(repo), "history": True})
    env = [e for e in exposures if e.location == ".env"]
    assert len(env) == 1 and env[0].line == 2
    assert env[0].commit == first and env[0].in_head is False
    aws = [e for e in exposures if e.location == "provider.tf"]
    assert aws[0].in_head is True and aws[0].line == 2 and aws[0].identifier == FAKE_AWS_ID
    assert any(r.location == "main.tf" and r.matched == "alice" and r.line == 2 and r.in_head for r in refs)
    assert cov[0].status == "ok" and cov[0].attributes["blobs"] == 3


def test_head_only_directory_scan(tmp_path):
    repo, _ = make_repo(tmp_path)
    exposures, _refs, _cov = run(tmp_path, {"path": str(repo)})
    assert {e.location for e in exposures} == {"provider.tf"}  # .env is only in history


def test_walker_skips_vendor_lock_binary_and_large(tmp_path):
    Q = 'db_password = "Zq8vN3xT7pL2wK9m"\n'  # fake; a secret in every file type
    root = tmp_path / "tree"
    for rel, data in {"node_modules/x/a.env": Q, "yarn.lock": Q,
                      "img.png": Q, "blob.dat": "\x00" + Q,
                      "big.env": Q + "#" * 5000, "ok/.env": Q}.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(data)
    exposures, _refs, cov = run(tmp_path, {"path": str(root), "max_file_bytes": 4000})
    assert {e.location for e in exposures} == {"ok/.env"}
    assert cov[0].attributes["skipped"] == {"vendored": 1, "lock file": 1, "binary": 2, "too large": 1}
    # include re-admits a default skip; exclude removes
    exposures, _, _ = run(tmp_path, {"path": str(root), "include": ["yarn.lock", "ok/*"],
                                     "exclude": ["ok/*"]})
    assert {e.location for e in exposures} == {"yarn.lock"}


def test_parse_failure_counted_in_coverage(tmp_path):
    root = tmp_path / "t"
    root.mkdir()
    (root / "bad.tf").write_text('resource "aws_iam_user" "y" {\n  password = "Zq8vN3xT7pL2wK9mQ"\n')
    exposures, _refs, cov = run(tmp_path, {"path": str(root)})
    assert cov[0].status == "ok" and cov[0].attributes["parse_errors"] == 1
    assert cov[0].attributes["parse_error_files"][0]["path"] == "bad.tf"
    assert [(e.location, e.line) for e in exposures] == [("bad.tf", 2)]


def test_missing_path_is_a_failed_target(tmp_path):
    _e, _r, cov = run(tmp_path, {"path": str(tmp_path / "nope")})
    assert cov[0].status == "failed" and "no such file" in cov[0].error


def test_cache_never_rescans_unchanged_files(tmp_path, monkeypatch):
    root = tmp_path / "t"
    root.mkdir()
    (root / "a.env").write_text(ENV_SECRET)
    (root / "b.env").write_text("TOKEN=" + "Q" * 3 + "zq8vN3xT7pL2wK9m\n")
    first = run(tmp_path, {"path": str(root)})
    assert first[2][0].attributes["analysed"] == 2
    calls = []
    real = analyzer_mod.analyze
    monkeypatch.setattr(analyzer_mod, "analyze", lambda *a: calls.append(a[0]) or real(*a))
    (root / "b.env").write_text("TOKEN=changed-Zq8vN3xT7pL2wK9m\n")
    second = run(tmp_path, {"path": str(root)})
    assert calls == ["b.env"]
    assert second[2][0].attributes["cached"] == 1
    assert {(e.location, e.fingerprint) for e in second[0] if e.location == "a.env"} == \
        {(e.location, e.fingerprint) for e in first[0] if e.location == "a.env"}


def test_parallel_workers_same_results_as_one(tmp_path, monkeypatch):
    root = tmp_path / "t"
    root.mkdir()
    for i in range(12):
        (root / f"f{i}.env").write_text(("# filler line\n" * 3000) + ENV_SECRET)
    monkeypatch.setattr(analyzer_mod, "PARALLEL_MIN_BYTES", 1)
    monkeypatch.setattr(analyzer_mod, "BATCH_BYTES", 1)
    two = run(tmp_path, {"path": str(root), "workers": 2}, cache=tmp_path / "c2")
    one = run(tmp_path, {"path": str(root), "workers": 1}, cache=tmp_path / "c1")
    key = lambda rows: sorted((e.location, e.line, e.fingerprint) for e in rows)  # noqa: E731
    assert key(two[0]) == key(one[0]) and len(two[0]) == 12


def test_remote_repo_cloned_then_fetched_incrementally_read_only(tmp_path):
    repo, first = make_repo(tmp_path)
    bare = tmp_path / "remote.git"
    (tmp_path / "empty").mkdir()
    git(tmp_path, "clone", "-q", "--bare", str(repo), str(bare))
    before = git(bare, "for-each-ref")
    url = f"file://{bare}"
    exposures, _r, cov = run(tmp_path, {"path": str(tmp_path / "empty"), "repos": [url], "history": True})
    row = next(c for c in cov if c.target == url)
    assert row.status == "ok" and row.attributes["sync"] == "cloned" and row.api_calls >= 2
    assert any(e.location == "remote:.env" and e.in_head is False and e.commit == first
               for e in exposures)
    # a new commit upstream: the rescan fetches, and only the new blob is analysed
    (repo / "later.env").write_text("API_TOKEN=Zq8vN3xT7pL2wK9mNEW\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "later")
    git(repo, "push", "-q", str(bare), "main")
    before = git(bare, "for-each-ref")
    exposures, _r, cov = run(tmp_path, {"path": str(tmp_path / "empty"), "repos": [url], "history": True})
    row = next(c for c in cov if c.target == url)
    assert row.attributes["sync"] == "fetched" and row.attributes["analysed"] == 1
    assert any(e.location == "remote:later.env" for e in exposures)
    assert git(bare, "for-each-ref") == before  # the remote was only read
    assert git(repo, "status", "--porcelain") == ""


def test_history_includes_blobs_made_in_a_merge(tmp_path):
    repo, _ = make_repo(tmp_path)
    git(repo, "checkout", "-q", "-b", "side")
    (repo / "x.env").write_text("A=1\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "side")
    git(repo, "checkout", "-q", "main")
    (repo / "x.env").write_text("A=2\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "main")
    with pytest.raises(subprocess.CalledProcessError):
        git(repo, "merge", "-q", "side")  # add/add conflict, resolved below
    (repo / "x.env").write_text("DB_PASSWORD=Mq8vN3xT7pL2wK9merge\n")  # fake, only in the merge
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "merge")
    merge = git(repo, "rev-parse", "HEAD").strip()
    assert len(git(repo, "log", "-1", "--format=%P").split()) == 2  # a real merge commit
    (repo / "x.env").write_text("A=3\n")  # the merge's blob leaves HEAD
    git(repo, "commit", "-q", "-am", "after")
    exposures, _r, _c = run(tmp_path, {"path": str(repo), "history": True})
    assert any(e.location == "x.env" and e.commit == merge and e.in_head is False for e in exposures)


def test_history_of_a_subdirectory_only(tmp_path):
    repo, _ = make_repo(tmp_path)
    (repo / "infra").mkdir()
    (repo / "infra" / "old.env").write_text("API_TOKEN=Zq8vN3xT7pL2wK9mSUB\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "infra")
    (repo / "infra" / "old.env").unlink()
    (repo / "infra" / "keep.tf").write_text('resource "aws_iam_user" "b" {\n  name = "bob"\n}\n')
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "infra 2")
    exposures, refs, _c = run(tmp_path, {"path": str(repo / "infra"), "history": True})
    assert {(e.location, e.in_head) for e in exposures} == {("old.env", False)}
    assert {r.location for r in refs} == {"keep.tf"}
