from __future__ import annotations

import statistics
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aggregator import schedule
from aggregator.schedule import (
    ScheduleInputs,
    freshness_hint,
    from_iso,
    next_check,
    parse_retry_after,
    posting_interval,
    to_iso,
)

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)


def every(
    gap: timedelta, count: int = 10, *, last: timedelta = timedelta(0)
) -> tuple[datetime, ...]:
    """Publication times `gap` apart, the newest `last` before NOW."""
    return tuple(NOW - last - gap * i for i in range(count))


def minutes_until(inputs: ScheduleInputs) -> float:
    when = next_check(inputs)
    assert when is not None
    assert when.tzinfo is not None
    return (when - inputs.now).total_seconds() / 60


def exact(**kwargs: Any) -> ScheduleInputs:
    """Inputs with jitter off, so each rule can be checked to the minute."""
    defaults: dict[str, Any] = {"now": NOW, "feed_id": 1, "outcome": "ok", "error_count": 0}
    return ScheduleInputs(**{**defaults, "jitter": 0.0, **kwargs})


# --- the old function, still used by update.py ---------------------------------------------


def test_iso_round_trip_is_utc() -> None:
    assert from_iso(to_iso(NOW)) == NOW
    assert to_iso(NOW) == "2026-11-23T12:00:00Z"


def _by_strptime(text: str) -> datetime | str:
    try:
        return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    except ValueError:
        return "ValueError"


def _by_from_iso(text: str) -> datetime | str:
    try:
        return from_iso(text)
    except ValueError:
        return "ValueError"


@pytest.mark.parametrize(
    "text",
    [
        "2026-11-23T12:00:00Z",
        "0001-01-01T00:00:00Z",
        "9999-12-31T23:59:59Z",
        "2024-02-29T00:00:00Z",
        "2026-02-29T00:00:00Z",  # no such day
        "2026-02-30T00:00:00Z",
        "2026-11-23T24:00:00Z",
        "2026-11-23T23:59:60Z",
        "2026-1-2T3:04:05Z",  # strptime's leniency is kept
        "2026-11-23T12:00:00",
        "2026-11-23T12:00:00+00:00",
        "2026-11-23 12:00:00Z",
        "2026-W47-1T12:00:Z",
        "\uff12026-11-23T12:00:00Z",  # a full-width digit
        "",
    ],
)
def test_from_iso_reads_as_strptime_did(text: str) -> None:
    """The fast path for to_iso's own text changes no answer and no refusal."""
    assert _by_from_iso(text) == _by_strptime(text)
    if isinstance(_by_from_iso(text), datetime):
        assert _by_from_iso(text).tzinfo is UTC


@given(st.datetimes(min_value=datetime(1000, 1, 1), timezones=st.just(UTC)))
def test_from_iso_reads_to_iso_back(moment: datetime) -> None:
    """From year 1000: strftime writes earlier years with fewer than four digits."""
    written = to_iso(moment)
    assert from_iso(written) == moment.replace(microsecond=0) == _by_strptime(written)


# --- next_check: one case per rule ----------------------------------------------------------


