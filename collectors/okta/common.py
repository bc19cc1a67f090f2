"""What the Okta collector and its session pass share (one module below both, so that
neither imports the other)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from scanner.core.errors import ApiError
from scanner.core.timeparse import parse_time


class OktaError(ApiError):
    """An Okta call that failed for good (``code``: Okta's errorCode)."""


def ts(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return parse_time(value)
    except ValueError:
        return None
