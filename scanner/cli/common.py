"""What every command shares: exit codes, consoles, loading the config and the inventory,
logging with secrets redacted, running a scan with progress, the scan summary tables.

Commands live in their own modules (scanner/cli/commands.py, rules.py, live.py,
scale.py) and import only this module's public names; scanner/cli/__init__.py lists them.
"""

from __future__ import annotations

import logging
import os
import sys
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from reports.waivers import load_waivers
from scanner.config import Config, load_config
from scanner.core.errors import ConfigError, RosterError
from scanner.core.model import LAYERS, SEVERITIES
from scanner.core.secrets import KeyFileError, read_key_file
from scanner.core.store import Inventory, InventoryError
from scanner.core.terminal import PrintableFormatter, printable
from scanner.engine import overall
from scanner.pipeline import nothing_checked_warnings, now_utc, run_scan

EXIT_CLEAN, EXIT_RESIDUAL, EXIT_USAGE, EXIT_INCOMPLETE, EXIT_INTERRUPTED = 0, 1, 2, 3, 130
EXIT_CODES_HELP = ("Exit codes: 0 clean; 1 residual access (or a finding at or above "
                   "--fail-on); 2 usage, config or output error; 3 incomplete (a layer could "
                   "not be verified); 130 interrupted.")

console = Console(stderr=True)
out = Console()


class UsageFailure(click.ClickException):
    exit_code = EXIT_USAGE

    def show(self, file: Any = None) -> None:
        click.echo(f"residual: error: {printable(self.message)}", err=True)


def load(path: str, verify_live: bool = False) -> Config:
    try:
        config = load_config(path)
        if config.fingerprint_key.exists() or config.fingerprint_key.is_symlink():
            read_key_file(config.fingerprint_key)  # a planted or exposed key: refused, exit 2
    except (ConfigError, KeyFileError) as exc:
        raise UsageFailure(str(exc)) from None
    if verify_live:  # --verify-live: the iac collectors' opt-in, for this run only
        if not config.collectors.get("iac"):
            raise UsageFailure("--verify-live: no iac collector configured (it checks the "
                               "secrets that collector finds)")
        for block in config.collectors["iac"]:
            block["verify_live"] = True
    return config


def open_inventory(config: Config, read_only: bool = False, external_access: bool = False) -> Inventory:
    if read_only and not config.inventory.exists():
        raise UsageFailure(f"{config.inventory}: no inventory yet; run `residual scan` first")
    try:
        return Inventory(config.inventory, read_only=read_only, external_access=external_access)
    except InventoryError as exc:
        raise UsageFailure(config.redact_text(str(exc))) from None


def progress_bar(quiet: bool) -> Progress | None:
    if quiet or not sys.stderr.isatty():
        return None
    return Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(),
                    TextColumn("{task.completed}/{task.total}"), TimeElapsedColumn(),
                    console=console, transient=True)


