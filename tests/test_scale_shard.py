"""Scale-out: `scan --shard I/N` + `merge` give the same findings as one scan, a missing
shard is refused, and `export --format parquet` writes every table."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest

from scanner.shard import ShardError, parse_shard, read_manifests, shard_of
from tests.conftest import ROOT, run_cli, write_config

DEMO_IAC = ROOT / "fixtures" / "demo" / "iac"
ROSTER = (ROOT / "fixtures" / "demo" / "roster.csv").read_text().splitlines()[1:]


def test_parse_shard():
    assert (parse_shard("0/4").index, parse_shard("3/4").count) == (0, 4)
    for bad in ("4/4", "-1/2", "1", "a/b", "0/0"):
        with pytest.raises(ShardError):
            parse_shard(bad)


def test_shard_of_is_deterministic_and_spreads():
    targets = [f"aws:{i:012d}" for i in range(400)]
    first = [shard_of("aws", t, 4) for t in targets]
    assert first == [shard_of("aws", t, 4) for t in targets]
    sizes = [first.count(i) for i in range(4)]
    assert min(sizes) > 60, sizes  # roughly even: 100 each


def _split_targets(tmp: Path) -> tuple[str, str]:
    """Two IaC directories (demo files split in two) whose targets fall on different
    shards of 2: the names are chosen by the same function the pipeline uses."""
    from collectors.base import CollectorContext
    from scanner.config import load_config
    from scanner.pipeline import make_collectors, shard_target
    from scanner.core.secrets import Fingerprinter

    names = [f"repo{i}" for i in range(20)]
    write_config(tmp, {"collectors": {"iac": [{"path": n} for n in names]}}, ROSTER)
    config = load_config(tmp / "residual.yaml")
    ctx = CollectorContext(fingerprinter=Fingerprinter(b"k" * 32), cache_dir=tmp, now=None)
    by_shard: dict[int, str] = {}
    for c in make_collectors(config, ctx):
        by_shard.setdefault(shard_of(c.name, shard_target(c), 2), c.config["path"])
    a, b = by_shard[0], by_shard[1]
    (tmp / a).mkdir()
    (tmp / b).mkdir()
    shutil.copy(DEMO_IAC / "main.tf", tmp / a / "main.tf")
    shutil.copytree(DEMO_IAC / "k8s", tmp / b / "k8s")
    shutil.copy(DEMO_IAC / "CODEOWNERS", tmp / b / "CODEOWNERS")
    return a, b


def _fingerprints(db: Path, scan_id: str | None = None) -> set[tuple[str, str]]:
    con = duckdb.connect(str(db), read_only=True)
    sid = scan_id or con.execute("SELECT scan_id FROM scans ORDER BY seq DESC LIMIT 1").fetchone()[0]
    rows = con.execute("SELECT rule, fingerprint FROM findings WHERE scan_id = ?", [sid]).fetchall()
    con.close()
    return set(rows)


def test_shards_merge_to_the_same_findings_as_one_scan(tmp_path):
    a, b = _split_targets(tmp_path)
    # the reference: one ordinary scan of both targets, into its own inventory
    # one fingerprint key for all (in a Job: one mounted Secret), or exposures would not
    # compare across shards
    cfg = write_config(tmp_path, {"fingerprint_key": str(tmp_path / "fp.key"),
                                  "collectors": {"iac": [{"path": a}, {"path": b}]}}, ROSTER)
    cfg_whole = tmp_path / "whole.yaml"
    cfg_whole.write_text(cfg.read_text().replace("residual.duckdb", "whole.duckdb"))
    assert run_cli("scan", "-c", str(cfg_whole), "-q").returncode == 1
    expected = _fingerprints(tmp_path / "whole.duckdb")
    assert expected and any(r == "reference.leaver" for r, _ in expected)

    shard_dirs = []
    for i in range(2):
        out = tmp_path / "shared" / f"s{i}"
        p = run_cli("scan", "-c", str(cfg), "-q", "--shard", f"{i}/2", "--shard-out", str(out))
        assert p.returncode == 0, p.stderr
        manifest = json.loads((out / "manifest.json").read_text())
        assert manifest["shard"] == f"{i}/2"
        shard_dirs.append(out)
        # each shard holds exactly its own target, and no findings (rules run on the merge)
        con = duckdb.connect()
        sources = {r[0] for r in con.execute(
            f"SELECT DISTINCT source FROM read_parquet('{out}/accounts.parquet') "
            f"UNION SELECT DISTINCT source FROM read_parquet('{out}/references_.parquet')").fetchall()}
        assert sources == {f"iac:{a if i == 0 else b}"}, sources
        assert not (out / "findings.parquet").exists()

    # a missing shard is refused: its targets would otherwise read as clean
    p = run_cli("merge", "-c", str(cfg), "-q", str(shard_dirs[0]))
    assert p.returncode == 2 and "missing shard(s) 1/2" in p.stderr

    p = run_cli("merge", "-c", str(cfg), "-q", *map(str, shard_dirs))
    assert p.returncode == 1, p.stderr  # residual access found
    merged = _fingerprints(tmp_path / "residual.duckdb")
    assert merged == expected

    con = duckdb.connect(str(tmp_path / "residual.duckdb"), read_only=True)
    sid, command = con.execute("SELECT scan_id, command FROM scans ORDER BY seq DESC LIMIT 1").fetchone()
    assert command == "merge"
    # the roster came once, not once per shard
    assert con.execute("SELECT count(*) FROM identities WHERE scan_id = ?", [sid]).fetchone()[0] == len(ROSTER)
    assert con.execute("SELECT count(*) FROM coverage WHERE scan_id = ? AND collector = 'roster:csv'",
                       [sid]).fetchone()[0] == 1
    con.close()
    # verify answers from the merged scan
    p = run_cli("verify", "-c", str(cfg), "--scan", "latest", "-q", "alice@example.com")
    assert p.returncode == 1
    _check_export(tmp_path, cfg)


def _check_export(tmp_path: Path, cfg: Path) -> None:
    """`export --format parquet` of the whole history, then of one scan."""
    out = tmp_path / "export"
    p = run_cli("export", "-c", str(cfg), "--format", "parquet", "-o", str(out))
    assert p.returncode == 0, p.stderr
    src = duckdb.connect(str(tmp_path / "residual.duckdb"), read_only=True)
    con = duckdb.connect()
    manifest = json.loads((out / "manifest.json").read_text())
    scans = [r[0] for r in src.execute("SELECT scan_id FROM scans ORDER BY seq").fetchall()]
    assert manifest["scans"] == scans and manifest["layout"] == "<scan_id>/<table>.parquet"
    for table in ("scans", "verdicts", "identities", "accounts", "credentials", "grants",
                  "resources", "references_", "exposures", "coverage", "links", "findings"):
        for sid in scans:  # one folder per scan, each file that scan's rows only
            path = out / sid / f"{table}.parquet"
            assert path.is_file(), (sid, table)
            assert oct(path.stat().st_mode & 0o777) == "0o600"
            assert json.loads((out / sid / "manifest.json").read_text())["tables"][table] == \
                con.execute(f"SELECT count(*) FROM read_parquet('{path}')").fetchone()[0] == \
                src.execute(f'SELECT count(*) FROM "{table}" WHERE scan_id = ?', [sid]).fetchone()[0]
        n = con.execute(f"SELECT count(*) FROM read_parquet('{out}/*/{table}.parquet')").fetchone()[0]
        assert n == src.execute(f'SELECT count(*) FROM "{table}"').fetchone()[0] == manifest["tables"][table]
    assert con.execute(f"SELECT count(DISTINCT scan_id) FROM read_parquet('{out}/*/references_.parquet')"
                       ).fetchone()[0] == 3  # two shard scans and the merge
    assert oct((out / scans[0]).stat().st_mode & 0o777) == "0o700"
    # times are TIMESTAMPTZ (UTC-adjusted), the same instants as the inventory's naive UTC
    schema = pq.read_schema(out / scans[-1] / "identities.parquet")
    assert str(schema.field("terminated_at").type) == "timestamp[us, tz=UTC]"
    assert str(pq.read_schema(out / scans[-1] / "scans.parquet").field("started_at").type) == "timestamp[us, tz=UTC]"
    con.execute("SET TimeZone = 'America/New_York'")  # a warehouse in another zone reads the same instant
    exported = con.execute(f"SELECT epoch_us(started_at) FROM read_parquet('{out}/{scans[-1]}/scans.parquet')").fetchone()[0]
    stored = src.execute("SELECT epoch_us(started_at) FROM scans WHERE scan_id = ?", [scans[-1]]).fetchone()[0]
    assert exported == stored
    # one scan only
    p = run_cli("export", "-c", str(cfg), "-o", str(tmp_path / "one"), "--scan", "latest")
    assert p.returncode == 0, p.stderr
    assert [d.name for d in (tmp_path / "one").iterdir() if d.is_dir()] == [scans[-1]]
    assert con.execute(f"SELECT count(*) FROM read_parquet('{tmp_path}/one/{scans[-1]}/findings.parquet')"
                       ).fetchone()[0] == len(_fingerprints(tmp_path / "residual.duckdb"))
    # the export carries no raw secret: the demo's planted password is only a fingerprint
    # (read back decompressed: the files are zstd-compressed)
    text = "".join(str(con.execute(f"SELECT * FROM read_parquet('{f}')").fetchall())
                   for f in out.glob("*/*.parquet"))
    assert "exposure.secret" in text and "demo-Pa55word-not-real-7731" not in text


def test_merge_refuses_mixed_splits(tmp_path):
    for name, shard in (("x", "0/2"), ("y", "1/3")):
        d = tmp_path / name
        d.mkdir()
        i, n = shard.split("/")
        (d / "manifest.json").write_text(json.dumps({
            "schema": "residual/shard/v1", "shard": shard, "index": int(i), "count": int(n),
            "scan_id": "s", "config_digest": "c", "tables": {}}))
    with pytest.raises(ShardError, match="different splits"):
        read_manifests([tmp_path / "x", tmp_path / "y"])
    with pytest.raises(ShardError, match="not a shard"):
        read_manifests([tmp_path])


def test_indexed_job_manifest_runs_one_shard_per_index():
    import yaml

    docs = list(yaml.safe_load_all((ROOT / "deploy" / "k8s" / "indexed-job.yaml").read_text()))
    jobs = {d["metadata"]["name"]: d for d in docs if d["kind"] == "Job"}
    shards = jobs["residual-shards"]["spec"]
    assert shards["completionMode"] == "Indexed"
    pod = shards["template"]["spec"]
    container = pod["containers"][0]
    env = {e["name"]: e["value"] for e in container["env"]}
    assert int(env["SHARDS"]) == shards["completions"]
    script = " ".join(container["args"])
    assert '--shard "${JOB_COMPLETION_INDEX}/${SHARDS}"' in script
    merge = " ".join(jobs["residual-merge"]["spec"]["template"]["spec"]["containers"][0]["args"])
    assert f"shard-*-of-{shards['completions']}" in merge and "residual merge" in merge
    # the config it ships is a valid residual config (collectors and all)
    config = yaml.safe_load(next(d for d in docs if d["kind"] == "ConfigMap")["data"]["residual.yaml"])
    assert config["fingerprint_key"].startswith("/keys/")
    assert pod["automountServiceAccountToken"] is False