@pytest.mark.parametrize(
    ("inputs", "expected_minutes"),
    [
        # rule 2: normal interval
        pytest.param(exact(), 60, id="no-posts-default"),
        pytest.param(exact(default_minutes=90), 90, id="no-posts-custom-default"),
        pytest.param(exact(outcome="not_modified"), 60, id="not-modified-is-success"),
        pytest.param(exact(outcome="unchanged"), 60, id="unchanged-is-success"),
        pytest.param(exact(recent_posts=every(DAY)), 30, id="daily-poster-half-hourly"),
        pytest.param(exact(recent_posts=every(7 * DAY)), 210, id="weekly-poster-3h30"),
        pytest.param(
            exact(override_minutes=120, recent_posts=every(DAY)), 120, id="override-beats-rhythm"
        ),
        pytest.param(exact(override_minutes=5), 15, id="override-clamped-to-min"),
        pytest.param(exact(override_minutes=10_000), 1440, id="override-clamped-to-max"),
        pytest.param(exact(override_minutes=0), 60, id="override-zero-ignored"),
        pytest.param(exact(default_minutes=1), 15, id="default-clamped-to-min"),
        pytest.param(exact(recent_posts=every(HOUR)), 15, id="hourly-poster-clamped-to-min"),
        # rule 3: dormant blogs drift to max
        pytest.param(
            exact(recent_posts=every(DAY, last=10 * DAY)), 300, id="daily-but-silent-10-days"
        ),
        pytest.param(exact(recent_posts=every(DAY, last=365 * DAY)), 1440, id="silent-a-year-max"),
        # rule 4: failure back-off from the normal interval
        pytest.param(exact(outcome="error", error_count=1), 60, id="first-failure-base"),
        pytest.param(exact(outcome="error", error_count=2), 120, id="second-failure-doubles"),
        pytest.param(exact(outcome="error", error_count=4), 480, id="fourth-failure-8x"),
        pytest.param(exact(outcome="error", error_count=6), 1440, id="back-off-capped-at-max"),
        pytest.param(exact(outcome="error", error_count=10**6), 1440, id="huge-count-capped"),
        pytest.param(
            exact(outcome="error", error_count=0), 60, id="error-with-zero-count-is-first"
        ),
        pytest.param(
            exact(outcome="error", error_count=2, recent_posts=every(DAY)),
            60,
            id="back-off-from-rhythm",
        ),
        pytest.param(
            exact(outcome="error", error_count=2, override_minutes=30),
            60,
            id="back-off-from-override",
        ),
        pytest.param(
            exact(outcome="error", error_count=1, http_status=429, retry_after="7200"),
            120,
            id="retry-after-seconds-floor",
        ),
        pytest.param(
            exact(
                outcome="error",
                error_count=1,
                http_status=503,
                retry_after="Mon, 23 Nov 2026 15:00:00 GMT",
            ),
            180,
            id="retry-after-date-floor",
        ),
        pytest.param(
            exact(outcome="error", error_count=3, http_status=429, retry_after="60"),
            240,
            id="retry-after-shorter-than-back-off",
        ),
        pytest.param(
            exact(outcome="error", error_count=1, http_status=429, retry_after="999999"),
            1440,
            id="retry-after-clamped-to-max",
        ),
        pytest.param(
            exact(outcome="error", error_count=1, http_status=500, retry_after="7200"),
            60,
            id="retry-after-ignored-on-500",
        ),
        pytest.param(
            exact(outcome="error", error_count=1, retry_after="7200"),
            120,
            id="retry-after-status-unknown",
        ),
        pytest.param(
            exact(outcome="error", error_count=1, http_status=429, retry_after="soon"),
            60,
            id="retry-after-garbage-ignored",
        ),
        pytest.param(
            exact(outcome="error", error_count=1, cache_control="max-age=7200", ttl_minutes=300),
            60,
            id="freshness-ignored-on-failure",
        ),
        # rule 5: server hints are lower bounds on success
        pytest.param(exact(cache_control="max-age=7200"), 120, id="max-age-longer-wins"),
        pytest.param(exact(cache_control="max-age=600"), 60, id="max-age-shorter-ignored"),
        pytest.param(exact(expires="Mon, 23 Nov 2026 16:00:00 GMT"), 240, id="expires-future"),
        pytest.param(exact(expires="Mon, 23 Nov 2026 10:00:00 GMT"), 60, id="expires-past"),
        pytest.param(exact(ttl_minutes=180), 180, id="rss-ttl-longer-wins"),
        pytest.param(exact(ttl_minutes=-5), 60, id="rss-ttl-negative-ignored"),
        pytest.param(
            exact(cache_control="max-age=3600", ttl_minutes=200), 200, id="largest-hint-wins"
        ),
        pytest.param(
            exact(override_minutes=20, cache_control="max-age=3600"), 60, id="server-beats-override"
        ),
        pytest.param(exact(cache_control="max-age=999999"), 1440, id="hint-clamped-to-max"),
        pytest.param(exact(cache_control="no-store, max-age=7200"), 60, id="no-store-no-hint"),
        pytest.param(exact(cache_control="max-age=banana"), 60, id="malformed-hint-ignored"),
    ],
)
def test_next_check_policy(inputs: ScheduleInputs, expected_minutes: float) -> None:
    assert minutes_until(inputs) == pytest.approx(expected_minutes)


