"""Time parsing: every timestamp a source gives, read to an aware UTC datetime, here."""

from __future__ import annotations

from datetime import UTC, date, datetime


def parse_time(value: str) -> datetime | None:
    """ISO date or datetime to an aware UTC datetime; '' gives None."""
    value = (value or "").strip()
    if not value:
        return None
    if value.endswith("Z"):
        value = value[:-1] + "+00:00"
    try:
        dt = datetime.fromisoformat(value)
    except ValueError:
        d = date.fromisoformat(value)  # raises ValueError with a clear message
        dt = datetime(d.year, d.month, d.day)
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)


def timestamp(value: object) -> datetime | None:
    """Lenient form for API payloads: an RFC 3339 string (any offset, nanoseconds), unix
    seconds, or nothing. Absent, unreadable, and zero times (unix 0, Go's
    ``0001-01-01T00:00:00Z`` that Vault uses for "never") are None."""
    if isinstance(value, bool) or value in (None, ""):
        return None
    if isinstance(value, (int, float)):
        return datetime.fromtimestamp(value, tz=UTC) if value > 0 else None
    if not isinstance(value, str) or value.startswith("0001-01-01"):
        return None
    try:
        return parse_time(value)
    except ValueError:
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
