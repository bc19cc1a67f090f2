"""The DESIGN.md commands: `residual scan`, `verify`, `report`, `diff`, `demo`.

Exit codes (DESIGN.md): 0 clean; 1 residual access, or findings at or above --fail-on;
2 usage or configuration error (one line, nothing written); 3 incomplete: a layer could
not be verified and nothing else was found.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from fixtures.demo.run import DemoError, remove_alice_keys, run_demo
from reports import ReportInput, formats, render, splitters, streamers
from reports.diff import diff_scans
from scanner.cli.common import (
    EXIT_CLEAN, EXIT_INCOMPLETE, EXIT_RESIDUAL, LISTING_FORMATS, UsageFailure, common_options,
    config_option, console, coverage_problems, emit_rows, load, open_inventory, out,
    print_scan_summary, print_verdicts, run, setup_logging,
    verify_live_option, write_folder, write_private,
)
from scanner.cli.scale import scan_shard
from scanner.core.errors import RosterError
from scanner.core.model import LAYERS, SEVERITIES, Finding, severity_rank
from scanner.core.store import Inventory
from scanner.core.timeparse import json_default
from scanner.engine import exit_code_for, overall, verdicts_for
from scanner.pipeline import load_roster
from scanner.resolve import Resolver, identities_named


# --- scan --------------------------------------------------------------------------------


@click.command()
@common_options
@click.option("--only", multiple=True, help="run only these collectors (repeatable)")
@click.option("--fail-on", type=click.Choice(SEVERITIES), default=None,
              help="exit 1 when a finding is at or above this severity (default: policy.fail_on)")
@click.option("--shard", "shard_spec", default=None, metavar="I/N",
              help="collect only shard I of N (by target) and write it for `residual merge`")
@click.option("--shard-out", default=None, help="directory for the shard (default: next to the inventory)")
@click.option("--format", "fmt", type=click.Choice(LISTING_FORMATS), default="table",
              help="the summary on stdout: table, json or tsv (coverage rows; json adds verdicts)")
@verify_live_option
def scan(config_path: str, quiet: bool, verbose: int, only: tuple[str, ...],
         fail_on: str | None, shard_spec: str | None = None, shard_out: str | None = None,
         verify_live: bool = False, fmt: str = "table") -> None:
    """Collect every configured source, resolve, run the rules, store the scan."""
    config = load(config_path, verify_live)
    setup_logging(verbose, quiet, config)
    unknown = [o for o in only if o not in config.collectors]
    if unknown:
        raise UsageFailure(f"--only {unknown[0]}: not a configured collector "
                           f"(configured: {', '.join(sorted(config.collectors)) or 'none'})")
    if shard_spec:  # scale-out: scanner/cli/scale.py
        scan_shard(config, quiet, only, shard_spec, shard_out)
    result = run(config, quiet, command="scan", only=only or None)
    threshold = severity_rank(fail_on or config.policy.fail_on)
    coverage_problems(result)
    if fmt == "json":
        click.echo(json.dumps({"scan_id": result.scan_id, "status": result.status,
                               "coverage": [{"collector": c.collector, "target": c.target,
                                             "layer": c.layer, "status": c.status, "error": c.error}
                                            for c in result.coverage],
                               "verdicts": {i: {"verdict": overall(v), "layers": v}
                                            for i, v in result.verdicts.items()},
                               "findings": [_finding_ref(f) for f in result.findings]},
                              indent=2, default=json_default))
    elif fmt == "tsv" or not quiet:
        print_scan_summary(result, fmt)
    blocking = [f for f in result.findings
                if f.status != "waived" and severity_rank(f.severity) >= threshold]
    # a leaver with a residual verdict is exit 1 as in `verify`, whatever --fail-on says
    # (an IaC-only scan used to exit 0 where `verify` of the same leaver exited 1)
    if blocking or any(overall(v) == "residual" for v in result.verdicts.values()):
        sys.exit(EXIT_RESIDUAL)
    if result.status == "incomplete":
        sys.exit(EXIT_INCOMPLETE)
    sys.exit(EXIT_CLEAN)


# --- verify ------------------------------------------------------------------------------


@click.command()
@common_options
@click.argument("identities", nargs=-1, required=True)
@click.option("--scan", "scan_id", default=None,
              help="give verdicts from this stored scan instead of scanning now")
@click.option("--live", is_flag=True,
              help="targeted: ask each source only about these identities' known accounts")
@click.option("--format", "fmt", type=click.Choice(LISTING_FORMATS), default="table",
              help="table, json (verdicts with the residue: finding ids) or tsv")
@verify_live_option
def verify(config_path: str, quiet: bool, verbose: int, identities: tuple[str, ...],
           scan_id: str | None, live: bool, fmt: str, verify_live: bool = False) -> None:
    """Post-offboarding verification: a per-layer verdict for each IDENTITY.

    Exit 0 clean, 1 residual access, 2 usage or config error, 3 incomplete (a layer could
    not be verified), 130 interrupted."""
    config = load(config_path, verify_live)
    setup_logging(verbose, quiet, config)
    if scan_id:
        with open_inventory(config, read_only=True) as inv:
            verdicts, sources, active = _stored_verdicts(inv, scan_id, identities)
            residue = _stored_residue(inv, sources) if fmt == "json" else {}
    else:
        try:
            roster = load_roster(config)
        except RosterError as exc:
            raise UsageFailure(str(exc)) from None
        resolver = Resolver(roster)
        ids, active = [], {}
        for name in identities:
            ident = resolver.find(name)
            if ident is None:
                why = "" if roster else (" (no roster is configured)" if not config.roster
                                         else " (the roster is empty)")
                raise UsageFailure(f"{name}: not in the roster{why}")
            ids.append(ident.id)
            if not ident.is_leaver:
                active[ident.id] = ident.status
        result = run(config, quiet, command=Inventory.VERIFY_LIVE if live else "verify", verify=set(ids))
        verdicts = {i: result.verdicts.get(i, {}) for i in ids}
        sources = {i: {l: result.scan_id for l in v} for i, v in verdicts.items()}
        residue = {i: [f for f in result.findings if f.identity == i] for i in ids}
        coverage_problems(result)
    for ident_id, status in active.items():
        click.echo(f"residual: {ident_id} is {status} in the roster, not a leaver: its verdict is a "
                   "hygiene verdict (findings about what it holds), not residual access"
                   + (f"; the stored scan did not check it in depth (`residual verify --live {ident_id}` does)"
                      if scan_id else ""), err=True)
    if fmt == "json":
        click.echo(json.dumps({i: {"verdict": overall(v), "layers": v, "scans": sources[i],
                                   "kind": "hygiene" if i in active else "offboarding",
                                   **({"status": active[i]} if i in active else {}),
                                   "residue": [_finding_ref(f) for f in residue.get(i, [])
                                               if f.status != "waived"]}
                               for i, v in verdicts.items()}, indent=2, default=json_default))
    elif fmt == "tsv" or not quiet:
        print_verdicts(verdicts, fmt)
    sys.exit(exit_code_for(overall(v) for v in verdicts.values()))


def _finding_ref(f) -> dict[str, Any]:
    """A finding as a result line names it: its id (the fingerprint `diff`, waivers and the
    reports use), rule, severity, where, and what it is about."""
    return {"id": f.fingerprint, "rule": f.rule, "severity": f.severity, "layer": f.layer,
            "system": f.system, "identity": f.identity, "object_kind": f.object_kind,
            "object": f.object_name or f.object_id, "status": f.status}


def _stored_residue(inv: Inventory, sources: dict[str, dict[str, str]]) -> dict[str, list]:
    """The findings about each identity in the scans its stored verdicts come from."""
    by_scan = {sid: inv.findings(sid) for sids in sources.values() for sid in set(sids.values())}
    return {i: [f for sid in sorted(set(s.values())) for f in by_scan[sid] if f.identity == i]
            for i, s in sources.items()}


def _stored_verdicts(inv: Inventory, scan_id: str, names: tuple[str, ...]):
    """Stored verdicts for NAMES, with the scan each layer's verdict comes from, and the
    identities that are not leavers (id -> status). ``latest``: per layer, the newest run
    that actually checked the identity there (``Inventory.latest_verdicts``): a targeted
    run of someone else, a partial scan's skipped layers and shards never speak for it.
    An active identity has no stored verdict (scans verify leavers): its hygiene verdict
    is computed from the scan's findings and coverage, as ``verify`` without --scan gives."""
    if scan_id != "latest" and not inv.scan(scan_id):
        raise UsageFailure(f"--scan {scan_id}: no such scan")
    verdicts, sources, active = {}, {}, {}
    for name in names:
        if scan_id == "latest":
            ident = _find_stored(inv, name)
            if ident is None:
                raise UsageFailure(f"{name}: not in the roster of any finished scan")
            found = inv.latest_verdicts(ident.id)
            if not found and not ident.is_leaver and inv.latest_scan_id():
                active[ident.id] = ident.status
                verdicts[ident.id], sources[ident.id] = _hygiene(inv, inv.latest_scan_id(), ident)
                continue
            if not found:
                raise UsageFailure(f"{name}: no stored verdict for this identity (it was not a "
                                   "leaver then); run `residual verify` without --scan")
            verdicts[ident.id] = {l: found[l][0] for l in LAYERS if l in found}
            sources[ident.id] = {l: found[l][1] for l in LAYERS if l in found}
            if not ident.is_leaver:
                active[ident.id] = ident.status
            continue
        ident = Resolver(identities_named(inv, scan_id, (name,))).find(name)  # not the whole roster
        if ident is None:
            raise UsageFailure(f"{name}: not in the roster of scan {scan_id}")
        stored = inv.verdicts(scan_id)
        if not ident.is_leaver:
            active[ident.id] = ident.status
            if ident.id not in stored:
                verdicts[ident.id], sources[ident.id] = _hygiene(inv, scan_id, ident)
                continue
        if ident.id not in stored:
            raise UsageFailure(f"{name}: scan {scan_id} has no verdict for this identity "
                               "(it was not a leaver then, or the run was about someone else); "
                               "run `residual verify` without --scan")
        verdicts[ident.id] = stored[ident.id]
        sources[ident.id] = {l: scan_id for l in stored[ident.id]}
    return verdicts, sources, active