def test_gone_is_never_checked_again() -> None:
    assert next_check(exact(outcome="gone", error_count=3)) is None


def test_result_is_aware_utc_even_from_another_zone() -> None:
    paris = NOW.astimezone(datetime.now(UTC).astimezone().tzinfo)
    when = next_check(exact(now=paris))
    assert when == NOW + HOUR
    assert when is not None and when.utcoffset() == timedelta(0)


@pytest.mark.parametrize(
    "kwargs",
    [
        pytest.param({"now": NOW.replace(tzinfo=None)}, id="naive-now"),
        pytest.param({"outcome": "fine"}, id="unknown-outcome"),
        pytest.param({"min_minutes": 0}, id="zero-min"),
        pytest.param({"min_minutes": 100, "max_minutes": 50}, id="min-above-max"),
        pytest.param({"jitter": 1.5}, id="jitter-too-large"),
    ],
)
def test_programming_errors_raise(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        exact(**kwargs)


# --- hint parsing ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cache_control", "expires", "expected"),
    [
        pytest.param(None, None, None, id="nothing"),
        pytest.param("max-age=600", None, timedelta(minutes=10), id="max-age"),
        pytest.param(
            'public, MAX-AGE="900"', None, timedelta(minutes=15), id="max-age-quoted-caps"
        ),
        pytest.param("s-maxage=1200", None, timedelta(minutes=20), id="s-maxage"),
        pytest.param(
            "s-maxage=1200, max-age=600", None, timedelta(minutes=10), id="max-age-over-s-maxage"
        ),
        pytest.param("max-age=0", None, timedelta(0), id="max-age-zero"),
        pytest.param(
            "max-age=99999999999999", None, timedelta(seconds=2**31), id="max-age-huge-capped"
        ),
        pytest.param("no-store", None, None, id="no-store"),
        pytest.param("no-cache, max-age=600", None, None, id="no-cache-beats-max-age"),
        pytest.param(
            "no-store", "Mon, 23 Nov 2026 14:00:00 GMT", None, id="no-store-ignores-expires"
        ),
        pytest.param("must-revalidate", None, None, id="no-lifetime"),
        pytest.param("max-age=-5", None, None, id="max-age-negative"),
        pytest.param("max-age=1.5", None, None, id="max-age-fraction"),
        pytest.param("max-age=", None, None, id="max-age-empty"),
        pytest.param(",,;;==", None, None, id="cache-control-garbage"),
        pytest.param(
            "max-age=600",
            "Mon, 23 Nov 2026 14:00:00 GMT",
            timedelta(minutes=10),
            id="max-age-over-expires",
        ),
        pytest.param(None, "Mon, 23 Nov 2026 14:00:00 GMT", 2 * HOUR, id="expires-future"),
        pytest.param(
            "private", "Mon, 23 Nov 2026 14:00:00 GMT", 2 * HOUR, id="expires-with-other-cc"
        ),
        pytest.param(None, "Mon, 23 Nov 2026 14:00:00 +0100", HOUR, id="expires-offset"),
        pytest.param(None, "Sun, 22 Nov 2026 12:00:00 GMT", timedelta(0), id="expires-past"),
        pytest.param(None, "0", None, id="expires-zero"),
        pytest.param(None, "next tuesday", None, id="expires-garbage"),
        pytest.param(None, "Mon, 99 Foo 2026 99:99:99 GMT", None, id="expires-impossible-date"),
        pytest.param(None, "", None, id="expires-empty"),
    ],
)
def test_freshness_hint(
    cache_control: str | None, expires: str | None, expected: timedelta | None
) -> None:
    assert freshness_hint(cache_control, expires, NOW) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param(None, None, id="absent"),
        pytest.param("120", timedelta(minutes=2), id="seconds"),
        pytest.param("  120 ", timedelta(minutes=2), id="seconds-padded"),
        pytest.param("0", timedelta(0), id="zero"),
        pytest.param("99999999999999", timedelta(seconds=2**31), id="seconds-huge-capped"),
        pytest.param("Mon, 23 Nov 2026 13:30:00 GMT", timedelta(minutes=90), id="http-date"),
        pytest.param("Monday, 23-Nov-26 13:30:00 GMT", timedelta(minutes=90), id="rfc850-date"),
        pytest.param("Sun, 22 Nov 2026 12:00:00 GMT", timedelta(0), id="past-date"),
        pytest.param("-30", None, id="negative"),
        pytest.param("1.5", None, id="fraction"),
        pytest.param("soon", None, id="garbage"),
        pytest.param("", None, id="empty"),
        pytest.param("١٢٠", None, id="non-ascii-digits"),
    ],
)
def test_parse_retry_after(value: str | None, expected: timedelta | None) -> None:
    assert parse_retry_after(value, NOW) == expected


