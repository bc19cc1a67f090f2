"""Incremental rescans: a target whose change token (content hash, ETag, report time) is
the one the previous complete read recorded is copied in the inventory, not re-collected;
a changed or previously partial target is collected again."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from collectors.base import Collector
from scanner.config import load_config
from scanner.core.model import Account, Coverage, Credential, make_uid
from scanner.core.store import Inventory
from scanner.pipeline import run_scan
from tests.conftest import write_config

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
ROSTER = ["alice@example.com,Alice,alice@example.com,human,terminated,2026-11-01,,files:alice",
          "bob@example.com,Bob,bob@example.com,human,active,,,files:bob"]


class FileTreeCollector(Collector):
    """A collector over a directory of JSON account files: its change token is the
    content hash of the tree, the cheapest "has anything changed" question it can ask."""

    name = "filetree"
    layer = "saas"
    reads = 0  # files parsed, over all instances (what reuse saves)

    def describe(self) -> str:
        return f"files:{Path(self.config['path']).name}"

    def collect(self, sink, scope=None) -> None:
        root = Path(self.config["path"])
        source = self.describe()
        with self.target(sink, str(root.name)) as run:
            token = tree_hash(root)
            if not self.config.get("partial") and self.reuse_if_unchanged(sink, run, token, [source]):
                return
            for f in sorted(root.glob("*.json")):
                FileTreeCollector.reads += 1
                data = json.loads(f.read_text())
                acc = Account(system="files", source=source, native_id=data["login"],
                              login=data["login"], status=data.get("status", "active"))
                sink.emit(acc)
                sink.emit(Credential(system="files", source=source, native_id=f"key-{data['login']}",
                                     kind="api_key", holder=acc.uid, status="active",
                                     created_at=NOW, last_used_at=NOW))
            if self.config.get("partial"):
                run.partial("one page could not be read")


def tree_hash(root: Path) -> str:
    h = hashlib.sha256()
    for f in sorted(root.glob("*.json")):
        h.update(f.name.encode() + b"\0" + f.read_bytes())
    return h.hexdigest()


@pytest.fixture
def estate(tmp_path, monkeypatch):
    """Two targets (two directories) and a pipeline that runs the file-tree collector
    on them."""
    for name, logins in (("team-a", ["alice", "bob"]), ("team-b", ["carol-bot"])):
        d = tmp_path / name
        d.mkdir()
        for login in logins:
            (d / f"{login}.json").write_text(json.dumps({"login": login}))
    cfg = write_config(tmp_path, {}, ROSTER)
    config = load_config(cfg)
    blocks = [{"path": str(tmp_path / "team-a")}, {"path": str(tmp_path / "team-b")}]

    def make(config, ctx, only=None):
        return [FileTreeCollector({**b, **extra.get(b["path"], {})}, ctx) for b in blocks]
    extra: dict[str, dict] = {}
    import scanner.pipeline as pipeline
    from collectors import registry
    monkeypatch.setattr(pipeline, "make_collectors", make)
    # the test's collector is no package: declare its system as its SYSTEMS would
    monkeypatch.setitem(registry.system_layers(), "files", "saas")
    FileTreeCollector.reads = 0
    return tmp_path, config, extra


def _scan(config, now=NOW):
    with Inventory(config.inventory) as inv:
        r = run_scan(config, inv, now=now)
        accounts = {a.uid for a in inv.load(Account, r.scan_id)}
        creds = inv.count(Credential, r.scan_id)
        cov = {c.target: c for c in inv.load(Coverage, r.scan_id) if c.collector.startswith("files:")}
    return r, accounts, creds, cov


def test_unchanged_target_is_copied_not_collected(estate):
    tmp, config, _ = estate
    first, accounts1, creds1, cov1 = _scan(config)
    assert FileTreeCollector.reads == 3
    assert cov1["team-a"].attributes["change_token"] == tree_hash(tmp / "team-a")
    assert any(f.rule == "account.active_after_termination" and f.identity == "alice@example.com"
               for f in first.findings)

    second, accounts2, creds2, cov2 = _scan(config)
    assert FileTreeCollector.reads == 3  # nothing parsed again
    assert accounts2 == accounts1 and creds2 == creds1 == 3
    assert cov2["team-a"].attributes["reused_from"] == first.scan_id
    assert cov2["team-a"].status == "ok" and cov2["team-a"].records == cov1["team-a"].records == 4
    # analysis runs on the copied records as on collected ones
    assert {f.fingerprint for f in second.findings} == {f.fingerprint for f in first.findings}

    # a change in one target: that target only is collected again
    (tmp / "team-b" / "dave-bot.json").write_text(json.dumps({"login": "dave-bot"}))
    third, accounts3, _, cov3 = _scan(config)
    assert FileTreeCollector.reads == 3 + 2
    assert make_uid("files:team-b", "dave-bot") in accounts3
    assert "reused_from" not in cov3["team-b"].attributes
    assert cov3["team-a"].attributes["reused_from"] == second.scan_id  # the chain goes on


def test_partial_read_is_never_reused(estate):
    tmp, config, extra = estate
    extra[str(tmp / "team-a")] = {"partial": True}
    _scan(config)
    reads = FileTreeCollector.reads
    extra.clear()
    _, _, _, cov = _scan(config)
    # team-a was partial last time: read again; team-b was complete: copied
    assert FileTreeCollector.reads == reads + 2
    assert "reused_from" not in cov["team-a"].attributes
    assert "reused_from" in cov["team-b"].attributes


def test_copy_sources_copies_only_those_sources(tmp_path):
    with Inventory(tmp_path / "i.duckdb") as inv:
        s1 = inv.begin_scan("scan")
        inv.insert(s1, [Account(system="x", source="x:1", native_id="a"),
                        Account(system="x", source="x:2", native_id="b"),
                        Credential(system="x", source="x:1", native_id="k", kind="pat", holder="x:1|a"),
                        Credential(system="x", source="x:1", native_id="k2", kind="pat", holder="x:1|a",
                                   attributes={"deep": True})])
        s2 = inv.begin_scan("scan")
        copied = inv.copy_sources(s1, s2, ["x:1"])
        assert copied == {"accounts": 1, "credentials": 1}  # not the deep-pass record
        assert [a.uid for a in inv.load(Account, s2)] == ["x:1|a"]
        assert inv.load(Credential, s2)[0].holder == "x:1|a"
        assert inv.count(Account, s1) == 2  # the old scan is untouched
