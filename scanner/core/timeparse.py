"""Time parsing: every timestamp a source, a roster or a config gives, read here to an
aware UTC datetime, so that two sources saying the same instant compare equal.

Accepted: RFC 3339 / ISO 8601 with ``Z`` or an offset (``2024-05-20T14:02:41Z``,
``2021-03-09T21:11:47.271+02:00``), a date alone (``2021-01-31``: midnight UTC, which is
when GitLab tokens and Kubernetes token labels say a day starts), a naive time (taken as
UTC), and a ``datetime`` (boto3 returns them).
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any


def parse_time_strict(value: Any) -> datetime | None:
    """Like ``parse_time``, but an unreadable value raises ValueError (with a clear
    message) instead of reading as absent: for input a person wrote (a roster's
    ``terminated_at``), where a typo must be reported, not ignored. "" gives None."""
    if isinstance(value, datetime):
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    text = (value or "").strip() if isinstance(value, str) else value
    if not text:
        return None
    if not isinstance(text, str):
        raise ValueError(f"not a time: {type(value).__name__}")
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        dt = datetime.fromisoformat(text)
    except ValueError:
        d = date.fromisoformat(text)  # raises ValueError with a clear message
        dt = datetime(d.year, d.month, d.day)
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)


def is_date_only(value: Any) -> bool:
    """True for a date without a time (``2026-11-30``), which ``parse_time_strict`` reads
    as midnight UTC: a roster loader records it (``Identity.attributes["terminated_on"]``)
    so that "after termination" starts at the end of that day, not its first second."""
    if not isinstance(value, str) or not value.strip():
        return False
    try:
        date.fromisoformat(value.strip())
    except ValueError:
        return False
    return True


def timestamp(value: object) -> datetime | None:
    """Lenient form for API payloads: an RFC 3339 string (any offset, nanoseconds), unix
    seconds, a datetime (boto3 parses them itself), or nothing. Absent, unreadable, and
    zero times (unix 0, Go's ``0001-01-01T00:00:00Z`` that Vault uses for "never") are None."""
    if isinstance(value, datetime):
        return parse_time(value)
    if isinstance(value, bool) or value in (None, ""):
        return None
    if isinstance(value, (int, float)):
        return datetime.fromtimestamp(value, tz=UTC) if value > 0 else None
    if not isinstance(value, str) or value.startswith("0001-01-01"):
        return None
    return parse_time(value)


def parse_time(value: Any) -> datetime | None:
    """A timestamp from an API payload as aware UTC; null, "" and anything unreadable
    (a number, a malformed string: hostile input is inert) give None."""
    try:
        return parse_time_strict(value)
    except (ValueError, TypeError, OverflowError):
        return None


def rfc3339(value: datetime) -> str:
    """An instant as RFC 3339 in UTC with ``Z`` (a naive datetime is taken as UTC, the
    inventory's convention): the one way times are written in reports and evidence."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def json_default(value: object) -> object:
    """``json.dumps(default=...)`` for records and reports: datetimes as RFC 3339, dates
    as ISO dates, anything else as its text (was ``str``, which wrote
    ``2026-03-01 12:00:00+00:00``)."""
    if isinstance(value, datetime):
        return rfc3339(value)
    if isinstance(value, date):
        return value.isoformat()
    return str(value)
