"""What the Okta collector and its session pass share (one module below both, so that
neither imports the other)."""

from __future__ import annotations

from scanner.core.errors import ApiError
from scanner.core.timeparse import timestamp as ts  # noqa: F401 - re-exported: the one lenient parser


class OktaError(ApiError):
    """An Okta call that failed for good (``code``: Okta's errorCode)."""

