"""Estate values on a terminal: inert text.

Names, errors and ids come from payloads and files that whoever residual scans controls.
Raw, an ANSI or OSC escape rewrites the operator's screen (clears it, writes the
clipboard, prints a fake "ALL CLEAN"), and rich markup in one becomes a live link or, if
unbalanced (``[/x]``), crashes the summary. Every table cell is a ``rich.text.Text`` (never
parsed as markup) of ``printable()`` text, and every log line goes through
``PrintableFormatter``; tests/test_attack_surface_terminal.py plants both.
"""

from __future__ import annotations

import logging
import re

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def printable(value: object, keep_newlines: bool = False) -> str:
    """``value`` as text without control characters (each becomes ``?``): no escape
    sequence, carriage return, line break or bidirectional override survives."""
    text = "" if value is None else str(value)
    if keep_newlines:
        return "\n".join(_CONTROL.sub("?", line) for line in text.split("\n"))
    return _CONTROL.sub("?", text)


class PrintableFormatter(logging.Formatter):
    """A log line whose message cannot forge another line or an escape sequence; a
    traceback keeps its lines (each made printable)."""

    def format(self, record: logging.LogRecord) -> str:
        record = logging.makeLogRecord({**record.__dict__, "msg": printable(record.getMessage()),
                                        "args": ()})
        return printable(super().format(record), keep_newlines=True)
