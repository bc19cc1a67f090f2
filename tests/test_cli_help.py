"""Every option of every command says what it is in ``--help``, with its unit where it
has one: a responder at 3 a.m. reads ``residual watch --help``, not the source."""

from __future__ import annotations

import re

import click

from scanner.cli import main

# option names that carry a quantity: their help must name the unit
QUANTITY = re.compile(r"interval|timeout|days|hours|seconds|wait|age|ttl|budget|limit", re.I)
UNITS = re.compile(r"\b(seconds?|minutes?|hours?|days?|bytes|[KMG]B|requests?|rows?|files?|findings?)\b")


def _options():
    def walk(cmd: click.Command, path: list[str]):
        if isinstance(cmd, click.Group):
            for name, sub in sorted(cmd.commands.items()):
                yield from walk(sub, [*path, name])
        for p in cmd.params:
            if isinstance(p, click.Option) and p.name != "help":
                yield " ".join(path), p
    return list(walk(main, ["residual"]))


def test_every_option_has_help():
    options = _options()
    assert len(options) > 60  # the walk sees every command's options
    missing = [f"{cmd} {'/'.join(p.opts)}" for cmd, p in options if not (p.help or "").strip()]
    assert missing == []


def test_options_with_a_quantity_name_their_unit():
    quantities = [(cmd, p) for cmd, p in options_named_like_quantities()]
    assert any(p.name == "interval" for _, p in quantities)  # the pattern sees watch --interval
    without = [f"{cmd} {'/'.join(p.opts)}: {p.help}" for cmd, p in quantities
               if p.type not in (click.BOOL,) and not UNITS.search(p.help or "")]
    assert without == []


def options_named_like_quantities():
    return [(cmd, p) for cmd, p in _options() if any(QUANTITY.search(o) for o in p.opts)]
