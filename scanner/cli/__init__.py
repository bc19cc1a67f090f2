"""The ``residual`` command line: the group and, listed here, every command it has.

Exit codes (one contract for every command, README "Exit codes"): 0 clean; 1 residual
access, or findings at or above --fail-on; 2 usage, configuration or output error (one
line, nothing written); 3 incomplete: a layer could not be verified and nothing else was
found; 130 interrupted (Ctrl-C).
"""

from __future__ import annotations

import os

import click

from scanner.cli import commands, evidence, live, revoke, rules, scale
from scanner.cli.common import EXIT_CODES_HELP, EXIT_INTERRUPTED


class _Residual(click.Group):
    """Ctrl-C is "interrupted" (130), not click's "Aborted!" with exit 1, which a CI job
    would read as "residual access found". The scan itself marks its row interrupted."""

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt:
            click.echo("residual: interrupted", err=True)
            raise click.exceptions.Exit(EXIT_INTERRUPTED) from None


@click.group(cls=_Residual, context_settings={"help_option_names": ["-h", "--help"]},
             epilog=EXIT_CODES_HELP)
@click.version_option(package_name="residual")
@click.option("-c", "--config", "config_path", default=None, metavar="FILE",
              help="config file for the command (same as the command's own -c)")
def main(config_path: str | None) -> None:
    """residual: find the access that survives offboarding."""
    os.umask(0o077)  # inventories, keys and reports are created 0600


for command in (commands.scan, commands.verify, commands.report, commands.diff, rules.rules,
                commands.demo, live.plan, live.watch, scale.merge, scale.export,
                evidence.evidence, revoke.revoke_sessions):
    main.add_command(command)
