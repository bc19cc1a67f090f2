"""What the Okta collector and its session pass share (one module below both, so that
neither imports the other)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from scanner.core.errors import CollectorError
from scanner.core.timeparse import parse_time


class OktaError(CollectorError):
    def __init__(self, message: str, status: int = 0, code: str | None = None):
        super().__init__(message)
        self.status = status
        self.code = code


def ts(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return parse_time(value)
    except ValueError:
        return None
