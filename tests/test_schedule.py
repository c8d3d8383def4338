from datetime import UTC, datetime

import pytest

from aggregator.schedule import from_iso, next_check_at, to_iso

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("error_count", "expected"),
    [
        pytest.param(0, "2026-11-23T13:00:00Z", id="healthy-feed-hourly"),
        pytest.param(1, "2026-11-23T14:00:00Z", id="one-failure-doubles"),
        pytest.param(3, "2026-11-23T20:00:00Z", id="three-failures-eight-hours"),
        pytest.param(5, "2026-11-24T12:00:00Z", id="capped-at-a-day"),
        pytest.param(500, "2026-11-24T12:00:00Z", id="huge-count-still-capped"),
    ],
)
def test_next_check_backs_off_and_caps(error_count: int, expected: str) -> None:
    got = next_check_at(NOW, interval_minutes=60, error_count=error_count, max_interval_hours=24)
    assert got == expected


def test_iso_round_trip_is_utc() -> None:
    assert from_iso(to_iso(NOW)) == NOW
    assert to_iso(NOW) == "2026-11-23T12:00:00Z"
