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
