"""Collector ``iac``: secrets and leftover names in files and git history.

The places people forget: Terraform that still declares ``aws_iam_user "alice"``, a
RoleBinding naming her, a CODEOWNERS line, a provider block with a hard-coded key, a
tfstate full of secrets, a ``.env`` committed two years ago and deleted since.

Remote repositories: clone URLs given in ``repos``, and every repository of a GitHub org /
GitLab group listed through the code host's API (``remotes.py``: ``github_org``,
``gitlab_group``, with the URL and read token repeated in this block).

Per target (a directory, a local repository with ``history``, or a remote repository):
get (walk the tree / list the blobs of the history / clone or fetch) -> transform
(``parsers.analyze``: pure, text in, facts out, in parallel worker processes, cached by
content hash) -> load (Reference and Exposure records).

It knows nothing of the roster: References carry the candidate names with their parsed
context and ``target_kind="unknown"``; rules/references.py resolves them. Exposures carry
only a keyed fingerprint, a hint and a public identifier (AWS key id, SSH public-key
fingerprint, GitHub last-eight handle); scanner/correlate.py ties them to live credentials.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
from pathlib import Path
from typing import Any, Iterable
from urllib.parse import urlparse

from collectors.base import Collector, Scope, TargetRun
from collectors.iac import gitrepo, remotes
from collectors.iac import SYSTEMS
from collectors.iac.analyzer import ANALYZER_VERSION, Analyzer, Job
from collectors.iac.facts import FileFacts
from collectors.iac.walker import Rules, is_binary, walk
from scanner.core.errors import CollectorError
from scanner.core.model import Exposure, Reference, Resource
from scanner.core.options import Option
from scanner.core.secrets import safe_url
from scanner.core.store import Sink

log = logging.getLogger("residual.collectors.iac")

MAX_PARSE_ERRORS_LISTED = 50
# Bump when transform() changes what the same facts become (ANALYZER_VERSION covers the
# parsers): change tokens then stop matching and every target is analysed again.
TRANSFORM_VERSION = "iac-transform/3"  # 2: MCP server resources; 3: attributes.tree


class IacCollector(Collector):
    name = "iac"
    layer = SYSTEMS["iac"]
    options = {
        "path": Option(str),  # a directory, a file or a git repository
        "history": Option(bool, default=False),
        "repos": Option(list, default=[], item_type=str),
        # every repository of a GitHub org / GitLab group, listed through the code host's
        # API with a read token repeated here (the iac block sees only its own keys)
        "github_org": Option(str),
        "github_base_url": Option(str, default="https://api.github.com"),
        "github_token": Option(str, secret=True),
        "gitlab_group": Option(str),
        "gitlab_url": Option(str, default="https://gitlab.com"),
        "gitlab_token": Option(str, secret=True),
        "include": Option(list, default=[], item_type=str),
        "exclude": Option(list, default=[], item_type=str),
        "max_file_bytes": Option(int, default=2_000_000),
        "workers": Option(int, default=2),
        "verify_live": Option(bool, default=False),
        # clones hold the scanned history (its secrets) at rest; false: deleted after each scan
        "keep_clones": Option(bool, default=True),
        # where verify_live asks (keys: github_api, gitlab_url, aws_endpoint, aws_region)
        "verify_endpoints": Option(dict, default={}),
    }

    def describe(self) -> str:
        return "iac"

    # -- the bulk pass ---------------------------------------------------------------
    def collect(self, sink: Sink, scope: Scope | None = None) -> None:
        cache = self.ctx.cache_dir / "iac-results.sqlite" if self.ctx.cache_dir else None
        verify = None
        if self.config.get("verify_live"):
            allowed = {"github_api", "gitlab_url", "aws_endpoint", "aws_region"}
            # a found token is presented to this block's own code host (GitHub Enterprise,
            # a self-managed GitLab), never to github.com / gitlab.com in its place
            verify = {"github_api": self.config.get("github_base_url") or "https://api.github.com",
                      "gitlab_url": self.config.get("gitlab_url") or "https://gitlab.com"}
            verify.update({k: v for k, v in (self.config.get("verify_endpoints") or {}).items()
                           if k in allowed})
        analyzer = Analyzer(self.ctx.fingerprinter, cache, workers=self.config.get("workers") or 2,
                            verify=verify)
        try:
            if self.config.get("path"):
                self._scan_path(sink, analyzer)
            # configured by the operator: any URL git takes, a local path or file:// included
            targets = [(url, None, {}, True) for url in self.config.get("repos") or []]
            targets += [(url, name, env, False) for url, name, env in self._listed(sink)]
            if not self.config.get("path") and not targets and not self._lists():
                with self.target(sink, "iac"):
                    raise CollectorError("nothing to scan: give path, repos, github_org or gitlab_group")
            seen: set[str] = set()
            for url, name, env, allow_file in targets:
                safe = safe_url(url)
                if safe not in seen:
                    seen.add(safe)
                    self._scan_remote(sink, analyzer, url, name, env, allow_file)
        finally:
            analyzer.close()

    def _scan_path(self, sink: Sink, analyzer: Analyzer) -> None:
        root = Path(self.config["path"]).expanduser()
        if not root.is_absolute():
            root = self.ctx.base_dir / root
        with self.target(sink, self.config["path"]) as run:
            if not root.exists():
                raise FileNotFoundError(f"{self.config['path']}: no such file or directory")
            source = f"iac:{self.config['path']}"
            self._tree = tree_identity(root)
            history = bool(self.config.get("history")) and gitrepo.is_repo(root)
            foreign = gitrepo.foreign_git_dir(root) if history else None
            if history and foreign is None:
                self._scan_history(sink, run, analyzer, root, source, prefix="")
                return
            if foreign:
                log.warning("iac: %s: %s", self.config["path"], foreign)
                run.partial(foreign)  # the files are read; the history was not
            elif self.config.get("history"):
                run.attributes["history"] = "not a git repository: files only"
            self._scan_tree(sink, run, analyzer, root, source)

    def _scan_remote(self, sink: Sink, analyzer: Analyzer, url: str, name: str | None,
                     env: dict[str, str], allow_file: bool) -> None:
        """Clone (first scan) or fetch (rescans) into the cache, then scan its blobs;
        unchanged blobs come from the content cache."""
        self._tree = None  # a remote's source (its URL) is its identity already
        safe = safe_url(url)  # a token in the URL's userinfo or query is stored nowhere
        with self.target(sink, safe) as run:
            self.count_call()
            local, how = gitrepo.sync_remote(url, self.ctx.cache_dir, bool(self.config.get("history")),
                                             env=env, allow_file=allow_file)
            run.attributes["sync"] = how
            name = name or safe.rstrip("/").rsplit("/", 1)[-1].removesuffix(".git")
            run.attributes["repo"] = name
            try:
                self._scan_history(sink, run, analyzer, local, f"iac:{safe}", prefix=f"{name}:",
                                   head_only=not self.config.get("history"))
            finally:
                if self.config.get("keep_clones") is False:
                    shutil.rmtree(local, ignore_errors=True)
                    run.attributes["clone"] = "deleted"

    def _lists(self) -> list[tuple[str, str, str, str | None, str]]:
        """The configured listings: (kind, target label, API URL, token, org or group)."""
        out = []
        if self.config.get("github_org"):
            org = self.config["github_org"]
            out.append(("github", f"github:{org}", self.config.get("github_base_url") or
                        "https://api.github.com", self.config.get("github_token"), org))
        if self.config.get("gitlab_group"):
            url = self.config.get("gitlab_url") or "https://gitlab.com"
            group = self.config["gitlab_group"]
            out.append(("gitlab", f"gitlab:{urlparse(url).netloc or url}/{group}", url,
                        self.config.get("gitlab_token"), group))
        return out

    def _listed(self, sink: Sink) -> list[tuple[str, str | None, dict[str, str]]]:
        """Repositories of the configured GitHub org / GitLab group: (clone URL, name,
        git environment carrying the token for the code host's own origin)."""
        out: list[tuple[str, str | None, dict[str, str]]] = []
        for kind, label, api, token, where in self._lists():
            with self.target(sink, label) as run:
                lister = remotes.Lister(self.count_call, self.ctx.max_pages, self.ctx.max_retries,
                                        self.ctx.timeout_s)
                try:
                    listing = remotes.list_github if kind == "github" else remotes.list_gitlab
                    repos, bad = listing(lister, api, where, token)
                finally:
                    lister.close()
                origin = remotes.git_origin(api, kind)
                foreign = [r for r in repos if not remotes.on_origin(r.clone_url, origin)]
                repos = [r for r in repos if r not in foreign]
                run.attributes.update({"repos": len(repos),
                                       "archived": sum(1 for r in repos if r.archived)})
                if bad:
                    log.warning("iac: %s: %d malformed repository entries skipped", label, bad)
                    run.attributes["malformed"] = bad
                    run.partial(f"{bad} malformed repository entries skipped")
                if foreign:  # a listing may not send residual (and git) to another host or file://
                    log.warning("iac: %s: %d clone URLs not on %s refused", label, len(foreign), origin)
                    run.attributes["foreign_clone_urls"] = len(foreign)
                    run.partial(f"{len(foreign)} clone URLs not on the code host's origin refused")
                user = "x-access-token" if kind == "github" else "oauth2"
                out += [(r.clone_url, r.name, remotes.auth_env(r.clone_url, token, origin, user))
                        for r in repos]
        return out

    # -- get ---------------------------------------------------------------------------
    def _rules(self) -> Rules:
        return Rules(include=list(self.config.get("include") or []),
                     exclude=list(self.config.get("exclude") or []),
                     max_file_bytes=int(self.config.get("max_file_bytes") or 2_000_000))

    def _scan_tree(self, sink: Sink, run: TargetRun, analyzer: Analyzer, root: Path,
                   source: str) -> None:
        rules = self._rules()
        files = [(root.name, root, root.stat().st_size)] if root.is_file() else list(walk(root, rules))
        jobs: list[Job] = []
        unreadable = 0
        for rel, full, _size in files:
            try:
                data = full.read_bytes()
            except OSError:
                unreadable += 1
                continue
            if is_binary(data):
                rules.skipped["binary"] += 1
                continue
            jobs.append(Job(rel, data, (rel, None, None)))
        if unreadable:
            run.partial(f"{unreadable} files unreadable")
        elif self._reuse(sink, run, source, "tree", *sorted(
                f"{job.rel}\0{hashlib.sha256(job.data).hexdigest()}" for job in jobs)):
            return
        self._load(sink, run, analyzer, jobs, source, rules, prefix="")

    def _scan_history(self, sink: Sink, run: TargetRun, analyzer: Analyzer, repo: Path,
                      source: str, prefix: str, head_only: bool = False) -> None:
        rules = self._rules()
        self.count_call()
        head_commit = gitrepo.head_commit(repo)
        refs = "" if head_only else gitrepo.git(["for-each-ref", "--format=%(objectname) %(refname)"],
                                                cwd=repo).decode("utf-8", "replace")
        if self._reuse(sink, run, source, "history" if not head_only else "head",
                       gitrepo.subdir_prefix(repo) if not head_only else "",
                       head_commit or "no commits", refs):
            return
        head = gitrepo.head_blobs(repo)
        in_head = set(head.values())
        blobs: dict[str, tuple[str, str | None]] = {}  # blob -> (path, first commit)
        sub = gitrepo.subdir_prefix(repo) if not head_only else ""  # path = repo/infra
        if head_only:
            commit = gitrepo.head_commit(repo)
            for path, blob in head.items():
                blobs.setdefault(blob, (path, commit))
        else:
            self.count_call()
            for blob, seen in gitrepo.history_blobs(repo).items():
                blobs[blob] = (seen.path, seen.commit)
            for path, blob in head.items():  # e.g. blobs only reachable from HEAD's tree
                blobs.setdefault(blob, (path, gitrepo.head_commit(repo)))
        if sub:  # only what lives under the configured directory, located relative to it
            blobs = {b: (p[len(sub):], c) for b, (p, c) in blobs.items() if p.startswith(sub)}
        wanted = [b for b, (path, _) in blobs.items() if not rules.skip(path)]
        self.count_call()
        sizes = gitrepo.blob_sizes(repo, wanted)
        wanted = [b for b in wanted if not rules.skip(blobs[b][0], sizes.get(b, 0))]
        jobs: list[Job] = []
        self.count_call()
        for blob, data in gitrepo.read_blobs(repo, wanted):
            if is_binary(data):
                rules.skipped["binary"] += 1
                continue
            path, commit = blobs[blob]
            jobs.append(Job(path, data, (path, commit, blob in in_head)))
        run.attributes["blobs"] = len(blobs)
        self._load(sink, run, analyzer, jobs, source, rules, prefix=prefix)

    # -- incremental rescans -----------------------------------------------------------
    def _reuse(self, sink: Sink, run: TargetRun, source: str, *state: str) -> bool:
        """Copy the previous scan's records of this target when what it read is the same
        (``state``: the content hash of every file, or the commit ids of HEAD and every
        ref, which name the content of every blob), under the same rules, parsers and
        fingerprint key (exposures' fingerprints are keyed). Not with ``verify_live``:
        whether a found key still works changes while the file does not."""
        if self.config.get("verify_live"):
            return False
        h = hashlib.sha256()
        for part in (TRANSFORM_VERSION, ANALYZER_VERSION, self.ctx.fingerprinter.key_id,
                     json.dumps(rules_state(self._rules()), sort_keys=True), *state):
            h.update(part.encode("utf-8", "surrogateescape") + b"\0")
        return self.reuse_if_unchanged(sink, run, "sha256:" + h.hexdigest(), [source])

    # -- transform + load --------------------------------------------------------------
    def _load(self, sink: Sink, run: TargetRun, analyzer: Analyzer, jobs: list[Job],
              source: str, rules: Rules, prefix: str) -> None:
        parse_errors: list[dict[str, str]] = []
        n_errors = 0
        filtered: dict[str, int] = {}
        verify_calls = 0
        for job, facts, _cached in analyzer.run(jobs):
            path, commit, head = job.tag  # type: ignore[misc]
            if facts.parse_error:
                n_errors += 1
                log.warning("iac: %s%s: %s (scanned as lines)", prefix, path, facts.parse_error)
                if len(parse_errors) < MAX_PARSE_ERRORS_LISTED:
                    parse_errors.append({"path": f"{prefix}{path}", "reason": facts.parse_error})
            for k, v in facts.filtered.items():
                filtered[k] = filtered.get(k, 0) + v
            verify_calls += facts.verify_calls
            sink.emit_all(transform(facts, source, f"{prefix}{path}", commit, head,
                                    getattr(self, "_tree", None)))
        run.attributes.update({
            "files": analyzer.stats["files"], "bytes": analyzer.stats["bytes"],
            "cached": analyzer.stats["cached"], "analysed": analyzer.stats["analysed"],
            "skipped": dict(rules.skipped), "parse_errors": n_errors,
            "parse_error_files": parse_errors, "noise_filtered": filtered})
        if analyzer.verify is not None:
            run.attributes["verify_calls"] = verify_calls
            self.count_call(verify_calls)
        for k in ("files", "bytes", "cached", "analysed"):
            analyzer.stats[k] = 0


def rules_state(rules: Rules) -> dict[str, Any]:
    """What of the walk rules decides which files are read (part of the change token)."""
    return {"include": list(rules.include), "exclude": list(rules.exclude),
            "max_file_bytes": rules.max_file_bytes}


def tree_identity(root: Path) -> str:
    """What a local tree is, whatever folder it was scanned from: its repository (the
    ``origin`` remote without credentials, plus the subfolder) for a git checkout with a
    remote, else the folder's name. Findings' fingerprints use it instead of the
    configured path (scanner.engine, RuleContext.fingerprint_subject), so that waivers
    and diffs survive scanning the same tree from another folder or machine."""
    try:
        remote = gitrepo.git(["remote", "get-url", "origin"], cwd=root).decode().strip()
    except (gitrepo.GitError, NotADirectoryError):
        remote = ""
    if remote:
        return f"{safe_url(remote)}#{gitrepo.subdir_prefix(root)}"
    return root.resolve().name


def transform(facts: FileFacts, source: str, location: str, commit: str | None,
              in_head: bool | None, tree: str | None = None) -> Iterable[Exposure | Reference | Resource]:
    """FileFacts of one file or blob -> Reference, Exposure and (agent configs) Resource
    records (pure). A secret inside an MCP server's entry names that server. ``tree``: the
    local tree's identity (``tree_identity``), kept in each record's attributes."""
    extra = {"tree": tree} if tree else {}
    if in_head is not False:  # a server removed from the tree no longer runs from it
        for a in facts.agents:
            yield Resource(system="iac", source=source, native_id=f"mcp:{location}#{a.name}",
                           kind="mcp_server", name=a.name,
                           attributes={"location": location, "line": a.line, "transport": a.transport,
                                       "command": a.command, "url": a.url, "env_keys": a.env_keys,
                                       "header_keys": a.header_keys, "config": a.config, "commit": commit,
                                       **extra})
    for r in facts.refs:
        yield Reference(
            system="iac", source=source, location=location, matched=r.matched,
            target_kind="unknown", target="", line=r.line, commit=commit, in_head=in_head,
            context=r.context or facts.kind,
            attributes={"kind": r.kind, "system": r.system, "recreates": r.recreates,
                        "resource_type": r.resource_type, "resource_name": r.resource_name,
                        "file_kind": facts.kind, **extra})
    for h in facts.hits:
        attrs: dict[str, Any] = {"file_kind": facts.kind, **extra}
        if facts.kind == "tfstate":
            attrs["tfstate"] = True
        if h.key:
            attrs["key"] = h.key
        server = next((a for a in facts.agents if a.line <= h.line <= a.end_line), None)
        if server is not None:
            attrs["mcp_server"] = server.name
        yield Exposure(
            system="iac", source=source, detector=h.detector, fingerprint=h.fingerprint,
            hint=h.hint, location=location, line=h.line, commit=commit, in_head=in_head,
            identifier=h.identifier, context=f"{facts.kind}{' ' + h.key if h.key else ''}",
            verified=h.verified or "unverified", attributes=attrs)
