"""The ``residual`` command line.

Exit codes (DESIGN.md): 0 clean; 1 residual access, or findings at or above --fail-on;
2 usage or configuration error (one line, nothing written); 3 incomplete: a layer could
not be verified and nothing else was found.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from scanner.config import Config, ConfigError, load_config
from scanner.engine import exit_code_for, overall
from scanner.inventory import Inventory, InventoryError
from scanner.model import LAYERS, SEVERITIES, severity_rank

EXIT_CLEAN, EXIT_RESIDUAL, EXIT_USAGE, EXIT_INCOMPLETE = 0, 1, 2, 3

console = Console(stderr=True)
out = Console()


class UsageFailure(click.ClickException):
    exit_code = EXIT_USAGE

    def show(self, file: Any = None) -> None:
        click.echo(f"residual: error: {self.message}", err=True)


def _config(path: str, verify_live: bool = False) -> Config:
    try:
        config = load_config(path)
    except ConfigError as exc:
        raise UsageFailure(str(exc)) from None
    if verify_live:  # --verify-live: the iac collectors' opt-in, for this run only
        if not config.collectors.get("iac"):
            raise UsageFailure("--verify-live: no iac collector configured (it checks the "
                               "secrets that collector finds)")
        for block in config.collectors["iac"]:
            block["verify_live"] = True
    return config


def _open(config: Config, read_only: bool = False) -> Inventory:
    if read_only and not config.inventory.exists():
        raise UsageFailure(f"{config.inventory}: no inventory yet; run `residual scan` first")
    try:
        return Inventory(config.inventory, read_only=read_only)
    except InventoryError as exc:
        raise UsageFailure(config.redact_text(str(exc))) from None


def _progress(quiet: bool) -> Progress | None:
    if quiet or not sys.stderr.isatty():
        return None
    return Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(),
                    TextColumn("{task.completed}/{task.total}"), TimeElapsedColumn(),
                    console=console, transient=True)


def _setup_logging(verbose: int, quiet: bool, config: Config | None = None) -> None:
    level = logging.WARNING
    if quiet:
        level = logging.ERROR
    if verbose == 1:
        level = logging.INFO
    elif verbose >= 2:
        level = logging.DEBUG
    handler = logging.StreamHandler(sys.stderr)
    if config is not None:
        handler.addFilter(_RedactFilter(config))
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in ("botocore", "boto3", "urllib3", "kubernetes", "github", "gitlab", "werkzeug"):
        logging.getLogger(noisy).setLevel(max(level, logging.WARNING))


class _RedactFilter(logging.Filter):
    """Tokens from the config never reach a log line, whatever library logged it."""

    def __init__(self, config: Config):
        super().__init__()
        self.config = config

    def filter(self, record: logging.LogRecord) -> bool:
        msg = record.getMessage()
        red = self.config.redact_text(msg)
        if red != msg:
            record.msg, record.args = red, ()
        if record.exc_info:  # a traceback can quote a URL or header with the token in it
            record.exc_text = self.config.redact_text(
                logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        return True


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="residual")
def main() -> None:
    """residual: find the access that survives offboarding."""
    os.umask(0o077)  # inventories, keys and reports are created 0600


def config_option(f):
    return click.option("-c", "--config", "config_path", default="residual.yaml",
                        show_default=True, help="config file")(f)


def verify_live_option(f):
    return click.option("--verify-live", is_flag=True,
                        help="opt-in: ask each provider's identity endpoint whether the exposed "
                             "credentials the iac collector finds still work (docs/iac.md)")(f)


def common_options(f):
    f = click.option("-q", "--quiet", is_flag=True, help="no progress, no tables")(f)
    f = click.option("-v", "--verbose", count=True, help="more logging (-vv: debug)")(f)
    return config_option(f)


# --- scan --------------------------------------------------------------------------------


@main.command()
@common_options
@click.option("--only", multiple=True, help="run only these collectors (repeatable)")
@click.option("--fail-on", type=click.Choice(SEVERITIES), default=None,
              help="exit 1 when a finding is at or above this severity (default: policy.fail_on)")
@click.option("--shard", "shard_spec", default=None, metavar="I/N",
              help="collect only shard I of N (by target) and write it for `residual merge`")
@click.option("--shard-out", default=None, help="directory for the shard (default: next to the inventory)")
@verify_live_option
def scan(config_path: str, quiet: bool, verbose: int, only: tuple[str, ...],
         fail_on: str | None, shard_spec: str | None = None, shard_out: str | None = None,
         verify_live: bool = False) -> None:
    """Collect every configured source, resolve, run the rules, store the scan."""
    config = _config(config_path, verify_live)
    _setup_logging(verbose, quiet, config)
    unknown = [o for o in only if o not in config.collectors]
    if unknown:
        raise UsageFailure(f"--only {unknown[0]}: not a configured collector "
                           f"(configured: {', '.join(sorted(config.collectors)) or 'none'})")
    if shard_spec:  # scale-out: scanner/cli_scale.py
        from scanner.cli_scale import scan_shard
        scan_shard(config, quiet, only, shard_spec, shard_out)
    result = _run(config, quiet, command="scan", only=only or None)
    threshold = severity_rank(fail_on or config.policy.fail_on)
    if not quiet:
        _print_scan_summary(result)
    blocking = [f for f in result.findings
                if f.status != "waived" and severity_rank(f.severity) >= threshold]
    if blocking:
        sys.exit(EXIT_RESIDUAL)
    if result.status == "incomplete":
        sys.exit(EXIT_INCOMPLETE)
    sys.exit(EXIT_CLEAN)


def _run(config: Config, quiet: bool, **kwargs: Any):
    from reports.waivers import load_waivers
    from scanner.pipeline import now_utc, run_scan
    from scanner.roster import RosterError

    try:  # waiver expiry is judged at the scan's "now" (RESIDUAL_NOW when pinned)
        waive = load_waivers(config.waivers, today=now_utc().date()) if config.waivers else None
    except ConfigError as exc:
        raise UsageFailure(str(exc)) from None
    with _open(config) as inv:
        progress = _progress(quiet)
        try:
            with progress if progress else _null():
                return run_scan(config, inv, progress=progress, waive=waive, **kwargs)
        except RosterError as exc:
            raise UsageFailure(str(exc)) from None


class _null:
    def __enter__(self):
        return None

    def __exit__(self, *a):
        return None


def _print_scan_summary(result) -> None:
    t = Table(title=f"scan {result.scan_id}", title_justify="left")
    for col in ("collector", "target", "layer", "status", "records", "api calls", "error"):
        t.add_column(col)
    for c in result.coverage:
        style = {"ok": "green", "partial": "yellow", "failed": "red", "skipped": "dim"}.get(c.status)
        t.add_row(c.collector, c.target, c.layer, f"[{style}]{c.status}[/]", str(c.records),
                  str(c.api_calls), c.error or "")
    console.print(t)
    by_sev = {s: 0 for s in reversed(SEVERITIES)}
    for f in result.findings:
        by_sev[f.severity] += 1
    console.print("findings: " + ", ".join(f"{n} {s}" for s, n in by_sev.items() if n) if result.findings
                  else "findings: none")
    if result.verdicts:
        _print_verdicts(result.verdicts)


def _print_verdicts(verdicts: dict[str, dict[str, str]]) -> None:
    t = Table(title="verdicts", title_justify="left")
    t.add_column("identity")
    t.add_column("verdict")
    for layer in LAYERS:
        t.add_column(layer)
    colors = {"clean": "green", "residual": "red", "incomplete": "yellow", "not_configured": "dim"}
    for ident, layers in verdicts.items():
        v = overall(layers)
        t.add_row(ident, f"[{colors[v]}]{v}[/]",
                  *[f"[{colors[layers[l]]}]{layers[l].replace('_', ' ')}[/]" for l in LAYERS])
    console.print(t)


# --- verify ------------------------------------------------------------------------------


@main.command()
@common_options
@click.argument("identities", nargs=-1, required=True)
@click.option("--scan", "scan_id", default=None,
              help="give verdicts from this stored scan instead of scanning now")
@click.option("--live", is_flag=True,
              help="targeted: ask each source only about these identities' known accounts")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table")
@verify_live_option
def verify(config_path: str, quiet: bool, verbose: int, identities: tuple[str, ...],
           scan_id: str | None, live: bool, fmt: str, verify_live: bool = False) -> None:
    """Post-offboarding verification: a per-layer verdict for each IDENTITY.

    Exit 0 clean, 1 residual access, 3 incomplete (a layer could not be verified)."""
    from scanner.roster import RosterError
    from scanner.pipeline import load_roster
    from scanner.resolve import Resolver

    config = _config(config_path, verify_live)
    _setup_logging(verbose, quiet, config)
    if scan_id:
        with _open(config, read_only=True) as inv:
            verdicts, ids = _stored_verdicts(inv, scan_id, identities)
    else:
        try:
            roster = load_roster(config)
        except RosterError as exc:
            raise UsageFailure(str(exc)) from None
        resolver = Resolver(roster)
        ids = []
        for name in identities:
            ident = resolver.find(name)
            if ident is None:
                raise UsageFailure(f"{name}: not in the roster")
            ids.append(ident.id)
        result = _run(config, quiet, command="verify-live" if live else "verify", verify=set(ids))
        verdicts = {i: result.verdicts.get(i, {}) for i in ids}
    if fmt == "json":
        out.print_json(json.dumps({i: {"verdict": overall(v), "layers": v} for i, v in verdicts.items()}))
    elif not quiet:
        _print_verdicts(verdicts)
    sys.exit(exit_code_for(overall(v) for v in verdicts.values()))


def _stored_verdicts(inv: Inventory, scan_id: str, names: tuple[str, ...]):
    from scanner.resolve import Resolver, identities_named

    if scan_id == "latest":
        # the newest finished scan, targeted (verify --live, watch) or not, that gave a
        # verdict for the first identity named
        latest_any = inv.latest_scan_id(estate_only=False) or ""
        resolver = Resolver(identities_named(inv, latest_any, names)) if latest_any else None
        first = resolver.find(names[0]) if resolver else None
        row = inv.query(
            "SELECT v.scan_id FROM verdicts v JOIN scans s USING (scan_id) WHERE v.identity = ? "
            "AND s.status IN ('complete', 'incomplete') ORDER BY s.seq DESC LIMIT 1",
            [first.id]) if first else []
        scan_id = row[0][0] if row else latest_any
    if not inv.scan(scan_id):
        raise UsageFailure(f"--scan {scan_id or 'latest'}: no such scan")
    resolver = Resolver(identities_named(inv, scan_id, names))  # not the whole roster
    stored = inv.verdicts(scan_id)
    ids, verdicts = [], {}
    for name in names:
        ident = resolver.find(name)
        if ident is None:
            raise UsageFailure(f"{name}: not in the roster of scan {scan_id}")
        ids.append(ident.id)
        if ident.id not in stored:
            raise UsageFailure(f"{name}: scan {scan_id} has no verdict for this identity "
                               "(it was not a leaver then); run `residual verify` without --scan")
        verdicts[ident.id] = stored[ident.id]
    return verdicts, ids


# --- report ------------------------------------------------------------------------------


@main.command()
@config_option
@click.option("--scan", "scan_id", default=None, help="scan id (default: the latest)")
@click.option("--format", "fmt", required=True, help="html, json, sarif, csv, md, ...")
@click.option("-o", "--output", default=None, help="file to write (default: stdout)")
def report(config_path: str, scan_id: str | None, fmt: str, output: str | None) -> None:
    """Render a stored scan as a report."""
    from reports import RENDERERS, STREAMERS, render

    if fmt not in RENDERERS:
        raise UsageFailure(f"--format {fmt}: unknown format (known: {', '.join(sorted(RENDERERS))})")
    config = _config(config_path)
    with _open(config, read_only=True) as inv:
        sid = scan_id or inv.latest_scan_id()
        if not sid or not inv.scan(sid):
            raise UsageFailure(f"--scan {scan_id}: no such scan" if scan_id else "no finished scan yet")
        if output and fmt in STREAMERS:  # large formats: written chunk by chunk
            Path(output).parent.mkdir(parents=True, exist_ok=True)
            write_private(Path(output), (c.encode() for c in STREAMERS[fmt](inv, sid, config)))
            console.print(f"wrote {output}")
            return
        text = render(fmt, inv, sid, config)
    if output:
        Path(output).parent.mkdir(parents=True, exist_ok=True)
        write_private(Path(output), text)
        console.print(f"wrote {output}")
    else:
        click.echo(text)


def write_private(path: Path, text: Any) -> None:
    """Reports name who can still reach what: create them 0600. ``text``: str, bytes, or
    an iterable of bytes chunks (a streamed report)."""
    data = text.encode() if isinstance(text, str) else text
    fd = os.open(path, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        if isinstance(data, bytes):
            fh.write(data)
        else:
            fh.writelines(data)
    os.chmod(path, 0o600)


# --- diff --------------------------------------------------------------------------------


@main.command()
@config_option
@click.option("--from", "from_id", default=None, help="older scan (default: the one before --to)")
@click.option("--to", "to_id", default=None, help="newer scan (default: the latest)")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table")
def diff(config_path: str, from_id: str | None, to_id: str | None, fmt: str) -> None:
    """New, resolved and persisting findings between two scans. Exit 1 if anything is new."""
    from reports.diff import diff_scans

    config = _config(config_path)
    with _open(config, read_only=True) as inv:
        to_id = to_id or inv.latest_scan_id()
        if not to_id or not inv.scan(to_id):
            raise UsageFailure("--to: no such scan")
        from_id = from_id or inv.previous_scan_id(to_id)
        if not from_id or not inv.scan(from_id):
            raise UsageFailure("--from: no earlier scan to compare with")
        d = diff_scans(inv, from_id, to_id)
    if fmt == "json":
        click.echo(json.dumps(d, indent=2, default=str))
    else:
        for kind in ("new", "resolved", "persisting"):
            t = Table(title=f"{kind} ({len(d[kind])})", title_justify="left")
            for col in ("severity", "rule", "identity", "object", "fingerprint"):
                t.add_column(col)
            for f in d[kind]:
                t.add_row(f["severity"], f["rule"], f["identity"] or "", f["object"], f["fingerprint"][:12])
            out.print(t)
    sys.exit(EXIT_RESIDUAL if d["new"] else EXIT_CLEAN)


# --- rules -------------------------------------------------------------------------------


@main.group()
def rules() -> None:
    """The rule catalog."""


@rules.command("list")
@click.option("--format", "fmt", type=click.Choice(["table", "json", "md"]), default="table")
def rules_list(fmt: str) -> None:
    from rules.base import all_rules

    catalog = sorted(all_rules().values(), key=lambda r: r.meta.id)
    if fmt == "json":
        click.echo(json.dumps([_rule_dict(r.meta) for r in catalog], indent=2))
        return
    if fmt == "md":
        click.echo(rules_markdown(catalog), nl=False)
        return
    t = Table()
    for col in ("id", "severity", "layer", "title", "frameworks"):
        t.add_column(col)
    for r in catalog:
        t.add_row(r.meta.id, r.meta.severity, r.meta.layer or "(per object)", r.meta.title,
                  " ".join(r.meta.frameworks))
    out.print(t)


@rules.command("show")
@click.argument("rule_id")
def rules_show(rule_id: str) -> None:
    from rules.base import all_rules

    r = all_rules().get(rule_id)
    if r is None:
        raise UsageFailure(f"{rule_id}: no such rule (see `residual rules list`)")
    click.echo(json.dumps(_rule_dict(r.meta), indent=2))


def rules_markdown(catalog) -> str:
    """docs/rules.md: the catalog as a document (a test keeps the file in sync)."""
    lines = ["# Rule catalog", "", "Generated by `residual rules list --format md`; "
             "each rule's metadata lives next to its logic in `rules/<family>.py`.", "",
             "| id | severity | layer | title | frameworks |", "|---|---|---|---|---|"]
    for r in catalog:
        m = r.meta
        lines.append(f"| `{m.id}` | {m.severity} | {m.layer or 'of the object'} | {m.title} | "
                     f"{', '.join(m.frameworks)} |")
    for r in catalog:
        m = r.meta
        lines += ["", f"## `{m.id}`", "", f"**{m.title}** ({m.severity}; family `{m.family}`)", ""]
        if m.description:
            lines += [" ".join(m.description.split()), ""]
        lines += [f"Remediation: {m.remediation}", "", f"Frameworks: {', '.join(m.frameworks)}"]
    return "\n".join(lines) + "\n"


def _rule_dict(meta) -> dict[str, Any]:
    return {"id": meta.id, "title": meta.title, "severity": meta.severity,
            "layer": meta.layer, "family": meta.family, "frameworks": list(meta.frameworks),
            "remediation": meta.remediation, "description": meta.description}


# --- demo --------------------------------------------------------------------------------


@main.command()
@click.option("--out", "out_dir", default="demo-output", show_default=True)
@click.option("-q", "--quiet", is_flag=True)
def demo(out_dir: str, quiet: bool) -> None:
    """Start the bundled demo estate on 127.0.0.1, scan it, and write the reports."""
    from fixtures.demo.run import run_demo

    _setup_logging(0, quiet)
    code = run_demo(Path(out_dir), quiet=quiet, console=console)
    sys.exit(code)


# Commands contributed by other modules (plan, watch, export, merge): every
# scanner/cli_*.py module with a ``register(main)`` function adds its commands here.
def _register_extensions() -> None:
    import importlib
    import pkgutil

    import scanner
    for mod in sorted(m.name for m in pkgutil.iter_modules(scanner.__path__)):
        if mod.startswith("cli_"):
            importlib.import_module(f"scanner.{mod}").register(main)


_register_extensions()


if __name__ == "__main__":
    main()
