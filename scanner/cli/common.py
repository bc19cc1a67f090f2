"""What every command shares: exit codes, consoles, loading the config and the inventory,
logging with secrets redacted, running a scan with progress, the scan summary tables.

Commands live in their own modules (scanner/cli/commands.py, rules.py, live.py,
scale.py) and import only this module's public names; scanner/cli/__init__.py lists them.
"""

from __future__ import annotations

import json
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
from scanner.core.timeparse import json_default
from scanner.core.terminal import PrintableFormatter, printable
from scanner.engine import overall
from scanner.pipeline import nothing_checked_warnings, now_utc, run_scan

EXIT_CLEAN, EXIT_RESIDUAL, EXIT_USAGE, EXIT_INCOMPLETE, EXIT_INTERRUPTED = 0, 1, 2, 3, 130
EXIT_CODES_HELP = ("Exit codes: 0 clean; 1 residual access (or a finding at or above "
                   "--fail-on); 2 usage, config or output error; 3 incomplete (a layer could "
                   "not be verified); 130 interrupted.")

console = Console(stderr=True)


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
    handler = ConsoleHandler()
    if config is not None:
        handler.addFilter(RedactFilter(config))
    handler.setFormatter(PrintableFormatter("%(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in ("botocore", "boto3", "urllib3", "kubernetes", "github", "gitlab", "werkzeug"):
        logging.getLogger(noisy).setLevel(max(level, logging.WARNING))


class ConsoleHandler(logging.StreamHandler):
    """Log lines through the stderr console the progress bar draws on: rich prints them
    above a live bar instead of through it. Inert text, never wrapped (a log line is one
    line, whatever the width). A stream set by hand other than stderr is written plainly."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    def emit(self, record: logging.LogRecord) -> None:
        if self.stream is not console.file:
            super().emit(record)
            return
        try:
            console.print(Text(self.format(record)), soft_wrap=True, highlight=False)
        except Exception:  # noqa: BLE001 - logging never raises into the scan
            self.handleError(record)


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
    f = click.option("-q", "--quiet", is_flag=True, help="no progress, no tables (a failed or partial target is still one line on stderr)")(f)
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


def _stdout_console() -> Console:
    """Results go to stdout. Piped, with no $COLUMNS, lines are not laid out for 80
    columns (a log or a file has no width); cells fold, so nothing is ever cut."""
    piped = not sys.stdout.isatty() and not os.environ.get("COLUMNS")
    return Console(width=PIPED_WIDTH if piped else None)


PIPED_WIDTH = 1000
LISTING_FORMATS = ["table", "json", "tsv"]
out = _stdout_console()
COLORS = {"clean": "green", "residual": "red", "incomplete": "yellow", "not_configured": "dim",
          "not_run": "yellow", "ok": "green", "partial": "yellow", "failed": "red", "skipped": "dim"}


def _table(title: str, columns: list[str], rows: list[list[str]]) -> Table | None:
    """A table whose cells never end in an ellipsis: a column of single words (ids,
    identities, verdicts, statuses) is as wide as its longest value, the others fold.
    None where even those columns cannot fit the width: the caller stacks instead."""
    words = [all(" " not in v for v in col) for col in zip(*rows)] if rows else [False] * len(columns)
    need = [max([len(h)] + [len(v) for v in col]) for h, col in zip(columns, zip(*rows))] \
        if rows else [len(h) for h in columns]
    floor = sum(n if w else min(n, 12) for n, w in zip(need, words)) + 3 * len(columns) + 1
    if rows and floor > out.width:
        return None
    t = Table(title=title or None, title_justify="left")
    for col, n, w in zip(columns, need, words):
        t.add_column(col, overflow="fold", min_width=n if w else None, no_wrap=w)
    return t


def emit_rows(fmt: str, columns: list[str], rows: list[list[Any]], title: str = "") -> None:
    """One listing in FMT: ``table`` (folded, to stdout), ``tsv`` (a header line; values are
    ``printable``, so a tab or newline in one is ``?`` and cannot split a row) or ``json``
    (a list of objects). Always stdout."""
    if fmt == "json":
        click.echo(json.dumps([dict(zip(columns, r)) for r in rows], indent=2, default=json_default))
    elif fmt == "tsv":
        click.echo("\t".join(columns))
        for r in rows:
            click.echo("\t".join(printable(v) for v in r))
    else:
        text = [[printable(v) for v in r] for r in rows]
        t = _table(title, columns, text)
        if t is None:  # narrow terminal: one block a row, its first value on a line alone
            if title:
                out.print(Text(title))
            for r in text:
                out.print(cell(r[0], COLORS.get(r[0])))
                for col, v in zip(columns[1:], r[1:]):
                    out.print(Text.assemble("    ", col, ": ", cell(v, COLORS.get(v.replace(" ", "_")))))
            return
        for r in text:
            t.add_row(*[cell(v, COLORS.get(v.replace(" ", "_"))) for v in r])
        out.print(t)


def coverage_problems(result) -> None:
    """One line on stderr per failed or partial target, even under -q: a CI log that has
    only "exit 3" says which collector could not be verified and why."""
    for c in result.coverage:
        if c.status in ("failed", "partial"):
            click.echo(printable(f"residual: {c.status}: {c.collector} {c.target} ({c.layer}): "
                                 f"{c.error or 'no reason given'}"), err=True)


def print_scan_summary(result, fmt: str = "table") -> None:
    """The coverage rows and the verdicts, to stdout; errors stay out of the cells (they
    are the lines coverage_problems writes), so no cell becomes a tower."""
    rows = [[c.collector, c.target, c.layer, c.status, c.records, c.api_calls] for c in result.coverage]
    cols = ["collector", "target", "layer", "status", "records", "api calls"]
    if fmt != "table":
        emit_rows(fmt, cols + ["error"], [r + [c.error or ""] for r, c in zip(rows, result.coverage)])
        return
    emit_rows("table", cols, rows, title=f"scan {result.scan_id}")
    by_sev = {s: 0 for s in reversed(SEVERITIES)}
    for f in result.findings:
        by_sev[f.severity] += 1
    out.print("findings: " + ", ".join(f"{n} {s}" for s, n in by_sev.items() if n) if result.findings
              else "findings: none", highlight=False)
    if result.verdicts:
        print_verdicts(result.verdicts)


def print_verdicts(verdicts: dict[str, dict[str, str]], fmt: str = "table") -> None:
    """Per identity, the overall verdict and each layer's (stacked where the table cannot
    fit the terminal: emit_rows)."""
    layers = [l for l in LAYERS if any(l in v for v in verdicts.values())] or list(LAYERS)
    rows = [[ident, overall(v), *[v.get(l, "not_configured").replace("_", " ") for l in layers]]
            for ident, v in verdicts.items()]
    if fmt != "table":
        emit_rows(fmt, ["identity", "verdict", *layers], rows)
        return
    shown = [i for i, l in enumerate(layers) if any(r[2 + i] != "not configured" for r in rows)]
    layers, rows = [layers[i] for i in shown], [r[:2] + [r[2 + i] for i in shown] for r in rows]
    emit_rows("table", ["identity", "verdict", *layers], rows, title="verdicts")


SPLIT_MARKER = ".residual-report"


def write_folder(folder: Path, files: dict[str, str]) -> None:
    """A report split into files (``{name: text}``), written 0600 into ``folder`` (0700).
    The folder is new, empty, or one an earlier split wrote (it holds SPLIT_MARKER):
    then that split's files go first, so no leaver's file of an older scan stays beside
    the new index. Any other folder is refused: its files are not ours to replace."""
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise UsageFailure(f"{folder}: not a folder (--split writes several files)")
    if folder.is_dir() and any(folder.iterdir()):
        if not (folder / SPLIT_MARKER).is_file():
            raise UsageFailure(f"{folder}: not empty and not a folder residual split a report "
                               f"into; give a new or empty folder")
        for old in folder.iterdir():
            if old.suffix == ".md" and old.is_file() and not old.is_symlink():
                old.unlink()
    try:
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    except OSError as exc:
        raise UsageFailure(f"{folder}: cannot create ({exc.strerror or type(exc).__name__})") from None
    for name, text in files.items():
        if "/" in name or name.startswith(".") or not name.endswith(".md"):
            raise ValueError(f"not a file name for a split report: {name!r}")
        write_private(folder / name, text)
    write_private(folder / SPLIT_MARKER, "written by residual report --split; "
                  "residual replaces this folder's .md files when it writes here again\n")


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