def _hygiene(inv: Inventory, scan_id: str, ident) -> tuple[dict[str, str], dict[str, str]]:
    """An active identity's verdict per layer from one scan's findings and coverage (the
    engine's rule: findings that name it, failed or partial layers incomplete). A scan's
    deep pass asks about leavers only (an active person's key ids, token details and
    sessions were not read), so a layer without a finding is ``incomplete`` here, never
    ``clean``: ``verify --live`` checks the person in depth."""
    not_run = set(((inv.scan(scan_id) or {}).get("attributes") or {}).get("not_run") or ())
    mine = inv.load(Finding, scan_id, "identity = ?", [ident.id])  # not the whole scan's findings
    layers = verdicts_for([ident], mine, inv.coverage(scan_id), not_run=not_run)[ident.id]
    layers = {l: "incomplete" if v == "clean" else v for l, v in layers.items()}
    return layers, {l: scan_id for l in layers}


def _find_stored(inv: Inventory, name: str):
    """NAME in the roster of the newest finished scan whose roster knows it."""
    for (sid,) in inv.query("SELECT scan_id FROM scans WHERE status IN ('complete', 'incomplete') "
                            "ORDER BY seq DESC"):
        ident = Resolver(identities_named(inv, sid, (name,))).find(name)
        if ident is not None:
            return ident
    return None


