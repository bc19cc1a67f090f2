"""`residual evidence`: proof for auditors, over the inventory's history (scanner.evidence)."""

from __future__ import annotations

import sys
from datetime import date
from pathlib import Path

import click

from reports.evidence import FORMATS, render_with_manifest, verify_file
from scanner.cli.common import UsageFailure, config_option, console, load, open_inventory, write_private
from scanner.evidence import build
from scanner.pipeline import now_utc


def _day(value: str, flag: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise UsageFailure(f"{flag} {value!r}: not a date (YYYY-MM-DD)") from None


@click.command()
@config_option
@click.option("--from", "date_from", metavar="YYYY-MM-DD",
              help="first day of the period (terminations on or after it)")
@click.option("--to", "date_to", metavar="YYYY-MM-DD",
              help="last day of the period, inclusive; scans after it are not drawn on")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="html", show_default=True,
              help="html: printable, for auditors; csv: one row per leaver and access item; json; md")
@click.option("-o", "--output", default=None,
              help="file to write (default: stdout); CSV gets FILE.manifest.json beside it")
@click.option("--verify", "verify_path", default=None, metavar="FILE",
              help="re-check an evidence file against its SHA-256 manifest and exit "
                   "(0 matches, 1 changed or no manifest)")
def evidence(config_path: str, date_from: str | None, date_to: str | None, fmt: str,
             output: str | None, verify_path: str | None) -> None:
    """Per leaver of a period and per access item: first seen, last seen live, when and how
    it was removed, time from termination against policy.removal_sla_hours, use after
    termination, exceptions, and what was not evidenced (docs/evidence.md). Exit 0; 2 on
    bad input."""
    if verify_path:
        p = Path(verify_path)
        if not p.is_file():
            raise UsageFailure(f"--verify {verify_path}: no such file")
        ok, line = verify_file(p)
        click.echo(line)
        sys.exit(0 if ok else 1)
    if not date_from or not date_to:
        raise UsageFailure("evidence: --from and --to are required (YYYY-MM-DD)")
    start, end = _day(date_from, "--from"), _day(date_to, "--to")
    if end < start:
        raise UsageFailure("evidence: --to is before --from")
    config = load(config_path)
    with open_inventory(config, read_only=True) as inv:
        ev = build(inv, start, end, sla_hours=config.policy.removal_sla_hours, now=now_utc())
    if not ev.scans:
        click.echo("residual: warning: no finished scan in or before the period: "
                   "nothing is evidenced", err=True)
    text, sidecar = render_with_manifest(ev, fmt, str(config.inventory))
    if output:
        out = Path(output)
        write_private(out, text)
        if sidecar:
            write_private(out.with_name(out.name + ".manifest.json"), sidecar)
        console.print(f"wrote {output}")
    else:
        click.echo(text, nl=False)
