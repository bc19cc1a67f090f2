"""What the Okta collector and its session pass share (one module below both, so that
neither imports the other)."""

from __future__ import annotations

from scanner.core.errors import CollectorError
from scanner.core.timeparse import timestamp as ts  # noqa: F401 - re-exported: the one lenient parser


class OktaError(CollectorError):
    def __init__(self, message: str, status: int = 0, code: str | None = None):
        super().__init__(message)
        self.status = status
        self.code = code

