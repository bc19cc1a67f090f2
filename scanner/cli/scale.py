"""Scale-out commands: `residual scan --shard I/N` (its body), `residual merge` and
`residual export` (see scanner/shard.py, scanner/export.py, docs/scale.md)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from scanner.cli.common import (
    EXIT_CLEAN, EXIT_INCOMPLETE, EXIT_RESIDUAL, UsageFailure, common_options, config_option,
    console, coverage_problems, load, open_inventory, print_scan_summary, run, setup_logging,
)
from scanner.core.model import severity_rank
from scanner.core.store import Inventory
from scanner.export import export_parquet
from scanner.pipeline import analyse_merged, now_utc
from scanner.shard import ShardError, merge_shards, parse_shard, write_shard


def scan_shard(config, quiet: bool, only: tuple[str, ...], spec: str, out: str | None) -> None:
    """Collect one shard into the (pod-local) inventory and write it as Parquet. Exit 0
    when every target of the shard was read, 3 when one failed (the merge will say so
    too: the failed coverage rows travel with the shard)."""
    try:
        shard = parse_shard(spec)
    except ShardError as exc:
        raise UsageFailure(str(exc)) from None
    out_dir = Path(out) if out else config.inventory.parent / "shards" / f"shard-{shard.index}-of-{shard.count}"
    result = run(config, quiet, command=Inventory.SCAN_SHARD, only=only or None, shard=shard)
    with Inventory(config.inventory, external_access=True) as inv:  # writes the shard's Parquet
        counts = write_shard(inv, result.scan_id, shard, out_dir, config.digest(), now_utc())
    if not quiet:
        console.print(f"shard {shard}: {sum(counts.values())} records, "
                      f"{len(result.coverage)} coverage rows -> {out_dir}")
    sys.exit(EXIT_INCOMPLETE if result.status == "incomplete" else EXIT_CLEAN)



@click.command()
@common_options
@click.argument("shards", nargs=-1, required=True, type=click.Path(file_okay=False))
@click.option("--fail-on", type=click.Choice(["info", "low", "medium", "high", "critical"]),
              default=None, help="exit 1 at or above this severity (default: policy.fail_on)")
def merge(config_path: str, quiet: bool, verbose: int, shards: tuple[str, ...],
          fail_on: str | None) -> None:
    """Build one scan from the shards written by `residual scan --shard I/N`, then
    resolve, run the rules and give verdicts on the whole estate. Every shard
    0..N-1 must be there (a missing one is an error, not a smaller estate)."""
    config = load(config_path)
    setup_logging(verbose, quiet, config)
    now = now_utc()
    with open_inventory(config, external_access=True) as inv:  # reads the shards' Parquet
        try:
            scan_id = merge_shards(inv, [Path(s) for s in shards], now=now)
        except ShardError as exc:
            raise UsageFailure(str(exc)) from None
        result = analyse_merged(inv, scan_id, config, now=now)
    coverage_problems(result)
    if not quiet:
        print_scan_summary(result)
    threshold = severity_rank(fail_on or config.policy.fail_on)
    if any(f.status != "waived" and severity_rank(f.severity) >= threshold for f in result.findings):
        sys.exit(EXIT_RESIDUAL)
    sys.exit(EXIT_INCOMPLETE if result.status == "incomplete" else EXIT_CLEAN)

@click.command()
@config_option
@click.option("--format", "fmt", type=click.Choice(["parquet"]), default="parquet", show_default=True,
              help="parquet: a folder per scan, a file per table in it, for Spark, Trino, DuckDB or pandas")
@click.option("-o", "--output", "out_dir", required=True, type=click.Path(file_okay=False),
              help="directory to write <scan_id>/<table>.parquet files into")
@click.option("--scan", "scan_id", default=None,
              help="only this scan (or 'latest'); default: the whole history")
def export(config_path: str, fmt: str, out_dir: str, scan_id: str | None) -> None:
    """Write every table of the inventory as Parquet, for warehouse engines."""
    config = load(config_path)
    with open_inventory(config, read_only=True, external_access=True) as inv:  # writes Parquet
        if scan_id == "latest":
            scan_id = inv.latest_scan_id()
            if not scan_id:
                raise UsageFailure("no finished scan yet")
        elif scan_id and not inv.scan(scan_id):
            raise UsageFailure(f"--scan {scan_id}: no such scan")
        counts = export_parquet(inv, Path(out_dir), scan_id)
    console.print(f"wrote {len(counts)} tables, {sum(counts.values())} rows -> {out_dir}")
    sys.exit(EXIT_CLEAN)
