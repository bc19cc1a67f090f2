"""Analysis at speed: a content-hash cache, then parallel worker processes.

Cache: a SQLite file ``iac-results.sqlite`` in the collector's cache directory (beside the
inventory; collectors have no inventory access by design). Key: SHA-256 of the analyzer
version, the fingerprint key's public id, the file kind and the content's SHA-256; value:
the FileFacts as JSON (fingerprints and hints only, never a raw value). An unchanged file
or blob is never rescanned; a new fingerprint key or analyzer version invalidates all.

Workers: a process pool (``workers``, default 2) fed batches of texts; each worker
configures detect-secrets once and holds its own SecretScanner. Small jobs (a few files)
run in-process: starting processes would cost more than it saves.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import sqlite3
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator

from collectors.iac.facts import FileFacts
from collectors.iac.parsers import analyze
from collectors.iac.verify import LiveVerifier
from scanner.core.secrets import Fingerprinter, SecretScanner, _Engine

ANALYZER_VERSION = "iac-3"  # 2: agent/MCP configs; 3: tree-sitter-hcl, whole-file Terraform
PARALLEL_MIN_BYTES = 512 * 1024  # below this, one process is faster than starting two
BATCH_BYTES = 128 * 1024  # small enough to keep both workers busy to the end


@dataclass
class Job:
    rel: str  # path used for kind detection and location
    data: bytes
    tag: object = None  # the caller's handle (blob id, path...)


class ResultCache:
    def __init__(self, path: Path | None):
        self.con = None
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            self.con = sqlite3.connect(str(path))
            self.con.execute("CREATE TABLE IF NOT EXISTS results (key TEXT PRIMARY KEY, facts TEXT)")

    def get_many(self, keys: list[str]) -> dict[str, FileFacts]:
        out: dict[str, FileFacts] = {}
        if self.con is None or not keys:
            return out
        for i in range(0, len(keys), 500):
            chunk = keys[i:i + 500]
            q = f"SELECT key, facts FROM results WHERE key IN ({','.join('?' * len(chunk))})"
            for key, facts in self.con.execute(q, chunk):
                out[key] = FileFacts.from_json(json.loads(facts))
        return out

    def put_many(self, items: list[tuple[str, FileFacts]]) -> None:
        if self.con is None or not items:
            return
        self.con.executemany("INSERT OR REPLACE INTO results VALUES (?, ?)",
                             [(k, json.dumps(f.to_json())) for k, f in items])
        self.con.commit()

    def close(self) -> None:
        if self.con is not None:
            self.con.close()


_WORKER: SecretScanner | None = None


def _make_scanner(fp: Fingerprinter, verify: dict | None) -> SecretScanner:
    verifier = None
    if verify is not None:
        verifier = LiveVerifier(**verify)
    return SecretScanner(fp, verifier=verifier)


def _init_worker(key: bytes, verify: dict | None = None) -> None:
    global _WORKER
    _WORKER = _make_scanner(Fingerprinter(key), verify)
    _WORKER.scan_text("warm up", "x")  # detect-secrets settings and prefilter, once


def _run_batch(batch: list[tuple[str, bytes]]) -> list[FileFacts]:
    assert _WORKER is not None
    return [analyze(rel, _decode(data), _WORKER) for rel, data in batch]


def _decode(data: bytes) -> str:
    return data.decode("utf-8", errors="replace").replace("\r\n", "\n")


class Analyzer:
    def __init__(self, fingerprinter: Fingerprinter, cache_path: Path | None, workers: int = 2,
                 verify: dict | None = None):
        """``verify``: LiveVerifier settings to check exposed credentials (opt-in); the
        cache is off then, since validity changes while content does not."""
        self.fp = fingerprinter
        self.verify = verify
        self.cache = ResultCache(None if verify is not None else cache_path)
        self.workers = max(1, workers)
        self.stats = {"files": 0, "bytes": 0, "cached": 0, "analysed": 0}

    def key(self, job: Job) -> str:
        """Content hash + what the parser choice depends on (the file's name, and whether
        it sits in a CI workflow directory)."""
        name = job.rel.rsplit("/", 1)[-1].lower()
        ci = ".github/workflows/" in job.rel or ".gitlab/" in job.rel
        digest = hashlib.sha256(job.data).hexdigest()
        return hashlib.sha256(f"{ANALYZER_VERSION}|{self.fp.key_id}|{name}|{ci}|{digest}"
                              .encode()).hexdigest()

    def run(self, jobs: Iterable[Job]) -> Iterator[tuple[Job, FileFacts, bool]]:
        """(job, facts, from_cache) for every job, cached ones first."""
        jobs = list(jobs)
        keys = [self.key(j) for j in jobs]
        cached = self.cache.get_many(list(set(keys)))
        todo: list[tuple[Job, str]] = []
        for job, key in zip(jobs, keys):
            self.stats["files"] += 1
            self.stats["bytes"] += len(job.data)
            if key in cached:
                self.stats["cached"] += 1
                yield job, cached[key], True
            else:
                todo.append((job, key))
        fresh: list[tuple[str, FileFacts]] = []
        for (job, key), facts in zip(todo, self._analyse([j for j, _ in todo])):
            self.stats["analysed"] += 1
            fresh.append((key, facts))
            yield job, facts, False
        self.cache.put_many(fresh)

    def _analyse(self, jobs: list[Job]) -> Iterator[FileFacts]:
        total = sum(len(j.data) for j in jobs)
        if self.workers == 1 or total < PARALLEL_MIN_BYTES or len(jobs) < 2:
            scanner = _make_scanner(self.fp, self.verify)
            for j in jobs:
                yield analyze(j.rel, _decode(j.data), scanner)
            return
        batches: list[list[tuple[str, bytes]]] = [[]]
        size = 0
        for j in jobs:
            if size >= BATCH_BYTES:
                batches.append([])
                size = 0
            batches[-1].append((j.rel, j.data))
            size += len(j.data)
        # detect-secrets' settings and the prefilter's automata, built once here: the
        # forked workers inherit them instead of each building its own
        _Engine.get()
        ctx = multiprocessing.get_context("fork")
        key = self.fp._key  # the key reaches the workers in memory, never on disk
        with ProcessPoolExecutor(max_workers=self.workers, mp_context=ctx,
                                 initializer=_init_worker, initargs=(key, self.verify)) as pool:
            for results in pool.map(_run_batch, batches):
                yield from results

    def close(self) -> None:
        self.cache.close()
