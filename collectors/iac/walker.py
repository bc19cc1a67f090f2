"""Which files of a tree are worth reading.

Skipped by default (each counted by reason in coverage): binaries and media (by
extension, or a NUL byte in the first 8 KiB), vendored and generated trees
(``node_modules``, ``vendor``, ``.terraform``...), lock files (their hashes are
high-entropy noise by the thousand), and files over ``max_file_bytes``. ``include`` /
``exclude`` globs (matched against the path relative to the root) narrow or widen it.
"""

from __future__ import annotations

import fnmatch
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Iterator

SKIP_DIRS = {".git", "node_modules", "vendor", "third_party", ".terraform", ".venv", "venv",
             "__pycache__", ".tox", "dist", "build", "target", ".mypy_cache", ".pytest_cache",
             "bower_components", "Pods", ".gradle", ".idea"}
LOCK_FILES = {"package-lock.json", "yarn.lock", "pnpm-lock.yaml", "poetry.lock", "Pipfile.lock",
              "Gemfile.lock", "Cargo.lock", "composer.lock", "go.sum", ".terraform.lock.hcl",
              "uv.lock", "packages.lock.json", "mix.lock", "pubspec.lock"}
BINARY_EXT = {".png", ".jpg", ".jpeg", ".gif", ".bmp", ".ico", ".webp", ".svg", ".pdf",
              ".zip", ".gz", ".tgz", ".bz2", ".xz", ".7z", ".tar", ".jar", ".war", ".class",
              ".so", ".dll", ".exe", ".bin", ".dylib", ".o", ".a", ".pyc", ".whl", ".mp3",
              ".mp4", ".mov", ".avi", ".woff", ".woff2", ".ttf", ".eot", ".otf", ".psd",
              ".iso", ".dmg", ".deb", ".rpm", ".parquet", ".duckdb", ".sqlite", ".db",
              ".lock", ".map", ".min.js", ".min.css"}

_BINARY_SUFFIXES = tuple(sorted(BINARY_EXT))  # one str.endswith call for all of them


@dataclass
class Rules:
    include: list[str] = field(default_factory=list)
    exclude: list[str] = field(default_factory=list)
    max_file_bytes: int = 2_000_000
    skipped: Counter = field(default_factory=Counter)

    def skip_reason(self, rel: str, size: int | None = None) -> str | None:
        """Why a path is not scanned (None: scan it). ``rel`` is POSIX, relative."""
        p = PurePosixPath(rel)
        if self.exclude and any(_match(rel, g) for g in self.exclude):
            return "excluded"
        if self.include and not any(_match(rel, g) for g in self.include):
            return "not included"
        if self.include and any(_match(rel, g) for g in self.include):
            pass  # an explicit include overrides the default skips below
        elif any(part in SKIP_DIRS for part in p.parts[:-1]):
            return "vendored"
        elif p.name in LOCK_FILES:
            return "lock file"
        elif p.name.lower().endswith(_BINARY_SUFFIXES):
            return "binary"
        if size is not None and size > self.max_file_bytes:
            return "too large"
        return None

    def skip(self, rel: str, size: int | None = None) -> bool:
        reason = self.skip_reason(rel, size)
        if reason:
            self.skipped[reason] += 1
        return reason is not None


def _match(rel: str, glob: str) -> bool:
    return fnmatch.fnmatch(rel, glob) or fnmatch.fnmatch(PurePosixPath(rel).name, glob) or \
        (glob.endswith("/**") and rel.startswith(glob[:-3] + "/"))


def is_binary(data: bytes) -> bool:
    return b"\x00" in data[:8192]


def walk(root: Path, rules: Rules) -> Iterator[tuple[str, Path, int]]:
    """(relative POSIX path, absolute path, size) of every file to scan, sorted."""
    for dirpath, dirnames, filenames in os.walk(root):
        rel_dir = os.path.relpath(dirpath, root)
        keep = []
        for d in sorted(dirnames):
            rel = d if rel_dir == "." else f"{rel_dir}/{d}".replace(os.sep, "/")
            if d == ".git" or (d in SKIP_DIRS and not any(_match(rel + "/x", g) for g in rules.include)):
                if d != ".git":
                    rules.skipped["vendored"] += 1
                continue
            keep.append(d)
        dirnames[:] = keep
        for name in sorted(filenames):
            full = Path(dirpath) / name
            rel = name if rel_dir == "." else f"{rel_dir}/{name}".replace(os.sep, "/")
            try:
                st = full.lstat()
            except OSError:
                rules.skipped["unreadable"] += 1
                continue
            if not full.is_file() or full.is_symlink():
                continue
            if rules.skip(rel, st.st_size):
                continue
            yield rel, full, st.st_size
