"""The error types every layer raises and catches, in one module at the bottom so that
catching one never means importing the layer that raises it."""

from __future__ import annotations

import re


class ConfigError(Exception):
    """A configuration problem; ``str()`` is the one line shown to the user. Keys come
    from the user's file, so control characters in them are escaped to keep it one line."""

    def __init__(self, message: str):
        super().__init__(re.sub(r"[\x00-\x1f\x7f]", lambda m: repr(m.group())[1:-1], message))


class RosterError(ConfigError):
    """A roster that cannot be read; the message names the file and line."""


class CollectorError(Exception):
    """An error the collector cannot get past for one target (its message is safe to show)."""


class CrossOriginRefused(CollectorError):
    """A request (a next-page link, a redirect, a webhook's 307) to another origin than
    the one a client's credential belongs to: refused before anything is sent."""


class WaitBudgetExceeded(CollectorError):
    """Rate-limit waits for one target would pass its budget (``network.max_wait_s``): the
    target is failed with that reason (never clean) instead of stalling the scan."""


class ResponseTooLarge(CollectorError):
    """An answer larger, decompressed, than ``MAX_RESPONSE_BYTES``: refused, not buffered."""
class ApiError(CollectorError):
    """An HTTP API call that failed for good: ``status`` is the HTTP status (0: no
    answer), ``code`` the API's own error code or type where it gave one."""

    def __init__(self, message: str, status: int = 0, code: str | None = None):
        super().__init__(message)
        self.status = status
        self.code = code


class PaginationLimit(CollectorError):
    """A listing that did not end within ``CollectorContext.max_pages`` pages."""


def safe_error(exc: BaseException) -> str:
    """A one-line description of an error, without anything that could be a credential
    (URLs with query strings, header dumps)."""
    text = f"{exc.__class__.__name__}: {exc}".splitlines()[0] if str(exc) else exc.__class__.__name__
    text = re.sub(r"(?i)(token|authorization|password|secret)[=:]\s*\S+", r"\1=***", text)
    text = re.sub(r"(https?://)[^/\s:@]+:[^@\s]+@", r"\1***@", text)
    return text[:300]