# --- rhythm ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("posts", "expected"),
    [
        pytest.param((), None, id="no-posts"),
        pytest.param(every(DAY), DAY, id="daily"),
        pytest.param(tuple(reversed(every(DAY))), DAY, id="any-order"),
        pytest.param(every(DAY) + every(DAY), DAY, id="duplicates-collapse"),
        pytest.param(every(DAY, last=5 * DAY), 5 * DAY, id="silence-longer-than-gaps"),
        pytest.param((NOW - 3 * DAY,), 3 * DAY, id="single-post-age"),
        pytest.param((NOW + DAY, NOW - DAY, NOW - 2 * DAY), DAY, id="future-post-ignored"),
        pytest.param((NOW + DAY,), None, id="only-future-posts"),
        pytest.param(
            (NOW - HOUR, NOW - 2 * HOUR, NOW - 30 * DAY),
            15 * DAY - HOUR / 2,
            id="median-of-two-gaps",
        ),
        pytest.param(
            tuple(t.replace(tzinfo=None) for t in every(DAY)), DAY, id="naive-taken-as-utc"
        ),
    ],
)
def test_posting_interval(posts: tuple[datetime, ...], expected: timedelta | None) -> None:
    assert posting_interval(posts, NOW) == expected


@pytest.mark.parametrize(
    ("posts", "compare"),
    [
        pytest.param(every(DAY), "shorter", id="daily-shorter-than-default"),
        pytest.param(every(30 * DAY), "longer", id="monthly-longer-than-default"),
        pytest.param(every(30 * DAY, last=365 * DAY), "max", id="dormant-a-year-at-max"),
        pytest.param((), "default", id="none-is-default"),
    ],
)
def test_rhythm_against_default(posts: tuple[datetime, ...], compare: str) -> None:
    got = minutes_until(exact(recent_posts=posts))
    expected = {
        "shorter": got < 60,
        "longer": got > 60,
        "max": got == 24 * 60,
        "default": got == 60,
    }
    assert expected[compare], got


# --- jitter ---------------------------------------------------------------------------------


def test_jitter_is_deterministic() -> None:
    inputs = exact(jitter=0.1, feed_id=42)
    assert next_check(inputs) == next_check(replace(inputs))


def test_jitter_spreads_feeds_within_bounds() -> None:
    got = [minutes_until(exact(jitter=0.1, feed_id=i)) for i in range(200)]
    assert all(54 <= m <= 66 for m in got)
    assert len(set(got)) == 200  # no two feeds land on the same instant
    assert min(got) < 57 and max(got) > 63  # both directions are used


def test_jitter_depends_on_time_too() -> None:
    a = minutes_until(exact(jitter=0.1, feed_id=7))
    b = minutes_until(exact(jitter=0.1, feed_id=7, now=NOW + timedelta(seconds=1)))
    assert a != b