def setup_logging(verbose: int, quiet: bool, config: Config | None = None) -> None:
    level = logging.WARNING
    if quiet:
        level = logging.ERROR
    if verbose == 1:
        level = logging.INFO
    elif verbose >= 2:
        level = logging.DEBUG
    handler = logging.StreamHandler(sys.stderr)
    if config is not None:
        handler.addFilter(RedactFilter(config))
    handler.setFormatter(PrintableFormatter("%(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in ("botocore", "boto3", "urllib3", "kubernetes", "github", "gitlab", "werkzeug"):
        logging.getLogger(noisy).setLevel(max(level, logging.WARNING))


class RedactFilter(logging.Filter):
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


def _config_path(ctx: click.Context, _param: Any, value: str | None) -> str:
    """-c after the command, else -c before it (``residual -c FILE CMD``), else
    $RESIDUAL_CONFIG, else ./residual.yaml."""
    if value:
        return value
    root = ctx.find_root()
    return (root.params.get("config_path") if root is not ctx else None) \
        or os.environ.get("RESIDUAL_CONFIG") or "residual.yaml"


def config_option(f):
    return click.option("-c", "--config", "config_path", default=None, callback=_config_path,
                        help="config file (default: $RESIDUAL_CONFIG, else ./residual.yaml; "
                             "also accepted before the command)")(f)


def verify_live_option(f):
    return click.option("--verify-live", is_flag=True,
                        help="opt-in: ask each provider's identity endpoint whether the exposed "
                             "credentials the iac collector finds still work (docs/iac.md)")(f)


def common_options(f):
    f = click.option("-q", "--quiet", is_flag=True, help="no progress, no tables")(f)
    f = click.option("-v", "--verbose", count=True, help="more logging (-vv: debug)")(f)
    return config_option(f)


def run(config: Config, quiet: bool, **kwargs: Any):
    try:  # waiver expiry is judged at the scan's "now" (RESIDUAL_NOW when pinned)
        waive = load_waivers(config.waivers, today=now_utc().date()) if config.waivers else None
    except ConfigError as exc:
        raise UsageFailure(str(exc)) from None
    with open_inventory(config) as inv:
        progress = progress_bar(quiet)
        try:
            with progress if progress else nullcontext():
                result = run_scan(config, inv, progress=progress, waive=waive, **kwargs)
        except RosterError as exc:
            raise UsageFailure(str(exc)) from None
    if not kwargs.get("shard"):  # checking nothing is said even under -q
        for warning in nothing_checked_warnings(config, result):
            click.echo(f"residual: warning: {warning}", err=True)
    return result


def cell(value: Any, style: str | None = None) -> Text:
    """A table cell: an estate value as inert text (no markup, no control character)."""
    return Text(printable(value), style=style or "")


def cells(*values: Any) -> list[Text]:
    return [cell(v) for v in values]


def print_scan_summary(result) -> None:
    t = Table(title=f"scan {result.scan_id}", title_justify="left")
    for col in ("collector", "target", "layer", "status", "records", "api calls", "error"):
        t.add_column(col)
    for c in result.coverage:
        style = {"ok": "green", "partial": "yellow", "failed": "red", "skipped": "dim"}.get(c.status)
        t.add_row(*cells(c.collector, c.target, c.layer), cell(c.status, style), *cells(
            c.records, c.api_calls, c.error or ""))
    console.print(t)
    by_sev = {s: 0 for s in reversed(SEVERITIES)}
    for f in result.findings:
        by_sev[f.severity] += 1
    console.print("findings: " + ", ".join(f"{n} {s}" for s, n in by_sev.items() if n) if result.findings
                  else "findings: none")
    if result.verdicts:
        print_verdicts(result.verdicts)


def print_verdicts(verdicts: dict[str, dict[str, str]]) -> None:
    t = Table(title="verdicts", title_justify="left")
    t.add_column("identity")
    t.add_column("verdict")
    for layer in LAYERS:
        t.add_column(layer)
    colors = {"clean": "green", "residual": "red", "incomplete": "yellow", "not_configured": "dim",
              "not_run": "yellow"}
    for ident, layers in verdicts.items():
        v = overall(layers)
        t.add_row(cell(ident), cell(v, colors.get(v)),
                  *[cell(layers[l].replace("_", " "), colors.get(layers[l])) for l in LAYERS])
    console.print(t)


def write_private(path: Path, text: Any) -> None:
    """Reports name who can still reach what: create them 0600. ``text``: str, bytes, or
    an iterable of bytes chunks (a streamed report)."""
    data = text.encode() if isinstance(text, str) else text
    path = Path(path)
    if path.is_dir():
        raise UsageFailure(f"{path}: is a directory; give a file name")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as fh:
            if isinstance(data, bytes):
                fh.write(data)
            else:
                fh.writelines(data)
        os.chmod(path, 0o600)
    except OSError as exc:  # unwritable folder, full disk: one line, exit 2
        raise UsageFailure(f"{path}: cannot write ({exc.strerror or type(exc).__name__})") from None
