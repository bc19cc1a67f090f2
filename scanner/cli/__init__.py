"""The ``residual`` command line: the group and, listed here, every command it has.

Exit codes (DESIGN.md): 0 clean; 1 residual access, or findings at or above --fail-on;
2 usage or configuration error (one line, nothing written); 3 incomplete: a layer could
not be verified and nothing else was found.
"""

from __future__ import annotations

import os

import click

from scanner.cli import commands, evidence, live, rules, scale


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="residual")
def main() -> None:
    """residual: find the access that survives offboarding."""
    os.umask(0o077)  # inventories, keys and reports are created 0600


for command in (commands.scan, commands.verify, commands.report, commands.diff, rules.rules,
                commands.demo, live.plan, live.watch, scale.merge, scale.export,
                evidence.evidence):
    main.add_command(command)
