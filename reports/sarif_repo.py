"""Where a finding's file is in its repository, for SARIF that GitHub code scanning accepts.

GitHub rejects a whole upload when one result lacks a physical location, and it resolves
each ``artifactLocation.uri`` against the root of the repository the upload is for. The
IaC collector records a file's path relative to the configured tree (``infra/`` of a
monorepo records ``main.tf``), so a SARIF result needs that path re-based on the
repository's root. This module finds, for each configured local IaC tree, its
repository root, path prefix, HEAD commit and remote (credentials stripped), and says for
a finding whether a file of that repository is its location (a history-only secret, a
Kubernetes object or a cloud key is not).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from collectors.iac import gitrepo
from scanner.core.secrets import safe_url

SRCROOT = "%SRCROOT%"


@dataclass(frozen=True)
class Tree:
    source: str  # the IaC source of its records, "iac:<configured path>"
    root: Path  # the configured tree, resolved
    repo: Path  # its repository's work tree (the tree itself when not a git checkout)
    prefix: str  # root relative to repo, "" or "infra/"
    commit: str | None
    remote: str | None


def _tree(source: str, root: Path) -> Tree:
    if not root.is_dir() or not gitrepo.is_repo(root):
        return Tree(source, root, root, "", None, None)
    try:
        top = Path(gitrepo.git(["rev-parse", "--show-toplevel"], cwd=root).decode().strip()).resolve()
    except gitrepo.GitError:
        return Tree(source, root, root, "", None, None)
    try:
        remote = safe_url(gitrepo.git(["remote", "get-url", "origin"], cwd=root).decode().strip()) or None
    except gitrepo.GitError:
        remote = None
    return Tree(source, root, top, gitrepo.subdir_prefix(root), gitrepo.head_commit(root), remote)


def local_trees(given: Any) -> list[Tree]:
    """The configured local IaC trees (``ReportInput.iac_roots``), in config order."""
    return [_tree(source, root) for source, root in getattr(given, "iac_roots", ())]


def repo_path(f: dict[str, Any], trees: list[Tree]) -> tuple[Tree, str] | None:
    """(tree, path relative to its repository's root) when a file of the tree is this
    finding's location now, else None (no location, a secret only in git history, a
    path that is no file of any configured tree)."""
    loc = f.get("location") or {}
    ev = f.get("evidence") or {}
    if not loc.get("path") or ev.get("in_head") is False:
        return None
    source = ev.get("source")
    for tree in trees:
        if source and source != tree.source:
            continue
        path = (tree.root / loc["path"]).resolve()
        if (tree.root == path or tree.root in path.parents) and path.is_file():
            return tree, tree.prefix + path.relative_to(tree.root).as_posix()
    return None


def line_hash(rule: str, uri: str, f: dict[str, Any]) -> str:
    """``partialFingerprints.primaryLocationLineHash``: GitHub tracks a result across
    commits by it. GitHub's own hashes the line's text; the line may hold the secret, so
    this hashes what the finding names instead (rule, file, the redacted hint or the
    matched name), which also survives the line moving."""
    text = f"{rule}\x1f{uri}\x1f{f['object']['name'] or f['object']['id']}"
    return hashlib.sha256(text.encode()).hexdigest()[:16] + ":1"