# --- report ------------------------------------------------------------------------------


@click.command()
@config_option
@click.option("--scan", "scan_id", default=None, help="scan id (default: the latest)")
@click.option("--format", "fmt", required=True,
              help=f"one of: {', '.join(sorted(formats()))}")
@click.option("-o", "--output", default=None, help="file to write (default: stdout)")
@click.option("--sarif-profile", type=click.Choice(["github", "generic"]), default=None,
              help="sarif: github (default; uploads to code scanning: files of the repository "
                   "only) or generic (every finding)")
@click.option("--bom", is_flag=True, default=False,
              help="csv: start with a UTF-8 byte order mark (for Excel)")
@click.option("--split", type=click.Choice(["per-leaver"]), default=None,
              help="md: one file per leaver plus index.md, each under 65,536 characters "
                   "(an issue body's limit), into the folder -o names")
def report(config_path: str, scan_id: str | None, fmt: str, output: str | None,
           sarif_profile: str | None, bom: bool, split: str | None) -> None:
    """Render a stored scan as a report."""
    if fmt not in formats():
        raise UsageFailure(f"--format {fmt}: unknown format (known: {', '.join(sorted(formats()))})")
    options: dict[str, Any] = {}
    if sarif_profile:
        if fmt != "sarif":
            raise UsageFailure(f"--sarif-profile: only for --format sarif, not {fmt}")
        options["sarif_profile"] = sarif_profile
    if bom:
        if fmt != "csv":
            raise UsageFailure(f"--bom: only for --format csv, not {fmt}")
        options["bom"] = True
    if split:
        if fmt not in splitters():
            raise UsageFailure(f"--split: only for --format {', '.join(sorted(splitters()))}, not {fmt}")
        if not output:
            raise UsageFailure("--split: give the folder to write the files into with -o")
    config = load(config_path)
    with open_inventory(config, read_only=True) as inv:
        sid = scan_id or inv.latest_scan_id()
        if not sid or not inv.scan(sid):
            raise UsageFailure(f"--scan {scan_id}: no such scan" if scan_id else "no finished scan yet")
        if split:
            files = splitters()[fmt](inv, sid, ReportInput.from_config(config), split=split)
            write_folder(Path(output), files)
            console.print(f"wrote {len(files)} files -> {output}")
            return
        if output and fmt in streamers():  # large formats: written chunk by chunk
            Path(output).parent.mkdir(parents=True, exist_ok=True)
            write_private(Path(output), (c.encode() for c in streamers()[fmt](inv, sid, ReportInput.from_config(config))))
            console.print(f"wrote {output}")
            return
        text = render(fmt, inv, sid, ReportInput.from_config(config), **options)
    if output:
        write_private(Path(output), text)
        console.print(f"wrote {output}")
    else:
        click.echo(text)


