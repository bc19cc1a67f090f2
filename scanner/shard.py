"""Scale-out by target: ``residual scan --shard I/N`` collects one N-th of the configured
targets and writes them as a shard (Parquet files); ``residual merge`` builds one
inventory from the N shards, and analysis (resolve, rules, verdicts) runs on the merge.

Why this shape: collection is the part that grows with the number of accounts, orgs and
clusters, and it parallelises by target with no coordination; analysis needs the whole
estate (a key on one system links an account on another) and is cheap next to it. So
the shards run on an existing batch engine (a Kubernetes Indexed Job: one pod per index,
``deploy/k8s/indexed-job.yaml``), write files, and one merge step follows. No home-made
distribution: no coordinator, no queue, no network protocol of our own.

A target belongs to shard ``int(sha256(collector + target)[:8], 16) % N``: deterministic,
so a re-run of shard I covers the same targets, and independent of the order of the
config. Every shard loads the roster (resolve needs it); the merge keeps one copy.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from scanner.core.model import Coverage, Finding, Identity, Link
from scanner.core.store import TABLES, TOOL_VERSION, Inventory
from scanner.export import export_scan, table_names

MANIFEST = "manifest.json"
# Tables a shard carries: collected records (and the roster). Links, findings and
# verdicts are recomputed on the merged inventory.
SHARD_TABLES = tuple(t.name for cls, t in TABLES.items() if cls not in (Link, Finding))


class ShardError(ValueError):
    """A shard spec or a set of shards that cannot be used (message shown as is)."""


@dataclass(frozen=True)
class Shard:
    index: int
    count: int

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"

    def owns(self, collector: str, target: str) -> bool:
        return shard_of(collector, target, self.count) == self.index


def parse_shard(spec: str) -> Shard:
    """``"I/N"`` with 0 <= I < N (I is a Kubernetes JOB_COMPLETION_INDEX: 0-based)."""
    try:
        i, n = (int(x) for x in spec.split("/", 1))
    except ValueError:
        raise ShardError(f"--shard {spec}: expected I/N, e.g. 0/4") from None
    if n < 1 or not 0 <= i < n:
        raise ShardError(f"--shard {spec}: need 0 <= I < N")
    return Shard(i, n)


def shard_of(collector: str, target: str, count: int) -> int:
    digest = hashlib.sha256(f"{collector}\x1f{target}".encode()).hexdigest()
    return int(digest[:8], 16) % count


# --- writing a shard -----------------------------------------------------------------------


def write_shard(inv: Inventory, scan_id: str, shard: Shard, out_dir: Path,
                config_digest: str = "", now: datetime | None = None) -> dict[str, int]:
    """The shard's records (one scan of the shard's own inventory) as Parquet, with a
    manifest naming the shard, the scan, the config digest and the row counts."""
    # naive UTC timestamps, as the inventory keeps them: merge reads them back into one
    counts = export_scan(inv, out_dir, scan_id, utc=False, tables=[
        n for n in table_names() if n not in ("scans", "verdicts", "links", "findings")])
    manifest = {"schema": "residual/shard/v1", "tool_version": TOOL_VERSION,
                "shard": str(shard), "index": shard.index, "count": shard.count,
                "scan_id": scan_id, "config_digest": config_digest,
                "now": now.isoformat() if now else None, "tables": counts}
    path = out_dir / MANIFEST
    path.write_text(json.dumps(manifest, indent=2))
    path.chmod(0o600)
    return counts


# --- merging shards ------------------------------------------------------------------------


def read_manifests(dirs: list[Path]) -> list[dict[str, Any]]:
    """The shards' manifests, checked: one per index 0..N-1, same N, same config. A
    missing shard is an error, never a silently smaller estate (its targets would read
    as clean)."""
    manifests = []
    for d in dirs:
        path = d / MANIFEST
        if not path.is_file():
            raise ShardError(f"{d}: not a shard (no {MANIFEST})")
        m = json.loads(path.read_text())
        if m.get("schema") != "residual/shard/v1":
            raise ShardError(f"{d}: not a shard manifest")
        m["dir"] = d
        manifests.append(m)
    if not manifests:
        raise ShardError("no shards given")
    counts = {m["count"] for m in manifests}
    if len(counts) != 1:
        raise ShardError(f"shards of different splits: N = {sorted(counts)}")
    n = counts.pop()
    digests = {m.get("config_digest") for m in manifests}
    if len(digests) != 1:
        raise ShardError("shards were scanned with different configs")
    seen: dict[int, Path] = {}
    for m in manifests:
        if m["index"] in seen:
            raise ShardError(f"shard {m['index']}/{n} given twice ({seen[m['index']]}, {m['dir']})")
        seen[m["index"]] = m["dir"]
    missing = [i for i in range(n) if i not in seen]
    if missing:
        raise ShardError(f"missing shard(s) {', '.join(f'{i}/{n}' for i in missing)}")
    return sorted(manifests, key=lambda m: m["index"])


def merge_shards(inv: Inventory, dirs: list[Path], now: datetime | None = None) -> str:
    """One new scan in ``inv`` holding every shard's records: the roster (identities and
    its coverage rows) once, from shard 0, everything else from every shard. Returns the
    new scan id; the caller resolves and analyses it (``scanner.pipeline.analyse_merged``)."""
    manifests = read_manifests(dirs)
    scan_id = inv.begin_scan("merge", manifests[0].get("config_digest") or "", now=now,
                             attributes={"shards": [m["shard"] for m in manifests],
                                         "shard_scans": [m["scan_id"] for m in manifests]})
    roster_only = {TABLES[Identity].name}
    for name in SHARD_TABLES:
        files = [m["dir"] / f"{name}.parquet" for m in manifests
                 if (m["dir"] / f"{name}.parquet").is_file()]
        if name in roster_only:
            files = files[:1]
        if not files:
            continue
        cols = ", ".join(f'"{c}"' for c, _ in _columns(name))
        file_list = "[" + ", ".join("'" + str(f).replace("'", "''") + "'" for f in files) + "]"
        where = ""
        if name == TABLES[Coverage].name and len(files) > 1:
            # roster coverage: every shard loaded it; keep shard 0's rows
            first = "'" + str(files[0]).replace("'", "''") + "'"
            where = f" WHERE collector NOT LIKE 'roster:%' OR filename = {first}"
        inv.con.execute(
            f'INSERT INTO "{name}" SELECT ? AS scan_id, {cols} '
            f"FROM read_parquet({file_list}, filename = true, union_by_name = true){where}",
            [scan_id])
    return scan_id


def _columns(table_name: str) -> tuple[tuple[str, str], ...]:
    for t in TABLES.values():
        if t.name == table_name:
            return t.columns
    raise KeyError(table_name)
