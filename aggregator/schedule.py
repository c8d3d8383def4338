"""When to check a feed next: pure functions over times, no clock of their own.

The schedule lives in the database (`feeds.next_check_at`), so a restarted
fetcher neither stampedes every feed at once nor forgets a back-off.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

ISO = "%Y-%m-%dT%H:%M:%SZ"


def to_iso(moment: datetime) -> str:
    """UTC ISO 8601 with a Z: sorts as text, which the SQL queries rely on."""
    return moment.astimezone(UTC).strftime(ISO)


def from_iso(text: str) -> datetime:
    return datetime.strptime(text, ISO).replace(tzinfo=UTC)


def next_check_at(
    now: datetime, *, interval_minutes: int, error_count: int, max_interval_hours: int
) -> str:
    """Regular interval when healthy; doubling back-off per consecutive failure, capped."""
    cap = timedelta(hours=max_interval_hours)
    base = timedelta(minutes=interval_minutes)
    delay = base * (2 ** min(error_count, 20)) if error_count > 0 else base
    return to_iso(now + min(delay, cap))