# --- diff --------------------------------------------------------------------------------


@click.command()
@config_option
@click.option("--from", "from_id", default=None, help="older scan (default: the one before --to)")
@click.option("--to", "to_id", default=None, help="newer scan (default: the latest)")
@click.option("--format", "fmt", type=click.Choice(LISTING_FORMATS), default="table",
              help="table, json (new, resolved, persisting) or tsv (one row a finding, its kind first)")
def diff(config_path: str, from_id: str | None, to_id: str | None, fmt: str) -> None:
    """New, resolved and persisting findings between two scans. Exit 1 if anything is new."""
    config = load(config_path)
    with open_inventory(config, read_only=True) as inv:
        to_id = to_id or inv.latest_scan_id()
        if not to_id or not inv.scan(to_id):
            raise UsageFailure("--to: no such scan")
        from_id = from_id or inv.previous_scan_id(to_id)
        if not from_id or not inv.scan(from_id):
            raise UsageFailure("--from: no earlier scan to compare with")
        d = diff_scans(inv, from_id, to_id)
    if fmt == "json":
        click.echo(json.dumps(d, indent=2, default=json_default))
    else:
        cols = ["severity", "rule", "identity", "object", "fingerprint"]
        rows = {k: [[f["severity"], f["rule"], f["identity"] or "", f["object"], f["fingerprint"]]
                    for f in d[k]] for k in ("new", "resolved", "persisting")}
        if fmt == "tsv":
            emit_rows("tsv", ["kind", *cols], [[k, *r] for k, rs in rows.items() for r in rs])
        else:
            for kind, rs in rows.items():
                emit_rows("table", cols, rs, title=f"{kind} ({len(rs)})")
    sys.exit(EXIT_RESIDUAL if d["new"] else EXIT_CLEAN)


# --- demo --------------------------------------------------------------------------------


@click.command()
@click.option("--out", "out_dir", default="demo-output", show_default=True,
              help="folder for the config, inventory and reports: new, empty, or a previous "
                   "demo's output (anything else is refused)")
@click.option("--serve", is_flag=True,
              help="keep the estate up until Ctrl-C, so scan, diff and verify can be tried")
@click.option("--reset", is_flag=True, help="start the inventory afresh (default: keep history)")
@click.option("--remove-alice-keys", "remove_keys", is_flag=True,
              help="the change to try between two scans: delete alice's AWS access keys in the "
                   "estate a running `demo --serve` keeps up")
@click.option("-q", "--quiet", is_flag=True, help="no progress lines")
def demo(out_dir: str, serve: bool, reset: bool, remove_keys: bool, quiet: bool) -> None:
    """Start the bundled demo estate on 127.0.0.1, scan it, and write the reports."""
    setup_logging(0, quiet)
    try:
        if remove_keys:
            keys = remove_alice_keys(Path(out_dir))
            out.print(f"deleted alice's access keys: {', '.join(keys) or 'none left'}")
            sys.exit(EXIT_CLEAN)
        code = run_demo(Path(out_dir), quiet=quiet, console=console, reset=reset, serve=serve)
    except DemoError as exc:
        raise UsageFailure(str(exc)) from None
    sys.exit(code)
