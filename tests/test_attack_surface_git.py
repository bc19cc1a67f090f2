"""Attack surface: hostile git repositories and listings, through `residual scan` (issue 15).

A repository residual scans is content its users do not control: its ``.git/config``
(or an ``include.path`` it names) can name programs git runs; a ``.git`` *file* can send
the history scan to any other repository on the host; a code host's listing can hand back
a ``file://`` or another host's clone URL. Each planted program here would create a
marker file; each test also proves the scan did read what it should (the planted secret
in history), so "no marker" is not "nothing ran at all". On the code before issue 15,
showSignature (also through include.path), the global config, the credential helper, the
``.git`` file and the listing's ``file://`` URL all ran or read what they named; the other
keys are not reached by any git command residual runs today, and are pinned so that a
future command does not reach them either.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from fixtures.httpfake import FakeServer, Request, Response
from scanner.core.model import Coverage, Exposure
from scanner.core.store import Inventory
from tests.conftest import run_cli, write_config

SECRET = "DB_PASSWORD=Zq8vN3xT7pL2wK9mHOSTILE\n"  # fake
OTHER_SECRET = "API_TOKEN=Zq8vN3xT7pL2wK9mELSEWHERE\n"  # fake


def git(cwd: Path, *args: str, stdin: str | None = None) -> str:
    env = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t.invalid", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@t.invalid", "HOME": str(cwd), "PATH": "/usr/bin:/bin",
           "GIT_CONFIG_NOSYSTEM": "1"}
    return subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True,
                          text=True, input=stdin).stdout


def repo_with_secret_in_history(root: Path, secret: str = SECRET) -> Path:
    """A repository whose history (not HEAD) holds a secret, with a signed-looking commit
    (a ``gpgsig`` header: ``log --show-signature`` hands it to ``gpg.program``)."""
    root.mkdir(parents=True)
    git(root, "init", "-q", "-b", "main")
    (root / ".env").write_text("# local\n" + secret)
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "one")
    (root / ".env").unlink()
    (root / "main.tf").write_text('resource "aws_s3_bucket" "b" {\n  bucket = "b"\n}\n')
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "two")
    tree = git(root, "rev-parse", "HEAD^{tree}").strip()
    head = git(root, "rev-parse", "HEAD").strip()
    signed = (f"tree {tree}\nparent {head}\nauthor t <t@t.invalid> 1700000000 +0000\n"
              "committer t <t@t.invalid> 1700000000 +0000\n"
              "gpgsig -----BEGIN PGP SIGNATURE-----\n \n iQEzBAABCAAdFiEE\n -----END PGP SIGNATURE-----\n"
              "\nsigned\n")
    oid = git(root, "hash-object", "-t", "commit", "-w", "--stdin", stdin=signed).strip()
    git(root, "update-ref", "refs/heads/main", oid)
    return root


def evil(tmp: Path) -> tuple[Path, Path]:
    """A program that leaves a marker when anything runs it."""
    marker = tmp / "PWNED"
    prog = tmp / "evil.sh"
    prog.write_text(f"#!/bin/sh\necho \"$0 $*\" >> {marker}\ncat >/dev/null 2>&1 </dev/null\nexit 0\n")
    prog.chmod(0o755)
    return prog, marker


def scan_path(tmp: Path, path: Path, home: Path | None = None) -> tuple[subprocess.CompletedProcess, list, dict]:
    cfg = write_config(tmp, {"collectors": {"iac": [{"path": str(path), "history": True}]}})
    env = {"HOME": str(home)} if home else {}
    res = run_cli("scan", "-c", str(cfg), env=env)
    inv = Inventory(tmp / "residual.duckdb", read_only=True)
    sid = inv.latest_scan_id()
    exposures = inv.load(Exposure, sid)
    cov = {c.target: c for c in inv.load(Coverage, sid) if c.collector == "iac"}
    inv.close()
    return res, exposures, cov


def hostile_config(prog: Path, hooks: Path) -> dict[str, str]:
    return {
        "showSignature": f"[log]\n\tshowSignature = true\n[gpg]\n\tprogram = {prog}\n",
        "ssh-signature": f"[log]\n\tshowSignature = true\n[gpg]\n\tformat = ssh\n[gpg \"ssh\"]\n\tprogram = {prog}\n",
        "fsmonitor": f"[core]\n\tfsmonitor = {prog}\n",
        "pager": f"[core]\n\tpager = {prog}\n[pager]\n\tlog = {prog}\n",
        "diff.external": f"[diff]\n\texternal = {prog}\n",
        "textconv": f"[diff \"x\"]\n\ttextconv = {prog}\n",
        "hooksPath": f"[core]\n\thooksPath = {hooks}\n",
        "alternateRefsCommand": f"[core]\n\talternateRefsCommand = {prog}\n",
        "credential.helper": f"[credential]\n\thelper = !{prog}\n",
        "sshCommand": f"[core]\n\tsshCommand = {prog}\n",
    }


@pytest.mark.parametrize("key", ["showSignature", "ssh-signature", "fsmonitor", "pager", "diff.external",
                                 "textconv", "hooksPath", "alternateRefsCommand", "credential.helper",
                                 "sshCommand", "include.path"])
def test_hostile_repository_config_runs_nothing(tmp_path, key):
    prog, marker = evil(tmp_path)
    hooks = tmp_path / "hooks"
    hooks.mkdir()
    for hook in ("reference-transaction", "post-checkout", "post-merge", "pre-auto-gc", "post-index-change"):
        (hooks / hook).symlink_to(prog)
    repo = repo_with_secret_in_history(tmp_path / "repo")
    (repo / ".gitattributes").write_text("* diff=x\n")
    snippets = hostile_config(prog, hooks)
    if key == "include.path":  # the repository's config pulls another file in
        (tmp_path / "inc.cfg").write_text(snippets["showSignature"])
        extra = f"[include]\n\tpath = {tmp_path / 'inc.cfg'}\n"
    else:
        extra = snippets[key]
    with open(repo / ".git" / "config", "a") as f:
        f.write(extra)
    res, exposures, cov = scan_path(tmp_path, repo)
    assert not marker.exists(), marker.read_text()
    assert cov[str(repo)].status == "ok", res.stderr
    assert any(e.location == ".env" and e.in_head is False for e in exposures)  # history was read


def test_hostile_global_and_system_style_config_is_ignored(tmp_path):
    """~/.gitconfig (and XDG's) of the account running residual: not the scanned repo's,
    but not residual's to follow either (a shared CI runner's HOME)."""
    prog, marker = evil(tmp_path)
    home = tmp_path / "home"
    (home / ".config" / "git").mkdir(parents=True)
    hostile = hostile_config(prog, tmp_path)["showSignature"]
    (home / ".gitconfig").write_text(hostile)
    (home / ".config" / "git" / "config").write_text(hostile)
    repo = repo_with_secret_in_history(tmp_path / "repo")
    res, exposures, cov = scan_path(tmp_path, repo, home=home)
    assert not marker.exists(), marker.read_text()
    assert any(e.location == ".env" for e in exposures), res.stderr


class Refuses(FakeServer):
    """An HTTP git server that wants credentials: git would ask a credential helper."""

    def authorize(self, req: Request) -> Response | None:
        return Response(401, b"", {"WWW-Authenticate": 'Basic realm="git"'})


def test_clone_never_asks_a_credential_helper(tmp_path):
    prog, marker = evil(tmp_path)
    home = tmp_path / "home"
    home.mkdir()
    (home / ".gitconfig").write_text(f"[credential]\n\thelper = !{prog}\n")
    with Refuses() as srv:
        cfg = write_config(tmp_path, {"collectors": {"iac": [{"repos": [f"{srv.url}/acme/x.git"]}]}})
        res = run_cli("scan", "-c", str(cfg), env={"HOME": str(home)})
    assert not marker.exists(), marker.read_text()
    assert res.returncode == 3, res.stderr  # the repository could not be read: incomplete, not clean


def test_git_file_pointing_outside_the_configured_path_is_refused(tmp_path):
    other = repo_with_secret_in_history(tmp_path / "elsewhere", OTHER_SECRET)
    tree = tmp_path / "scanned"
    tree.mkdir()
    (tree / "main.tf").write_text('resource "aws_s3_bucket" "b" {\n  bucket = "b"\n}\n')
    (tree / ".git").write_text(f"gitdir: {other / '.git'}\n")
    res, exposures, cov = scan_path(tmp_path, tree)
    assert not [e for e in exposures if "ELSEWHERE" in (e.hint or "") or e.location == ".env"]
    row = cov[str(tree)]
    assert row.status == "partial" and "outside the configured path" in row.error  # never clean
    assert row.records > 0 or cov  # the tree's own files were read
    db = (tmp_path / "residual.duckdb").read_bytes()
    assert b"Zq8vN3xT7pL2wK9mELSEWHERE" not in db


def test_alternates_naming_another_repository_on_the_host_are_refused(tmp_path):
    """``objects/info/alternates`` plus a ref to a commit of the other store would put
    another repository's history (its secrets) into this scan's findings."""
    other = repo_with_secret_in_history(tmp_path / "elsewhere", OTHER_SECRET)
    stolen = git(other, "rev-list", "--all").split()[-1]  # the commit that added the secret
    tree = tmp_path / "scanned"
    tree.mkdir()
    git(tree, "init", "-q", "-b", "main")
    (tree / "main.tf").write_text('resource "aws_s3_bucket" "b" {\n  bucket = "b"\n}\n')
    git(tree, "add", "-A")
    git(tree, "commit", "-q", "-m", "tf")
    (tree / ".git" / "objects" / "info" / "alternates").write_text(f"{other / '.git' / 'objects'}\n")
    git(tree, "update-ref", "refs/heads/stolen", stolen)  # git finds it through the alternate store
    res, exposures, cov = scan_path(tmp_path, tree)
    assert not [e for e in exposures if "ELSEWHERE" in (e.hint or "")]
    row = cov[str(tree)]
    assert row.status == "partial" and "alternates" in row.error  # never clean
    assert b"Zq8vN3xT7pL2wK9mELSEWHERE" not in (tmp_path / "residual.duckdb").read_bytes()


def test_alternates_inside_the_configured_path_are_read(tmp_path):
    """The near miss: an object store inside the configured path (a vendored mirror)."""
    tree = repo_with_secret_in_history(tmp_path / "scanned")
    inner = repo_with_secret_in_history(tree / "vendor" / "mirror", OTHER_SECRET)
    (tree / ".git" / "objects" / "info" / "alternates").write_text(f"{inner / '.git' / 'objects'}\n")
    _res, _exposures, cov = scan_path(tmp_path, tree)
    assert "alternates" not in (cov[str(tree)].error or "")


def test_monorepo_subdirectory_still_reads_its_history(tmp_path):
    """The allowed case: the configured path is a directory of a repository whose .git is
    a real directory above it."""
    repo = repo_with_secret_in_history(tmp_path / "mono")
    (repo / "infra").mkdir()
    (repo / "infra" / "app.env").write_text(SECRET)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "infra")
    _res, exposures, cov = scan_path(tmp_path, repo / "infra")
    assert cov[str(repo / "infra")].status == "ok"
    assert {e.location for e in exposures} == {"app.env"}


def test_listing_with_file_or_foreign_clone_urls_is_refused(tmp_path):
    from fixtures.fake_github import DEMO_TOKEN, FakeGitHub

    local = repo_with_secret_in_history(tmp_path / "local", OTHER_SECRET)
    bare = tmp_path / "local.git"
    git(tmp_path, "clone", "-q", "--bare", str(local), str(bare))
    fake = FakeGitHub("acme")
    fake.add_repo("a", clone_url=f"file://{bare}")
    fake.add_repo("b", clone_url=str(bare))
    fake.add_repo("c", clone_url="https://elsewhere.invalid/acme/c.git")
    with fake:
        cfg = write_config(tmp_path, {"collectors": {"iac": [{
            "github_org": "acme", "github_base_url": fake.url, "github_token": DEMO_TOKEN, "history": True}]}})
        res = run_cli("scan", "-c", str(cfg))
    assert res.returncode == 3, res.stderr  # the listing is partial: incomplete, never clean
    assert not (tmp_path / ".residual-cache" / "iac-repos").exists() or \
        not list((tmp_path / ".residual-cache" / "iac-repos").iterdir())
    inv = Inventory(tmp_path / "residual.duckdb", read_only=True)
    sid = inv.latest_scan_id()
    cov = {c.target: c for c in inv.load(Coverage, sid) if c.collector == "iac"}
    assert set(cov) == {"github:acme"} and "2 clone URLs" in cov["github:acme"].error  # 1 more malformed
    assert not inv.load(Exposure, sid)
    inv.close()
