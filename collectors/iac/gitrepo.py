"""Git, through the ``git`` CLI (a subprocess per command, read-only on the scanned repo).

Why the CLI and not a library: it is on every machine that has repositories, it streams
objects (``cat-file --batch``) far faster than any Python binding we may depend on, and
clone/fetch of remote repositories come free.

A scanned repository is hostile input: its ``.git/config`` can name programs git runs
(``gpg.program`` with ``log.showSignature``, ``core.fsmonitor``, hooks, a pager, a
credential helper, ``core.sshCommand``...). Every git process therefore runs with one
fixed configuration (``NEUTRAL``, given with ``-c``, which wins over every file) and an
environment without system or global config; clones use ssh agents and the code host
token residual passes (never a credential helper). tests/test_attack_surface_git.py
plants each key.

History: every blob reachable from any ref, each read and scanned once (by blob id),
reported with the first commit that added it and whether it is still in HEAD.
Remote repositories: cloned bare into the cache directory and fetched incrementally on
rescans; *partial* in the sense that, without ``history``, the clone is shallow
(``--depth 1``). Blob filters (``--filter=blob:limit``) are not used: git 2.39 cannot
stop the lazy fetch of each filtered blob when we ask its size.
"""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from scanner.core.secrets import safe_url

ZERO = "0" * 40
# Options that make git run a program or read another config, forced to an inert value.
NEUTRAL = ("core.hooksPath=/dev/null", "core.fsmonitor=false", "core.pager=cat", "pager.log=false",
           "log.showSignature=false", "gpg.program=false", "gpg.ssh.program=false",
           "gpg.x509.program=false", "credential.helper=", "core.askPass=", "core.sshCommand=ssh",
           "core.alternateRefsCommand=", "core.editor=false", "diff.external=", "gc.auto=0",
           "maintenance.auto=false", "submodule.recurse=false", "fetch.recurseSubmodules=false",
           "uploadpack.packObjectsHook=", "protocol.allow=never", "protocol.https.allow=always",
           "protocol.http.allow=always", "protocol.ssh.allow=always", "protocol.git.allow=always",
           "protocol.ext.allow=never")


class GitError(Exception):
    """A git command failed; the message carries no URL credentials."""