@pytest.mark.parametrize(
    "kwargs",
    [
        pytest.param({"cache_control": "max-age=7200"}, id="max-age"),
        pytest.param({"ttl_minutes": 120}, id="ttl"),
        pytest.param(
            {"outcome": "error", "error_count": 1, "http_status": 503, "retry_after": "7200"},
            id="retry-after",
        ),
    ],
)
def test_jitter_never_polls_before_server_says(kwargs: dict[str, Any]) -> None:
    got = [minutes_until(exact(jitter=0.1, feed_id=i, **kwargs)) for i in range(100)]
    assert all(120 <= m <= 132 for m in got)
    assert len(set(got)) > 90  # still spread out, not piled on the floor


def test_jitter_never_escapes_the_clamp() -> None:
    got = [minutes_until(exact(jitter=0.5, feed_id=i, override_minutes=15)) for i in range(50)]
    got += [minutes_until(exact(jitter=0.5, feed_id=i, override_minutes=1440)) for i in range(50)]
    assert all(15 <= m <= 1440 for m in got)
    assert 15 in got and 1440 in got


# --- property: whatever comes in, the answer is within the settings ------------------------

HEADER_CACHE = st.sampled_from(
    [
        None,
        "",
        "max-age=0",
        "max-age=600",
        "max-age=86400",
        "max-age=99999999999",
        "s-maxage=7200",
        "no-store",
        "no-cache, max-age=60",
        "private",
        "max-age=junk",
        ",,==",
    ]
)
HEADER_DATES = st.sampled_from(
    [
        None,
        "",
        "0",
        "garbage",
        "Mon, 23 Nov 2026 14:00:00 GMT",
        "Sun, 22 Nov 2026 12:00:00 GMT",
        "Fri, 31 Dec 9999 23:59:59 GMT",
        "Thu, 01 Jan 1970 00:00:00 GMT",
        "Mon, 99 Foo 2026 99:99:99",
    ]
)
HEADER_RETRY = st.one_of(HEADER_DATES, st.sampled_from(["0", "120", "86400", "-1", "99999999999"]))
MOMENTS = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
)


@st.composite
def schedule_inputs(draw: st.DrawFn) -> ScheduleInputs:
    low = draw(st.integers(1, 24 * 60))
    high = draw(st.integers(low, 7 * 24 * 60))
    return ScheduleInputs(
        now=draw(MOMENTS),
        feed_id=draw(st.integers(0, 2**40)),
        outcome=draw(st.sampled_from(["ok", "not_modified", "unchanged", "error"])),
        error_count=draw(st.integers(0, 50)),
        recent_posts=tuple(draw(st.lists(MOMENTS, max_size=20))),
        cache_control=draw(HEADER_CACHE),
        expires=draw(HEADER_DATES),
        retry_after=draw(HEADER_RETRY),
        http_status=draw(st.sampled_from([None, 200, 304, 404, 429, 500, 503])),
        ttl_minutes=draw(st.one_of(st.none(), st.integers(-10, 10**6))),
        override_minutes=draw(st.one_of(st.none(), st.integers(-10, 10**6))),
        default_minutes=draw(st.integers(1, 10**4)),
        min_minutes=low,
        max_minutes=high,
        jitter=draw(st.floats(0, 0.99)),
    )


@settings(max_examples=300, deadline=None)
@given(schedule_inputs())
def test_next_check_always_within_settings(inputs: ScheduleInputs) -> None:
    when = next_check(inputs)
    assert when is not None
    assert when.utcoffset() == timedelta(0)
    delay = when - inputs.now
    assert timedelta(minutes=inputs.min_minutes) <= delay <= timedelta(minutes=inputs.max_minutes)
    assert next_check(inputs) == when  # deterministic


@given(st.lists(st.floats(min_value=0, max_value=1e9), min_size=1, max_size=40))
def test_the_median_of_gaps_is_statistics_median(gaps: list[float]) -> None:
    """schedule keeps its own median so a start need not import statistics."""
    assert schedule._median(gaps) == statistics.median(gaps)