def _env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """No inherited GIT_* variable (a GIT_DIR or GIT_CONFIG_* of whoever started residual
    would redirect it), no system or global config, no prompt."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    return {**env, "GIT_TERMINAL_PROMPT": "0", "GIT_ASKPASS": "true", "SSH_ASKPASS": "true",
            "LC_ALL": "C", "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": "/dev/null",
            "GIT_PAGER": "cat", "GIT_PROTOCOL_FROM_USER": "0", **(extra or {})}


def _argv(args: list[str], allow_file: bool = False) -> list[str]:
    """``git -c ... <args>``: the neutral configuration before every command. File and
    local clones only where the operator configured such a URL (``allow_file``)."""
    opts = [*NEUTRAL, f"protocol.file.allow={'always' if allow_file else 'never'}"]
    return ["git", *(x for o in opts for x in ("-c", o)), *args]


def strip_credentials(url: str) -> str:
    return re.sub(r"(://)[^/@\s]+@", r"\1", url)


def _scrub(text: str) -> str:
    """Every URL in a git message as ``safe_url`` gives it (no userinfo, query, token)."""
    return re.sub(r"[A-Za-z][A-Za-z0-9+.-]*://[^\s'\"]+", lambda m: safe_url(m.group(0)), text)


def git(args: list[str], cwd: Path | None = None, timeout: float = 600,
        env: dict[str, str] | None = None, allow_file: bool = False) -> bytes:
    """Run git; ``env``: extra environment (e.g. a clone credential as GIT_CONFIG_*)."""
    try:
        p = subprocess.run(_argv(args, allow_file), cwd=cwd, env=_env(env), capture_output=True,
                           stdin=subprocess.DEVNULL, timeout=timeout)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise GitError(f"git {args[0]}: {exc.__class__.__name__}") from None
    if p.returncode != 0:
        err = _scrub(p.stderr.decode("utf-8", "replace").strip().splitlines()[-1:][0]
                     if p.stderr.strip() else f"exit {p.returncode}")
        raise GitError(f"git {args[0]}: {err[:200]}")
    return p.stdout


def is_repo(path: Path) -> bool:
    try:
        return git(["rev-parse", "--git-dir"], cwd=path).strip() != b""
    except GitError:
        return False


def foreign_git_dir(path: Path) -> str | None:
    """Why the repository git finds for ``path`` is not one residual may read, or None.

    A ``.git`` *file* (``gitdir: /elsewhere``) lets a scanned tree point the history
    scan at any repository on the host. Allowed: a git directory inside ``path`` (the
    repository itself, or a bare one), and a ``.git`` directory of the work tree that
    contains ``path`` (a monorepo's subdirectory)."""
    try:
        gd = Path(git(["rev-parse", "--absolute-git-dir"], cwd=path).decode().strip()).resolve()
        top = git(["rev-parse", "--show-toplevel"], cwd=path).decode().strip() \
            if git(["rev-parse", "--is-bare-repository"], cwd=path).strip() == b"false" else ""
    except GitError as exc:
        return str(exc)
    root = path.resolve()
    inside = gd == root or root in gd.parents
    if not inside and not (top and (Path(top) / ".git").is_dir() and not (Path(top) / ".git").is_symlink()
                           and gd == (Path(top) / ".git").resolve()):
        return "its git directory is outside the configured path (a .git file or link): history not read"
    return _foreign_alternates(gd, root)


def _foreign_alternates(gd: Path, root: Path) -> str | None:
    """``objects/info/alternates`` makes git read objects from other object stores: a
    scanned repository naming another repository's store on the host would put that
    repository's history (its secrets) into the findings. Allowed: stores inside the
    configured path or inside this git directory."""
    alt = gd / "objects" / "info" / "alternates"
    try:
        lines = alt.read_text(encoding="utf-8", errors="replace").splitlines() if alt.is_file() else []
    except OSError as exc:
        return f"its objects/info/alternates cannot be read ({type(exc).__name__}): history not read"
    for line in (ln.strip() for ln in lines):
        if not line or line.startswith("#"):
            continue
        store = (gd / "objects" / line).resolve() if not line.startswith("/") else Path(line).resolve()
        if not any(store == base or base in store.parents for base in (root, gd)):
            return "its objects/info/alternates names an object store outside the configured path: history not read"
    return None


def subdir_prefix(path: Path) -> str:
    """"infra/" when ``path`` is a subdirectory of its repository's work tree, else ""."""
    try:
        return git(["rev-parse", "--show-prefix"], cwd=path).decode().strip()
    except GitError:
        return ""


def head_commit(repo: Path) -> str | None:
    try:
        return git(["rev-parse", "--verify", "-q", "HEAD"], cwd=repo).decode().strip() or None
    except GitError:
        return None


def head_blobs(repo: Path) -> dict[str, str]:
    """path -> blob id of every file in HEAD (empty for a repository without commits)."""
    if head_commit(repo) is None:
        return {}
    out: dict[str, str] = {}
    for entry in git(["ls-tree", "-r", "-z", "--full-tree", "HEAD"], cwd=repo).split(b"\0"):
        if not entry:
            continue
        meta, _, path = entry.partition(b"\t")
        mode, otype, oid = meta.split()
        if otype == b"blob" and mode != b"160000":
            out[path.decode("utf-8", "surrogateescape")] = oid.decode()
    return out


@dataclass
class BlobSeen:
    blob: str
    path: str  # the path it was first added at
    commit: str  # the first commit that added it


def history_blobs(repo: Path) -> dict[str, BlobSeen]:
    """Every blob added by any commit of any ref, with the earliest commit adding it."""
    if head_commit(repo) is None:
        return {}
    out = git(["log", "--all", "--reverse", "--topo-order", "--root", "--no-renames", "--raw",
               "--no-show-signature", "--no-ext-diff", "--no-textconv", "--no-mailmap",
               "--diff-merges=first-parent",  # blobs made while resolving a merge
               "--no-abbrev", "-z", "--format=%x00C%H"], cwd=repo)
    seen: dict[str, BlobSeen] = {}
    commit = ""
    fields = out.split(b"\0")
    i = 0
    while i < len(fields):
        f = fields[i]
        s = f.lstrip(b"\n")
        if s.startswith(b"C") and len(s) == 41:
            commit = s[1:].decode()
            i += 1
            continue
        if s.startswith(b":"):
            parts = s[1:].split()
            # :old_mode new_mode old_sha new_sha status, then the path in the next field
            path = fields[i + 1].decode("utf-8", "surrogateescape") if i + 1 < len(fields) else ""
            new_mode, new_sha, status = parts[1], parts[3].decode(), parts[4][:1]
            if status in (b"A", b"M", b"T", b"C", b"R") and new_sha != ZERO and new_mode != b"160000":
                seen.setdefault(new_sha, BlobSeen(new_sha, path, commit))
            i += 2
            continue
        i += 1
    return seen


def blob_sizes(repo: Path, ids: list[str]) -> dict[str, int]:
    if not ids:
        return {}
    out = subprocess.run(_argv(["cat-file", "--batch-check"]), cwd=repo, env=_env(),
                         input="\n".join(ids).encode() + b"\n", capture_output=True, check=False)
    sizes: dict[str, int] = {}
    for line in out.stdout.decode().splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[1] == "blob":
            sizes[parts[0]] = int(parts[2])
    return sizes


def read_blobs(repo: Path, ids: list[str]) -> Iterator[tuple[str, bytes]]:
    """Contents of blobs, streamed through one ``git cat-file --batch``."""
    if not ids:
        return
    p = subprocess.Popen(_argv(["cat-file", "--batch"]), cwd=repo, env=_env(),
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    assert p.stdin and p.stdout
    try:
        for oid in ids:
            p.stdin.write(oid.encode() + b"\n")
            p.stdin.flush()
            header = p.stdout.readline().split()
            if len(header) != 3:
                continue  # "<oid> missing"
            size = int(header[2])
            data = p.stdout.read(size)
            p.stdout.read(1)  # trailing newline
            yield oid, data
    finally:
        p.stdin.close()
        p.wait(timeout=60)


def repo_cache_path(cache_dir: Path, url: str) -> Path:
    digest = hashlib.sha256(strip_credentials(url).encode()).hexdigest()[:16]
    name = re.sub(r"[^A-Za-z0-9._-]", "_", strip_credentials(url).rstrip("/").rsplit("/", 1)[-1])
    return cache_dir / "iac-repos" / f"{name}-{digest}"


def sync_remote(url: str, cache_dir: Path, history: bool,
                env: dict[str, str] | None = None, allow_file: bool = False) -> tuple[Path, str]:
    """Clone (first time) or fetch (rescans) a remote repository into the cache, bare.
    Returns the local path and what was done ("cloned" / "fetched"). ``env``: extra
    environment for git (the clone credential), never written to the clone's config.
    ``allow_file``: a local or file:// URL the operator configured (never a listed one)."""
    dest = repo_cache_path(cache_dir, url)
    depth = [] if history else ["--depth", "1"]
    if (dest / "HEAD").exists():
        if history and (dest / "shallow").exists():
            depth = ["--unshallow"]
        try:
            git(["fetch", "--prune", "--no-tags", *depth, "origin",
                 "+refs/heads/*:refs/heads/*"], cwd=dest, env=env, allow_file=allow_file)
        except GitError:
            # a shallow fetch of a repository without any branch fails, silently
            if depth and not git(["ls-remote", "--heads", "origin"], cwd=dest, env=env,
                                 allow_file=allow_file).strip():
                return dest, "fetched (empty)"
            raise
        return dest, "fetched"
    dest.parent.mkdir(parents=True, exist_ok=True)
    git(["clone", "--bare", "--no-tags", "--no-recurse-submodules", *depth, url, str(dest)],
        env=env, allow_file=allow_file)
    return dest, "cloned"
